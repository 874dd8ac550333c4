//! depmod's index writer, round trip through the reader, in both node placements.
//! The code is in the library (rkmod::fuzz::index_writer), which the replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rkmod::fuzz::index_writer(data));
