//! modinfo against kmod on our fixtures, lookups in a depmod-built tree, bad input, extensions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::*;

/// Every good fixture kmod 30 can read (it is built without zlib, so not the .gz one).
fn good_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("rk_")
                && (n.ends_with(".ko") || n.ends_with(".ko.xz") || n.ends_with(".ko.zst"))
        })
        .collect();
    v.sort();
    assert!(v.len() >= 15, "fixtures missing: {v:?}");
    v
}

#[test]
fn fixtures_print_exactly_as_kmod_in_every_mode() {
    let Some(_) = kmod("modinfo") else { return };
    let modes: &[&[&str]] = &[
        &[],
        &["-0"],
        &["-p"],
        &["-F", "parm"],
        &["-F", "alias"],
        &["-F", "parmtype"],
        &["-n"],
        &["-F", "signer"],
        &["-F", "sig_key"],
        &["-0", "-F", "license"],
        &["-a"],
        &["-F", "depends"],
    ];
    let files = good_fixtures();
    let mut checked = 0;
    for mode in modes {
        for f in &files {
            let k = run(
                kmod("modinfo").unwrap(),
                mode.iter().map(Path::new).chain([f.as_path()]),
            );
            let o = run(
                ours("modinfo"),
                mode.iter().map(Path::new).chain([f.as_path()]),
            );
            let what = format!("modinfo {} {}", mode.join(" "), f.display());
            assert_same(&what, &k.stdout, &o.stdout);
            assert_eq!(k.status.code(), o.status.code(), "{what}: exit status");
            checked += 1;
        }
        // All files in one invocation, as a packager's script would.
        let k = run(
            kmod("modinfo").unwrap(),
            mode.iter()
                .map(Path::new)
                .chain(files.iter().map(|p| p.as_path())),
        );
        let o = run(
            ours("modinfo"),
            mode.iter()
                .map(Path::new)
                .chain(files.iter().map(|p| p.as_path())),
        );
        assert_same(
            &format!("modinfo {} <all>", mode.join(" ")),
            &k.stdout,
            &o.stdout,
        );
    }
    eprintln!("modinfo fixtures: {checked} comparisons identical to kmod");
}

#[test]
fn build_id_is_shown_only_when_asked_for_and_matches_readelf() {
    let f = fixture("rk_basic.ko");
    let o = run(
        ours("modinfo"),
        ["-F", "build-id"]
            .map(std::ffi::OsString::from)
            .into_iter()
            .chain([f.clone().into_os_string()]),
    );
    let ours_hex = String::from_utf8(o.stdout)
        .unwrap()
        .trim()
        .replace(':', "")
        .to_lowercase();
    // readelf (binutils) is required: a failure to run it fails the test.
    let re = program("readelf").arg("-n").arg(&f).output();
    let re = String::from_utf8(re.stdout).unwrap();
    let theirs = re
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .expect("readelf shows a build id");
    assert_eq!(ours_hex, theirs);
    // kmod 34.2 does not list it, and neither do we; --json carries it.
    let listing = String::from_utf8(run(ours("modinfo"), [&f]).stdout).unwrap();
    assert!(!listing.contains("build-id"), "{listing}");
    let json = run(
        ours("modinfo"),
        [std::ffi::OsString::from("--json"), f.into_os_string()],
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["build_id"].as_str(), Some(theirs));
}

#[test]
fn all_compressions_give_the_same_information() {
    let plain = run(ours("modinfo"), [fixture("rk_basic.ko")]);
    assert!(plain.status.success());
    let body = |out: &[u8]| -> Vec<u8> {
        // Everything after the filename line.
        let at = out.iter().position(|&b| b == b'\n').unwrap();
        out[at..].to_vec()
    };
    for ext in ["ko.xz", "ko.zst", "ko.gz"] {
        let o = run(ours("modinfo"), [fixture(&format!("rk_basic.{ext}"))]);
        assert!(
            o.status.success(),
            "{ext}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_same(ext, &body(&plain.stdout), &body(&o.stdout));
    }
    // A compressed file with a plain extension is still read: detection is by magic bytes.
    let t = TempDir::new("magic");
    let disguised = t.0.join("rk_basic.ko");
    std::fs::copy(fixture("rk_basic.ko.zst"), &disguised).unwrap();
    let o = run(ours("modinfo"), [&disguised]);
    assert_same("zstd named .ko", &body(&plain.stdout), &body(&o.stdout));
}

/// A module tree made with Debian's depmod from our fixtures, plus a fake builtin module.
struct Tree {
    dir: TempDir,
}

const KVER: &str = "9.9.9-rktest";

impl Tree {
    fn new() -> Option<Tree> {
        if !Path::new("/sbin/depmod").exists() {
            skip("no depmod (apt-get install kmod); lookups in a module tree not checked");
            return None;
        }
        Some(Tree::indexed_by(program("/sbin/depmod")))
    }

    /// The tree, indexed by `depmod` (Debian's, or ours).
    fn indexed_by(depmod: Run) -> Tree {
        let dir = TempDir::new("tree");
        let md = dir.0.join("lib/modules").join(KVER);
        let k = md.join("kernel/rk");
        std::fs::create_dir_all(&k).unwrap();
        for name in [
            "rk_basic.ko",
            "rk_provider.ko",
            "rk_consumer.ko",
            "rk_permanent.ko",
        ] {
            std::fs::copy(fixture(name), k.join(name)).unwrap();
        }
        std::fs::copy(fixture("rk_chardev.ko"), k.join("rk_chardev.ko")).unwrap();
        std::fs::write(
            md.join("modules.builtin"),
            "kernel/fake/fake_builtin.ko\nkernel/fake/bare_builtin.ko\n",
        )
        .unwrap();
        std::fs::write(
            md.join("modules.builtin.modinfo"),
            b"fake_builtin.license=GPL\0fake_builtin.description=A builtin\0fake_builtin.alias=fakealias-*\0fake_builtin.parm=level:Log level\0fake_builtin.parmtype=level:int\0".as_slice(),
        )
        .unwrap();
        let st = depmod.arg("-b").arg(&dir.0).arg(KVER).output();
        assert_status(&st, 0, "depmod");
        Tree { dir }
    }

    fn args(&self) -> Vec<String> {
        vec![
            "-b".into(),
            self.dir.0.display().to_string(),
            "-k".into(),
            KVER.into(),
        ]
    }
}

#[test]
fn lookups_by_name_alias_symbol_and_builtin_match_kmod() {
    let Some(tree) = Tree::new() else { return };
    let Some(_) = kmod("modinfo") else { return };
    lookups_match_kmod(&tree);
}

/// The same lookups in a tree indexed by our depmod: kmod's modinfo (through libkmod) and ours
/// read our indexes and agree.
#[test]
fn lookups_in_a_tree_indexed_by_our_depmod_match_kmod() {
    let Some(_) = kmod("modinfo") else { return };
    let tree = Tree::indexed_by(ours("depmod"));
    let dir = tree.dir.0.join("lib/modules").join(KVER);
    for index in [
        "modules.dep.bin",
        "modules.alias.bin",
        "modules.symbols.bin",
        "modules.builtin.bin",
    ] {
        assert!(dir.join(index).exists(), "{index} not written");
    }
    lookups_match_kmod(&tree);
}

fn lookups_match_kmod(tree: &Tree) {
    let cases: &[&[&str]] = &[
        &["rk_basic"],
        &["rk-basic"],
        &["rk-basic-alias"],
        &["rkbasic:anything"],
        &["symbol:rk_provider_value"],
        &["fake_builtin"],
        &["fakealias-7"],
        &["bare_builtin"],
        &["-0", "fake_builtin"],
        &["-F", "parm", "fake_builtin"],
        &["-n", "fake_builtin"],
        &["-F", "name", "fake_builtin"],
        &["-m", "rk_basic"],
        &["-m", "rk-basic-alias"],
        &["nosuch"],
        &["bad]alias"],
        &["nosuch", "rk_consumer", "alsonot"],
        &["-F", "depends", "rk_consumer"],
    ];
    for case in cases {
        let mut args = tree.args();
        args.extend(case.iter().map(|s| s.to_string()));
        let k = run(kmod("modinfo").unwrap(), &args);
        let o = run(ours("modinfo"), &args);
        let what = format!("modinfo {}", case.join(" "));
        assert_same(&what, &k.stdout, &o.stdout);
        if *case == ["bare_builtin"].as_slice() {
            // kmod 30 fails a builtin module without modinfo strings ("Function not
            // implemented"); kmod 34, which we follow, shows its two lines and succeeds.
            assert_eq!(
                (k.status.code(), o.status.code()),
                (Some(1), Some(0)),
                "{what}"
            );
            continue;
        }
        assert_eq!(k.status.code(), o.status.code(), "{what}: exit status");
        assert_eq!(
            k.stderr.is_empty(),
            o.stderr.is_empty(),
            "{what}: stderr presence"
        );
    }
}

#[test]
fn bad_input_gets_one_line_naming_the_file_and_exit_1() {
    let cases: &[(&str, &str)] = &[
        ("bad/empty.ko", "too short"),
        ("bad/short.ko", "too short"),
        ("bad/truncated.ko", "section header table"),
        ("bad/truncated_head.ko", "section header table"),
        ("bad/notelf.ko", "not an ELF file"),
        ("bad/notmodule.ko", "not a kernel module"),
        ("bad/corrupt.ko.xz", "corrupt xz data"),
        ("bad/corrupt.ko.zst", "corrupt zstd data"),
        ("bad/corrupt.ko.gz", "corrupt gzip data"),
        ("bad/bomb.ko.xz", "decompression bomb"),
        ("bad/bomb.ko.zst", "decompression bomb"),
        ("bad/bomb.ko.gz", "decompression bomb"),
    ];
    for (name, cause) in cases {
        let f = fixture(name);
        let o = run(ours("modinfo"), [&f]);
        assert_one_line_error(&o, &[&f.display().to_string(), cause]);
    }
}

#[test]
fn wrong_class_and_byte_order_are_clear_errors() {
    let t = TempDir::new("class");
    let good = std::fs::read(fixture("rk_basic.ko")).unwrap();
    for (at, value, cause) in [
        (4usize, 9u8, "invalid ELF class 9"),
        (5, 7, "invalid ELF byte order 7"),
    ] {
        let mut bad = good.clone();
        bad[at] = value;
        let f = t.0.join(format!("bad{at}.ko"));
        std::fs::write(&f, bad).unwrap();
        let o = run(ours("modinfo"), [&f]);
        assert_one_line_error(&o, &[&f.display().to_string(), cause]);
    }
    // A well-formed 32-bit module is fine, as for kmod.
    let o = run(ours("modinfo"), [fixture("bad/elf32.ko")]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("name:           elf32\n"));
}

#[test]
fn directories_missing_files_and_slashes_are_explained() {
    let t = TempDir::new("dir");
    let d = t.0.join("looks_like.ko");
    std::fs::create_dir(&d).unwrap();
    let o = run(ours("modinfo"), [&d]);
    assert_one_line_error(&o, &["is a directory"]);
    let o = run(ours("modinfo"), ["/nonexistent/dir/x.ko"]);
    assert_one_line_error(&o, &["/nonexistent/dir/x.ko", "not found"]);
    let o = run(ours("modinfo"), ["--root", "/nonexistent", "foo/bar"]);
    assert_one_line_error(&o, &["foo/bar", "cannot contain '/'"]);
    let f = t.0.join("plainfile");
    std::fs::write(&f, "x").unwrap();
    let o = run(ours("modinfo"), [&f]);
    assert_one_line_error(&o, &["must end in .ko"]);
    // A FIFO must not block: a blocked modinfo is killed and fails the test.
    let fifo = t.0.join("fifo.ko");
    assert_status(&program("mkfifo").arg(&fifo).output(), 0, "mkfifo");
    let o = run(ours("modinfo").timeout(Duration::from_secs(10)), [&fifo]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_failed_argument_does_not_stop_the_others() {
    let f = fixture("rk_basic.ko");
    let o = run(
        ours("modinfo"),
        [
            "-F".as_ref(),
            "license".as_ref(),
            Path::new("/nonexistent/x.ko"),
            &f,
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(o.stdout, b"GPL\n");
}

#[test]
fn several_fields_accumulate_in_order() {
    let f = fixture("rk_basic.ko");
    let o = run(
        ours("modinfo"),
        [
            "-F".as_ref(),
            "license".as_ref(),
            "-F".as_ref(),
            "name".as_ref(),
            f.as_os_str(),
        ],
    );
    assert_eq!(String::from_utf8(o.stdout).unwrap(), "GPL\nrk_basic\n");
    let o = run(
        ours("modinfo"),
        [
            "-F".as_ref(),
            "author".as_ref(),
            "-l".as_ref(),
            "-F".as_ref(),
            "name".as_ref(),
            f.as_os_str(),
        ],
    );
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "rkmod tests\nGPL\nrk_basic\n"
    );
    // Without repeated -F, kmod's rule stands: the last field option wins.
    let o = run(
        ours("modinfo"),
        ["-d".as_ref(), "-a".as_ref(), f.as_os_str()],
    );
    assert_eq!(String::from_utf8(o.stdout).unwrap(), "rkmod tests\n");
}

#[test]
fn json_describes_the_module() {
    let f = fixture("rk_basic_signed.ko");
    let o = run(ours("modinfo"), ["--json".as_ref(), f.as_os_str()]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], "rk_basic_signed");
    assert_eq!(v["builtin"], false);
    let info = v["info"].as_array().unwrap();
    assert!(
        info.iter()
            .any(|e| e["key"] == "license" && e["value"] == "GPL")
    );
    let params = v["parameters"].as_array().unwrap();
    let int_param = params.iter().find(|p| p["name"] == "int_param").unwrap();
    assert_eq!(int_param["type"], "int");
    assert_eq!(v["signature"]["signer"], "rkmod test signing key");
    assert_eq!(v["signature"]["hash_algo"], "sha256");
    assert_eq!(v["build_id"].as_str().unwrap().len(), 40);
    // Parameters agree with the text output's -p.
    let p = run(ours("modinfo"), ["-p".as_ref(), f.as_os_str()]);
    assert_eq!(
        String::from_utf8_lossy(&p.stdout).lines().count(),
        params.len()
    );
}

#[test]
fn a_closed_pipe_is_silent() {
    let f = fixture("rk_basic.ko").display().to_string();
    let args: Vec<String> = std::iter::repeat_n(f, 400).collect();
    let script = format!(
        "{} {} | head -c 10 >/dev/null",
        bin("modinfo"),
        args.join(" ")
    );
    let o = shell(&script).output();
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn command_line_errors_and_help() {
    let o = run(ours("modinfo"), Vec::<&str>::new());
    assert_one_line_error(&o, &["modinfo: ERROR: missing module or filename."]);
    let o = run(ours("modinfo"), ["--bogus"]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(ours("modinfo"), ["-V"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("rkmod version "));
    let o = run(ours("modinfo"), ["--help"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("--field"));
    // Options after operands, and unambiguous long-option prefixes, as with getopt.
    let o = run(
        ours("modinfo"),
        [fixture("rk_basic.ko").as_os_str(), "--lic".as_ref()],
    );
    assert_eq!(o.stdout, b"GPL\n");
}

#[test]
fn clap_definition_is_consistent() {
    use clap::CommandFactory;
    rkmod::cli::modinfo::ModinfoArgs::command().debug_assert();
}

/// kmod 34.2 (built with OpenSSL) lists a module whose PKCS#7 signature it cannot decode
/// without signature lines and exits 0; so do we, with a warning that says why.
#[test]
fn an_undecodable_signature_is_left_out_with_a_warning() {
    let f = fixture("bad/garbage_sig.ko");
    let o = run(ours("modinfo"), [&f]);
    assert_status(&o, 0, "modinfo garbage_sig.ko");
    let out = text(&o.stdout);
    assert!(
        !out.contains("sig_id") && out.contains("vermagic:"),
        "{out}"
    );
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("WARNING")
            && err.contains(&f.display().to_string())
            && err.contains("bad module signature"),
        "{err}"
    );
    if let Some(k) = kmod("modinfo") {
        let k = run(k, [&f]);
        assert_same("modinfo garbage_sig.ko (kmod)", &k.stdout, &o.stdout);
        assert_status(&k, 0, "kmod modinfo garbage_sig.ko");
    }
}
