//! lsmod and rmmod against fake /proc and /sys trees, with kmod as the oracle: kmod cannot be
//! pointed at another root, so it runs in a private mount namespace where the fake tree is
//! mounted over /proc, /sys/module and /lib/modules.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::*;

/// A fake system: NAME SIZE REFCNT DEPS STATE in /proc/modules, sysfs attributes, a
/// modules.builtin.bin.
struct FakeSystem {
    dir: TempDir,
    release: String,
}

struct Module<'a> {
    name: &'a str,
    proc_size: u64,
    deps: &'a str,
    state: &'a str,
    /// None: no sysfs directory at all (vanished).
    sys: Option<Sys<'a>>,
}

struct Sys<'a> {
    coresize: Option<&'a str>,
    refcnt: Option<&'a str>,
    initstate: Option<&'a str>,
    holders: &'a [&'a str],
    taint: &'a str,
}

const NORMAL: Sys<'static> = Sys {
    coresize: Some("16384\n"),
    refcnt: Some("0\n"),
    initstate: Some("live\n"),
    holders: &[],
    taint: "OE\n",
};

impl FakeSystem {
    fn new(modules: &[Module<'_>], builtin: &[&str], sys_only: &[&str]) -> FakeSystem {
        let dir = TempDir::new("sys");
        let release = "9.9.9-rkfake".to_string();
        let p = |rel: &str| dir.0.join(rel);
        std::fs::create_dir_all(p("proc/sys/kernel")).unwrap();
        std::fs::write(p("proc/sys/kernel/osrelease"), format!("{release}\n")).unwrap();
        let mut proc_modules = String::new();
        for m in modules {
            let refcnt = m
                .sys
                .as_ref()
                .and_then(|s| s.refcnt)
                .map_or("0", |r| r.trim());
            proc_modules.push_str(&format!(
                "{} {} {} {} {} 0x0000000000000000\n",
                m.name, m.proc_size, refcnt, m.deps, m.state
            ));
            let Some(s) = &m.sys else { continue };
            let md = p(&format!("sys/module/{}", m.name));
            std::fs::create_dir_all(md.join("holders")).unwrap();
            for (file, value) in [
                ("coresize", s.coresize),
                ("refcnt", s.refcnt),
                ("initstate", s.initstate),
            ] {
                if let Some(v) = value {
                    std::fs::write(md.join(file), v).unwrap();
                }
            }
            std::fs::write(md.join("taint"), s.taint).unwrap();
            for h in s.holders {
                std::os::unix::fs::symlink(format!("../../{h}"), md.join("holders").join(h))
                    .unwrap();
            }
        }
        std::fs::write(p("proc/modules"), proc_modules).unwrap();
        for b in sys_only {
            std::fs::create_dir_all(p(&format!("sys/module/{b}/parameters"))).unwrap();
        }
        let moddir = p(&format!("lib/modules/{release}"));
        std::fs::create_dir_all(&moddir).unwrap();
        let entries: Vec<(&[u8], &[u8], u32)> = builtin
            .iter()
            .map(|b| (b.as_bytes(), &b""[..], 0))
            .collect();
        std::fs::write(
            moddir.join("modules.builtin.bin"),
            rkmod::moddir::index::write(&entries),
        )
        .unwrap();
        FakeSystem { dir, release }
    }

    fn root(&self) -> &Path {
        &self.dir.0
    }

    /// Runs kmod's `tool` with the fake tree mounted over the real paths, or None when that is
    /// impossible here (not root, no unshare); under CI that is a failure.
    fn kmod(&self, tool: &str, args: &[&str]) -> Option<Output> {
        kmod(tool)?;
        let uname =
            String::from_utf8(Command::new("uname").arg("-r").output().ok()?.stdout).ok()?;
        let script = format!(
            "set -e; mount -t tmpfs rkfake /proc; cp {root}/proc/modules /proc/modules; \
             mount --bind {root}/sys/module /sys/module; mount -t tmpfs rkfake /lib/modules; \
             mkdir -p /lib/modules/{uname}; cp {root}/lib/modules/{rel}/* /lib/modules/{uname}/; \
             exec /sbin/{tool} \"$@\"",
            root = self.root().display(),
            rel = self.release,
            uname = uname.trim(),
        );
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output();
        match out {
            Ok(o)
                if !String::from_utf8_lossy(&o.stderr).contains("unshare failed")
                    && o.status.code() != Some(32) =>
            {
                Some(o)
            }
            _ => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("cannot run kmod in a mount namespace (needs root and unshare)");
                }
                eprintln!("SKIP: cannot run kmod in a mount namespace here");
                None
            }
        }
    }

    fn ours(&self, tool: &str, args: &[&str]) -> Output {
        let bin = match tool {
            "lsmod" => env!("CARGO_BIN_EXE_lsmod"),
            "rmmod" => env!("CARGO_BIN_EXE_rmmod"),
            other => panic!("{other}"),
        };
        let mut c = Command::new(bin);
        c.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        c.arg("--root")
            .arg(self.root())
            .args(args)
            .output()
            .unwrap()
    }
}

fn system() -> FakeSystem {
    FakeSystem::new(
        &[
            Module {
                name: "nft_ct",
                proc_size: 99999,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("24576\n"),
                    refcnt: Some("2\n"),
                    ..NORMAL
                }),
            },
            Module {
                name: "nf_tables",
                proc_size: 1,
                deps: "nft_ct,nft_compat,",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("344064\n"),
                    refcnt: Some("5\n"),
                    holders: &["nft_ct", "nft_compat", "nft_chain_nat"],
                    ..NORMAL
                }),
            },
            Module {
                name: "averyveryverylongmodulename_exceeding",
                proc_size: 1,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("1234567890\n"),
                    ..NORMAL
                }),
            },
            Module {
                name: "vrf",
                proc_size: 36864,
                deps: "[permanent],",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("36864\n"),
                    ..NORMAL
                }),
            },
            Module {
                name: "nocoresize",
                proc_size: 4242,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    coresize: None,
                    ..NORMAL
                }),
            },
            Module {
                name: "badcoresize",
                proc_size: 4242,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("garbage\n"),
                    ..NORMAL
                }),
            },
            Module {
                name: "norefcnt",
                proc_size: 100,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    refcnt: None,
                    ..NORMAL
                }),
            },
            Module {
                name: "unloading",
                proc_size: 100,
                deps: "-",
                state: "Unloading",
                sys: Some(Sys {
                    refcnt: Some("-1\n"),
                    initstate: Some("going\n"),
                    ..NORMAL
                }),
            },
            Module {
                name: "ghost",
                proc_size: 100,
                deps: "-",
                state: "Live",
                sys: None,
            },
            Module {
                name: "x",
                proc_size: 0,
                deps: "-",
                state: "Live",
                sys: Some(Sys {
                    coresize: Some("0\n"),
                    taint: "\n",
                    ..NORMAL
                }),
            },
        ],
        &["ext4_builtin"],
        &["printk_like"],
    )
}

#[test]
fn lsmod_matches_kmod_on_a_fake_system() {
    let sys = system();
    let ours = sys.ours("lsmod", &[]);
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let ours_text = String::from_utf8(ours.stdout).unwrap();
    // Our one deliberate difference: permanent modules are marked.
    assert!(
        ours_text.contains("\nvrf                    36864  0 [permanent]\n"),
        "{ours_text}"
    );
    // A module that vanished between /proc/modules and sysfs is skipped (kmod prints -2 -2).
    assert!(!ours_text.contains("ghost"));
    let Some(k) = sys.kmod("lsmod", &[]) else {
        return;
    };
    assert!(
        k.status.success(),
        "kmod: {}",
        String::from_utf8_lossy(&k.stderr)
    );
    let kmod_text: String = String::from_utf8(k.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("ghost "))
        .map(|l| format!("{l}\n"))
        .collect();
    let normalised = ours_text
        .replace(" [permanent]", "")
        .replace(",[permanent]", "");
    assert_same("lsmod", kmod_text.as_bytes(), normalised.as_bytes());
}

#[test]
fn lsmod_views() {
    let sys = system();
    let j = sys.ours("lsmod", &["--json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8(j.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let nf = lines.iter().find(|v| v["name"] == "nf_tables").unwrap();
    assert_eq!(nf["refcnt"], 5);
    assert_eq!(nf["other_refs"], 2, "5 references, 3 of them holders");
    assert_eq!(nf["holders"].as_array().unwrap().len(), 3);
    let vrf = lines.iter().find(|v| v["name"] == "vrf").unwrap();
    assert_eq!(vrf["permanent"], true);
    let going = lines.iter().find(|v| v["name"] == "unloading").unwrap();
    assert_eq!(
        (going["state"].as_str(), going["refcnt"].as_i64()),
        (Some("unloading"), Some(-1))
    );
    let v = String::from_utf8(sys.ours("lsmod", &["-v"]).stdout).unwrap();
    assert!(v.lines().next().unwrap().starts_with("Module"), "{v}");
    assert!(
        v.lines()
            .any(|l| l.starts_with("vrf") && l.ends_with("[permanent]")),
        "{v}"
    );
    assert!(
        v.lines()
            .any(|l| l.starts_with("unloading") && l.contains("unloading")),
        "{v}"
    );
}

#[test]
fn lsmod_without_module_support_is_one_clear_error() {
    let t = TempDir::new("nomod");
    let out = Command::new(env!("CARGO_BIN_EXE_lsmod"))
        .arg("--root")
        .arg(&t.0)
        .output()
        .unwrap();
    assert_one_line_error(
        &out,
        &[
            "/proc/modules",
            "No such file or directory",
            "support modules",
        ],
    );
    assert!(
        out.stdout.is_empty(),
        "no header without a module list, as kmod"
    );
}

#[test]
fn rmmod_checks_match_kmod_in_order_and_wording() {
    let sys = system();
    // Holders are listed in directory order, as `ls -U` shows it.
    let ls = Command::new("ls")
        .arg("-U")
        .arg(sys.root().join("sys/module/nf_tables/holders"))
        .output()
        .unwrap();
    let holders = String::from_utf8(ls.stdout).unwrap();
    let holders: Vec<&str> = holders.split_whitespace().collect();
    let in_use_by = format!("Module nf_tables is in use by: {}", holders.join(" "));
    // Each refused before any system call, so the host kernel (no module support) is fine.
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
        assert_eq!(err.lines().count(), 1, "{arg}: {err}");
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
}

#[test]
fn rmmod_explains_what_kmod_leaves_cryptic() {
    let sys = system();
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
    // No case here passes every check: that would reach delete_module on the host's kernel,
    // whose answer depends on the host (ENOSYS without module support, ENOENT or a removal
    // with it). The system call's errors are checked in the VM (tests/vm/scenarios/rk-rmmod.sh).
}

#[test]
fn rmmod_keeps_going_after_a_failure() {
    let sys = system();
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
    let sys = system();
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

#[test]
fn tool_definitions_are_consistent() {
    use clap::CommandFactory;
    rkmod::cli::lsmod::LsmodArgs::command().debug_assert();
    rkmod::cli::rmmod::RmmodArgs::command().debug_assert();
    rkmod::cli::insmod::InsmodArgs::command().debug_assert();
}
