//! modprobe's configuration parser: a modprobe.d file, then a kernel command line after a NUL.
//! The code is in the library (rkmod::fuzz::modprobe_config), which the replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rkmod::fuzz::modprobe_config(data));
