//! depmod's binary indexes (modules.*.bin): exact, all-prefix and wildcard searches.
//! The code is in the library (rkmod::fuzz::index), which the replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rkmod::fuzz::index(data));
