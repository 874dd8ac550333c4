//! kmod 34.2's depmod, as `tests/debian/fetch.sh` unpacks it (Debian 13's packages in
//! `target/debian/kmod34`), run through Debian 13's own loader and libraries. Shared by the
//! depmod test files (`#[path]` modules: each tests/*.rs file is its own crate).

use std::path::Path;
use std::process::{Command, Output};

/// Runs kmod 34.2 as `depmod ARGS` with an empty environment; `None` when it is not unpacked.
pub fn depmod(args: &[&std::ffi::OsStr]) -> Option<Output> {
    depmod_command()?.args(args).output().ok()
}

/// The command that runs kmod 34.2 as `depmod` (arguments to be added), with an empty
/// environment; `None` when it is not unpacked.
pub fn depmod_command() -> Option<Command> {
    let r = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debian/kmod34");
    let loader = r.join("usr/lib64/ld-linux-x86-64.so.2");
    if !loader.exists() {
        return None;
    }
    let mut c = Command::new(loader);
    c.arg("--library-path")
        .arg(r.join("usr/lib/x86_64-linux-gnu"))
        .arg("--argv0")
        .arg("depmod")
        .arg(r.join("usr/bin/kmod"))
        .env_clear();
    Some(c)
}
