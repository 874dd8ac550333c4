//! `modprobe --show-modversions` and `--show-exports`: a module file's `__versions` table and its
//! exported symbols, one `0x%08x\tNAME` line each (kmod's `show_modversions`, `show_exports`).

use std::path::Path;

use crate::file::ModuleFile;
use crate::file::elf::Elf;

/// Which table to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `__versions`: the symbol versions the module needs.
    Modversions,
    /// The symbols it exports, with their CRCs.
    Exports,
}

/// Why nothing was printed: kmod's message (after `FATAL: `).
#[derive(Debug, PartialEq, Eq)]
pub struct ShowError(pub String);

/// The lines for `table` of the module file `arg` (a path, as kmod 34.2 takes it).
pub fn show(arg: &str, table: Table) -> Result<Vec<u8>, ShowError> {
    let path = Path::new(arg);
    let file = match std::fs::metadata(path) {
        Ok(_) => ModuleFile::open(path),
        Err(_) => return Err(ShowError(format!("Module {arg} not found."))),
    };
    let what = match table {
        Table::Modversions => "modversions",
        Table::Exports => "symbols",
    };
    let fail = |cause: String| ShowError(format!("could not get {what} of {arg}: {cause}"));
    let file = file.map_err(|e| fail(e.cause()))?;
    let entries = match table {
        Table::Modversions => {
            let elf = Elf::parse(file.bytes()).map_err(|e| {
                let errno = match e {
                    crate::error::ElfError::BadMagic => libc::ENOEXEC,
                    _ => libc::EINVAL,
                };
                fail(format!("{} ({e})", crate::error::strerror(errno)))
            })?;
            versions(&elf).ok_or_else(|| fail("No data available".into()))?
        }
        Table::Exports => {
            let data = crate::depmod::scan::parse(file.bytes())
                .map_err(crate::error::strerror)
                .map_err(fail)?;
            if data.exports.is_empty() {
                return Err(fail("No data available".into()));
            }
            data.exports.into_iter().map(|e| (e.crc, e.name)).collect()
        }
    };
    let mut out = Vec::new();
    for (crc, name) in entries {
        out.extend_from_slice(format!("0x{crc:08x}\t").as_bytes());
        out.extend_from_slice(&name);
        out.push(b'\n');
    }
    Ok(out)
}

/// The `__versions` entries in file order (a CRC of the class's word size, then a NUL-padded
/// name, 64 bytes in all; a leading `.` of the name dropped, as kmod drops it). `None` without
/// the section.
fn versions(elf: &Elf<'_>) -> Option<Vec<(u64, Vec<u8>)>> {
    let section = elf.section_by_name("__versions")?;
    let word = if elf.is_64() { 8 } else { 4 };
    let le = elf.ctx().le == scroll::LE;
    Some(
        section
            .chunks_exact(64)
            .map(|e| {
                let mut b = [0u8; 8];
                b[..word].copy_from_slice(&e[..word]);
                let crc = match (le, word) {
                    (true, _) => u64::from_le_bytes(b),
                    (false, 8) => u64::from_be_bytes(b),
                    (false, _) => u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                };
                let name = &e[word..];
                let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
                (crc, name.strip_prefix(b".").unwrap_or(name).to_vec())
            })
            .collect(),
    )
}
