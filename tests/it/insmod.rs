//! insmod: with `--root`, the fake kernel records every module system call instead of making it,
//! so these tests check exactly which call insmod makes (the one kmod 34 makes: plain files to
//! finit_module, compressed ones as /sys/module/compression allows) without ever asking the host.

use std::process::Output;

use crate::harness::*;

/// rk_basic.ko's size: what `init_module` receives after decompressing any of its variants.
fn image_len() -> u64 {
    std::fs::metadata(fixture("rk_basic.ko")).unwrap().len()
}

/// Runs our insmod on a fresh fake root whose kernel decompresses `kernel_decompresses` (the
/// contents of /sys/module/compression, absent if None) and answers `errno` (success if None).
/// Returns the run and the calls it made.
fn insmod(
    kernel_decompresses: Option<&str>,
    errno: Option<&str>,
    args: &[&str],
) -> (Output, Vec<String>) {
    let root = FakeRoot::empty();
    if let Some(c) = kernel_decompresses {
        root.write("sys/module/compression", format!("{c}\n"));
    }
    if let Some(e) = errno {
        root.fail_with(e);
    }
    let o = root.ours("insmod", args);
    (o, root.calls())
}

fn path(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn each_file_gets_the_system_call_kmod_would_make() {
    let len = image_len();
    let (plain, xz, zst, gz) = (
        path("rk_basic.ko"),
        path("rk_basic.ko.xz"),
        path("rk_basic.ko.zst"),
        path("rk_basic.ko.gz"),
    );
    // (what the kernel decompresses, insmod's arguments, the one call expected)
    let cases: Vec<(Option<&str>, Vec<&str>, String)> = vec![
        (
            None,
            vec![&plain],
            format!("finit_module {plain} flags=0x0 params=\"\""),
        ),
        // A plain file goes to finit_module even when the kernel could decompress.
        (
            Some("xz"),
            vec![&plain],
            format!("finit_module {plain} flags=0x0 params=\"\""),
        ),
        // -f: MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC.
        (
            None,
            vec!["-f", &plain],
            format!("finit_module {plain} flags=0x3 params=\"\""),
        ),
        (
            None,
            vec!["--force-vermagic", &plain],
            format!("finit_module {plain} flags=0x2 params=\"\""),
        ),
        (
            None,
            vec!["--force-modversion", &plain],
            format!("finit_module {plain} flags=0x1 params=\"\""),
        ),
        // Parameters joined by spaces, a value with a space quoted (kmod 34).
        (
            None,
            vec![&plain, "int_param=3", "str_param=a b"],
            format!("finit_module {plain} flags=0x0 params=\"int_param=3 str_param=\\\"a b\\\"\""),
        ),
        // Compressed, and the kernel decompresses nothing: decompressed here, init_module.
        (
            None,
            vec![&xz],
            format!("init_module {xz} len={len} params=\"\""),
        ),
        (
            None,
            vec![&zst],
            format!("init_module {zst} len={len} params=\"\""),
        ),
        (
            None,
            vec![&gz, "int_param=7"],
            format!("init_module {gz} len={len} params=\"int_param=7\""),
        ),
        // The kernel decompresses this format: finit_module with MODULE_INIT_COMPRESSED_FILE.
        (
            Some("xz"),
            vec![&xz],
            format!("finit_module {xz} flags=0x4 params=\"\""),
        ),
        (
            Some("zstd"),
            vec![&zst],
            format!("finit_module {zst} flags=0x4 params=\"\""),
        ),
        (
            Some("gzip"),
            vec![&gz],
            format!("finit_module {gz} flags=0x4 params=\"\""),
        ),
        // Another format than the kernel's: decompressed here.
        (
            Some("xz"),
            vec![&zst],
            format!("init_module {zst} len={len} params=\"\""),
        ),
        // -f with a compressed file: the force flags join MODULE_INIT_COMPRESSED_FILE, or the
        // stripped image (the same length) goes to init_module.
        (
            Some("xz"),
            vec!["-f", &xz],
            format!("finit_module {xz} flags=0x7 params=\"\""),
        ),
        (
            None,
            vec!["-f", &xz],
            format!("init_module {xz} len={len} params=\"\""),
        ),
    ];
    for (kernel, args, want) in cases {
        let what = format!("insmod {} (kernel decompresses {kernel:?})", args.join(" "));
        let (o, calls) = insmod(kernel, None, &args);
        assert_status(&o, 0, &what);
        assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{what}");
        assert_eq!(calls, [want], "{what}");
    }
}

#[test]
fn without_finit_module_it_falls_back_to_init_module_as_kmod_does() {
    let plain = path("rk_basic.ko");
    let (o, calls) = insmod(None, Some("ENOSYS"), &[&plain, "int_param=1"]);
    assert_one_line_error(
        &o,
        &[&format!(
            "insmod: ERROR: could not insert module {plain}: Function not implemented"
        )],
    );
    assert_eq!(
        calls,
        [
            format!("finit_module {plain} flags=0x0 params=\"int_param=1\""),
            format!(
                "init_module {plain} len={} params=\"int_param=1\"",
                image_len()
            ),
        ]
    );
}

#[test]
fn a_kernel_error_is_not_retried() {
    let plain = path("rk_basic.ko");
    for (errno, words) in [
        ("EEXIST", "File exists"),
        ("ENOEXEC", "Invalid module format"),
        ("ENOENT", "Unknown symbol in module"),
        ("EINVAL", "Invalid parameters"),
        ("EPERM", "Operation not permitted"),
    ] {
        let (o, calls) = insmod(None, Some(errno), &[&plain]);
        assert_one_line_error(
            &o,
            &[&format!(
                "insmod: ERROR: could not insert module {plain}: {words}"
            )],
        );
        assert_eq!(
            calls,
            [format!("finit_module {plain} flags=0x0 params=\"\"")],
            "{errno}: one call, no retry"
        );
    }
}

#[test]
fn refusals_before_the_kernel_make_no_call() {
    for (args, cause) in [
        (vec![path("bad/corrupt.ko.xz")], "corrupt xz data"),
        (vec![path("bad/empty.ko")], "too short"),
        (
            vec!["/nonexistent/x.ko".to_string()],
            "No such file or directory",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (o, calls) = insmod(None, None, &args);
        assert_one_line_error(&o, &[cause]);
        assert_eq!(calls, Vec::<String>::new(), "insmod {args:?}");
    }
}

/// kmod 30's insmod, run under strace (every module call failed by strace before it reaches
/// the kernel), makes the calls our insmod makes. kmod 30 does not read
/// /sys/module/compression, does not quote parameter values and has no gzip: those cases are
/// checked against the reference above, not here.
#[test]
fn kmod_makes_the_same_calls_under_strace() {
    let (plain, xz, zst) = (
        path("rk_basic.ko"),
        path("rk_basic.ko.xz"),
        path("rk_basic.ko.zst"),
    );
    let cases: &[(&str, &[&str])] = &[
        ("EDOM", &[&plain]),
        ("EDOM", &["-f", &plain]),
        ("EDOM", &[&plain, "int_param=3", "str_param=abc"]),
        ("EDOM", &[&xz]),
        ("EDOM", &[&zst, "int_param=4"]),
        ("EDOM", &["-f", &xz]),
        ("EEXIST", &[&plain]),
        // Without finit_module: init_module next, for both.
        ("ENOSYS", &[&plain, "int_param=5"]),
    ];
    for (errno, args) in cases {
        let what = format!("insmod {} ({errno})", args.join(" "));
        let Some((k, kmod_calls)) = kmod_traced("insmod", args, errno) else {
            return;
        };
        assert_eq!(k.status.code(), Some(1), "kmod {what}: {}", text(&k.stderr));
        let (o, ours) = insmod(None, Some(errno), args);
        assert_eq!(o.status.code(), Some(1), "{what}");
        let ours: Vec<String> = ours.iter().map(|c| without_file(c)).collect();
        assert!(!ours.is_empty(), "{what}");
        assert_eq!(ours, kmod_calls, "{what}: ours (left) and kmod's (right)");
    }
}

#[test]
fn clap_definition_is_consistent() {
    use clap::CommandFactory;
    rkmod::cli::insmod::InsmodArgs::command().debug_assert();
}
