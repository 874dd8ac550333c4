//! A small harness: run the built binaries with a clean environment and compare output with a
//! readable diff.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A committed fixture, by path relative to tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// Our binary `name`.
pub fn ours(name: &str) -> Command {
    let path = match name {
        "modinfo" => env!("CARGO_BIN_EXE_modinfo"),
        other => panic!("no binary {other}"),
    };
    clean(Command::new(path))
}

/// Debian kmod's tool `name`, if installed. Under CI=true its absence is a failure.
pub fn kmod(name: &str) -> Option<Command> {
    let path = Path::new("/sbin").join(name);
    if path.exists() {
        return Some(clean(Command::new(path)));
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("kmod's {name} is missing (apt-get install kmod); CI requires it");
    }
    eprintln!("SKIP: kmod's {name} is not installed; comparison against kmod skipped");
    None
}

fn clean(mut c: Command) -> Command {
    c.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C");
    c
}

/// Runs a command with arguments and returns its output.
pub fn run<I, S>(mut c: Command, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    c.args(args).output().expect("spawn")
}

/// Asserts two byte strings are equal, showing a line diff when they are not.
#[track_caller]
pub fn assert_same(what: &str, expected: &[u8], got: &[u8]) {
    if expected == got {
        return;
    }
    let e = String::from_utf8_lossy(expected);
    let g = String::from_utf8_lossy(got);
    let mut msg = format!("{what}: output differs\n");
    for (i, (a, b)) in e.split('\n').zip(g.split('\n')).enumerate() {
        if a != b {
            msg.push_str(&format!(
                "first difference at line {}:\n- {a:?}\n+ {b:?}\n",
                i + 1
            ));
            break;
        }
    }
    msg.push_str(&format!(
        "expected {} bytes, got {} bytes",
        expected.len(),
        got.len()
    ));
    panic!("{msg}");
}

/// Removes `build-id:` lines (and `build-id=...\0` items) that kmod 30 does not print.
pub fn without_build_id(out: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(out.len());
    for item in out.split_inclusive(|&b| b == b'\n' || b == 0) {
        if item.starts_with(b"build-id:") || item.starts_with(b"build-id=") {
            continue;
        }
        v.extend_from_slice(item);
    }
    v
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "rkmod-it-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts a failed run: exit status 1 (not a panic's 101 or a signal), exactly one stderr line
/// that contains every `needle`.
#[track_caller]
pub fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "want exactly one stderr line, got: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "stderr {err:?} should contain {n:?}");
    }
}
