//! modprobe against a fake root (`--root`): a module tree of our fixtures indexed by our depmod,
//! a fake /sys/module, configuration under ROOT/etc/modprobe.d and a kernel command line in
//! ROOT/proc/cmdline. The fake kernel records each module system call instead of making it, so
//! these tests check exactly what modprobe would have asked the kernel, in which order, with
//! which parameters, and what it printed and returned. (The removal of a whole chain of unused
//! dependencies needs a kernel whose reference counts change: it is tested against a model
//! kernel in src/lib/modprobe/plan/tests.rs, and in the VM.)

use crate::harness::*;

const RELEASE: &str = "9.9.9-rkfake";

/// A fake root: `loaded` modules in sysfs, ext4_builtin builtin, and rk_basic, rk_provider,
/// rk_consumer (which needs rk_provider), rk_symget and rk_chardev indexed by our depmod.
fn tree(loaded: &[Module<'_>]) -> FakeRoot {
    let root = FakeRoot::new(loaded, &[], &["printk_like"]);
    let dir = format!("lib/modules/{RELEASE}");
    for m in [
        "rk_basic",
        "rk_provider",
        "rk_consumer",
        "rk_symget",
        "rk_chardev",
    ] {
        root.write(
            &format!("{dir}/extra/{m}.ko"),
            std::fs::read(fixture(&format!("{m}.ko"))).unwrap(),
        );
    }
    root.write(
        &format!("{dir}/modules.builtin"),
        "kernel/fs/ext4_builtin.ko\n",
    );
    root.write(&format!("{dir}/modules.order"), "");
    let out = ours("depmod")
        .args(["-b".as_ref(), root.path().as_os_str(), RELEASE.as_ref()])
        .output();
    assert_status(&out, 0, "depmod");
    root
}

fn moddir(root: &FakeRoot) -> String {
    format!("{}/lib/modules/{RELEASE}", root.path().display())
}

fn live<'a>(name: &'a str, refcnt: &'a str, holders: &'a [&'a str]) -> Module<'a> {
    Module {
        name,
        proc_size: 1,
        deps: "-",
        state: "Live",
        sys: Some(Sys {
            refcnt: Some(refcnt),
            holders,
            ..NORMAL
        }),
    }
}

fn finit(root: &FakeRoot, m: &str, params: &str) -> String {
    format!(
        "finit_module {}/extra/{m}.ko flags=0x0 params={params:?}",
        moddir(root)
    )
}

#[test]
fn inserts_dependencies_first_with_parameters() {
    let root = tree(&[]);
    let out = root.ours("modprobe", &["rk-consumer", "x=1", "s=a b"]);
    assert_status(&out, 0, "modprobe rk-consumer");
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert_eq!(
        root.calls(),
        [
            finit(&root, "rk_provider", ""),
            finit(&root, "rk_consumer", "x=1 s=\"a b\"")
        ]
    );
}

#[test]
fn verbose_and_dry_run_print_what_is_done() {
    let root = tree(&[]);
    let out = root.ours("modprobe", &["-n", "-v", "rk_consumer"]);
    assert_status(&out, 0, "modprobe -n -v");
    let d = moddir(&root);
    assert_eq!(
        text(&out.stdout),
        format!("insmod {d}/extra/rk_provider.ko \ninsmod {d}/extra/rk_consumer.ko \n")
    );
    assert!(root.calls().is_empty(), "a dry run calls nothing");
    let out = root.ours("modprobe", &["-n", "rk_consumer"]);
    assert!(out.stdout.is_empty(), "kmod 34.2's -n prints only with -v");
    let out = root.ours("modprobe", &["-v", "rk_basic"]);
    assert_eq!(
        text(&out.stdout),
        format!("insmod {d}/extra/rk_basic.ko \n")
    );
    assert_eq!(root.calls(), [finit(&root, "rk_basic", "")]);
}

#[test]
fn loaded_and_builtin_modules_are_left_alone() {
    let root = tree(&[
        live("rk_consumer", "0\n", &[]),
        live("rk_provider", "1\n", &["rk_consumer"]),
    ]);
    for name in ["rk_consumer", "ext4_builtin", "ext4-builtin"] {
        let out = root.ours("modprobe", &[name]);
        assert_status(&out, 0, name);
        assert!(out.stderr.is_empty());
    }
    let out = root.ours("modprobe", &["--first-time", "rk_consumer"]);
    assert_status(&out, 1, "--first-time");
    assert_one_line_error(
        &out,
        &["could not insert 'rk_consumer': Module already in kernel"],
    );
    let out = root.ours("modprobe", &["-D", "ext4_builtin"]);
    assert_eq!(text(&out.stdout), "builtin ext4_builtin\n");
    assert!(root.calls().is_empty());
}

#[test]
fn configuration_and_kernel_command_line() {
    let root = tree(&[]);
    let marker = root.path().join("installed");
    root.write(
        "etc/modprobe.d/test.conf",
        format!(
            "alias my-basic rk_basic\n\
             options my-basic fromalias=1\n\
             options rk_basic\tfromconf=2\n\
             blacklist rk_symget\n\
             install rk_chardev echo \"$MODPROBE_MODULE $CMDLINE_OPTS\" > {m}\n\
             softdep rk_consumer post: rk_basic\n\
             bad line here\n",
            m = marker.display()
        ),
    );
    // A file of the same name in /lib/modprobe.d is hidden by /etc's.
    root.write("lib/modprobe.d/test.conf", "blacklist rk_basic\n");
    root.write(
        "proc/cmdline",
        "quiet rk_basic.fromcmdline=3 modprobe.blacklist=rk-chardev\n",
    );
    let out = root.ours("modprobe", &["my-basic", "p=4"]);
    assert_status(&out, 0, "alias");
    assert!(text(&out.stderr).contains("test.conf line 7: ignoring bad line starting with 'bad'"));
    assert_eq!(
        root.calls(),
        [finit(
            &root,
            "rk_basic",
            "fromalias=1 fromconf=2 fromcmdline=3 p=4"
        )]
    );
    // Blacklisted names are loaded when named, not through aliases, and never with -b.
    let out = root.ours("modprobe", &["-b", "rk_symget"]);
    assert_status(&out, 0, "-b");
    assert_eq!(root.calls().len(), 1);
    // The command-line blacklist names rk-chardev with a dash: it still matches (kmod: not).
    let out = root.ours("modprobe", &["-b", "rk_chardev"]);
    assert_status(&out, 0, "-b cmdline");
    assert!(!marker.exists());
    // Without -b the install command runs, with the options and MODPROBE_MODULE.
    let out = root.ours("modprobe", &["rk_chardev", "z=9"]);
    assert_status(&out, 0, "install");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "rk_chardev z=9\n"
    );
    assert_eq!(
        root.calls().len(),
        1,
        "an install command replaces the insertion"
    );
    // -i inserts instead.
    let out = root.ours("modprobe", &["-i", "rk_chardev"]);
    assert_status(&out, 0, "-i");
    assert_eq!(
        root.calls().last().unwrap(),
        &finit(&root, "rk_chardev", "")
    );
    // Softdeps: post after the module.
    let out = root.ours("modprobe", &["-n", "-v", "rk_consumer"]);
    let d = moddir(&root);
    assert_eq!(
        text(&out.stdout),
        format!(
            "insmod {d}/extra/rk_provider.ko \ninsmod {d}/extra/rk_consumer.ko \n\
             insmod {d}/extra/rk_basic.ko fromconf=2 fromcmdline=3 \n"
        )
    );
}

#[test]
fn errors_and_exit_statuses() {
    let root = tree(&[]);
    let out = root.ours("modprobe", &["nosuch"]);
    assert_status(&out, 1, "not found");
    assert_one_line_error(&out, &[]);
    assert_eq!(
        text(&out.stderr),
        format!(
            "modprobe: FATAL: Module nosuch not found in directory {}\n",
            moddir(&root)
        )
    );
    let out = root.ours("modprobe", &["-q", "nosuch"]);
    assert_status(&out, 1, "-q not found");
    assert!(out.stderr.is_empty());
    let out = root
        .tool("modprobe")
        .env("MODPROBE_OPTIONS", "-q")
        .arg("nosuch")
        .output();
    assert_status(&out, 1, "MODPROBE_OPTIONS=-q");
    assert!(out.stderr.is_empty());
    // -a: a missing module is a warning, the others are still inserted.
    let out = root.ours("modprobe", &["-a", "nosuch", "rk_basic"]);
    assert_status(&out, 1, "-a");
    assert!(text(&out.stderr).starts_with("modprobe: WARNING: Module nosuch not found"));
    assert_eq!(root.calls(), [finit(&root, "rk_basic", "")]);
    // The kernel's refusal: kmod's words, then why.
    root.fail_with("EPERM");
    let out = root.ours("modprobe", &["rk_basic"]);
    assert_status(&out, 1, "EPERM");
    assert_one_line_error(
        &out,
        &["could not insert 'rk_basic': Operation not permitted ("],
    );
    root.fail_with("ENOENT");
    let out = root.ours("modprobe", &["rk_basic"]);
    assert_one_line_error(
        &out,
        &[
            "could not insert 'rk_basic': Unknown symbol in module, or unknown parameter (see dmesg)",
        ],
    );
    let out = root.ours("modprobe", &[]);
    assert_status(&out, 1, "no operand");
    assert_one_line_error(&out, &["missing parameters. See -h."]);
    let out = root.ours("modprobe", &["-r", "-w", "soon", "rk_basic"]);
    assert_one_line_error(&out, &["unexpected wait value 'soon'."]);
}

#[test]
fn removal_with_unused_dependencies_commands_and_refusals() {
    let root = tree(&[
        live("rk_consumer", "0\n", &[]),
        live("rk_provider", "0\n", &[]),
        live("rk_basic", "1\n", &[]),
    ]);
    let out = root.ours("modprobe", &["-r", "-v", "rk_consumer"]);
    assert_status(&out, 0, "-r");
    assert_eq!(text(&out.stdout), "rmmod rk_consumer\nrmmod rk_provider\n");
    assert_eq!(
        root.calls(),
        [
            "delete_module rk_consumer flags=O_NONBLOCK",
            "delete_module rk_provider flags=O_NONBLOCK"
        ]
    );
    let out = root.ours("modprobe", &["-r", "rk_basic"]);
    assert_status(&out, 1, "in use");
    assert_eq!(
        text(&out.stderr),
        "modprobe: FATAL: Module rk_basic is in use.\n"
    );
    let out = root.ours("modprobe", &["-r", "-q", "rk_basic"]);
    assert_status(&out, 1, "in use, quiet");
    assert!(out.stderr.is_empty());
    let out = root.ours("modprobe", &["-r", "rk_symget", "ext4_builtin"]);
    assert_status(&out, 1, "not loaded, builtin");
    assert_eq!(
        text(&out.stderr),
        "modprobe: FATAL: Module ext4_builtin is builtin.\n"
    );
    let out = root.ours("modprobe", &["-r", "nosuch"]);
    assert_eq!(
        text(&out.stderr),
        "modprobe: FATAL: Module nosuch not found.\n"
    );
    assert_eq!(root.calls().len(), 2, "no more calls");
    // A remove command replaces delete_module.
    let marker = root.path().join("removed");
    root.write(
        "etc/modprobe.d/r.conf",
        format!(
            "remove rk_basic echo $MODPROBE_MODULE > {}\n",
            marker.display()
        ),
    );
    let out = root.ours("modprobe", &["-r", "rk_basic"]);
    assert_status(&out, 0, "remove command");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "rk_basic\n");
    assert_eq!(root.calls().len(), 2);
    // -f forces; the kernel's refusal is reported with its reason.
    std::fs::remove_file(root.path().join("etc/modprobe.d/r.conf")).unwrap();
    root.fail_with("EBUSY");
    let out = root.ours("modprobe", &["-r", "rk_provider"]);
    assert_status(&out, 1, "EBUSY");
    assert!(
        text(&out.stderr).starts_with(
            "modprobe: ERROR: could not remove 'rk_provider': Device or resource busy"
        )
    );
}

/// d uses a, a uses b_lib, b_lib uses c-lib, all loaded, with a fake kernel whose sysfs follows
/// removals (`kernel/follow-sysfs`): `modprobe -r d` removes the whole chain, highest level
/// first. (kmod 34.2 tries c_lib and b_lib first, while they are still in use, and leaves them.)
#[test]
fn removal_takes_the_whole_unused_chain() {
    let root = FakeRoot::new(
        &[
            live("d", "0\n", &[]),
            live("a", "1\n", &["d"]),
            live("b_lib", "2\n", &["a", "d"]),
            live("c_lib", "3\n", &["b_lib", "a", "d"]),
            live("other", "0\n", &[]),
        ],
        &[],
        &[],
    );
    let dir = format!("lib/modules/{RELEASE}");
    let deps: [(&[u8], &[u8], u32); 4] = [
        (
            b"d",
            b"extra/d.ko: extra/a.ko extra/b_lib.ko extra/c-lib.ko",
            0,
        ),
        (b"a", b"extra/a.ko: extra/b_lib.ko extra/c-lib.ko", 0),
        (b"b_lib", b"extra/b_lib.ko: extra/c-lib.ko", 0),
        (b"c_lib", b"extra/c-lib.ko:", 0),
    ];
    root.write(
        &format!("{dir}/modules.dep.bin"),
        rkmod::moddir::index::write(&deps),
    );
    root.write("kernel/follow-sysfs", "");
    let out = root.ours("modprobe", &["-r", "-v", "d"]);
    assert_status(&out, 0, "modprobe -r d");
    assert_eq!(
        text(&out.stdout),
        "rmmod d\nrmmod a\nrmmod b_lib\nrmmod c_lib\n"
    );
    assert_eq!(
        root.calls(),
        ["d", "a", "b_lib", "c_lib"].map(|m| format!("delete_module {m} flags=O_NONBLOCK"))
    );
    let left: Vec<String> = std::fs::read_dir(root.path().join("sys/module"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["other"]);
}
