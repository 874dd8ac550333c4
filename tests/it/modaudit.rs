//! modaudit on our fixtures: verdicts, findings, compressed variants, `--deny`, JSON, bad
//! input, directories, name lookups, a vermagic without `mod_unload`, a closed pipe.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

fn modaudit() -> Run {
    ours("modaudit")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `modaudit --json FILE` and returns the one object it prints.
fn audit_json(file: &Path) -> serde_json::Value {
    let o = run(modaudit(), [Path::new("--json"), file]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}: stderr {}",
        file.display(),
        stderr(&o)
    );
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "one JSON line: {out}");
    serde_json::from_str(&out).expect("valid JSON")
}

fn finding_ids(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// What one fixture must give.
struct Expect {
    file: &'static str,
    verdict: &'static str,
    /// Sections of the init and exit functions.
    init: Option<&'static str>,
    exit: Option<&'static str>,
    findings: &'static [&'static str],
}

const EXPECTED: &[Expect] = &[
    Expect {
        file: "rk_basic.ko",
        verdict: "removable",
        init: Some(".init.text"),
        exit: Some(".exit.text"),
        findings: &[],
    },
    Expect {
        file: "rk_permanent.ko",
        verdict: "permanent",
        init: Some(".init.text"),
        exit: None,
        findings: &[],
    },
    Expect {
        file: "rk_neither.ko",
        verdict: "removable",
        init: None,
        exit: None,
        findings: &[],
    },
    Expect {
        file: "rk_exitonly.ko",
        verdict: "removable",
        init: None,
        exit: Some(".exit.text"),
        findings: &[],
    },
    Expect {
        file: "rk_legacy_force.ko",
        verdict: "force-only",
        init: Some(".init.text"),
        exit: None,
        findings: &["legacy-symbols"],
    },
    Expect {
        file: "rk_legacy.ko",
        verdict: "removable",
        init: Some(".init.text"),
        exit: Some(".exit.text"),
        findings: &["legacy-symbols"],
    },
    Expect {
        file: "rk_legacy_safe.ko",
        verdict: "removable",
        init: Some(".init.text"),
        exit: Some(".exit.text"),
        findings: &["legacy-symbols"],
    },
    Expect {
        file: "rk_symget.ko",
        verdict: "removable",
        init: Some(".init.text"),
        exit: Some(".exit.text"),
        findings: &["symbol-get-without-put"],
    },
    Expect {
        file: "rk_chardev.ko",
        verdict: "removable",
        init: Some(".init.text"),
        exit: Some(".exit.text"),
        findings: &["owner-this-module"],
    },
    Expect {
        file: "rk_provider.ko",
        verdict: "removable",
        init: Some(".init.text"),
        exit: Some(".exit.text"),
        findings: &[],
    },
    Expect {
        file: "rk_consumer.ko",
        verdict: "removable",
        init: Some(".init.text"),
        exit: Some(".exit.text"),
        findings: &[],
    },
    Expect {
        file: "rk_initfail.ko",
        verdict: "removable",
        init: Some(".init.text"),
        exit: Some(".exit.text"),
        findings: &[],
    },
    Expect {
        file: "rk_basic_signed.ko",
        verdict: "removable",
        init: Some(".init.text"),
        exit: Some(".exit.text"),
        findings: &[],
    },
];

#[test]
fn every_fixture_gets_its_verdict_and_findings() {
    for &Expect {
        file,
        verdict,
        init,
        exit,
        findings,
    } in EXPECTED
    {
        let v = audit_json(&fixture(file));
        assert_eq!(v["verdict"], verdict, "{file}");
        assert_eq!(v["init"]["section"].as_str(), init, "{file}: init");
        assert_eq!(v["exit"]["section"].as_str(), exit, "{file}: exit");
        assert_eq!(finding_ids(&v), findings, "{file}: findings");
        assert_eq!(
            v["filename"],
            fixture(file).display().to_string(),
            "{file}: filename"
        );
        // The fixtures' struct module layout (tests/fixtures/README.md).
        if init.is_some() {
            assert_eq!(v["init"]["symbol"], "init_module");
            assert_eq!(v["init"]["relocation_offset"], 0x138, "{file}");
        }
        if exit.is_some() {
            assert_eq!(v["exit"]["symbol"], "cleanup_module");
            assert_eq!(v["exit"]["relocation_offset"], 0x350, "{file}");
        }
        for f in v["findings"].as_array().unwrap() {
            assert!(!f["meaning"].as_str().unwrap().is_empty());
            assert!(!f["detail"].as_str().unwrap().is_empty());
        }
    }
}

#[test]
fn legacy_symbols_are_reported_with_their_sections() {
    let v = audit_json(&fixture("rk_legacy_force.ko"));
    let names: Vec<&str> = v["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"init_module") && names.contains(&"__force_exitfn"));
    assert!(!names.contains(&"cleanup_module"), "{names:?}");
    let v = audit_json(&fixture("rk_legacy_safe.ko"));
    let legacy = &v["findings"][0];
    assert_eq!(legacy["detail"], "__exitfn");
}

#[test]
fn compressed_variants_agree_with_the_plain_file() {
    for (plain, variants) in [
        (
            "rk_basic.ko",
            &["rk_basic.ko.xz", "rk_basic.ko.zst", "rk_basic.ko.gz"][..],
        ),
        ("rk_basic_signed.ko", &["rk_basic_signed.ko.xz"][..]),
    ] {
        let mut want = audit_json(&fixture(plain));
        want["filename"] = serde_json::Value::Null;
        for v in variants {
            let mut got = audit_json(&fixture(v));
            got["filename"] = serde_json::Value::Null;
            assert_eq!(got, want, "{v} vs {plain}");
        }
    }
}

#[test]
fn table_and_summary() {
    let o = run(
        modaudit(),
        [
            fixture("rk_basic.ko"),
            fixture("rk_permanent.ko"),
            fixture("rk_legacy_force.ko"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    let cols = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        cols(lines[0]),
        ["MODULE", "VERDICT", "INIT", "EXIT", "FINDINGS"]
    );
    assert_eq!(
        cols(lines[1])[1..],
        ["removable", ".init.text", ".exit.text", "-"]
    );
    assert!(lines[1].starts_with(&fixture("rk_basic.ko").display().to_string()));
    assert_eq!(cols(lines[2])[1..], ["permanent", ".init.text", "-", "-"]);
    assert_eq!(
        cols(lines[3])[1..],
        ["force-only", ".init.text", "-", "legacy-symbols"]
    );
    assert_eq!(
        lines[4],
        "3 modules: 1 removable, 1 permanent, 1 force-only, 0 kernel-cannot-unload"
    );
    assert!(out.lines().all(|l| l == l.trim_end()), "trailing blanks");
}

#[test]
fn deny_exits_2_after_printing_everything() {
    let o = run(
        modaudit(),
        [
            Path::new("--deny"),
            Path::new("permanent"),
            &fixture("rk_permanent.ko"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stdout(&o).contains("permanent"));
    assert!(stdout(&o).contains("1 modules: ") || stdout(&o).contains("1 module: "));
    assert_eq!(
        stderr(&o),
        format!(
            "modaudit: DENIED: {}: permanent\n",
            fixture("rk_permanent.ko").display()
        )
    );

    let o = run(
        modaudit(),
        [
            Path::new("--deny"),
            Path::new("permanent"),
            &fixture("rk_basic.ko"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");

    // `permanent` covers force-only modules, which are permanent on today's kernels.
    let o = run(
        modaudit(),
        [
            Path::new("--deny=permanent"),
            &fixture("rk_legacy_force.ko"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = run(
        modaudit(),
        [Path::new("--deny=force-only"), &fixture("rk_permanent.ko")],
    );
    assert_eq!(o.status.code(), Some(0));

    // Findings, comma-separated and repeated.
    let o = run(
        modaudit(),
        [
            Path::new("--deny"),
            Path::new("kernel-cannot-unload,symbol-get-without-put"),
            Path::new("--deny"),
            Path::new("exit-in-text"),
            &fixture("rk_basic.ko"),
            &fixture("rk_symget.ko"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_one_stderr_line(&o, "--deny with findings");
    assert!(stderr(&o).contains("rk_symget.ko: symbol-get-without-put"));

    // A failed argument outranks a denial: exit 1.
    let o = run(
        modaudit(),
        [
            Path::new("--deny=permanent"),
            &fixture("rk_permanent.ko"),
            &fixture("bad/notelf.ko"),
        ],
    );
    assert_eq!(o.status.code(), Some(1));

    // An unknown name is a usage error that lists the valid ones.
    let o = run(
        modaudit(),
        [Path::new("--deny=perm"), &fixture("rk_basic.ko")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("kernel-cannot-unload"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn json_lines_parse_and_report_errors_in_place() {
    let files = [
        fixture("rk_basic.ko"),
        fixture("bad/notelf.ko"),
        fixture("rk_permanent.ko.xz-missing"),
        fixture("rk_permanent.ko"),
    ];
    let mut args = vec![PathBuf::from("--json")];
    args.extend(files.iter().cloned());
    let o = run(modaudit(), &args);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect();
    assert_eq!(lines.len(), 4, "{out}");
    for (v, f) in lines.iter().zip(&files) {
        assert_eq!(v["filename"], f.display().to_string());
    }
    assert_eq!(lines[0]["verdict"], "removable");
    assert_eq!(lines[1]["error"], "not an ELF file (bad magic)");
    assert_eq!(lines[2]["error"], "No such file or directory");
    assert_eq!(lines[3]["verdict"], "permanent");
    assert_eq!(lines[0]["name"], "rk_basic");
    assert!(
        lines[0]["vermagic"]
            .as_str()
            .unwrap()
            .contains("mod_unload")
    );
    assert_eq!(stderr(&o).lines().count(), 2, "{}", stderr(&o));
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = fixture("bad");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !names_a_module(&name) {
            continue;
        }
        let o = run(modaudit(), [&path]);
        if name == "garbage_sig.ko" || name == "huge_sig_len.ko" {
            // rk_basic.ko with a broken signature trailer: the ELF itself is fine, and the
            // signature is not modaudit's business.
            assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
            continue;
        }
        let cause = match name.as_str() {
            "empty.ko" => "file is too short to be a module (0 bytes)",
            "short.ko" => "file is too short to be a module (5 bytes)",
            "truncated.ko" | "truncated_head.ko" => {
                "ELF section header table extends past the end of the file"
            }
            "notelf.ko" => "not an ELF file (bad magic)",
            "notmodule.ko" | "elf32.ko" => {
                "not a loadable module (no .gnu.linkonce.this_module section)"
            }
            "corrupt.ko.xz" => "corrupt xz data",
            "corrupt.ko.zst" => "corrupt zstd data",
            "corrupt.ko.gz" => "corrupt gzip data",
            "bomb.ko.xz" => "xz data expands beyond 256 MiB (decompression bomb?)",
            "bomb.ko.zst" => "zstd data expands beyond 256 MiB (decompression bomb?)",
            "bomb.ko.gz" => "gzip data expands beyond 256 MiB (decompression bomb?)",
            other => panic!("bad/{other}: no cause listed here; add one"),
        };
        assert_one_line_error(
            &o,
            &[
                &format!("modaudit: ERROR: {}: {cause}", path.display()),
                cause,
            ],
        );
        assert_eq!(
            stdout(&o),
            "0 modules: 0 removable, 0 permanent, 0 force-only, 0 kernel-cannot-unload; 1 error\n",
            "{name}"
        );
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} bad fixtures");

    let why = |args: &[&str]| {
        let o = run(modaudit(), args);
        assert_one_line_error(&o, &[]);
        stderr(&o)
    };
    assert!(why(&["/nonexistent/x.ko"]).contains("No such file or directory"));
    assert!(why(&["/dev/null"]).contains("character device"));
    assert!(
        why(&[&fixture("bad/notmodule.ko").display().to_string()])
            .contains("not a loadable module")
    );
    let t = TempDir::new("modaudit-empty");
    assert!(why(&[&t.0.display().to_string()]).contains("no module files"));
    let o = run(modaudit(), Vec::<&str>::new());
    assert_one_line_error(&o, &["missing"]);
}

fn names_a_module(name: &str) -> bool {
    [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .any(|e| name.ends_with(e))
}

#[test]
fn vermagic_without_mod_unload_means_the_kernel_cannot_unload() {
    let mut bytes = std::fs::read(fixture("rk_basic.ko")).unwrap();
    let needle = b"vermagic=6.1.0-50-amd64 SMP preempt mod_unload modversions ";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("rk_basic.ko's vermagic");
    let field = b"mod_unload ";
    let f = at + needle.len() - field.len() - b"modversions ".len();
    assert_eq!(&bytes[f..f + field.len()], field);
    bytes[f..f + field.len()].copy_from_slice(b"xxx_xxxxxx ");
    let t = TempDir::new("modaudit-vermagic");
    let patched = t.0.join("rk_basic.ko");
    std::fs::write(&patched, &bytes).unwrap();
    let v = audit_json(&patched);
    assert_eq!(v["verdict"], "kernel-cannot-unload");
    assert!(!v["vermagic"].as_str().unwrap().contains("mod_unload"));
    let o = run(
        modaudit(),
        [Path::new("--deny=kernel-cannot-unload"), &patched],
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn directories_are_scanned_recursively_in_sorted_order() {
    let t = TempDir::new("modaudit-dir");
    let sub = t.0.join("kernel/b");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::create_dir_all(t.0.join("kernel/a")).unwrap();
    for (from, to) in [
        ("rk_permanent.ko", "kernel/b/rk_permanent.ko"),
        ("rk_basic.ko.xz", "kernel/a/rk_basic.ko.xz"),
        ("rk_neither.ko", "kernel/rk_neither.ko"),
        ("rk_basic.ko", "kernel/a/not-a-module.txt"),
    ] {
        std::fs::copy(fixture(from), t.0.join(to)).unwrap();
    }
    // A link to a directory is not followed (it could loop); a link to a file is audited.
    std::os::unix::fs::symlink(&t.0, t.0.join("kernel/loop")).unwrap();
    std::os::unix::fs::symlink(fixture("rk_exitonly.ko"), t.0.join("kernel/z.ko")).unwrap();
    let o = run(modaudit(), [&t.0]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let labels: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        labels,
        [
            "kernel/a/rk_basic.ko.xz",
            "kernel/b/rk_permanent.ko",
            "kernel/rk_neither.ko",
            "kernel/z.ko",
            "4"
        ],
        "{out}"
    );
    assert!(
        out.ends_with(
            "4 modules: 3 removable, 1 permanent, 0 force-only, 0 kernel-cannot-unload\n"
        )
    );
}

#[test]
fn many_files_in_parallel_keep_their_order_and_show_no_progress_off_a_tty() {
    let order = [
        "rk_basic.ko",
        "rk_permanent.ko",
        "rk_basic.ko.zst",
        "rk_legacy_force.ko",
        "rk_neither.ko",
    ];
    let args: Vec<PathBuf> = (0..300)
        .map(|i| fixture(order[i % order.len()]))
        .chain([PathBuf::from("--json")])
        .collect();
    let o = run(modaudit(), &args);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "no progress when stderr is not a TTY");
    let got: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 300);
    for (i, v) in got.iter().enumerate() {
        assert_eq!(
            v["filename"],
            fixture(order[i % order.len()]).display().to_string()
        );
    }
}

#[test]
fn names_are_looked_up_like_modinfo() {
    let t = TempDir::new("modaudit-names");
    let kver = "9.9.9-rkaudit";
    let md = t.0.join("lib/modules").join(kver);
    std::fs::create_dir_all(md.join("kernel/rk")).unwrap();
    for m in ["rk_permanent.ko", "rk_basic.ko"] {
        std::fs::copy(fixture(m), md.join("kernel/rk").join(m)).unwrap();
    }
    // Without modules.dep.bin, the text modules.dep is read.
    std::fs::write(
        md.join("modules.dep"),
        "kernel/rk/rk_permanent.ko:\nkernel/rk/rk_basic.ko:\n",
    )
    .unwrap();
    let base = t.0.display().to_string();
    let o = run(
        modaudit(),
        [
            "-b",
            &base,
            "-k",
            kver,
            "rk-permanent",
            "rk_basic",
            "nosuch",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[1][..2], ["rk_permanent", "permanent"], "{out}");
    assert_eq!(rows[2][..2], ["rk_basic", "removable"], "{out}");
    let err = stderr(&o);
    assert_one_stderr_line(&o, "modaudit nosuch");
    assert!(err.starts_with("modaudit: ERROR: nosuch: "), "{err}");

    let o = run(
        modaudit(),
        ["--json", "-b", &base, "-k", kver, "rk_permanent"],
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v["filename"],
        format!("{base}/lib/modules/{kver}/kernel/rk/rk_permanent.ko")
    );
}

#[test]
fn a_closed_pipe_is_silent() {
    // More than a pipe buffer of output, so the write must meet the closed pipe.
    let args: Vec<PathBuf> = (0..3000).map(|_| fixture("rk_basic.ko")).collect();
    for json in [false, true] {
        let mut c = modaudit();
        if json {
            c = c.arg("--json");
        }
        let o = c.args(&args).output_with_closed_stdout();
        assert_eq!(stderr(&o), "", "json={json}");
        assert_eq!(o.status.code(), Some(0), "json={json}");
    }
}

#[test]
fn help_lists_every_verdict_and_finding() {
    let o = run(modaudit(), ["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    for id in [
        "removable",
        "permanent",
        "force-only",
        "kernel-cannot-unload",
        "symbol-get-without-put",
        "takes-module-refs",
        "owner-this-module",
        "legacy-symbols",
        "exit-in-text",
        "Exit status",
    ] {
        assert!(help.contains(id), "--help lacks {id}");
    }
    let o = run(modaudit(), ["-V"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("rkmod version "));
}

/// Names, aliases and symbols resolve through indexes written by our depmod.
#[test]
fn names_aliases_and_symbols_resolve_in_a_tree_indexed_by_our_depmod() {
    let t = TempDir::new("modaudit-depmod");
    let kver = "9.9.9-rkaudit";
    let md = t.0.join("lib/modules").join(kver);
    std::fs::create_dir_all(md.join("kernel/rk")).unwrap();
    for m in ["rk_permanent.ko", "rk_basic.ko", "rk_provider.ko"] {
        std::fs::copy(fixture(m), md.join("kernel/rk").join(m)).unwrap();
    }
    let base = t.0.display().to_string();
    let st = run(ours("depmod"), ["-C", "/nonexistent", "-b", &base, kver]);
    assert_eq!(st.status.code(), Some(0), "{}", stderr(&st));
    assert!(md.join("modules.dep.bin").exists());
    // Without the text files only the binary indexes can answer.
    for text in ["modules.dep", "modules.alias", "modules.symbols"] {
        std::fs::remove_file(md.join(text)).unwrap();
    }
    let o = run(
        modaudit(),
        [
            "-b",
            &base,
            "-k",
            kver,
            "rk-permanent",
            "rk-basic-alias",
            "symbol:rk_provider_value",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let names: Vec<&str> = out
        .lines()
        .skip(1)
        .take(3)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["rk_permanent", "rk_basic", "rk_provider"], "{out}");
}

/// The unload-hazard fixtures (tests/modules/rk_*noowner*, rk_notifier_*, rk_symget_plain) and
/// their safe twins, audited together: exactly the hazards are flagged, with the tables and
/// functions their C sources name.
#[test]
fn exactly_the_hazard_fixtures_are_flagged() {
    let files = [
        "rk_misc_noowner.ko",
        "rk_chardev.ko",
        "rk_chrdev_noowner.ko",
        "rk_chrdev_owner.ko",
        "rk_debugfs_noowner.ko",
        "rk_debugfs_owner.ko",
        "rk_cdev_owner.ko",
        "rk_notifier_leak.ko",
        "rk_notifier_paired.ko",
        "rk_provider_plain.ko",
        "rk_symget_plain.ko",
        "rk_provider.ko",
        "rk_symget.ko",
    ];
    let paths: Vec<PathBuf> = files.iter().map(|f| fixture(f)).collect();
    let mut args = vec![PathBuf::from("--json")];
    args.extend(paths.iter().cloned());
    let o = run(modaudit(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hazards = ["ownerless-fops", "unpaired-register", "symbol-get-non-gpl"];
    let mut got = Vec::new();
    for line in stdout(&o).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for f in v["findings"].as_array().unwrap() {
            if hazards.contains(&f["id"].as_str().unwrap()) {
                got.push(format!(
                    "{} {} {} [{}]",
                    v["name"].as_str().unwrap(),
                    f["id"].as_str().unwrap(),
                    f["detail"].as_str().unwrap(),
                    f["severity"].as_str().unwrap()
                ));
            }
        }
    }
    assert_eq!(
        got,
        [
            "rk_misc_noowner ownerless-fops rk_misc_fops (misc) [hazard]",
            "rk_chrdev_noowner ownerless-fops rk_chrdev_fops (chrdev) [hazard]",
            "rk_debugfs_noowner ownerless-fops rk_debugfs_fops (debugfs) [low]",
            "rk_notifier_leak unpaired-register register_netdevice_notifier without \
             unregister_netdevice_notifier [hazard]",
            "rk_symget_plain symbol-get-non-gpl symbol_get of rk_provider_plain_value \
             (exported by rk_provider_plain) [hazard]",
        ]
    );

    // --deny names a hazard: exit 2, the module named on stderr.
    let o = run(
        modaudit(),
        [
            PathBuf::from("--deny=ownerless-fops"),
            fixture("rk_misc_noowner.ko"),
            fixture("rk_chardev.ko"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("DENIED") && e.contains("rk_misc_noowner.ko: ownerless-fops"),
        "{e}"
    );
    assert!(!e.contains("rk_chardev.ko"), "{e}");

    // Without the provider in the run, nobody knows how rk_provider_plain_value is exported;
    // a Module.symvers that says so is enough.
    let o = run(
        modaudit(),
        [Path::new("--json"), &fixture("rk_symget_plain.ko")],
    );
    assert!(!stdout(&o).contains("symbol-get-non-gpl"), "{}", stdout(&o));
    let dir = TempDir::new("symvers");
    let symvers = dir.0.join("Module.symvers");
    std::fs::write(
        &symvers,
        "0x00000000\trk_provider_plain_value\t/some/where/rk_provider_plain\tEXPORT_SYMBOL\t\n",
    )
    .unwrap();
    let o = run(
        modaudit(),
        [
            Path::new("--json"),
            Path::new("--symvers"),
            &symvers,
            &fixture("rk_symget_plain.ko"),
        ],
    );
    assert!(
        stdout(&o).contains("rk_provider_plain_value (exported by rk_provider_plain)"),
        "{}",
        stdout(&o)
    );
    // A --symvers that cannot be read: one line naming it, exit 1.
    let o = run(
        modaudit(),
        [
            Path::new("--symvers"),
            &dir.0.join("missing"),
            &fixture("rk_symget_plain.ko"),
        ],
    );
    assert_one_line_error(&o, &["missing", "No such file"]);
}
