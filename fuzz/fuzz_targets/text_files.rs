//! modules.dep and modules.builtin.modinfo text, alias patterns (fnmatch), alias normalisation,
//! depmod's Module.symvers, System.map and depmod.d.
//! The code is in the library (rkmod::fuzz::text_files), which the replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rkmod::fuzz::text_files(data));
