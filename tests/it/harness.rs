//! The one launcher of the integration tests: our tools by name (the built binaries, through
//! `CARGO_BIN_EXE_*`, or the `rkmod` multicall binary), Debian kmod's tools as the oracle, and
//! any other program the tests need, all with a clean environment (`LC_ALL=C`, a fixed PATH),
//! stdin from /dev/null unless given, and a timeout that kills a blocked child and fails the
//! test instead of hanging it. Also: fake roots for `--root` (fake /proc, /sys, /lib/modules,
//! and the fake kernel's call log), skips that show up in `cargo test` output and fail under
//! `CI=true`, and assertions with a readable diff.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any run may take before it is killed and the test fails. Generous: the machine is
/// shared, and a tool that blocks (on a FIFO, say) blocks forever, not for a minute.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The PATH every child gets.
pub const CLEAN_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A committed fixture, by path relative to tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// True under `CI=true`, where a missing prerequisite is a failure rather than a skip.
pub fn is_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skips the rest of a test for `reason`: under CI a failure; elsewhere a `SKIP:` line written
/// straight to the test binary's stderr, which libtest does not capture (it captures only
/// `print!`/`eprint!`), so `cargo test` shows it even when the test passes.
pub fn skip(reason: &str) {
    if is_ci() {
        panic!("CI=true: a prerequisite is missing: {reason}");
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "SKIP: {test}: {reason}");
}

/// Whether `program` is installed (in the clean PATH); if not, a skip naming the package.
pub fn require(program: &str, package: &str, what: &str) -> bool {
    let found = std::env::split_paths(CLEAN_PATH).any(|d| d.join(program).is_file());
    if !found {
        skip(&format!(
            "{program} is not installed (apt-get install {package}); {what} not checked"
        ));
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Launching

/// The built binary of our tool `name`: one of the seven tools or `rkmod`.
pub fn bin(name: &str) -> &'static str {
    match name {
        "rkmod" => env!("CARGO_BIN_EXE_rkmod"),
        "insmod" => env!("CARGO_BIN_EXE_insmod"),
        "rmmod" => env!("CARGO_BIN_EXE_rmmod"),
        "lsmod" => env!("CARGO_BIN_EXE_lsmod"),
        "modinfo" => env!("CARGO_BIN_EXE_modinfo"),
        "modaudit" => env!("CARGO_BIN_EXE_modaudit"),
        "depmod" => env!("CARGO_BIN_EXE_depmod"),
        "modprobe" => env!("CARGO_BIN_EXE_modprobe"),
        other => panic!("no binary {other}"),
    }
}

/// The tools the multicall binary runs.
pub const TOOLS: [&str; 7] = [
    "insmod", "rmmod", "lsmod", "modinfo", "modprobe", "depmod", "modaudit",
];

/// A program about to run: a `Command` with a clean environment, plus what `Command` lacks
/// (bytes for stdin, a timeout).
pub struct Run {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    stdout: Option<Stdio>,
    timeout: Duration,
}

/// Our tool `name` (its own binary).
pub fn ours(name: &str) -> Run {
    program(bin(name))
}

/// Our tool `tool` run as a subcommand of the multicall binary: `rkmod TOOL ...`.
pub fn multicall(tool: &str) -> Run {
    program(bin("rkmod")).arg(tool)
}

/// Debian kmod's tool `name` (in /sbin), or None with a skip (a failure under CI).
pub fn kmod(name: &str) -> Option<Run> {
    let path = Path::new("/sbin").join(name);
    if path.exists() {
        return Some(program(path));
    }
    skip(&format!(
        "kmod's {name} is not installed (apt-get install kmod); comparison against kmod skipped"
    ));
    None
}

/// kmod's `tool` under strace: its output and the module system calls it made, each failed
/// with `errno` by strace's error injection, so none reaches the host's kernel. None (with a
/// skip) without kmod or strace, and None inside host_kernel.rs's traced run, where strace
/// cannot trace again (that run's own trace covers it).
pub fn kmod_traced(tool: &str, args: &[&str], errno: &str) -> Option<(Output, Vec<String>)> {
    kmod(tool)?;
    let mut argv = vec![format!("/sbin/{tool}")];
    argv.extend(args.iter().map(|a| a.to_string()));
    traced(&argv, errno)
}

/// Where tests/debian/fetch.sh put the Debian trees and kmod 34.2: `RKMOD_DEBIAN_DIR`, else
/// `target/debian`.
pub fn debian_dir() -> PathBuf {
    std::env::var_os("RKMOD_DEBIAN_DIR").map_or_else(|| root().join("target/debian"), PathBuf::from)
}

/// The module directory of Debian tree `short` (`6.1`, `6.12`), or None with a skip.
pub fn debian_tree(short: &str) -> Option<PathBuf> {
    let dir = debian_dir().join(short).join("lib/modules");
    let found = std::fs::read_dir(&dir)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path());
    if found.is_none() {
        skip(&format!(
            "no Debian tree in {} (run tests/debian/fetch.sh)",
            dir.display()
        ));
    }
    found
}

/// kmod 34.2's `tool` (fetch.sh's wrapper in `<debian>/kmod34/bin`), or None with a skip (a
/// failure under CI).
pub fn kmod34(tool: &str) -> Option<PathBuf> {
    let path = debian_dir().join("kmod34/bin").join(tool);
    if path.is_file() {
        return Some(path);
    }
    skip(&format!(
        "kmod 34.2 is not in {} (run tests/debian/fetch.sh); comparison against kmod 34.2 skipped",
        path.display()
    ));
    None
}

/// Runs `argv` in a private mount namespace where `/lib/modules/$(uname -r)` is `moddir` (bind
/// mounted; None: the directory exists but is empty), with the file-creation mask `umask`: how
/// kmod, which reads only the running kernel's directory, is pointed at a Debian tree. Our tools
/// run the same way, so both see the same paths. None with a skip when namespaces are not
/// available here (not root, no unshare); under CI that is a failure.
pub fn in_module_namespace(moddir: Option<&Path>, umask: &str, argv: &[&OsStr]) -> Option<Output> {
    if !require("unshare", "util-linux", "kmod on a Debian tree") {
        return None;
    }
    let script = "set -e; u=$(uname -r); mount -t tmpfs rkfake /lib/modules; \
                  mkdir -p /lib/modules/$u; [ -z \"$1\" ] || mount --bind \"$1\" /lib/modules/$u; \
                  umask $2; shift 2; exec \"$@\"";
    let o = program("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(moddir.map_or(OsStr::new(""), Path::as_os_str))
        .arg(umask)
        .args(argv)
        .output();
    if !text(&o.stderr).contains("unshare failed") && o.status.code() != Some(32) {
        return Some(o);
    }
    skip("cannot run in a mount namespace here (needs root and unshare)");
    None
}

/// Set in the environment of host_kernel.rs's traced run of this test binary.
pub const UNDER_STRACE: &str = "RKMOD_IT_UNDER_STRACE";

/// The module system calls, for strace.
pub const MODULE_CALLS: &str = "init_module,finit_module,delete_module";

fn traced(argv: &[String], errno: &str) -> Option<(Output, Vec<String>)> {
    if std::env::var_os(UNDER_STRACE).is_some()
        || !require("strace", "strace", "kmod's system calls")
    {
        return None;
    }
    let t = TempDir::new("kmod-strace");
    let log = t.0.join("trace");
    let o = program("strace")
        .args(["-f", "-qq", "--seccomp-bpf", "-s", "4096", "-o"])
        .arg(&log)
        .arg(format!("--trace={MODULE_CALLS}"))
        .arg(format!("--inject={MODULE_CALLS}:error={errno}"))
        .arg("--")
        .args(argv)
        .output();
    let trace = std::fs::read_to_string(&log).unwrap();
    let calls = trace
        .lines()
        .filter_map(|l| {
            let call = strace_call(l)?;
            assert!(l.ends_with("(INJECTED)"), "not failed by strace: {l}");
            Some(call)
        })
        .collect();
    Some((o, calls))
}

/// A module system call in strace's words, as the fake kernel records it but without the file
/// (strace shows a descriptor or an address): `finit_module flags=0x3 params="a=1"`,
/// `init_module len=9024 params=""`, `delete_module x flags=O_NONBLOCK|O_TRUNC`.
fn strace_call(line: &str) -> Option<String> {
    let at = ["finit_module(", "init_module(", "delete_module("]
        .iter()
        .filter_map(|c| line.find(c).map(|i| (i, c.len())))
        .min()?;
    let (name, rest) = line[at.0..].split_at(at.1 - 1);
    // strace pads before " = RESULT"; the result holds no '=', the arguments may.
    let args = rest[1..rest.rfind(" = ")?].trim_end().strip_suffix(')')?;
    let quoted = |s: &str| -> Option<(String, String)> {
        let s = s.strip_prefix('"')?;
        let end = s.find('"')?;
        Some((s[..end].to_string(), s[end + 1..].to_string()))
    };
    Some(match name {
        "finit_module" => {
            let (_, rest) = args.split_once(", ")?;
            let (params, rest) = quoted(rest)?;
            let flags = rest.strip_prefix(", ")?.split('|').try_fold(0u32, |f, n| {
                Some(
                    f | match n {
                        "MODULE_INIT_IGNORE_MODVERSIONS" => 1,
                        "MODULE_INIT_IGNORE_VERMAGIC" => 2,
                        "MODULE_INIT_COMPRESSED_FILE" => 4,
                        n => u32::from_str_radix(n.trim_start_matches("0x"), 16).ok()?,
                    },
                )
            })?;
            format!("finit_module flags={flags:#x} params=\"{params}\"")
        }
        "init_module" => {
            let mut parts = args.splitn(3, ", ");
            let _image = parts.next()?;
            let len = parts.next()?;
            let (params, _) = quoted(parts.next()?)?;
            format!("init_module len={len} params=\"{params}\"")
        }
        _ => {
            let (module, rest) = quoted(args)?;
            format!("delete_module {module} flags={}", rest.strip_prefix(", ")?)
        }
    })
}

/// A fake kernel's record line without its file, to compare with [`kmod_traced`]'s.
pub fn without_file(call: &str) -> String {
    let mut words: Vec<&str> = call.split(' ').collect();
    if words[0] != "delete_module" {
        words.remove(1);
    }
    words.join(" ")
}

/// Any other program (a link to rkmod, make, mandoc, a shell), with the same clean
/// environment.
pub fn program(path: impl AsRef<OsStr>) -> Run {
    let mut cmd = Command::new(path);
    cmd.env_clear().env("PATH", CLEAN_PATH).env("LC_ALL", "C");
    Run {
        cmd,
        stdin: None,
        stdout: None,
        timeout: DEFAULT_TIMEOUT,
    }
}

/// `sh -c SCRIPT`: for pipelines (`modinfo ... | head`). Name binaries in it with [`bin`].
pub fn shell(script: &str) -> Run {
    program("sh").arg("-c").arg(script)
}

impl Run {
    /// Adds an argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Run {
        self.cmd.arg(a);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// `--root DIR`: every system path under a fake root, and no module system call.
    pub fn root(self, dir: &Path) -> Run {
        self.arg("--root").arg(dir)
    }

    /// Sets an environment variable (the environment is otherwise clean).
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Run {
        self.cmd.env(k, v);
        self
    }

    /// Feeds these bytes on stdin (otherwise stdin is /dev/null).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Run {
        self.stdin = Some(bytes.into());
        self
    }

    /// Sends stdout to a file (/dev/full, say) instead of capturing it.
    pub fn stdout_to(mut self, f: std::fs::File) -> Run {
        self.stdout = Some(Stdio::from(f));
        self
    }

    /// Kills the run and fails the test after `t` (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, t: Duration) -> Run {
        self.timeout = t;
        self
    }

    fn describe(&self) -> String {
        let mut s = self.cmd.get_program().to_string_lossy().into_owned();
        for a in self.cmd.get_args() {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    fn start(mut self) -> (Child, Option<Vec<u8>>, Duration, String) {
        let what = self.describe();
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(self.stdout.take().unwrap_or_else(Stdio::piped))
            .stderr(Stdio::piped());
        let child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        (child, self.stdin, self.timeout, what)
    }

    /// Runs to completion and returns status, stdout and stderr. Fails the test when the run
    /// outlives its timeout (the child is killed first).
    pub fn output(self) -> Output {
        let (mut child, input, timeout, what) = self.start();
        let feeder = input.map(|bytes| {
            let mut w = child.stdin.take().unwrap();
            // A child that exits without reading gives EPIPE: not the test's business.
            std::thread::spawn(move || drop(w.write_all(&bytes)))
        });
        let out = reader(child.stdout.take());
        let err = reader(child.stderr.take());
        let status = wait(&mut child, timeout, &what);
        if let Some(f) = feeder {
            let _ = f.join();
        }
        Output {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    }

    /// Runs with stdout a pipe that is closed before the child writes (`tool | head -c 0`,
    /// without a shell): stdout of the result is empty.
    pub fn output_with_closed_stdout(self) -> Output {
        let (mut child, _, timeout, what) = self.start();
        drop(child.stdout.take());
        let err = reader(child.stderr.take());
        let status = wait(&mut child, timeout, &what);
        Output {
            status,
            stdout: Vec::new(),
            stderr: err.join().unwrap(),
        }
    }
}

fn reader<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut v);
        }
        v
    })
}

fn wait(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {timeout:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `c` with more arguments and returns its output.
pub fn run<I, S>(c: Run, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    c.args(args).output()
}

// ---------------------------------------------------------------------------------------------
// Assertions

/// Output bytes as text, lossily.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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

/// Asserts an exit status, showing stdout and stderr when it is wrong.
#[track_caller]
pub fn assert_status(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: exit status\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Asserts that stderr is exactly one line, newline-terminated, and returns it.
#[track_caller]
pub fn assert_one_stderr_line(out: &Output, what: &str) -> String {
    let err = text(&out.stderr);
    assert!(
        err.ends_with('\n') && err.matches('\n').count() == 1,
        "{what}: want exactly one stderr line, got: {err:?}"
    );
    err
}

/// Asserts a failed run: exit status 1 (not a panic's 101 or a signal), exactly one stderr line
/// that contains every `needle`.
#[track_caller]
pub fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {err}");
    assert_one_stderr_line(out, "");
    for n in needles {
        assert!(err.contains(n), "stderr {err:?} should contain {n:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Temporary directories and fake roots

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

/// A module in a fake root: NAME SIZE REFCNT DEPS STATE in /proc/modules, and its sysfs
/// directory.
pub struct Module<'a> {
    pub name: &'a str,
    pub proc_size: u64,
    pub deps: &'a str,
    pub state: &'a str,
    /// None: no sysfs directory at all (vanished).
    pub sys: Option<Sys<'a>>,
}

/// A module's sysfs attributes; None leaves the file out.
pub struct Sys<'a> {
    pub coresize: Option<&'a str>,
    pub refcnt: Option<&'a str>,
    pub initstate: Option<&'a str>,
    pub holders: &'a [&'a str],
    pub taint: &'a str,
}

/// An ordinary live module's attributes.
pub const NORMAL: Sys<'static> = Sys {
    coresize: Some("16384\n"),
    refcnt: Some("0\n"),
    initstate: Some("live\n"),
    holders: &[],
    taint: "OE\n",
};

/// A fake system root for `--root`: /proc/sys/kernel/osrelease, /proc/modules, /sys/module,
/// /lib/modules/RELEASE, and the fake kernel's call log and errno under kernel/.
pub struct FakeRoot {
    dir: TempDir,
    release: String,
}

impl FakeRoot {
    /// A root with these modules loaded, these names in modules.builtin.bin, and `sys_only`
    /// sysfs directories (builtin code with parameters).
    pub fn new(modules: &[Module<'_>], builtin: &[&str], sys_only: &[&str]) -> FakeRoot {
        let dir = TempDir::new("sys");
        let release = "9.9.9-rkfake".to_string();
        let p = |rel: &str| dir.0.join(rel);
        std::fs::create_dir_all(p("proc/sys/kernel")).unwrap();
        std::fs::create_dir_all(p("sys/module")).unwrap();
        std::fs::write(p("proc/sys/kernel/osrelease"), format!("{release}\n")).unwrap();
        let mut proc_modules = String::new();
        for m in modules {
            let refcnt = m
                .sys
                .as_ref()
                .and_then(|s| s.refcnt)
                .map_or("0", |r| r.trim());
            proc_modules.push_str(&format!(
                "{} {} {} {} {} 0x0000000000000000\n",
                m.name, m.proc_size, refcnt, m.deps, m.state
            ));
            let Some(s) = &m.sys else { continue };
            let md = p(&format!("sys/module/{}", m.name));
            std::fs::create_dir_all(md.join("holders")).unwrap();
            for (file, value) in [
                ("coresize", s.coresize),
                ("refcnt", s.refcnt),
                ("initstate", s.initstate),
            ] {
                if let Some(v) = value {
                    std::fs::write(md.join(file), v).unwrap();
                }
            }
            std::fs::write(md.join("taint"), s.taint).unwrap();
            for h in s.holders {
                std::os::unix::fs::symlink(format!("../../{h}"), md.join("holders").join(h))
                    .unwrap();
            }
        }
        std::fs::write(p("proc/modules"), proc_modules).unwrap();
        for b in sys_only {
            std::fs::create_dir_all(p(&format!("sys/module/{b}/parameters"))).unwrap();
        }
        let moddir = p(&format!("lib/modules/{release}"));
        std::fs::create_dir_all(&moddir).unwrap();
        let entries: Vec<(&[u8], &[u8], u32)> = builtin
            .iter()
            .map(|b| (b.as_bytes(), &b""[..], 0))
            .collect();
        std::fs::write(
            moddir.join("modules.builtin.bin"),
            rkmod::moddir::index::write(&entries),
        )
        .unwrap();
        FakeRoot { dir, release }
    }

    /// A root with nothing loaded.
    pub fn empty() -> FakeRoot {
        FakeRoot::new(&[], &[], &[])
    }

    /// Writes a file under the root, creating its directories.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.dir.0
    }

    /// Our `tool` with `--root` this root, ready for more arguments.
    pub fn tool(&self, tool: &str) -> Run {
        ours(tool).root(self.path())
    }

    /// Runs our `tool` with `--root` this root and `args`.
    pub fn ours(&self, tool: &str, args: &[&str]) -> Output {
        self.tool(tool).args(args).output()
    }

    /// Runs kmod's `tool` with this tree mounted over /proc, /sys/module and /lib/modules in a
    /// private mount namespace (kmod cannot be pointed at another root), or None with a skip
    /// when that is impossible here (not root, no unshare); under CI that is a failure.
    pub fn kmod(&self, tool: &str, args: &[&str]) -> Option<Output> {
        self.kmod_in_namespace(tool, args, None).map(|(o, _)| o)
    }

    /// [`FakeRoot::kmod`] under strace: the module system calls kmod makes, failed with `errno`
    /// before they reach the kernel (see [`kmod_traced`]).
    pub fn kmod_traced(
        &self,
        tool: &str,
        args: &[&str],
        errno: &str,
    ) -> Option<(Output, Vec<String>)> {
        self.kmod_in_namespace(tool, args, Some(errno))
    }

    fn kmod_in_namespace(
        &self,
        tool: &str,
        args: &[&str],
        trace: Option<&str>,
    ) -> Option<(Output, Vec<String>)> {
        kmod(tool)?;
        if !require("unshare", "util-linux", "kmod on a fake root") {
            return None;
        }
        let uname = text(&program("uname").arg("-r").output().stdout);
        let script = format!(
            "set -e; mount -t tmpfs rkfake /proc; cp {root}/proc/modules /proc/modules; \
             mount --bind {root}/sys/module /sys/module; mount -t tmpfs rkfake /lib/modules; \
             mkdir -p /lib/modules/{uname}; cp {root}/lib/modules/{rel}/* /lib/modules/{uname}/; \
             exec /sbin/{tool} \"$@\"",
            root = self.path().display(),
            rel = self.release,
            uname = uname.trim(),
        );
        let mut argv: Vec<String> = ["unshare", "-m", "--propagation", "private", "sh", "-c"]
            .map(String::from)
            .to_vec();
        argv.extend([script, "sh".to_string()]);
        argv.extend(args.iter().map(|a| a.to_string()));
        let (o, calls) = match trace {
            None => (program(&argv[0]).args(&argv[1..]).output(), Vec::new()),
            Some(errno) => traced(&argv, errno)?,
        };
        if !text(&o.stderr).contains("unshare failed") && o.status.code() != Some(32) {
            return Some((o, calls));
        }
        skip("cannot run kmod in a mount namespace here (needs root and unshare)");
        None
    }

    /// Makes the fake kernel answer every module system call with `errno` (a name such as
    /// `ENOENT`); without it, calls succeed.
    pub fn fail_with(&self, errno: &str) {
        self.write("kernel/errno", format!("{errno}\n"));
    }

    /// The module system calls the tools made against this root, one line each.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path().join("kernel/calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// The fake system most lsmod and rmmod tests use: modules in every odd state, a builtin
/// module, and builtin code with parameters.
pub fn sample_system() -> FakeRoot {
    FakeRoot::new(
        &[
            Module {
                name: "nft_ct",
                proc_size: 99999,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("24576\n"),
                    refcnt: Some("2\n"),
                    ..NORMAL
                }),
            },
            Module {
                name: "nf_tables",
                proc_size: 1,
                deps: "nft_ct,nft_compat,",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("344064\n"),
                    refcnt: Some("5\n"),
                    holders: &["nft_ct", "nft_compat", "nft_chain_nat"],
                    ..NORMAL
                }),
            },
            Module {
                name: "averyveryverylongmodulename_exceeding",
                proc_size: 1,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("1234567890\n"),
                    ..NORMAL
                }),
            },
            Module {
                name: "vrf",
                proc_size: 36864,
                deps: "[permanent],",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("36864\n"),
                    ..NORMAL
                }),
            },
            Module {
                name: "nocoresize",
                proc_size: 4242,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    coresize: None,
                    ..NORMAL
                }),
            },
            Module {
                name: "badcoresize",
                proc_size: 4242,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("garbage\n"),
                    ..NORMAL
                }),
            },
            Module {
                name: "norefcnt",
                proc_size: 100,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    refcnt: None,
                    ..NORMAL
                }),
            },
            Module {
                name: "unloading",
                proc_size: 100,
                deps: "-",
                state: "Unloading",
                sys: Some(Sys {
                    refcnt: Some("-1\n"),
                    initstate: Some("going\n"),
                    ..NORMAL
                }),
            },
            Module {
                name: "ghost",
                proc_size: 100,
                deps: "-",
                state: "Live",
                sys: None,
            },
            Module {
                name: "x",
                proc_size: 0,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("0\n"),
                    taint: "\n",
                    ..NORMAL
                }),
            },
        ],
        &["ext4_builtin"],
        &["printk_like"],
    )
}

// ---------------------------------------------------------------------------------------------
// The harness's own promises

#[test]
#[should_panic(expected = "still running after")]
fn a_blocked_run_is_killed_and_fails_the_test() {
    let t = TempDir::new("blocked");
    let fifo = t.0.join("fifo");
    assert_status(&program("mkfifo").arg(&fifo).output(), 0, "mkfifo");
    // Opening a FIFO with no writer blocks for ever.
    program("cat")
        .arg(&fifo)
        .timeout(Duration::from_millis(300))
        .output();
}

#[test]
fn stdin_is_fed_or_empty_and_the_environment_is_clean() {
    assert_eq!(program("cat").stdin("abc").output().stdout, b"abc");
    assert_eq!(program("cat").output().stdout, b"");
    let env = text(&program("env").output().stdout);
    let mut vars: Vec<&str> = env.lines().collect();
    vars.sort();
    assert_eq!(vars, ["LC_ALL=C".to_string(), format!("PATH={CLEAN_PATH}")]);
}
