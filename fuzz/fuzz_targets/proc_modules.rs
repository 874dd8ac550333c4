//! /proc/modules lines and sysfs values (initstate words).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for m in rkmod::kernel::procmodules::parse(&text) {
        let _ = (m.users.len(), m.is_permanent, m.refcnt);
    }
    let _ = rkmod::kernel::procmodules::State::parse(&text);
});
