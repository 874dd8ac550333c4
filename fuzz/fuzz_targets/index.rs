//! depmod's binary indexes (modules.*.bin): exact and wildcard searches. The first bytes choose
//! the key, the rest is the index file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len().saturating_sub(1));
    let (key, file) = data.get(1..).unwrap_or_default().split_at(split.min(data.len().saturating_sub(1)));
    let Ok(index) = rkmod::moddir::index::Index::from_bytes("fuzz.bin", file.to_vec()) else {
        return;
    };
    let _ = index.search(key);
    let _ = index.search_all(key);
    let _ = index.search_wild(key);
});
