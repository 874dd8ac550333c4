//! The multicall binary: `rkmod` answers to the name it is invoked by (argv[0], through links)
//! and runs the tools as subcommands.

use std::ffi::OsStr;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use crate::harness::*;

fn rkmod_bin() -> PathBuf {
    PathBuf::from(bin("rkmod"))
}

#[test]
fn multicall_definition_is_valid() {
    rkmod::cli::multicall::command().debug_assert();
}

/// A directory of links to rkmod, named as given.
fn links(names: &[&str]) -> TempDir {
    let dir = TempDir::new("links");
    for n in names {
        symlink(rkmod_bin(), dir.0.join(n)).unwrap();
    }
    dir
}

#[test]
fn invoked_as_modinfo_it_is_modinfo() {
    let dir = links(&["modinfo"]);
    for args in [
        vec![fixture("rk_basic.ko")],
        vec![fixture("rk_basic.ko.xz"), fixture("rk_permanent.ko")],
        vec![
            PathBuf::from("-F"),
            "license".into(),
            fixture("rk_basic.ko"),
        ],
        vec![fixture("rk_basic.ko"), fixture("does-not-exist.ko")],
    ] {
        let want = run(ours("modinfo"), &args);
        let got = run(program(dir.0.join("modinfo")), &args);
        let what = format!("modinfo {args:?} through a link to rkmod");
        assert_same(&what, &want.stdout, &got.stdout);
        assert_same(&what, &want.stderr, &got.stderr);
        assert_eq!(want.status.code(), got.status.code(), "{what}: status");
    }
}

#[test]
fn every_tool_answers_to_its_name() {
    let dir = links(&TOOLS);
    for tool in TOOLS {
        let out = run(program(dir.0.join(tool)), ["--help"]);
        assert_status(&out, 0, &format!("{tool} --help"));
        assert!(
            text(&out.stdout).contains(&format!("Usage: {tool} ")),
            "{tool} --help: {}",
            text(&out.stdout)
        );
        let out = run(program(dir.0.join(tool)), ["--version"]);
        assert_status(&out, 0, &format!("{tool} --version"));
        assert_eq!(text(&out.stdout), rkmod::cli::version_text());
    }
}

#[test]
fn unknown_program_name_exits_1() {
    // `kmod` is kmod's own program (kmod.rs); `list` and `static-nodes` are commands only.
    let names = ["foo", "rkmod-modinfo", "kmod2", "list", "static-nodes"];
    let dir = links(&names);
    for name in names {
        let out = run(program(dir.0.join(name)), [fixture("rk_basic.ko")]);
        assert_one_line_error(
            &out,
            &["rkmod: ERROR:", &format!("unknown program '{name}'")],
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn subcommands_run_the_tools() {
    let out = run(
        multicall("modinfo"),
        [
            OsStr::new("-F"),
            OsStr::new("license"),
            fixture("rk_basic.ko").as_os_str(),
        ],
    );
    assert_status(&out, 0, "rkmod modinfo -F license");
    assert_eq!(text(&out.stdout), "GPL\n");

    // Messages carry the tool's name, not rkmod's.
    let out = run(program(rkmod_bin()), ["rmmod"]);
    assert_one_line_error(&out, &["rmmod: ERROR: missing module name."]);
    let out = run(program(rkmod_bin()), ["modinfo", "/nonexistent/x.ko"]);
    assert_one_line_error(&out, &["modinfo: ERROR:", "/nonexistent/x.ko"]);

    // kmod's `kmod list`.
    let out = run(program(rkmod_bin()), ["list", "--help"]);
    assert_status(&out, 0, "rkmod list --help");
    assert!(text(&out.stdout).contains("Usage: lsmod"));
}

#[test]
fn rkmod_own_options() {
    let out = run(program(rkmod_bin()), ["--help"]);
    assert_status(&out, 0, "rkmod --help");
    let help = text(&out.stdout);
    for tool in TOOLS {
        assert!(help.contains(&format!("\n  {tool} ")), "{tool} in {help}");
    }
    assert!(help.contains("list"), "the list alias in {help}");

    for flag in ["--version", "-V"] {
        let out = run(program(rkmod_bin()), [flag]);
        assert_status(&out, 0, flag);
        assert_eq!(text(&out.stdout), rkmod::cli::version_text());
    }

    let out = run(program(rkmod_bin()), ["help", "modinfo"]);
    assert_status(&out, 0, "rkmod help modinfo");
    assert!(text(&out.stdout).contains("Usage: rkmod modinfo"));

    // No tool, or an unknown one: usage on stderr, status 1 (as kmod without a command).
    for args in [&[][..], &["bogus"][..], &["--bogus"][..]] {
        let out = run(program(rkmod_bin()), args);
        assert_status(&out, 1, &format!("rkmod {args:?}"));
        assert!(out.stdout.is_empty(), "rkmod {args:?}: stdout");
        assert!(text(&out.stderr).contains("Usage: rkmod"), "rkmod {args:?}");
    }
}
