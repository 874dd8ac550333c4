//! /proc/modules and sysfs as lsmod and rmmod read them, through a fake root; lsmod's writers.
//! The code is in the library (rkmod::fuzz::loaded), which the replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rkmod::fuzz::loaded(data));
