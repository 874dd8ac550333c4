//! modules.dep and modules.builtin.modinfo text, and alias patterns (fnmatch).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rkmod::moddir::parse_dep_text(data);
    let name = data.split(|&b| b == 0).next().unwrap_or_default();
    let _ = rkmod::moddir::builtin_entries(data, name);
    if let Some(mid) = data.iter().position(|&b| b == b'\n') {
        let _ = rkmod::fnmatch::fnmatch(&data[..mid], &data[mid + 1..]);
    }
    let _ = rkmod::names::normalize_alias(data);
});
