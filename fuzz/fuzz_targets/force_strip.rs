//! insmod --force: dropping the signature and stripping __versions and vermagic.
//! The code is in the library (rkmod::fuzz::force_strip), which the replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rkmod::fuzz::force_strip(data));
