//! lsmod against fake /proc and /sys trees, with kmod as the oracle (run in a private mount
//! namespace where the fake tree is mounted over the real paths: see `FakeRoot::kmod`).

use crate::harness::*;

#[test]
fn lsmod_matches_kmod_on_a_fake_system() {
    let sys = sample_system();
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
    let sys = sample_system();
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
    let out = ours("lsmod").root(&t.0).output();
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
fn clap_definition_is_consistent() {
    use clap::CommandFactory;
    rkmod::cli::lsmod::LsmodArgs::command().debug_assert();
}
