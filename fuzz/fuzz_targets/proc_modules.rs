//! /proc/modules lines and the initstate words.
//! The code is in the library (rkmod::fuzz::proc_modules), which the replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rkmod::fuzz::proc_modules(data));
