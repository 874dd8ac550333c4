//! kmod 34.2's depmod and modprobe, as `tests/debian/fetch.sh` unpacks them (Debian 13's packages in
//! `target/debian/kmod34`), run through Debian 13's own loader and libraries. Shared by the
//! depmod and modprobe test files (`#[path]` modules: each tests/*.rs file is its own crate).

use std::path::Path;
use std::process::{Command, Output};

/// Runs kmod 34.2 as `depmod ARGS` with an empty environment; `None` when it is not unpacked.
#[allow(dead_code)]
pub fn depmod(args: &[&std::ffi::OsStr]) -> Option<Output> {
    launcher("depmod").map(|mut c| c.args(args).output().ok())?
}

/// Runs kmod 34.2 as `modprobe ARGS` with an empty environment; `None` when it is not unpacked.
#[allow(dead_code)]
pub fn modprobe(args: &[&std::ffi::OsStr]) -> Option<Output> {
    launcher("modprobe").map(|mut c| c.args(args).output().ok())?
}

/// kmod 34.2's program under the name `tool`, through its own loader, with an empty
/// environment; `None` when it is not unpacked.
#[allow(dead_code)]
pub fn launcher(tool: &str) -> Option<Command> {
    let r = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debian/kmod34");
    let loader = r.join("usr/lib64/ld-linux-x86-64.so.2");
    if !loader.exists() {
        return None;
    }
    let mut c = Command::new(loader);
    c.arg("--library-path")
        .arg(r.join("usr/lib/x86_64-linux-gnu"))
        .arg("--argv0")
        .arg(tool)
        .arg(r.join("usr/bin/kmod"))
        .env_clear();
    Some(c)
}
