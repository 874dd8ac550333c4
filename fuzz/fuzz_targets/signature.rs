//! The appended signature: trailer checks and PKCS#7 decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(t) = rkmod::file::signature::find_trailer(data) {
        let _ = rkmod::file::signature::interpret(&t);
    }
    // Also the PKCS#7 decoder on raw input, wrapped in a well-formed trailer.
    let mut v = data.to_vec();
    v.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(rkmod::file::signature::MAGIC);
    if let Some(t) = rkmod::file::signature::find_trailer(&v) {
        let _ = rkmod::file::signature::interpret(&t);
    }
});
