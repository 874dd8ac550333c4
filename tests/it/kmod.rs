//! rkmod invoked as `kmod`: kmod's own program (`help`, `list`, `static-nodes`), against kmod
//! 34.2 (fetch.sh's copy) and Debian 12's kmod 30, both run in a mount namespace where the
//! running kernel's module directory is a Debian tree.

use std::ffi::OsStr;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

/// Every name rkmod answers to as argv[0].
const NAMES: [&str; 7] = [
    "kmod", "rkmod", "insmod", "rmmod", "lsmod", "modinfo", "modaudit",
];

/// A directory of links to rkmod named as `NAMES`.
fn links() -> TempDir {
    let dir = TempDir::new("kmod-links");
    for n in NAMES {
        symlink(bin("rkmod"), dir.0.join(n)).unwrap();
    }
    dir
}

/// The three `kmod`s: ours (a link named kmod), kmod 34.2 and Debian's kmod 30 (None when
/// missing, with a skip).
struct Kmods {
    _links: TempDir,
    ours: PathBuf,
    v34: Option<PathBuf>,
    v30: Option<PathBuf>,
}

fn kmods() -> Kmods {
    let links = links();
    let ours = links.0.join("kmod");
    let v30 = Path::new("/usr/bin/kmod")
        .is_file()
        .then(|| PathBuf::from("/usr/bin/kmod"));
    if v30.is_none() {
        skip("Debian's kmod 30 (/usr/bin/kmod) is not installed; comparison skipped");
    }
    Kmods {
        _links: links,
        ours,
        v34: kmod34("kmod"),
        v30,
    }
}

fn run_in(moddir: Option<&Path>, umask: &str, prog: &Path, args: &[&str]) -> Option<Output> {
    let mut argv: Vec<&OsStr> = vec![prog.as_os_str()];
    argv.extend(args.iter().map(OsStr::new));
    in_module_namespace(moddir, umask, &argv)
}

/// Asserts that ours gives kmod 34.2's stdout and status, and that every stderr line of
/// kmod's starts ours (ours may add a cause). kmod 30 is compared too; where it differs from
/// 34.2 the difference is shown, not failed.
fn same_as_kmod(k: &Kmods, moddir: Option<&Path>, args: &[&str]) {
    let what = format!("kmod {}", args.join(" "));
    let Some(ours) = run_in(moddir, "022", &k.ours, args) else {
        return;
    };
    for (name, reference) in [("kmod 34.2", &k.v34), ("kmod 30", &k.v30)] {
        let Some(reference) = reference else { continue };
        let Some(theirs) = run_in(moddir, "022", reference, args) else {
            return;
        };
        if name == "kmod 30"
            && let Some(v34) = &k.v34
            && let Some(o34) = run_in(moddir, "022", v34, args)
            && (o34.stdout != theirs.stdout || o34.status.code() != theirs.status.code())
        {
            eprintln!("{what}: kmod 30 differs from kmod 34.2; ours follows 34.2");
            continue;
        }
        assert_same(&format!("{what} vs {name}"), &theirs.stdout, &ours.stdout);
        assert_eq!(
            theirs.status.code(),
            ours.status.code(),
            "{what} vs {name}: status; ours: {}",
            text(&ours.stderr)
        );
        let (t, o) = (messages(&text(&theirs.stderr)), text(&ours.stderr));
        assert_eq!(
            t.len(),
            o.lines().count(),
            "{what} vs {name}: stderr\n{t:?}\n{o}"
        );
        for (a, b) in t.iter().zip(o.lines()) {
            assert!(
                b.starts_with(a),
                "{what} vs {name}: {b:?} should start with {a:?}"
            );
        }
    }
}

/// kmod's stderr as messages: kmod prints an invalid line as it read it, so a line without a
/// newline (cut at a NUL, or at 4095 bytes) runs into the next message.
fn messages(stderr: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = stderr;
    while !rest.is_empty() {
        let next = ["Error: ", "Warning: "]
            .iter()
            .filter_map(|w| rest[1..].find(w).map(|i| i + 1))
            .min()
            .unwrap_or(rest.len());
        out.push(rest[..next].trim_end_matches('\n').to_string());
        rest = &rest[next..];
    }
    out
}

const FORMATS: [&[&str]; 6] = [
    &[],
    &["--format=human"],
    &["-f", "tmpfiles"],
    &["--format", "devname"],
    &["--form=tmpfiles"],
    &["-fdevname", "-f", "tmpfiles"],
];

#[test]
fn static_nodes_matches_kmod_on_debian_trees() {
    let k = kmods();
    for short in ["6.1", "6.12"] {
        let Some(tree) = debian_tree(short) else {
            return;
        };
        let data = std::fs::read(tree.join("modules.devname")).unwrap();
        assert!(data.len() > 100, "{short}: modules.devname is nearly empty");
        for f in FORMATS {
            let mut args = vec!["static-nodes"];
            args.extend(f);
            same_as_kmod(&k, Some(&tree), &args);
        }
        // The tmpfiles lines systemd gets: one per node, plus a directory line per node in a
        // subdirectory.
        let Some(o) = run_in(
            Some(&tree),
            "022",
            &k.ours,
            &["static-nodes", "-f", "tmpfiles"],
        ) else {
            return;
        };
        let nodes = data
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty() && l[0] != b'#');
        let in_dirs = nodes
            .clone()
            .filter(|l| l.split(|&b| b == b' ').nth(1).unwrap().contains(&b'/'));
        assert_eq!(
            text(&o.stdout).lines().count(),
            nodes.count() + in_dirs.count(),
            "{short}"
        );
    }
}

/// The output file: content, mode and parent directories as kmod makes them, under two umasks,
/// and an existing file truncated with its mode kept.
#[test]
fn static_nodes_output_file() {
    let k = kmods();
    let Some(v34) = k.v34.clone() else { return };
    for short in ["6.1", "6.12"] {
        let Some(tree) = debian_tree(short) else {
            return;
        };
        for umask in ["022", "077"] {
            let t = TempDir::new("kmod-out");
            let mut results = Vec::new();
            for (who, prog) in [("kmod 34.2", &v34), ("ours", &k.ours)] {
                let base = t.0.join(who.replace(' ', ""));
                let file = base.join("a/b/static-nodes.conf");
                let arg = format!("--output={}", file.display());
                let Some(o) = run_in(
                    Some(&tree),
                    umask,
                    prog,
                    &["static-nodes", "-f", "tmpfiles", &arg],
                ) else {
                    return;
                };
                assert_status(&o, 0, &format!("{who} static-nodes {arg}"));
                assert!(
                    o.stdout.is_empty() && o.stderr.is_empty(),
                    "{who}: {}",
                    text(&o.stderr)
                );
                let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
                results.push((
                    std::fs::read(&file).unwrap(),
                    mode(&file),
                    mode(&base.join("a")),
                    mode(&base.join("a/b")),
                ));
            }
            let what = format!("{short} umask {umask}");
            assert_same(&what, &results[0].0, &results[1].0);
            let modes = |r: &(Vec<u8>, u32, u32, u32)| (r.1, r.2, r.3);
            assert_eq!(modes(&results[0]), modes(&results[1]), "{what}: modes");
            assert_eq!(
                (results[1].1, results[1].2),
                if umask == "022" {
                    (0o644, 0o755)
                } else {
                    (0o600, 0o700)
                },
                "{what}"
            );
        }
        // An existing, longer file is truncated and keeps its mode.
        let t = TempDir::new("kmod-out");
        let file = t.0.join("existing");
        std::fs::write(&file, vec![b'x'; 100_000]).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let arg = format!("-o{}", file.display());
        let Some(o) = run_in(
            Some(&tree),
            "022",
            &k.ours,
            &["static-nodes", "-f", "devname", &arg],
        ) else {
            return;
        };
        assert_status(&o, 0, "static-nodes -o existing");
        let Some(theirs) = run_in(Some(&tree), "022", &v34, &["static-nodes", "-f", "devname"])
        else {
            return;
        };
        assert_same(
            "existing file",
            &theirs.stdout,
            &std::fs::read(&file).unwrap(),
        );
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }
}

#[test]
fn static_nodes_without_modules_devname() {
    let k = kmods();
    same_as_kmod(&k, None, &["static-nodes"]);
    same_as_kmod(&k, None, &["static-nodes", "-f", "tmpfiles"]);
    // No output file, and no directory for it, as kmod.
    let t = TempDir::new("kmod-none");
    let out = t.0.join("dir/out.conf");
    let arg = format!("--output={}", out.display());
    let Some(o) = run_in(None, "022", &k.ours, &["static-nodes", &arg]) else {
        return;
    };
    assert_status(&o, 0, "static-nodes without modules.devname");
    assert!(
        text(&o.stderr).starts_with("Warning: /lib/modules/"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).ends_with("/modules.devname not found - ignoring\n"));
    assert!(
        !t.0.join("dir").exists(),
        "the output directory was created"
    );
}

/// Lines kmod rejects or reads oddly: blank, short, a bad type, no colon, hex, a comment not in
/// column 0, signs and overflow, whitespace of every kind, a NUL, a line over 4095 bytes, and a
/// last line without a newline.
#[test]
fn static_nodes_malformed_lines() {
    let k = kmods();
    let t = TempDir::new("kmod-bad");
    let mut data = b"# header\n\nmod dev\nmod dev x10:1\na b c10\na b c0x10:1\n  # c\n\
        a/b c/d/e c-1:2\n\ta\tb\tc 1: 2 extra\na b c99999999999:1\nn\0ul c1:1\ndisk sd/a b8:0\n"
        .to_vec();
    data.extend(vec![b'l'; 4089]);
    data.extend_from_slice(b" b c1:2\nlast x b3:4");
    std::fs::write(t.0.join("modules.devname"), &data).unwrap();
    for f in FORMATS {
        let mut args = vec!["static-nodes"];
        args.extend(f);
        same_as_kmod(&k, Some(&t.0), &args);
    }
    let Some(o) = run_in(Some(&t.0), "022", &k.ours, &["static-nodes"]) else {
        return;
    };
    assert_status(&o, 1, "malformed lines");
    let err = text(&o.stderr);
    assert!(
        err.contains("Error: invalid devname entry: mod dev x10:1 (/lib/modules/"),
        "{err}"
    );
    assert!(err.contains("modules.devname:4)\n"), "line numbers: {err}");
}

#[test]
fn kmod_command_line_as_kmod() {
    let k = kmods();
    for args in [
        &[][..],
        &["help"],
        &["help", "static-nodes"],
        &["bogus"],
        &["insmod"],
        &["modprobe"],
        &["--bogus"],
        &["-x"],
        &["static-nodes", "--bogus"],
        &["static-nodes", "--format"],
        &["static-nodes", "-f", "bogus"],
        &["static-nodes", "--format="],
    ] {
        let Some(ours) = run_in(None, "022", &k.ours, args) else {
            return;
        };
        let Some(v34) = &k.v34 else { return };
        let Some(theirs) = run_in(None, "022", v34, args) else {
            return;
        };
        let what = format!("kmod {args:?}");
        assert_eq!(theirs.status.code(), ours.status.code(), "{what}: status");
        // Help texts are our own; whether there is one on stdout is kmod's.
        assert_eq!(
            theirs.stdout.is_empty(),
            ours.stdout.is_empty(),
            "{what}: stdout {}",
            text(&ours.stdout)
        );
        let first = |o: &Output| {
            text(&o.stderr)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        };
        let (t, o) = (first(&theirs), first(&ours));
        // getopt's and kmod's own words are kept; clap words its own parse errors.
        if !args.contains(&"static-nodes") || args.contains(&"bogus") || args.contains(&"-f") {
            assert!(o.starts_with(&t), "{what}: {o:?} should start with {t:?}");
        }
        if !t.is_empty() {
            assert!(!o.is_empty(), "{what}: no message");
        }
    }
    for args in [
        &["-V"][..],
        &["--version"],
        &["--vers", "list"],
        &["-h"],
        &["--help"],
    ] {
        let out = run(program(&k.ours), args);
        assert_status(&out, 0, &format!("kmod {args:?}"));
        assert!(out.stderr.is_empty());
        if args[0].contains('V') || args[0].contains("vers") {
            assert_eq!(text(&out.stdout), rkmod::cli::version_text());
        } else {
            assert!(text(&out.stdout).contains("static-nodes"));
        }
    }
}

#[test]
fn kmod_list_is_lsmod() {
    let root = sample_system();
    let k = kmods();
    let want = root.ours("lsmod", &[]);
    let got = program(&k.ours).arg("list").root(root.path()).output();
    assert_status(&got, 0, "kmod list");
    assert_same("kmod list", &want.stdout, &got.stdout);
}

/// Every name through a link, and `rkmod static-nodes` with `--root`.
#[test]
fn every_name_dispatches() {
    let dir = links();
    for name in NAMES {
        let out = run(program(dir.0.join(name)), ["--help"]);
        assert_status(&out, 0, &format!("{name} --help"));
        let help = text(&out.stdout);
        let usage = format!("Usage: {name} ");
        assert!(help.contains(&usage), "{name} --help: {help}");
    }
    let Some(tree) = debian_tree("6.1") else {
        return;
    };
    let root = FakeRoot::empty();
    let rel = "9.9.9-rkfake";
    symlink(
        tree.join("modules.devname"),
        root.path()
            .join(format!("lib/modules/{rel}/modules.devname")),
    )
    .unwrap();
    let via_rkmod = program(dir.0.join("rkmod"))
        .arg("static-nodes")
        .root(root.path())
        .output();
    assert_status(&via_rkmod, 0, "rkmod static-nodes");
    assert!(text(&via_rkmod.stdout).starts_with("Module: autofs4\n"));
    // --root is an option of static-nodes.
    let via_rkmod = run(
        program(dir.0.join("rkmod")),
        [
            OsStr::new("static-nodes"),
            OsStr::new("-f"),
            OsStr::new("devname"),
            OsStr::new("--root"),
            root.path().as_os_str(),
        ],
    );
    assert_status(&via_rkmod, 0, "rkmod static-nodes --root");
    assert_same(
        "rkmod static-nodes -f devname",
        std::fs::read(tree.join("modules.devname"))
            .unwrap()
            .splitn(2, |&b| b == b'\n')
            .nth(1)
            .unwrap(),
        &via_rkmod.stdout,
    );
    let via_kmod = run(
        program(dir.0.join("kmod")),
        [
            OsStr::new("static-nodes"),
            OsStr::new("-f"),
            OsStr::new("devname"),
            OsStr::new("--root"),
            root.path().as_os_str(),
        ],
    );
    assert_same(
        "kmod and rkmod static-nodes",
        &via_rkmod.stdout,
        &via_kmod.stdout,
    );
    // A write error is reported (kmod would exit 0 with nothing written).
    let full = program(dir.0.join("kmod"))
        .args([
            OsStr::new("static-nodes"),
            OsStr::new("--root"),
            root.path().as_os_str(),
        ])
        .stdout_to(std::fs::File::create("/dev/full").unwrap())
        .output();
    assert_one_line_error(
        &full,
        &["Error: could not write standard output - No space left on device"],
    );
}

/// An output that cannot be created: kmod's status and words, with the real cause (kmod 34 says
/// "Success" for a parent that is a file).
#[test]
fn static_nodes_output_errors() {
    let k = kmods();
    let Some(v34) = k.v34.clone() else { return };
    let Some(tree) = debian_tree("6.1") else {
        return;
    };
    let t = TempDir::new("kmod-out-err");
    std::fs::write(t.0.join("file"), b"").unwrap();
    let cases = [
        (t.0.clone(), "Is a directory"),
        (t.0.join("file/x"), "Not a directory"),
        (t.0.join("file/x/y"), "Not a directory"),
    ];
    for (out, cause) in cases {
        let arg = format!("--output={}", out.display());
        let args = ["static-nodes", arg.as_str()];
        let (Some(ours), Some(theirs)) = (
            run_in(Some(&tree), "022", &k.ours, &args),
            run_in(Some(&tree), "022", &v34, &args),
        ) else {
            return;
        };
        assert_status(&ours, 1, &arg);
        assert_status(&theirs, 1, &arg);
        assert!(ours.stdout.is_empty() && theirs.stdout.is_empty());
        let (o, t) = (text(&ours.stderr), text(&theirs.stderr));
        let words = t.split(" - ").next().unwrap();
        assert!(
            o.starts_with(words) && o.contains(cause),
            "{arg}: {o:?} vs kmod's {t:?}"
        );
    }
}
