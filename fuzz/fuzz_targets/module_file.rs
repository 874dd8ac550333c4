//! The whole module-file path: compression detection and bounded decompression, ELF, .modinfo,
//! build id, signature, parameter merge, kmod's output formats, and the unload audit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rkmod::file::modinfo::{self, ModuleInfo, Separator};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = rkmod::file::ModuleFile::from_bytes("fuzz.ko", data.to_vec()) else {
        return;
    };
    if let Ok(info) = ModuleInfo::from_file(&file) {
        let mut out = Vec::new();
        for sep in [Separator::Newline, Separator::Nul] {
            modinfo::write_entries(&mut out, &info, sep);
            let (params, _) = modinfo::merge_params(&info.entries);
            modinfo::write_param_lines(&mut out, &params, sep);
            modinfo::write_param_field(&mut out, &params, sep);
        }
    }
    let _ = rkmod::audit::audit(&file);
});
