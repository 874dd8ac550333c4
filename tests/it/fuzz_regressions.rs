//! Replays fuzz findings and hostile fixtures through the fuzz targets' code paths: any panic
//! fails the test.

use std::path::Path;

use crate::harness::root;
use rkmod::file::modinfo::{self, ModuleInfo, Separator};

fn module_file(data: &[u8]) {
    let Ok(file) = rkmod::file::ModuleFile::from_bytes("replay.ko", data.to_vec()) else {
        return;
    };
    if let Ok(info) = ModuleInfo::from_file(&file) {
        let mut out = Vec::new();
        modinfo::write_entries(&mut out, &info, Separator::Newline);
        let (params, _) = modinfo::merge_params(&info.entries);
        modinfo::write_param_lines(&mut out, &params, Separator::Nul);
    }
    let _ = rkmod::audit::audit(&file);
}

fn proc_modules(data: &[u8]) {
    let _ = rkmod::kernel::procmodules::parse(&String::from_utf8_lossy(data));
}

fn index(data: &[u8]) {
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len().saturating_sub(1));
    let (key, file) = data
        .get(1..)
        .unwrap_or_default()
        .split_at(split.min(data.len().saturating_sub(1)));
    if let Ok(i) = rkmod::moddir::index::Index::from_bytes("replay.bin", file.to_vec()) {
        let _ = (i.search(key), i.search_wild(key));
    }
}

fn text_files(data: &[u8]) {
    let _ = rkmod::moddir::parse_dep_text(data);
    let _ =
        rkmod::moddir::builtin_entries(data, data.split(|&b| b == 0).next().unwrap_or_default());
    if let Some(mid) = data.iter().position(|&b| b == b'\n') {
        let _ = rkmod::fnmatch::fnmatch(&data[..mid], &data[mid + 1..]);
    }
}

fn signature(data: &[u8]) {
    if let Some(t) = rkmod::file::signature::find_trailer(data) {
        let _ = rkmod::file::signature::interpret(&t);
    }
}

/// A fuzz target's name and the code it runs.
type Target = (&'static str, fn(&[u8]));

fn replay_dir(dir: &Path, f: fn(&[u8])) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let p = e.path();
        if p.is_file() && p.extension().is_none_or(|x| x != "md" && x != "sh") {
            f(&std::fs::read(&p).unwrap());
            n += 1;
        }
    }
    n
}

#[test]
fn fuzz_findings_and_hostile_fixtures_never_panic() {
    let regressions = root().join("tests/fuzz_regressions");
    let targets: [Target; 5] = [
        ("module_file", module_file),
        ("proc_modules", proc_modules),
        ("index", index),
        ("text_files", text_files),
        ("signature", signature),
    ];
    let mut replayed = 0;
    for (name, f) in targets {
        replayed += replay_dir(&regressions.join(name), f);
    }
    // Every hostile fixture goes through every parser.
    for (_, f) in targets {
        replayed += replay_dir(&root().join("tests/fixtures/bad"), f);
    }
    assert!(replayed >= 5 * 14, "too few inputs replayed: {replayed}");
}
