//! Replays, through the fuzz targets' own code (`rkmod::fuzz::*`, which each cargo-fuzz target
//! calls and nothing more), every file of each target's minimized corpus
//! (`tests/fuzz_corpus/<target>/`), every finding (`tests/fuzz_regressions/<target>/`) and every
//! hostile fixture (`tests/fixtures/bad/`). Any panic fails the test and names the file.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::harness::root;

/// A fuzz target's name and its entry function.
type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 10] = [
    ("module_file", rkmod::fuzz::module_file),
    ("proc_modules", rkmod::fuzz::proc_modules),
    ("index", rkmod::fuzz::index),
    ("text_files", rkmod::fuzz::text_files),
    ("signature", rkmod::fuzz::signature),
    ("force_strip", rkmod::fuzz::force_strip),
    ("loaded", rkmod::fuzz::loaded),
    ("tool_output", rkmod::fuzz::tool_output),
    ("index_writer", rkmod::fuzz::index_writer),
    ("modprobe_config", rkmod::fuzz::modprobe_config),
];

/// The input files in `dir`, sorted; none if it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md" && x != "sh"))
        .collect();
    v.sort();
    v
}

/// Runs `f` on every file, and fails naming each file that panicked.
fn replay(target: &str, f: fn(&[u8]), files: &[PathBuf]) {
    let mut failed = Vec::new();
    for p in files {
        let data = std::fs::read(p).unwrap();
        if catch_unwind(AssertUnwindSafe(|| f(&data))).is_err() {
            failed.push(p.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target} panicked on: {failed:#?}");
}

/// The target's committed corpus and findings; the corpus must not be empty.
fn replay_target(name: &str) {
    let (_, f) = *TARGETS.iter().find(|(n, _)| *n == name).unwrap();
    let corpus = inputs(&root().join("tests/fuzz_corpus").join(name));
    assert!(!corpus.is_empty(), "no corpus for fuzz target {name}");
    let mut files = corpus;
    files.extend(inputs(&root().join("tests/fuzz_regressions").join(name)));
    replay(name, f, &files);
}

macro_rules! replay_tests {
    ($($target:ident),*) => {$(
        #[test]
        fn $target() {
            replay_target(stringify!($target));
        }
    )*};
}

/// One test per target, named `fuzz_regressions::replay::<target>`.
mod replay {
    use super::replay_target;
    replay_tests!(
        module_file,
        proc_modules,
        index,
        text_files,
        signature,
        force_strip,
        loaded,
        tool_output,
        index_writer,
        modprobe_config
    );
}

/// A target added to fuzz/Cargo.toml without an entry here would never be replayed.
#[test]
fn every_cargo_fuzz_target_is_replayed() {
    let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
    let mut bins: Vec<&str> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("name = ")))
        .map(|n| n.trim_matches('"'))
        .collect();
    let mut ours: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    bins.sort_unstable();
    ours.sort_unstable();
    assert_eq!(bins, ours);
}

#[test]
fn hostile_fixtures_never_panic_any_target() {
    let files = inputs(&root().join("tests/fixtures/bad"));
    assert!(
        files.len() >= 14,
        "too few hostile fixtures: {}",
        files.len()
    );
    // A decompression bomb costs seconds of decompression in the dev profile, and every tool
    // refuses it where module_file does (ModuleFile's limit); through the targets that read it
    // again (force_strip once, tool_output six times) it would only make this test slow.
    let is_bomb = |p: &PathBuf| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("bomb."))
    };
    let (bombs, rest): (Vec<PathBuf>, Vec<PathBuf>) = files.into_iter().partition(is_bomb);
    for (name, f) in TARGETS {
        replay(name, f, &rest);
    }
    assert_eq!(bombs.len(), 3);
    for (name, f) in TARGETS
        .into_iter()
        .filter(|(n, _)| !["force_strip", "tool_output"].contains(n))
    {
        replay(name, f, &bombs);
    }
}
