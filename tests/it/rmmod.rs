//! rmmod against fake /proc and /sys trees, with kmod as the oracle (run in a private mount
//! namespace where the fake tree is mounted over the real paths: see `FakeRoot::kmod`). With
//! `--root` no module system call reaches the kernel: the fake kernel records it.

use crate::harness::*;

#[test]
fn rmmod_checks_match_kmod_in_order_and_wording() {
    let sys = sample_system();
    // Holders are listed in directory order, as `ls -U` shows it.
    let ls = program("ls")
        .arg("-U")
        .arg(sys.path().join("sys/module/nf_tables/holders"))
        .output();
    let holders = String::from_utf8(ls.stdout).unwrap();
    let holders: Vec<&str> = holders.split_whitespace().collect();
    let in_use_by = format!("Module nf_tables is in use by: {}", holders.join(" "));
    // Each refused before any system call.
    let cases: &[(&str, &str)] = &[
        ("ext4_builtin", "Module ext4_builtin is builtin."),
        ("ext4-builtin", "Module ext4_builtin is builtin."),
        ("notloaded", "Module notloaded is not currently loaded"),
        ("nf_tables", &in_use_by),
        ("nft_ct", "Module nft_ct is in use"),
        ("norefcnt", "Module unloading is not supported"),
    ];
    for (arg, kmod_line) in cases {
        let ours = sys.ours("rmmod", &[arg]);
        let err = String::from_utf8_lossy(&ours.stderr).into_owned();
        assert_eq!(ours.status.code(), Some(1), "{arg}: {err}");
        assert!(
            err.starts_with(&format!("rmmod: ERROR: {kmod_line}")),
            "{arg}: {err}"
        );
        assert_one_stderr_line(&ours, arg);
        assert!(ours.stdout.is_empty());
        if let Some(k) = sys.kmod("rmmod", &[arg]) {
            let kerr = String::from_utf8_lossy(&k.stderr).into_owned();
            assert_eq!(k.status.code(), Some(1), "kmod {arg}: {kerr}");
            assert!(
                kerr.contains(kmod_line),
                "kmod {arg} said {kerr:?}, reference says {kmod_line:?}"
            );
        }
    }
    assert_eq!(
        sys.calls(),
        Vec::<String>::new(),
        "no call reached the kernel"
    );
}

#[test]
fn rmmod_explains_what_kmod_leaves_cryptic() {
    let sys = sample_system();
    // A sysfs directory without initstate and not in modules.builtin: builtin code with
    // parameters. kmod calls it "coming" and ends with "Module unloading is not supported".
    let o = sys.ours("rmmod", &["printk_like"]);
    assert_one_line_error(&o, &["Module printk_like is builtin."]);
    let o = sys.ours("rmmod", &["nft_ct"]);
    assert_one_line_error(&o, &["is in use (reference count 2", "not modules"]);
    let o = sys.ours("rmmod", &["a/b"]);
    assert_one_line_error(&o, &["could not use module a/b", "cannot contain '/'"]);
    let long = "x".repeat(60);
    let o = sys.ours("rmmod", &[&long]);
    assert_one_line_error(&o, &["longer than the kernel's 55 characters"]);
    // Passing every check reaches delete_module: under a fake root, the fake kernel's, which
    // records the call and answers with the errno the test chose. The host is never asked.
    sys.fail_with("ENOSYS");
    let o = sys.ours("rmmod", &["x"]);
    assert_one_line_error(&o, &["could not remove module x: Function not implemented"]);
    assert_eq!(sys.calls(), ["delete_module x flags=O_NONBLOCK"]);
}

#[test]
fn rmmod_keeps_going_after_a_failure() {
    let sys = sample_system();
    let o = sys.ours("rmmod", &["notloaded", "nft_ct", "ext4_builtin"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 3, "{err}");
    // A path names the module by its file name.
    let t = TempDir::new("path");
    let f = t.0.join("nft-ct.ko.xz");
    std::fs::write(&f, b"").unwrap();
    let o = sys.ours("rmmod", &[f.to_str().unwrap()]);
    assert_one_line_error(&o, &["Module nft_ct is in use"]);
}

#[test]
fn rmmod_wait_times_out_with_the_reason() {
    let sys = sample_system();
    let start = std::time::Instant::now();
    let o = sys.ours("rmmod", &["-v", "--wait=300", "nft_ct"]);
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("timed out after 300 ms") && err.contains("reference count 2"),
        "{err}"
    );
    assert!(
        err.contains("INFO: waiting for nft_ct: reference count 2"),
        "{err}"
    );
    assert!(took >= std::time::Duration::from_millis(300), "{took:?}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    // Waiting cannot make a builtin module removable: refused at once.
    let o = sys.ours("rmmod", &["--wait", "ext4_builtin"]);
    assert_one_line_error(&o, &["is builtin"]);
}

/// kmod's rmmod, under strace in a mount namespace over the same fake tree (each call failed by
/// strace before it reaches the kernel), makes the calls our rmmod records.
#[test]
fn kmod_makes_the_same_calls_under_strace() {
    let cases: &[(&str, &[&str])] = &[
        ("EDOM", &["x"]),
        ("EBUSY", &["x"]),
        ("EDOM", &["-f", "x"]),
        ("EDOM", &["-f", "nft_ct"]),
        ("EDOM", &["-f", "notloaded"]),
        // Refused before any call, by both.
        ("EDOM", &["nft_ct"]),
        ("EDOM", &["ext4_builtin"]),
    ];
    for (errno, args) in cases {
        let what = format!("rmmod {} ({errno})", args.join(" "));
        let sys = sample_system();
        let Some((k, kmod_calls)) = sys.kmod_traced("rmmod", args, errno) else {
            return;
        };
        assert_eq!(k.status.code(), Some(1), "kmod {what}: {}", text(&k.stderr));
        sys.fail_with(errno);
        let o = sys.ours("rmmod", args);
        assert_eq!(o.status.code(), Some(1), "{what}");
        assert_eq!(
            sys.calls(),
            kmod_calls,
            "{what}: ours (left) and kmod's (right)"
        );
    }
}

#[test]
fn clap_definition_is_consistent() {
    use clap::CommandFactory;
    rkmod::cli::rmmod::RmmodArgs::command().debug_assert();
}

#[test]
fn rmmod_makes_the_call_kmod_makes() {
    // Plain: delete_module(name, O_NONBLOCK), once, whatever the kernel answers.
    for errno in [None, Some("EBUSY"), Some("EAGAIN")] {
        let sys = sample_system();
        if let Some(e) = errno {
            sys.fail_with(e);
        }
        let o = sys.ours("rmmod", &["x"]);
        assert_eq!(
            o.status.code(),
            Some(i32::from(errno.is_some())),
            "{errno:?}"
        );
        assert_eq!(
            sys.calls(),
            ["delete_module x flags=O_NONBLOCK"],
            "{errno:?}"
        );
    }
    // A path names the module by its file name, as kmod does.
    let sys = sample_system();
    let f = sys.path().join("x.ko.zst");
    std::fs::write(&f, b"").unwrap();
    let o = sys.ours("rmmod", &[f.to_str().unwrap()]);
    assert_status(&o, 0, "rmmod by path");
    assert_eq!(sys.calls(), ["delete_module x flags=O_NONBLOCK"]);
}

#[test]
fn rmmod_force_sends_o_trunc() {
    // -f: O_NONBLOCK|O_TRUNC, and kmod's userspace checks skipped: a module in use goes to the
    // kernel, which decides.
    for name in ["x", "nft_ct", "nf_tables"] {
        let sys = sample_system();
        let o = sys.ours("rmmod", &["-f", name]);
        assert_status(&o, 0, &format!("rmmod -f {name}"));
        assert_eq!(
            sys.calls(),
            [format!("delete_module {name} flags=O_NONBLOCK|O_TRUNC")],
            "rmmod -f {name}"
        );
    }
    let sys = sample_system();
    sys.fail_with("EBUSY");
    let o = sys.ours("rmmod", &["--force", "nft_ct"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).starts_with("rmmod: ERROR: could not remove module nft_ct: "),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        sys.calls(),
        ["delete_module nft_ct flags=O_NONBLOCK|O_TRUNC"]
    );
}

#[test]
fn rmmod_wait_calls_once_the_reference_count_reaches_zero() {
    let sys = sample_system();
    let refcnt = sys.path().join("sys/module/nft_ct/refcnt");
    let release = {
        let refcnt = refcnt.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(400));
            // Replaced whole, so rmmod never reads half a file.
            let tmp = refcnt.with_extension("new");
            std::fs::write(&tmp, "0\n").unwrap();
            std::fs::rename(&tmp, &refcnt).unwrap();
        })
    };
    let start = std::time::Instant::now();
    let o = sys.ours("rmmod", &["--wait=20000", "nft_ct"]);
    let took = start.elapsed();
    release.join().unwrap();
    assert_status(&o, 0, "rmmod --wait nft_ct");
    assert!(took >= std::time::Duration::from_millis(400), "{took:?}");
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    // No call while the module was in use; one, non-blocking as kmod's modprobe -r --wait
    // makes it, once it was free.
    assert_eq!(sys.calls(), ["delete_module nft_ct flags=O_NONBLOCK"]);
}

/// Before removing a module whose file registers file operations without an owner (modaudit's
/// ownerless-fops), rmmod warns in one line; stdout and the exit status stay kmod's. debugfs
/// files (root only) are named only with -v.
#[test]
fn rmmod_warns_before_removing_a_module_with_ownerless_file_operations() {
    let loaded = ["rk_misc_noowner", "rk_debugfs_noowner", "rk_chardev"];
    let modules: Vec<Module<'_>> = loaded
        .iter()
        .map(|&name| Module {
            name,
            proc_size: 16384,
            deps: "-",
            state: "Live",
            sys: Some(NORMAL),
        })
        .collect();
    let sys = FakeRoot::new(&modules, &[], &[]);
    // modules.dep names each file, as depmod writes it; rmmod looks names up as modinfo does.
    let mut dep = String::new();
    for name in loaded {
        let rel = format!("lib/modules/9.9.9-rkfake/extra/{name}.ko");
        sys.write(&rel, std::fs::read(fixture(&format!("{name}.ko"))).unwrap());
        dep.push_str(&format!("extra/{name}.ko:\n"));
    }
    sys.write("lib/modules/9.9.9-rkfake/modules.dep", dep);

    let o = sys.ours("rmmod", &["rk_misc_noowner"]);
    assert_status(&o, 0, "rmmod rk_misc_noowner");
    assert!(o.stdout.is_empty());
    let line = assert_one_stderr_line(&o, "the warning");
    assert_eq!(
        line,
        "rmmod: WARNING: removing rk_misc_noowner while one of its files is open will crash the \
         kernel: its file operations have no owner, so an open file does not keep it loaded \
         (rk_misc_fops (misc))\n"
    );
    assert_eq!(
        sys.calls(),
        ["delete_module rk_misc_noowner flags=O_NONBLOCK"]
    );

    // By path: the file itself.
    let o = sys.ours("rmmod", &[fixture("rk_misc_noowner.ko").to_str().unwrap()]);
    assert_status(&o, 0, "rmmod by path");
    assert!(
        text(&o.stderr).contains("rk_misc_fops (misc)"),
        "{}",
        text(&o.stderr)
    );

    // debugfs only: silent, unless -v.
    let o = sys.ours("rmmod", &["rk_debugfs_noowner"]);
    assert_status(&o, 0, "rmmod rk_debugfs_noowner");
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    let o = sys.ours("rmmod", &["-v", "rk_debugfs_noowner"]);
    assert_status(&o, 0, "rmmod -v rk_debugfs_noowner");
    assert!(
        text(&o.stderr).contains(
            "rmmod: WARNING: removing rk_debugfs_noowner while one of its \
         files is open will crash the kernel"
        ) && text(&o.stderr).contains("(rk_debugfs_fops (debugfs))"),
        "{}",
        text(&o.stderr)
    );

    // With an owner: nothing to say, even with -v (but the INFO line -v always gives).
    let o = sys.ours("rmmod", &["-v", "rk_chardev"]);
    assert_status(&o, 0, "rmmod -v rk_chardev");
    assert!(!text(&o.stderr).contains("WARNING"), "{}", text(&o.stderr));

    // The kernel's answer still decides the exit status; the warning changes nothing.
    sys.fail_with("EBUSY");
    let o = sys.ours("rmmod", &["rk_misc_noowner"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());

    // Not loaded: kmod's refusal only, no warning.
    let sys = FakeRoot::empty();
    let o = sys.ours("rmmod", &[fixture("rk_misc_noowner.ko").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!text(&o.stderr).contains("WARNING"), "{}", text(&o.stderr));
}
