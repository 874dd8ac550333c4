//! modinfo's writers (text, -0, -F fields, --json) and modaudit --json on a module file.
//! The code is in the library (rkmod::fuzz::tool_output), which the replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rkmod::fuzz::tool_output(data));
