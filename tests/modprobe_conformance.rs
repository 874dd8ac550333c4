//! modprobe against kmod 34.2 on the Debian trees (`-d ROOT -S VERSION`): standard output and
//! exit status byte for byte, and standard error with kmod's words, for `--show-depends` of
//! every module, aliases, `symbol:` names and builtin modules, `-R`, `-c`, `-n -v`, `-r -D`,
//! `--show-modversions` and `--show-exports`, with and without a configuration that uses every
//! directive, and (as root, in a private mount namespace) a kernel command line bound over
//! `/proc/cmdline`.
//!
//! Nothing here loads or removes a module: every run is a dry run (`-D`, `-n`) or a query. The
//! loaded state both tools see is the host's `/sys/module` (a kernel without module support).
//!
//! Needs `tests/debian/fetch.sh` to have prepared `target/debian` (the trees and kmod 34.2).
//! Without it the test prints a SKIP line, or fails under `CI=true`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "common/kmod34.rs"]
mod kmod34_tool;

const TREES: [(&str, &str); 2] = [("6.1", "6.1.0-50-amd64"), ("6.12", "6.12.107+deb12-amd64")];

fn prepared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debian")
}

fn skip_or_fail(why: &str) -> bool {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("modprobe conformance cannot run under CI=true: {why}");
    }
    eprintln!("SKIP modprobe conformance: {why} (run tests/debian/fetch.sh)");
    false
}

/// The trees that are there (all of them, or a SKIP/failure).
fn trees() -> Vec<(PathBuf, &'static str)> {
    if kmod34_tool::modprobe(&["-V".as_ref()]).is_none_or(|o| !o.status.success()) {
        skip_or_fail("kmod 34.2 is not in target/debian/kmod34");
        return Vec::new();
    }
    let mut out = Vec::new();
    for (tree, version) in TREES {
        let root = prepared().join(tree);
        if root
            .join("lib/modules")
            .join(version)
            .join("modules.dep.bin")
            .exists()
        {
            out.push((root, version));
        } else {
            skip_or_fail(&format!("the {tree} tree is not in target/debian"));
        }
    }
    out
}

/// Runs `cmd` (kmod's or ours) with `args`; with `ns`, inside a private mount namespace where
/// `ns/cmdline` (if there) is bound over `/proc/cmdline` and `ns/sys_module` (if there) over
/// `/sys/module`: the two things kmod reads that cannot be pointed elsewhere.
fn run(mut cmd: Command, args: &[OsString], ns: Option<&Path>) -> Output {
    let Some(ns) = ns else {
        return cmd.args(args).output().unwrap();
    };
    let mut sh = Command::new("unshare");
    sh.arg("-m")
        .arg("sh")
        .arg("-c")
        .arg(
            "set -e; if [ -e \"$0/cmdline\" ]; then mount --bind \"$0/cmdline\" /proc/cmdline; fi; \
             if [ -d \"$0/sys_module\" ]; then mount --bind \"$0/sys_module\" /sys/module; fi; \
             exec \"$@\"",
        )
        .arg(ns)
        .arg(cmd.get_program());
    sh.args(cmd.get_args()).args(args).env_clear();
    sh.output().unwrap()
}

fn kmod(args: &[OsString], ns: Option<&Path>) -> Output {
    run(kmod34_tool::launcher("modprobe").unwrap(), args, ns)
}

fn ours(args: &[OsString], ns: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_modprobe"));
    c.env_clear();
    run(c, args, ns)
}

/// The text after `modprobe: LEVEL: ` or `libkmod: ERROR: FUNCTION: ` of each stderr line.
fn words(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| {
            // libkmod's own logger (before modprobe's is set up) names the function.
            if let Some(r) = l.strip_prefix("libkmod: ERROR: ") {
                return format!("ERROR: {}", r.split_once(": ").map_or(r, |x| x.1));
            }
            l.strip_prefix("modprobe: ").unwrap_or(l).to_string()
        })
        .collect()
}

/// Compares one command: stdout and status exactly; every kmod stderr line must start one of
/// ours, in order (ours may say more after kmod's words).
fn compare(what: &str, args: &[OsString], ns: Option<&Path>, failures: &mut Vec<String>) {
    let k = kmod(args, ns);
    let r = ours(args, ns);
    if k.stdout != r.stdout {
        let (ks, rs) = (
            String::from_utf8_lossy(&k.stdout),
            String::from_utf8_lossy(&r.stdout),
        );
        let first = ks
            .lines()
            .zip(rs.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(ks.lines().count().min(rs.lines().count()));
        failures.push(format!(
            "{what}: stdout differs at line {}: kmod {:?}, ours {:?}",
            first + 1,
            ks.lines().nth(first),
            rs.lines().nth(first)
        ));
    }
    if k.status.code() != r.status.code() {
        failures.push(format!(
            "{what}: exit status kmod {:?}, ours {:?}",
            k.status.code(),
            r.status.code()
        ));
    }
    let (kw, rw) = (words(&k.stderr), words(&r.stderr));
    let mut it = rw.iter();
    for line in &kw {
        if !it.any(|o| o.starts_with(line.as_str())) {
            failures.push(format!(
                "{what}: kmod's stderr line {line:?} is not in ours: {rw:?}"
            ));
            break;
        }
    }
}

fn no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

fn base(root: &Path, version: &str) -> Vec<OsString> {
    vec![
        "-d".into(),
        root.as_os_str().to_owned(),
        "-S".into(),
        version.into(),
    ]
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Module names of a tree as `modules.order` spells them (dashes kept: the lookup normalises).
fn module_names(dir: &Path) -> Vec<String> {
    lines_of(&dir.join("modules.order"))
        .iter()
        .map(|l| {
            let b = l.rsplit('/').next().unwrap();
            b[..b.find(".ko").unwrap_or(b.len())].to_string()
        })
        .collect()
}

/// A concrete name matching an alias pattern: `*` matches nothing, `?` an `x`, a bracket its
/// first character.
fn concrete(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => {}
            '?' => out.push('x'),
            '[' => {
                let inner: String = chars.by_ref().take_while(|&c| c != ']').collect();
                out.extend(inner.chars().find(|&c| c != '!' && c != '^'));
            }
            c => out.push(c),
        }
    }
    out
}

/// Runs `modprobe ARGS -a NAMES` in chunks (one process per chunk: kmod keeps no state between
/// operands that changes these outputs).
fn chunked(
    what: &str,
    args: &[OsString],
    names: &[String],
    ns: Option<&Path>,
    failures: &mut Vec<String>,
) {
    for (i, chunk) in names.chunks(500).enumerate() {
        let mut a = args.to_vec();
        a.push("-a".into());
        a.extend(chunk.iter().map(OsString::from));
        compare(&format!("{what} (chunk {i})"), &a, ns, failures);
    }
}

#[test]
fn show_depends_and_resolve_every_name_of_both_trees() {
    let mut failures = Vec::new();
    let mut counted = 0;
    for (root, version) in trees() {
        let dir = root.join("lib/modules").join(version);
        let names = module_names(&dir);
        let aliases: Vec<String> = lines_of(&dir.join("modules.alias"))
            .iter()
            .step_by(7)
            .filter_map(|l| l.split(' ').nth(1).map(concrete))
            .collect();
        let symbols: Vec<String> = lines_of(&dir.join("modules.symbols"))
            .iter()
            .step_by(5)
            .filter_map(|l| l.split(' ').nth(1).map(str::to_string))
            .collect();
        let builtins: Vec<String> = lines_of(&dir.join("modules.builtin"))
            .iter()
            .map(|l| {
                let b = l.rsplit('/').next().unwrap();
                b[..b.find(".ko").unwrap_or(b.len())].to_string()
            })
            .collect();
        let odd = os(&[
            "crc32",
            "crc-ccitt",
            "char-major-10-175",
            "fs-ext4",
            "aes",
            "nonexistent",
            "a]b",
            "[ab",
            "../../etc/passwd",
            "/nonexistent.ko",
            "./x.ko",
            "nvme;true",
            "$(true)",
            "symbol:",
            "symbol:*",
            "*",
            "pci:*",
            "fs-*",
        ]);
        for (label, set) in [
            ("modules", &names),
            ("aliases", &aliases),
            ("symbols", &symbols),
            ("builtins", &builtins),
        ] {
            counted += set.len();
            let mut d = base(&root, version);
            d.push("-D".into());
            chunked(
                &format!("{version} -D {label}"),
                &d,
                set,
                None,
                &mut failures,
            );
            let mut r = base(&root, version);
            r.push("-R".into());
            chunked(
                &format!("{version} -R {label}"),
                &r,
                set,
                None,
                &mut failures,
            );
        }
        for name in &odd {
            for mode in ["-D", "-R", "-n", "--first-time"] {
                let mut a = base(&root, version);
                a.push(mode.into());
                if mode == "--first-time" {
                    a.push("-n".into());
                }
                a.push(name.clone());
                compare(
                    &format!("{version} {mode} {name:?}"),
                    &a,
                    None,
                    &mut failures,
                );
            }
        }
    }
    no_failures(&failures);
    eprintln!("modprobe conformance: {counted} names with -D and -R");
}

/// A configuration using every directive: spaces and tabs, continuation lines, comments,
/// duplicates, bad lines, and a single file given to -C.
fn write_config(dir: &Path) -> Vec<OsString> {
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::write(
        dir.join("d/50-test.conf"),
        "# every directive\n\
         alias my-nvme nvme\n\
         alias  my-nvme\tnvme\n\
         options nvme\tio_queue_depth=64  poll_queues=2 \\\n  cont=1\n\
         options my-nvme aliasopt=1\n\
         options nvme-core multipath=N\n\
         \x20 # an indented comment is a bad line\n\
         bogus words here\n\
         alias only-one-word\n\
         options lonely\n\
         install crc64 echo install crc64 $CMDLINE_OPTS; /bin/true\n\
         install crc64 echo second\n\
         remove crc64 echo removing crc64\n\
         blacklist nvme-core\n\
         blacklist loop\n\
         blacklist loop\n\
         softdep nvme pre: crc32c post: loop\n\
         softdep t10-pi  pre: ignored-because-of-two-blanks\n\
         softdep t10_pi pre: never-used\n\
         softdep dm-mod pre:dm-bufio post:\n\
         weakdep nvme  a b\n\
         include /etc/other.conf\n\
         install nonexist-mod /bin/true\n\
         alias net-pf-99 nonexistent_mod\n\
         alias fs-[xy]fs* xfs\n\
         remove removeonly echo gone\n\
         softdep cycle-a pre: cycle-b\n\
         softdep cycle-b pre: cycle-a\n",
    )
    .unwrap();
    std::fs::write(dir.join("d/10-first.conf"), "options loop max_loop=3\n").unwrap();
    std::fs::write(dir.join("d/ignored.txt"), "blacklist nvme\n").unwrap();
    std::fs::write(
        dir.join("single.txt"),
        "blacklist e1000e\noptions e1000e x=1\n",
    )
    .unwrap();
    vec![
        "-C".into(),
        dir.join("d").into(),
        "-C".into(),
        dir.join("single.txt").into(),
    ]
}

#[test]
fn configuration_and_dry_runs_with_every_directive() {
    let work = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("modprobe-conformance-{}", std::process::id()));
    let conf = write_config(&work);
    let mut failures = Vec::new();
    let names = [
        "nvme",
        "my-nvme",
        "crc64",
        "nonexist-mod",
        "net-pf-99",
        "nvme_core",
        "loop",
        "t10-pi",
        "dm-mod",
        "fs-xfs",
        "e1000e",
        "removeonly",
        "crc32",
        "crc-ccitt",
        "aes",
        "bridge",
    ];
    for (root, version) in trees() {
        let mut c = conf.clone();
        c.extend(base(&root, version));
        let mut a = c.clone();
        a.push("-c".into());
        compare(&format!("{version} -c"), &a, None, &mut failures);
        for mode in [
            &["-D"][..],
            &["-D", "-i"],
            &["-D", "-b"],
            &["-n", "-v"],
            &["-n", "-v", "-i"],
            &["-n", "-v", "-b"],
            &["-R"],
            &["-r", "-D"],
            &["-r", "-n", "-v"],
            &["-r", "-D", "-i"],
            &["-r", "-D", "--remove-holders"],
            &["-q", "-D"],
        ] {
            for name in names {
                let mut a = c.clone();
                a.extend(os(mode));
                a.push(name.into());
                compare(
                    &format!("{version} {mode:?} {name}"),
                    &a,
                    None,
                    &mut failures,
                );
            }
        }
        // Command-line parameters, quoted as kmod quotes them, after the config's options.
        let mut a = c.clone();
        a.extend(os(&["-D", "my-nvme", "p1=a b", "p2=c", "q='x y'"]));
        compare(
            &format!("{version} -D with parameters"),
            &a,
            None,
            &mut failures,
        );
        let mut a = c.clone();
        a.extend(os(&["-D", "crc64", "p=1 2"]));
        compare(
            &format!("{version} -D install with parameters"),
            &a,
            None,
            &mut failures,
        );
    }
    std::fs::remove_dir_all(&work).unwrap();
    no_failures(&failures);
}

/// Whether a private mount namespace can be made here (root, unshare(1)); a SKIP or, under CI,
/// a failure when not.
fn namespaces_work() -> bool {
    let works = Command::new("unshare")
        .args(["-m", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    works || skip_or_fail("needs root and unshare(1) to bind a test /proc/cmdline or /sys/module")
}

/// A loaded state in a fake /sys/module: (name, initstate or "" for none, refcnt, holders).
fn fake_sys_module(dir: &Path, modules: &[(&str, &str, &str, &[&str])]) {
    for (name, state, refcnt, holders) in modules {
        let m = dir.join(name);
        std::fs::create_dir_all(m.join("holders")).unwrap();
        if !state.is_empty() {
            std::fs::write(m.join("initstate"), format!("{state}\n")).unwrap();
        }
        std::fs::write(m.join("refcnt"), format!("{refcnt}\n")).unwrap();
        for h in *holders {
            std::os::unix::fs::symlink(format!("../../{h}"), m.join("holders").join(h)).unwrap();
        }
    }
}

/// Dry runs against a loaded state kmod reads from /sys/module (bound over it in a private
/// namespace, for both tools): loaded dependencies skipped, a loaded or coming module, builtin
/// code with parameters, --first-time, and removal with holders and reference counts.
#[test]
fn dry_runs_against_a_loaded_state() {
    if !namespaces_work() {
        return;
    }
    let work = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("modprobe-loaded-{}", std::process::id()));
    fake_sys_module(
        &work.join("sys_module"),
        &[
            ("nvme_core", "live", "1", &["nvme"]),
            ("nvme", "live", "0", &[]),
            ("crc64", "live", "2", &[]),
            ("t10_pi", "coming", "0", &[]),
            ("loop", "going", "0", &[]),
            ("dm_mod", "", "0", &[]),
            ("bridge", "live", "0", &[]),
            ("stp", "live", "1", &["bridge"]),
            ("llc", "live", "2", &["bridge", "stp"]),
        ],
    );
    let mut failures = Vec::new();
    for (root, version) in trees() {
        let mut c = os(&["-C", "/dev/null"]);
        c.extend(base(&root, version));
        // Not vacuous: kmod sees the fake state (nvme loaded and unused).
        let mut a = c.clone();
        a.extend(os(&["-r", "-n", "-v", "nvme"]));
        let k = kmod(&a, Some(&work));
        assert!(k.stdout.starts_with(b"rmmod nvme\n"), "{k:?}");
        for mode in [
            &["-n", "-v", "nvme"][..],
            &["-n", "-v", "--first-time", "nvme"],
            &["-n", "-v", "--first-time", "t10-pi"],
            &["-n", "-v", "loop"],
            &["-n", "-v", "dm-mod"],
            &["-n", "-v", "-a", "bridge", "stp", "crc64", "nvme"],
            &["-r", "-n", "-v", "nvme"],
            &["-r", "-n", "-v", "nvme_core"],
            &["-r", "-n", "-v", "-a", "nvme_core", "crc64", "nvme"],
            &["-r", "-n", "-v", "--remove-holders", "nvme_core"],
            &["-r", "-n", "-v", "--first-time", "xfs"],
            &["-r", "-n", "-v", "bridge"],
            &["-r", "-n", "-v", "--remove-holders", "llc"],
            &["-r", "-q", "-n", "llc"],
        ] {
            let mut a = c.clone();
            a.extend(os(mode));
            compare(
                &format!("{version} loaded {mode:?}"),
                &a,
                Some(&work),
                &mut failures,
            );
        }
    }
    std::fs::remove_dir_all(&work).unwrap();
    no_failures(&failures);
}

#[test]
fn kernel_command_line_bound_over_proc_cmdline() {
    if !namespaces_work() {
        return;
    }
    let work = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("modprobe-cmdline-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let cmdline = work.join("cmdline");
    std::fs::write(
        &cmdline,
        "BOOT_IMAGE=/vmlinuz root=UUID=x ro quiet nvme.io_queue_depth=2 nvme.poll_queues \
         \"nvme.copy=a b c\" nvme.q=\"x y\" nvme-core.multipath=N \
         modprobe.blacklist=loop,floppy module_blacklist=ext4 rd.driver.pre=foo \
         nvme.dotted=1.5 foo..bar=1 .x=1 a.b.c=1 \"bad quote\".x=1 loop.max_loop=8 \
         -- init.arg=1\n",
    )
    .unwrap();
    let mut failures = Vec::new();
    for (root, version) in trees() {
        let mut c = os(&["-C", "/dev/null"]);
        c.extend(base(&root, version));
        for mode in [
            &["-c"][..],
            &["-D", "nvme"],
            &["-n", "-v", "nvme"],
            &["-D", "loop"],
        ] {
            let mut a = c.clone();
            a.extend(os(mode));
            compare(
                &format!("{version} cmdline {mode:?}"),
                &a,
                Some(&work),
                &mut failures,
            );
        }
    }
    std::fs::remove_dir_all(&work).unwrap();
    no_failures(&failures);
}

#[test]
fn show_modversions_and_exports_of_module_files() {
    let mut failures = Vec::new();
    for (root, version) in trees() {
        let dir = root.join("lib/modules").join(version);
        let files: Vec<PathBuf> = lines_of(&dir.join("modules.order"))
            .iter()
            .step_by(200)
            .map(|l| {
                let p = dir.join(l);
                if p.exists() {
                    p
                } else {
                    dir.join(format!("{l}.xz"))
                }
            })
            .collect();
        for f in files
            .iter()
            .chain([&dir.join("modules.dep"), &dir.join("nonexistent.ko")])
        {
            for mode in ["--show-modversions", "--show-exports"] {
                let mut a = base(&root, version);
                a.push(mode.into());
                a.push(f.clone().into());
                compare(&format!("{mode} {}", f.display()), &a, None, &mut failures);
            }
        }
    }
    no_failures(&failures);
}

#[test]
fn usage_errors_as_kmod() {
    let mut failures = Vec::new();
    for args in [
        &[][..],
        &["-w", "x", "-r", "foo"],
        &["-w", "", "-r", "foo"],
        &["-a"],
        &["-r"],
    ] {
        compare(&format!("{args:?}"), &os(args), None, &mut failures);
    }
    no_failures(&failures);
}

/// The option spellings initramfs-tools, dracut, mkinitcpio, DKMS and systemd use (reference
/// §16), long and short, with `=` and without, and kmod's synonyms.
#[test]
fn option_spellings_clients_use() {
    let mut failures = Vec::new();
    for (root, version) in trees() {
        let dir = root.join("lib/modules").join(version);
        let file = |rel: &str| -> String {
            let p = dir.join(rel);
            if p.exists() {
                p
            } else {
                dir.join(format!("{rel}.xz"))
            }
            .display()
            .to_string()
        };
        let (nvme, crc64) = (
            file("kernel/drivers/nvme/host/nvme.ko"),
            file("kernel/lib/crc64.ko"),
        );
        let cases: Vec<Vec<&str>> = vec![
            vec!["--show", "-v", "nvme"],
            vec!["--dry-run", "-v", "nvme"],
            vec!["--showconfig"],
            vec!["--resolve-alias", "aes"],
            vec![
                "--all",
                "--ignore-install",
                "--quiet",
                "--show-depends",
                "nvme",
                "nosuch",
                "ext4",
            ],
            vec!["--all", "--quiet", "--show-depends", "nvme", "ext4"],
            vec!["-qaR", "fs-ext4", "aes", "nosuch"],
            vec!["-abq", "-n", "nvme"],
            vec!["--first-time", "-n", "nvme"],
            vec!["--remove-dependencies", "-D", "nvme"],
            vec!["--ignore-remove", "-r", "-D", "nvme"],
            vec!["--use-blacklist", "-D", "nvme"],
            vec!["--dump-modversions", &nvme],
            vec!["--show-exports", &crc64],
            vec!["-w", "0x10", "-r", "-D", "nvme"],
            vec!["--wait=010", "-r", "-D", "nvme"],
            vec!["-f", "--force-vermagic", "--force-modversion", "-D", "nvme"],
        ];
        for case in cases {
            let mut a = os(&["-C", "/dev/null"]);
            a.push(format!("--dirname={}", root.display()).into());
            a.push(format!("--set-version={version}").into());
            a.extend(os(&case));
            compare(&format!("{version} {case:?}"), &a, None, &mut failures);
        }
    }
    no_failures(&failures);
}
