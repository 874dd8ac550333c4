//! The appended signature: trailer checks and PKCS#7 decoding, bare and wrapped.
//! The code is in the library (rkmod::fuzz::signature), which the replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rkmod::fuzz::signature(data));
