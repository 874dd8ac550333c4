//! depmod against kmod 34.2 on the Debian trees: every output file byte for byte, the same
//! file modes, the same messages and exit status.
//!
//! Needs `tests/debian/fetch.sh` to have prepared `target/debian` (the trees and kmod 34.2).
//! Without it the test prints a SKIP line, or fails under `CI=true`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const TREES: [(&str, &str); 2] = [("6.1", "6.1.0-50-amd64"), ("6.12", "6.12.107+deb12-amd64")];

fn prepared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debian")
}

#[path = "common/kmod34.rs"]
mod kmod34_tool;
use kmod34_tool::depmod as kmod34;

fn skip_or_fail(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("depmod conformance cannot run under CI=true: {why}");
    }
    eprintln!("SKIP depmod conformance: {why} (run tests/debian/fetch.sh)");
}

/// A scratch copy of a tree's inputs: the module files as hard links, plus modules.order,
/// modules.builtin and modules.builtin.modinfo. Nothing in the shared tree is touched.
fn scratch_copy(src: &Path, root: &Path, version: &str) {
    let dst = root.join("lib/modules").join(version);
    std::fs::create_dir_all(&dst).unwrap();
    let status = Command::new("cp")
        .arg("-al")
        .arg(src.join("kernel"))
        .arg(&dst)
        .status()
        .unwrap();
    assert!(status.success(), "cp -al failed");
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
}

fn files_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn depmod_matches_kmod_34_on_the_debian_trees() {
    if kmod34(&["-V".as_ref()]).is_none_or(|o| !o.status.success()) {
        return skip_or_fail("kmod 34.2 is not in target/debian/kmod34");
    }
    let work = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("depmod-conformance-{}", std::process::id()));
    let mut failures = Vec::new();
    for (tree, version) in TREES {
        let src = prepared().join(tree).join("lib/modules").join(version);
        if !src.join("modules.order").exists() {
            skip_or_fail(&format!("the {tree} tree is not in target/debian"));
            continue;
        }
        let input = work.join(tree).join("in");
        scratch_copy(&src, &input, version);
        let (theirs, ours) = (work.join(tree).join("kmod"), work.join(tree).join("ours"));
        let common = |out: &Path| -> Vec<std::ffi::OsString> {
            vec![
                // -w: the 6.1 tree has 18 duplicated aliases, so the messages are checked too.
                "-w".into(),
                "-b".into(),
                input.clone().into(),
                "-o".into(),
                out.into(),
                "-C".into(),
                "/nonexistent".into(),
                version.into(),
            ]
        };
        let k_args = common(&theirs);
        let k = kmod34(&k_args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>()).unwrap();
        let r = Command::new(env!("CARGO_BIN_EXE_depmod"))
            .args(common(&ours))
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&r.stderr),
            String::from_utf8_lossy(&k.stderr),
            "{tree}: messages"
        );
        assert_eq!(r.status.code(), k.status.code(), "{tree}: exit status");
        let (kdir, rdir) = (
            theirs.join("lib/modules").join(version),
            ours.join("lib/modules").join(version),
        );
        let names = files_of(&kdir);
        assert_eq!(files_of(&rdir), names, "{tree}: the set of files");
        let mut identical = 0;
        for name in &names {
            let (kf, rf) = (kdir.join(name), rdir.join(name));
            let same_bytes = std::fs::read(&kf).unwrap() == std::fs::read(&rf).unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
            if same_bytes && mode(&kf) == mode(&rf) {
                identical += 1;
            } else {
                failures.push(format!(
                    "{tree}/{name}: {}",
                    if same_bytes {
                        "mode differs"
                    } else {
                        "bytes differ"
                    }
                ));
            }
        }
        eprintln!(
            "{tree}: {identical}/{} files identical to kmod 34.2's",
            names.len()
        );
        if tree == "6.1" {
            dry_run_verbose(&input, version);
        }
        read_back(&input, version, tree);
    }
    let _ = std::fs::remove_dir_all(&work);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Indexes the scratch tree in place with our depmod, then looks modules up with our modinfo by
/// name, alias and symbol: the indexes we write are the ones our reader reads.
fn read_back(input: &Path, version: &str, tree: &str) {
    let r = Command::new(env!("CARGO_BIN_EXE_depmod"))
        .arg("-b")
        .arg(input)
        .args(["-C", "/nonexistent", version])
        .env_clear()
        .output()
        .unwrap();
    assert!(r.status.success(), "{tree}: depmod in place: {r:?}");
    let e1000e = "kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko";
    for (query, file) in [
        ("e1000e", e1000e),
        (
            "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
            e1000e,
        ),
        ("symbol:jbd2_journal_start", "kernel/fs/jbd2/jbd2.ko"),
        ("fs-ext4", "kernel/fs/ext4/ext4.ko"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_modinfo"))
            .arg("-b")
            .arg(input)
            .args(["-k", version, "-F", "filename", query])
            .env_clear()
            .output()
            .unwrap();
        let got = String::from_utf8_lossy(&out.stdout);
        let want = input.join("lib/modules").join(version).join(file);
        assert!(
            got.trim_end().starts_with(want.to_str().unwrap()),
            "{tree}: modinfo {query}: {got:?}, want {}*",
            want.display()
        );
    }
}

/// `-n -v`: the "needs" lines, then the text files, on standard output, as kmod prints them.
fn dry_run_verbose(input: &Path, version: &str) {
    let args: Vec<std::ffi::OsString> = vec![
        "-n".into(),
        "-v".into(),
        "-b".into(),
        input.into(),
        "-C".into(),
        "/nonexistent".into(),
        version.into(),
    ];
    let k = kmod34(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>()).unwrap();
    let r = Command::new(env!("CARGO_BIN_EXE_depmod"))
        .args(&args)
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(r.status.code(), k.status.code(), "-n -v: exit status");
    assert_eq!(
        String::from_utf8_lossy(&r.stderr),
        String::from_utf8_lossy(&k.stderr),
        "-n -v: messages"
    );
    assert!(r.stdout == k.stdout, "-n -v: standard output differs");
}
