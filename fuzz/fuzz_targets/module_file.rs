//! The whole module-file path: decompression, ELF, .modinfo, signature, modinfo's writers, the audit.
//! The code is in the library (rkmod::fuzz::module_file), which the replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rkmod::fuzz::module_file(data));
