//! depmod never leaves a torn index: killed at random moments during a real run, on a full
//! disk, on a read-only disk; and it syncs each file before renaming it and the directory
//! after.
//!
//! The trees are subsets of Debian's 6.1 tree (hard links to its modules, prepared by
//! `tests/debian/fetch.sh`). The disk tests mount small tmpfs file systems (as root); under
//! `CI=true` a missing tree, strace or mount fails the test instead of skipping it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const VERSION: &str = "6.1.0-50-amd64";

/// The 11 files every run writes.
const INDEXES: [&str; 11] = [
    "modules.dep",
    "modules.dep.bin",
    "modules.alias",
    "modules.alias.bin",
    "modules.softdep",
    "modules.weakdep",
    "modules.symbols",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
    "modules.devname",
];

fn skip_or_fail(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("depmod durability cannot run under CI=true: {why}");
    }
    eprintln!("SKIP depmod durability: {why}");
}

/// The shared 6.1 tree's module directory, if prepared.
fn source_tree() -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/debian/6.1/lib/modules")
        .join(VERSION);
    if src.join("modules.order").exists() {
        Some(src)
    } else {
        skip_or_fail("the 6.1 tree is not in target/debian (run tests/debian/fetch.sh)");
        None
    }
}

#[path = "common/scratch.rs"]
mod scratch;
use scratch::Scratch;

/// A scratch directory for test `tag`.
fn scratch(tag: &str) -> Scratch {
    Scratch::new(&format!("depmod-durability-{tag}"))
}

/// Puts the modules of lines `range` of the source's modules.order into `root`'s module
/// directory (hard links), with the source's modules.order, modules.builtin and
/// modules.builtin.modinfo.
fn add_modules(src: &Path, root: &Path, range: std::ops::Range<usize>) {
    let dst = root.join("lib/modules").join(VERSION);
    let order = std::fs::read_to_string(src.join("modules.order")).unwrap();
    for line in order.lines().skip(range.start).take(range.len()) {
        let to = dst.join(line);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        if std::fs::hard_link(src.join(line), &to).is_err() {
            std::fs::copy(src.join(line), &to).unwrap();
        }
    }
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        if !dst.join(f).exists() {
            std::fs::copy(src.join(f), dst.join(f)).unwrap();
        }
    }
}

fn depmod(args: &[&std::ffi::OsStr]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_depmod"));
    c.args(["-C", "/nonexistent"]).args(args).env_clear();
    c
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    depmod(args).output().unwrap()
}

/// The 11 indexes of `dir`; a missing one is `None`.
fn indexes(dir: &Path) -> BTreeMap<&'static str, Option<Vec<u8>>> {
    INDEXES
        .iter()
        .map(|n| (*n, std::fs::read(dir.join(n)).ok()))
        .collect()
}

/// Names in `dir` that are not an index or an input: temporaries.
fn strays(dir: &Path) -> Vec<String> {
    let inputs = [
        "kernel",
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ];
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !INDEXES.contains(&n.as_str()) && !inputs.contains(&n.as_str()))
        .collect();
    v.sort();
    v
}

/// A small xorshift generator: the test needs spread, not quality; the seed is printed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[test]
fn a_depmod_killed_at_random_moments_leaves_each_index_old_or_new() {
    let Some(src) = source_tree() else {
        return;
    };
    let s = scratch("kill");
    let root = s.0.join("root");
    let dir = root.join("lib/modules").join(VERSION);
    // The old indexes: a run on the first 300 modules.
    add_modules(&src, &root, 0..300);
    let out = run(&["-b".as_ref(), root.as_os_str(), VERSION.as_ref()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let old = indexes(&dir);
    // The new ones: 1100 modules, written elsewhere (-o) so that the old ones stay in place;
    // this run also measures how long a run takes.
    add_modules(&src, &root, 300..1100);
    let new_root = s.0.join("new");
    let started = Instant::now();
    let out = run(&[
        "-b".as_ref(),
        root.as_os_str(),
        "-o".as_ref(),
        new_root.as_os_str(),
        VERSION.as_ref(),
    ]);
    let duration = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = indexes(&new_root.join("lib/modules").join(VERSION));
    for n in INDEXES {
        assert!(old[n].is_some() && new[n].is_some(), "{n} missing");
    }
    let differ = INDEXES.iter().filter(|n| old[**n] != new[**n]).count();
    assert!(
        differ >= 8,
        "old and new indexes barely differ ({differ} files)"
    );

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill test: a run takes {duration:?}; seed {seed}");
    let mut random = Random(seed);
    let span = duration.as_micros() as u64;
    let (mut all_old, mut all_new, mut mixed, mut with_temps) = (0, 0, 0, 0);
    for i in 0..40 {
        for n in INDEXES {
            std::fs::write(dir.join(n), old[n].as_ref().unwrap()).unwrap();
        }
        // A third of the kills at any moment of the run; the others once the run has begun
        // to write (a temporary of its own has appeared), after up to 20 ms: that is when
        // files are written, synced and renamed.
        let mut child = depmod(&["-b".as_ref(), root.as_os_str(), VERSION.as_ref()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let at = if i % 3 == 0 {
            let at = random.below(span * 11 / 10);
            std::thread::sleep(Duration::from_micros(at));
            at
        } else {
            let mine = format!(".{}.", child.id());
            let begun = Instant::now();
            while child.try_wait().unwrap().is_none()
                && !std::fs::read_dir(&dir)
                    .unwrap()
                    .any(|e| e.unwrap().file_name().to_string_lossy().contains(&mine))
            {
                std::thread::sleep(Duration::from_micros(100));
            }
            let after = random.below(20_000);
            std::thread::sleep(Duration::from_micros(after));
            (begun.elapsed().as_micros()) as u64
        };
        let _ = child.kill();
        child.wait().unwrap();
        let now = indexes(&dir);
        let (mut olds, mut news) = (0, 0);
        for n in INDEXES {
            let got = now[n].as_ref();
            assert!(
                got.is_some(),
                "kill {i} after {at} µs: {n} is missing (seed {seed})"
            );
            if got == new[n].as_ref() {
                news += 1;
            }
            if got == old[n].as_ref() {
                olds += 1;
            }
            assert!(
                got == old[n].as_ref() || got == new[n].as_ref(),
                "kill {i} after {at} µs: {n} is neither the old nor the new version \
                 ({} bytes; seed {seed})",
                got.map_or(0, Vec::len)
            );
        }
        match (olds, news) {
            (11, _) => all_old += 1,
            (_, 11) => all_new += 1,
            _ => mixed += 1,
        }
        if !strays(&dir).is_empty() {
            with_temps += 1;
        }
    }
    eprintln!(
        "kill test: {all_old} kills left the old set, {all_new} the new one, {mixed} a mix; \
         {with_temps} left temporary files"
    );
    assert!(
        mixed + with_temps > 0,
        "no kill landed while files were being published (seed {seed})"
    );
    // A run after all that: the new indexes, and no temporary of the killed runs left over.
    let out = run(&["-b".as_ref(), root.as_os_str(), VERSION.as_ref()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(indexes(&dir), new, "a run after the kills");
    assert_eq!(strays(&dir), Vec::<String>::new(), "temporaries left over");
}

/// Whether a program is on PATH; under CI its absence fails.
fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip_or_fail(&format!("no {program}"));
    }
    found
}

#[test]
fn each_index_is_synced_before_its_rename_and_the_directory_after() {
    let Some(src) = source_tree() else {
        return;
    };
    if !have("strace") {
        return;
    }
    let s = scratch("fsync");
    let root = s.0.join("root");
    add_modules(&src, &root, 0..300);
    let trace = s.0.join("trace");
    let status = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2",
        ])
        .arg("-o")
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_depmod"))
        .args(["-C", "/nonexistent", "-b"])
        .arg(&root)
        .arg(VERSION)
        .env_clear()
        .status()
        .unwrap();
    assert!(status.success());
    let trace = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    let dir = root.join("lib/modules").join(VERSION);
    let dir = dir.to_str().unwrap();
    let mut last_rename = 0;
    for n in INDEXES {
        let temp = format!("{dir}/{n}.");
        let renamed = lines
            .iter()
            .position(|l| l.contains("rename") && l.contains(&format!("\"{dir}/{n}\"")))
            .unwrap_or_else(|| panic!("{n} was not renamed into place:\n{trace}"));
        let synced = lines.iter().position(|l| {
            l.contains("fsync(")
                && l.contains(&temp)
                && l[l.find(&temp).unwrap() + temp.len()..]
                    .starts_with(|c: char| c.is_ascii_digit())
        });
        assert!(
            synced.is_some_and(|at| at < renamed),
            "{n} was not synced before its rename:\n{trace}"
        );
        last_rename = last_rename.max(renamed);
    }
    let dir_synced = lines[last_rename..]
        .iter()
        .any(|l| l.contains("fsync(") && l.contains(&format!("<{dir}>")));
    assert!(
        dir_synced,
        "the directory was not synced after the renames:\n{trace}"
    );
}

/// A tmpfs mounted for one test, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs of `size` at `at`; `None` (or a failure under CI) when that is not
    /// possible here.
    fn tmpfs(at: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            skip_or_fail("cannot mount a tmpfs (not root?)");
            return None;
        }
        Some(Mount(at.to_path_buf()))
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount read-only");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Old indexes (of 100 modules) written into `out`, then a run of 1500 modules into `out`
/// after `break_disk` has been applied: one error naming an index, exit status 1, the old
/// indexes untouched and no temporary left.
fn old_indexes_survive(tag: &str, size: &str, break_disk: impl FnOnce(&Path, &Mount), cause: &str) {
    let Some(src) = source_tree() else {
        return;
    };
    let s = scratch(tag);
    let root = s.0.join("root");
    add_modules(&src, &root, 0..100);
    let Some(mount) = Mount::tmpfs(&s.0.join("mnt"), size) else {
        return;
    };
    let out_args = |root: &Path| -> Vec<std::ffi::OsString> {
        vec![
            "-b".into(),
            root.into(),
            "-o".into(),
            mount.0.clone().into(),
            VERSION.into(),
        ]
    };
    let args = out_args(&root);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = mount.0.join("lib/modules").join(VERSION);
    let old = indexes(&dir);
    add_modules(&src, &root, 100..1500);
    break_disk(&dir, &mount);
    let out = run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one message: {stderr}");
    assert!(
        stderr.starts_with("depmod: ERROR: Could not write index 'modules.")
            && stderr.contains(cause),
        "message: {stderr}"
    );
    assert!(indexes(&dir) == old, "the old indexes changed");
    let left: Vec<String> = strays(&dir).into_iter().filter(|n| n != "filler").collect();
    assert_eq!(left, Vec::<String>::new(), "temporaries left");
}

#[test]
fn a_full_disk_leaves_the_old_indexes_in_place() {
    old_indexes_survive(
        "full",
        "8m",
        |dir, _| {
            // Fill the disk, then free a little less than the new indexes need.
            use std::io::Write;
            let mut f = std::fs::File::create(dir.join("filler")).unwrap();
            let chunk = vec![0u8; 64 << 10];
            let mut size = 0u64;
            while f.write_all(&chunk).is_ok() {
                size += chunk.len() as u64;
            }
            f.set_len(size.saturating_sub(256 << 10)).unwrap();
        },
        "No space left on device",
    );
}

#[test]
fn a_read_only_disk_leaves_the_old_indexes_in_place() {
    old_indexes_survive(
        "readonly",
        "8m",
        |_, mount| mount.remount_read_only(),
        "Read-only file system",
    );
}
