//! Finding the modules of a tree (kmod tools/depmod.c `depmod_modules_search*`) and reading
//! each one (libkmod-elf.c): `.modinfo` aliases, softdeps and weakdeps, exported symbols with
//! their CRCs, and imported symbols. Reading is pure per module and runs on every core.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use goblin::elf::section_header::SHN_ABS;
use goblin::elf::section_header::SHN_UNDEF;
use goblin::elf::sym::STB_WEAK;

use super::config::{Config, Search};
use super::{Level, Log};
use crate::file::ModuleFile;
use crate::file::compression::{Compression, MAGIC_LEN};
use crate::file::elf::Elf;
use crate::file::modinfo::{split_entry, split_strings};
use crate::names;

/// A module file chosen by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The module name (`snd_hda_intel`).
    pub name: Vec<u8>,
    /// Where to read it.
    pub path: PathBuf,
    /// How the indexes spell it: relative to the module directory, or absolute for a module of
    /// an `external` directory.
    pub dep_path: Vec<u8>,
    /// Its relative path with the module extension replaced by `.ko`, as `modules.order` lines
    /// spell it (`None` for external modules).
    pub order_path: Option<Vec<u8>>,
}

/// Walks the module directory `dir`, then every external directory, keeping one file per
/// module name as kmod does. The result is in discovery order.
pub fn find(dir: &Path, config: &Config, log: &mut Log) -> std::io::Result<Vec<Candidate>> {
    // The input directory must open; errors below it are reported and skipped.
    std::fs::read_dir(dir)?;
    let mut walk = Walk {
        config,
        found: Vec::new(),
        by_name: HashMap::new(),
        ancestors: Vec::new(),
        log,
    };
    walk.dir(dir, &mut Vec::new(), false);
    for ext in &config.externals {
        if std::fs::metadata(ext).is_ok_and(|m| m.is_dir()) {
            let mut prefix = ext.as_os_str().as_bytes().to_vec();
            while prefix.len() > 1 && prefix.ends_with(b"/") {
                prefix.pop();
            }
            walk.dir(ext, &mut prefix, true);
        }
    }
    Ok(walk.found)
}

/// The module files named on the command line (kmod's `depmod VERSION FILE…`): each must be
/// an absolute path that exists, and no two may have the same module name. A file under the
/// module directory `dir` is spelled relative to it in the indexes, any other absolutely.
/// Errors with the FATAL text, after any ERROR logged.
pub fn from_files(files: &[PathBuf], dir: &Path, log: &mut Log) -> Result<Vec<Candidate>, String> {
    let mut found: Vec<Candidate> = Vec::new();
    for path in files {
        let spelled = path.as_os_str().as_bytes();
        if !spelled.starts_with(b"/") {
            return Err(format!("{}: not absolute path.", path.display()));
        }
        let cause = |errno| crate::error::strerror(errno);
        if let Err(e) = std::fs::metadata(path) {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            return Err(format!(
                "could not create module {}: {}",
                path.display(),
                cause(errno)
            ));
        }
        let base = spelled.rsplit(|&b| b == b'/').next().unwrap_or_default();
        if base.is_empty() {
            return Err(format!(
                "could not create module {}: {}",
                path.display(),
                cause(libc::ENOENT)
            ));
        }
        let name = names::normalize_name(base);
        if let Some(old) = found.iter().find(|c| c.name == name) {
            let name = String::from_utf8_lossy(&name);
            if old.path == *path {
                log.push(Level::Error, format!("hash_add_unique {name}: File exists"));
                return Err(format!(
                    "could not add module {}: File exists",
                    path.display()
                ));
            }
            log.push(
                Level::Error,
                format!(
                    "kmod_module '{name}' already exists with different path: new-path='{}' old-path='{}'",
                    path.display(),
                    old.path.display()
                ),
            );
            return Err(format!(
                "could not create module {}: File exists",
                path.display()
            ));
        }
        let dir = dir.as_os_str().as_bytes();
        let relative = spelled
            .strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix(b"/"));
        found.push(Candidate {
            order_path: relative.map(|rel| order_spelling(rel, name.len())),
            dep_path: relative.unwrap_or(spelled).to_vec(),
            name,
            path: path.clone(),
        });
    }
    Ok(found)
}

/// How kmod matches a module against `modules.order` lines: its relative path up to the
/// base name, then as many bytes of the base name as the module name has, then three more
/// (`kernel/lib/c-lib.ko.xz` → `kernel/lib/c-lib.ko`).
fn order_spelling(rel: &[u8], name_len: usize) -> Vec<u8> {
    let base_start = rel.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    rel[..(base_start + name_len + 3).min(rel.len())].to_vec()
}

struct Walk<'a> {
    config: &'a Config,
    found: Vec<Candidate>,
    by_name: HashMap<Vec<u8>, usize>,
    /// (device, inode) of the directories being walked: a symbolic link back to one of them
    /// is not followed again.
    ancestors: Vec<(u64, u64)>,
    log: &'a mut Log,
}

impl Walk<'_> {
    /// Walks `path`, whose spelling in the indexes is `spelled` (relative to the module
    /// directory, or absolute when `is_external`).
    fn dir(&mut self, path: &Path, spelled: &mut Vec<u8>, is_external: bool) {
        let entries = match std::fs::read_dir(path) {
            Ok(e) => e,
            Err(e) => {
                let message = if self.ancestors.is_empty() {
                    format!(
                        "could not open directory {}: {}",
                        path.display(),
                        crate::error::io_cause(&e)
                    )
                } else {
                    open_message(path, &e)
                };
                self.log.push(Level::Error, message);
                return;
            }
        };
        let depth = self.ancestors.len();
        if let Ok(meta) = std::fs::metadata(path) {
            self.ancestors.push((meta.dev(), meta.ino()));
        }
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.as_bytes();
            if matches!(name, b"." | b".." | b"build" | b"source")
                || self.config.excludes.iter().any(|e| e == name)
            {
                continue;
            }
            let full = entry.path();
            // The directory entry's type saves a stat per file; links are followed as kmod does.
            let meta = match entry.file_type() {
                Ok(t) if t.is_file() && !names::has_module_extension(name) => continue,
                Ok(t) if t.is_file() => {
                    self.file(full, spelled_with(&spelled[..], name), name, is_external);
                    continue;
                }
                _ => std::fs::metadata(&full),
            };
            let meta = match meta {
                Ok(m) => m,
                Err(e) => {
                    self.log.push(
                        Level::Error,
                        format!(
                            "fstatat({}, {}): {}",
                            path.display(),
                            String::from_utf8_lossy(name),
                            crate::error::io_cause(&e)
                        ),
                    );
                    continue;
                }
            };
            let len = spelled.len();
            if !spelled.is_empty() {
                spelled.push(b'/');
            }
            spelled.extend_from_slice(name);
            if meta.is_dir() {
                if !self.ancestors.contains(&(meta.dev(), meta.ino())) {
                    self.dir(&full, &mut *spelled, is_external);
                } else {
                    self.log.push(Level::Error, loop_message(&full));
                }
            } else if meta.is_file() {
                if names::has_module_extension(name) {
                    self.file(full, &spelled[..], name, is_external);
                }
            } else {
                self.log.push(
                    Level::Error,
                    format!(
                        "unsupported file type {}: {:o}",
                        full.display(),
                        meta.mode() & 0o170000
                    ),
                );
            }
            spelled.truncate(len);
        }
        self.ancestors.truncate(depth);
    }

    fn file(&mut self, path: PathBuf, spelled: impl AsRef<[u8]>, base: &[u8], is_external: bool) {
        let spelled = spelled.as_ref();
        let name = names::normalize_name(base);
        let candidate = Candidate {
            order_path: (!is_external).then(|| order_spelling(spelled, name.len())),
            name: name.clone(),
            path,
            dep_path: spelled.to_vec(),
        };
        match self.by_name.get(&name) {
            None => {
                self.by_name.insert(name, self.found.len());
                self.found.push(candidate);
            }
            Some(&old) => {
                if self.new_wins(&self.found[old], &candidate) {
                    self.found[old] = candidate;
                }
            }
        }
    }

    /// kmod's `depmod_module_is_higher_priority`, quirks included: for each search entry the
    /// new file is tested first, and the old one only when the new one did not match.
    fn new_wins(&self, old: &Candidate, new: &Candidate) -> bool {
        // Overrides name the file without its extension (the module-name part of the base
        // name, as spelled), relative to the module directory.
        let rel = |c: &Candidate| -> Option<Vec<u8>> {
            c.order_path
                .as_ref()
                .map(|p| p[..p.len() - b".ko".len()].to_vec())
                .map(|stem| {
                    let base_start = stem.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
                    let dot = stem[base_start..]
                        .iter()
                        .position(|&b| b == b'.')
                        .map_or(stem.len(), |i| base_start + i);
                    stem[..dot].to_vec()
                })
        };
        let (old_rel, new_rel) = (rel(old), rel(new));
        for ov in self.config.overrides.iter().rev() {
            if new_rel.as_ref() == Some(ov) {
                return true;
            }
            if old_rel.as_ref() == Some(ov) {
                return false;
            }
        }
        let under = |c: &Candidate, dir: &[u8]| {
            c.order_path
                .as_ref()
                .is_some_and(|p| p.len() > dir.len() && p.starts_with(dir) && p[dir.len()] == b'/')
        };
        let in_external = |c: &Candidate| {
            c.order_path.is_none()
                && self.config.externals.iter().any(|e| {
                    let e = e.as_os_str().as_bytes();
                    c.dep_path.len() > e.len()
                        && c.dep_path.starts_with(e)
                        && c.dep_path[e.len()] == b'/'
                })
        };
        let (mut builtin, mut old_prio, mut new_prio) = (-1i64, -1i64, -1i64);
        // The list from lowest to highest priority.
        for (i, search) in self.config.searches.iter().rev().enumerate() {
            let i = i as i64;
            match search {
                Search::BuiltIn => builtin = i,
                Search::External => {
                    if in_external(new) {
                        new_prio = i;
                    }
                    if in_external(old) {
                        old_prio = i;
                    }
                }
                Search::Dir(dir) => {
                    if under(new, dir) {
                        new_prio = i;
                    } else if under(old, dir) {
                        old_prio = i;
                    }
                }
            }
        }
        if new_prio < 0 {
            new_prio = builtin;
        }
        if old_prio < 0 {
            old_prio = builtin;
        }
        new_prio > old_prio
    }
}

/// kmod's words for a subdirectory that cannot be opened, naming its parent by path where kmod
/// gives a file descriptor number: `openat(DIR, NAME, O_RDONLY): CAUSE`.
pub(crate) fn open_message(path: &Path, e: &std::io::Error) -> String {
    format!(
        "openat({}, {}, O_RDONLY): {}",
        path.parent().unwrap_or(path).display(),
        path.file_name()
            .map_or(std::borrow::Cow::Borrowed(""), |n| n.to_string_lossy()),
        crate::error::io_cause(e)
    )
}

/// The message for a directory that is one of its own ancestors (a symbolic link loop), walked
/// once. kmod walks it until its path buffer is full, repeating every message on each lap.
pub(crate) fn loop_message(path: &Path) -> String {
    format!(
        "{}: Too many levels of symbolic links (a directory loop, walked once)",
        path.display()
    )
}

/// `spelled/name` (or `name` at the top).
fn spelled_with(spelled: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = spelled.to_vec();
    if !v.is_empty() {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

/// A symbol a module exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The symbol name.
    pub name: Vec<u8>,
    /// Its CRC (0 without modversions).
    pub crc: u64,
}

/// A symbol a module needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The symbol name.
    pub name: Vec<u8>,
    /// The CRC the module was built against (0 when `__versions` does not list it).
    pub crc: u64,
    /// A weak undefined symbol: the module loads without it.
    pub is_weak: bool,
}

/// What depmod needs from one module file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleData {
    /// `alias=` values of `.modinfo`, in order, raw.
    pub aliases: Vec<Vec<u8>>,
    /// `softdep=` values, raw.
    pub softdeps: Vec<Vec<u8>>,
    /// `weakdep=` values, raw.
    pub weakdeps: Vec<Vec<u8>>,
    /// Exported symbols.
    pub exports: Vec<Export>,
    /// Imported symbols, in symbol-table order, then the unmatched `__versions` entries.
    pub imports: Vec<Import>,
}

/// Reads every candidate on every core; results come in the order of `candidates`. A file
/// that cannot be read or parsed gives the error's errno.
///
/// Workers claim a few files at a time and keep their results until the end: nothing has to be
/// streamed, and per-file hand-offs (as in [`crate::parallel::ordered`]) cost more than reading
/// an uncompressed module. Memory stays bounded by the decompression budget of
/// [`ModuleFile`]; the results themselves are small.
pub fn read_all(candidates: &[Candidate]) -> Vec<Result<ModuleData, ReadError>> {
    const CHUNK: usize = 4;
    let threads = crate::parallel::threads()
        .min(candidates.len().div_ceil(CHUNK))
        .max(1);
    if threads == 1 {
        return candidates.iter().map(|c| read(&c.path)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let parts: Vec<Vec<(usize, Result<ModuleData, ReadError>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let start = next.fetch_add(CHUNK, std::sync::atomic::Ordering::Relaxed);
                        if start >= candidates.len() {
                            return mine;
                        }
                        let end = (start + CHUNK).min(candidates.len());
                        for (i, c) in candidates[start..end].iter().enumerate() {
                            mine.push((start + i, read(&c.path)));
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let mut out: Vec<Option<Result<ModuleData, ReadError>>> = Vec::new();
    out.resize_with(candidates.len(), || None);
    for (i, r) in parts.into_iter().flatten() {
        out[i] = Some(r);
    }
    // A worker that panicked left holes: those files count as unreadable.
    out.into_iter()
        .map(|r| r.unwrap_or(Err(ReadError::errno(libc::EIO))))
        .collect()
}

/// Plain modules up to this size, and `.ko.xz` files up to this compressed size, are read (and
/// decoded) into buffers each worker reuses: no allocation, page faults or unmapping per file.
/// Larger ones go through [`ModuleFile`] (mapped, or decoded under its memory budget).
const REUSED_BUFFER_MAX: u64 = 1 << 20;

/// A reused decoding buffer grown past this is given back after use, to keep peak memory low.
const REUSED_OUTPUT_KEEP: usize = 16 << 20;

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    static DECODED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads one module file.
pub fn read(path: &Path) -> Result<ModuleData, ReadError> {
    use std::os::unix::fs::FileExt;
    let (file, len) = crate::file::open_regular(path).map_err(|e| ReadError::errno(e.errno()))?;
    let mut head = [0u8; MAGIC_LEN];
    if len >= MAGIC_LEN as u64
        && len <= REUSED_BUFFER_MAX
        && file.read_exact_at(&mut head, 0).is_ok()
    {
        match Compression::detect(&head) {
            Compression::None => {
                return BUFFER.with_borrow_mut(|buf| {
                    buf.resize(len as usize, 0);
                    file.read_exact_at(buf, 0).map_err(ReadError::io)?;
                    parse(buf).map_err(ReadError::errno)
                });
            }
            Compression::Xz => {
                return BUFFER.with_borrow_mut(|input| {
                    input.resize(len as usize, 0);
                    file.read_exact_at(input, 0).map_err(ReadError::io)?;
                    DECODED.with_borrow_mut(|out| {
                        let result = decode_xz(input, out)
                            .and_then(|()| parse(out).map_err(ReadError::errno));
                        if out.capacity() > REUSED_OUTPUT_KEEP {
                            *out = Vec::new();
                        }
                        result
                    })
                });
            }
            _ => {}
        }
    }
    drop(file);
    let file = ModuleFile::open_mapped(path).map_err(|e| ReadError::errno(e.errno()))?;
    parse(file.bytes()).map_err(ReadError::errno)
}

/// Why a module file gave no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadError {
    /// kmod's errno for "failed to load symbols from PATH".
    pub errno: i32,
    /// libkmod's words for an xz decoding failure (`Unexpected end of input`), which kmod
    /// prints as `xz: WORDS` once before that message and twice after it.
    pub xz: Option<&'static str>,
}

impl ReadError {
    fn errno(errno: i32) -> ReadError {
        ReadError { errno, xz: None }
    }

    fn io(e: std::io::Error) -> ReadError {
        ReadError::errno(e.raw_os_error().unwrap_or(libc::EIO))
    }

    fn xz(words: &'static str) -> ReadError {
        ReadError {
            errno: libc::EINVAL,
            xz: Some(words),
        }
    }
}

/// Decodes a whole `.xz` file (concatenated streams, any check, as kmod accepts) into `out`,
/// refusing more than the size limit of [`ModuleFile`].
fn decode_xz(input: &[u8], out: &mut Vec<u8>) -> Result<(), ReadError> {
    use xz2::stream::{Action, CONCATENATED, Error, Status, Stream};
    const CUT: &str = "Unexpected end of input";
    out.clear();
    let mut stream = Stream::new_stream_decoder(u64::MAX, CONCATENATED)
        .map_err(|_| ReadError::xz("Memory allocation failed"))?;
    loop {
        if out.len() == out.capacity() {
            if out.len() as u64 > crate::file::compression::MAX_DECOMPRESSED {
                return Err(ReadError::errno(libc::EFBIG));
            }
            out.reserve(out.capacity().max(256 << 10));
        }
        let (read, written) = (stream.total_in(), out.len());
        let at = usize::try_from(read)
            .unwrap_or(input.len())
            .min(input.len());
        let status = stream
            .process_vec(&input[at..], out, Action::Finish)
            .map_err(|e| {
                // libkmod's words for each liblzma error.
                ReadError::xz(match e {
                    Error::Mem | Error::MemLimit => "Memory allocation failed",
                    Error::Format => "File format not recognized",
                    Error::Options => "Unsupported compression options",
                    Error::Data => "File is corrupt",
                    Error::Program => CUT,
                    _ => "Internal error (bug)",
                })
            })?;
        if status == Status::StreamEnd {
            return Ok(());
        }
        if stream.total_in() == read && out.len() == written && out.len() < out.capacity() {
            // No progress with room to spare: the input is cut.
            return Err(ReadError::xz(CUT));
        }
    }
}

/// Parses a module's uncompressed bytes.
pub fn parse(bytes: &[u8]) -> Result<ModuleData, i32> {
    let elf = Elf::parse(bytes).map_err(|e| match e {
        crate::error::ElfError::BadMagic => libc::ENOEXEC,
        _ => libc::EINVAL,
    })?;
    let mut data = ModuleData::default();
    if let Some(modinfo) = elf.section_by_name(".modinfo") {
        for s in split_strings(modinfo) {
            let entry = split_entry(s);
            let list = match &*entry.key {
                b"alias" => &mut data.aliases,
                b"softdep" => &mut data.softdeps,
                b"weakdep" => &mut data.weakdeps,
                _ => continue,
            };
            list.push(entry.value.into_owned());
        }
    }
    let versions = versions(&elf);
    let symbols = elf.symtab_index().and_then(|i| elf.symbols(i).ok());
    if let Some(symbols) = &symbols {
        for (_, sym) in symbols.iter().skip(1) {
            let name = symbols.name(&sym);
            if let Some(export) = name.strip_prefix(b"__crc_") {
                data.exports.push(Export {
                    name: export.to_vec(),
                    crc: crc_of(&elf, &sym),
                });
            }
        }
    }
    if data.exports.is_empty()
        && let Some(strings) = elf.section_by_name("__ksymtab_strings")
    {
        data.exports = strings
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| Export {
                name: s.to_vec(),
                crc: 0,
            })
            .collect();
    }
    let mut used = vec![false; versions.len()];
    // The first `__versions` entry of each name.
    let mut by_name: HashMap<&[u8], usize> = HashMap::with_capacity(versions.len());
    for (i, (_, name)) in versions.iter().enumerate().rev() {
        by_name.insert(name, i);
    }
    if let Some(symbols) = &symbols {
        for (_, sym) in symbols.iter().skip(1) {
            if sym.st_shndx != SHN_UNDEF as usize {
                continue;
            }
            let name = symbols.name(&sym);
            if name.is_empty() {
                continue;
            }
            let crc = match by_name.get(name).copied() {
                Some(v) => {
                    used[v] = true;
                    versions[v].0
                }
                None => 0,
            };
            data.imports.push(Import {
                name: name.to_vec(),
                crc,
                is_weak: sym.st_bind() == STB_WEAK,
            });
        }
    }
    for ((crc, name), used) in versions.iter().zip(used) {
        if !used {
            data.imports.push(Import {
                name: name.to_vec(),
                crc: *crc,
                is_weak: false,
            });
        }
    }
    Ok(data)
}

/// The CRC of a `__crc_` symbol: its value when absolute or undefined, otherwise the word it
/// points to in its section (all ones when out of range).
fn crc_of(elf: &Elf<'_>, sym: &goblin::elf::sym::Sym) -> u64 {
    if sym.st_shndx == SHN_ABS as usize || sym.st_shndx == SHN_UNDEF as usize {
        return sym.st_value;
    }
    let word = elf
        .sections()
        .get(sym.st_shndx)
        .map(|sh| elf.section_data(sh))
        .and_then(|d| {
            let at = usize::try_from(sym.st_value).ok()?;
            d.get(at..at.checked_add(4)?)
        })
        .map(|b| {
            let b = [b[0], b[1], b[2], b[3]];
            if elf.ctx().le == scroll::LE {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        });
    word.map_or(u64::from(u32::MAX), u64::from)
}

/// The `__versions` entries: a CRC of the ELF class's word size, then a NUL-padded name, 64
/// bytes in all.
fn versions<'a>(elf: &Elf<'a>) -> Vec<(u64, &'a [u8])> {
    let Some(section) = elf.section_by_name("__versions") else {
        return Vec::new();
    };
    let word = if elf.is_64() { 8 } else { 4 };
    let is_le = elf.ctx().le == scroll::LE;
    section
        .chunks_exact(64)
        .map(|entry| {
            let (crc, name) = entry.split_at(word);
            let crc = crc.iter().enumerate().fold(0u64, |acc, (i, &b)| {
                let shift = if is_le { 8 * i } else { 8 * (word - 1 - i) };
                acc | u64::from(b) << shift
            });
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            (crc, &name[..end])
        })
        .collect()
}
