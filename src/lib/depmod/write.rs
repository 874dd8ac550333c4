//! depmod's output files (kmod tools/depmod.c `output_*`, `depmod_output`): rendering each one,
//! and publishing them so that no reader ever sees a torn file.
//!
//! Publishing writes each file under a temporary name in the output directory, syncs it and
//! renames it over the old one; the directory is synced at the end. A run killed at any moment
//! leaves each index either complete and old or complete and new (kmod renames too, but does not
//! sync, so after a power loss its renamed files may be empty).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::graph::{self, Graph};
use super::scan::{Candidate, ModuleData};
use super::{Level, Log};
use crate::moddir::index_writer::{IndexBuilder, IndexError, Layout};
use crate::names;

/// One output file.
pub struct Output {
    /// Its name in the module directory (`modules.dep`).
    pub name: &'static str,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// A binary index (skipped by `-n`).
    pub is_binary: bool,
}

/// The modules of a run in array order, with what was read from them.
pub struct Modules<'a> {
    /// The files.
    pub candidates: Vec<&'a Candidate>,
    /// Their contents.
    pub data: Vec<&'a ModuleData>,
}

/// Where the builtin indexes come from: `modules.builtin` and `modules.builtin.modinfo` in
/// this directory, read when their index is built (a missing one gives a 0-byte index).
pub struct Builtin<'a> {
    /// The input module directory.
    pub dir: &'a Path,
}

/// Renders every output file in kmod's order; only the text files with `text_only` (`-n`),
/// whose run then also lacks the messages of building the binary ones, as kmod's.
pub fn render(
    modules: &Modules<'_>,
    graph: &Graph,
    builtin: &Builtin<'_>,
    text_only: bool,
    warn_dups: bool,
    log: &mut Log,
) -> Result<Vec<Output>, IndexError> {
    let text = |name, bytes| Output {
        name,
        bytes,
        is_binary: false,
    };
    let bin = |name, bytes| Output {
        name,
        bytes,
        is_binary: true,
    };
    let mut out = Vec::new();
    let (dep, dep_bin) = deps(modules, graph, warn_dups, log)?;
    out.push(text("modules.dep", dep));
    out.push(bin("modules.dep.bin", dep_bin));
    let (alias, alias_bin) = aliases(modules, text_only, warn_dups, log)?;
    out.push(text("modules.alias", alias));
    out.push(bin("modules.alias.bin", alias_bin));
    out.push(text(
        "modules.softdep",
        keyed_lines(
            modules,
            b"# Soft dependencies extracted from modules themselves.\n",
            b"softdep",
            |d| &d.softdeps,
        ),
    ));
    out.push(text(
        "modules.weakdep",
        keyed_lines(
            modules,
            b"# Weak dependencies extracted from modules themselves.\n",
            b"weakdep",
            |d| &d.weakdeps,
        ),
    ));
    let (symbols, symbols_bin) = symbols(modules, graph, warn_dups, log)?;
    out.push(text("modules.symbols", symbols));
    out.push(bin("modules.symbols.bin", symbols_bin));
    if !text_only {
        out.push(bin(
            "modules.builtin.bin",
            match super::read_input(builtin.dir, "modules.builtin", log) {
                Some(list) => builtin_index(&list, log)?,
                None => Vec::new(),
            },
        ));
        out.push(bin(
            "modules.builtin.alias.bin",
            match super::read_input(builtin.dir, "modules.builtin.modinfo", log) {
                Some(modinfo) => builtin_alias_index(&modinfo, log)?,
                None => Vec::new(),
            },
        ));
    }
    out.push(text("modules.devname", devnames(modules, log)));
    if text_only {
        out.retain(|o| !o.is_binary);
    }
    Ok(out)
}

/// `modules.dep` and `modules.dep.bin`: each module's path, then the paths of all its
/// dependencies by topological index.
fn deps(
    modules: &Modules<'_>,
    graph: &Graph,
    warn_dups: bool,
    log: &mut Log,
) -> Result<(Vec<u8>, Vec<u8>), IndexError> {
    let mut text = Vec::new();
    let mut index = IndexBuilder::new();
    let mut seen = vec![false; modules.candidates.len()];
    let mut line = Vec::new();
    for (m, c) in modules.candidates.iter().enumerate() {
        line.clear();
        line.extend_from_slice(&c.dep_path);
        line.push(b':');
        for d in graph::closure(graph, m, &mut seen) {
            line.push(b' ');
            line.extend_from_slice(&modules.candidates[d].dep_path);
        }
        if !index.insert(&c.name, &line, m as u32)? && warn_dups {
            log.push(
                Level::Warning,
                format!("duplicate module deps:\n{}", String::from_utf8_lossy(&line)),
            );
        }
        text.extend_from_slice(&line);
        text.push(b'\n');
    }
    Ok((text, index.build(Layout::PreOrder)?))
}

/// `modules.alias` (raw aliases) and `modules.alias.bin` (normalised aliases).
fn aliases(
    modules: &Modules<'_>,
    text_only: bool,
    warn_dups: bool,
    log: &mut Log,
) -> Result<(Vec<u8>, Vec<u8>), IndexError> {
    let mut text = b"# Aliases extracted from modules themselves.\n".to_vec();
    let mut index = IndexBuilder::new();
    for (m, (c, d)) in modules.candidates.iter().zip(&modules.data).enumerate() {
        for alias in &d.aliases {
            text.extend_from_slice(b"alias ");
            text.extend_from_slice(alias);
            text.push(b' ');
            text.extend_from_slice(&c.name);
            text.push(b'\n');
            if text_only {
                continue;
            }
            match names::normalize_alias(alias) {
                Some(key) => {
                    if !index.insert(&key, &c.name, m as u32)? && warn_dups {
                        log.push(Level::Warning, duplicate("alias", &key, &c.name));
                    }
                }
                None => log.push(
                    Level::Warning,
                    format!("Unmatched bracket in {}", String::from_utf8_lossy(alias)),
                ),
            }
        }
    }
    Ok((text, index.build(Layout::PreOrder)?))
}

/// `modules.softdep` or `modules.weakdep`: `WORD MODNAME VALUE` per value.
fn keyed_lines(
    modules: &Modules<'_>,
    header: &[u8],
    word: &[u8],
    values: impl Fn(&ModuleData) -> &Vec<Vec<u8>>,
) -> Vec<u8> {
    let mut text = header.to_vec();
    for (c, d) in modules.candidates.iter().zip(&modules.data) {
        for value in values(d) {
            text.extend_from_slice(word);
            text.push(b' ');
            text.extend_from_slice(&c.name);
            text.push(b' ');
            text.extend_from_slice(value);
            text.push(b'\n');
        }
    }
    text
}

/// `modules.symbols` and `modules.symbols.bin`, in kmod's symbol hash order.
fn symbols(
    modules: &Modules<'_>,
    graph: &Graph,
    warn_dups: bool,
    log: &mut Log,
) -> Result<(Vec<u8>, Vec<u8>), IndexError> {
    let mut text = b"# Aliases for symbols, used by symbol_request().\n".to_vec();
    let mut index = IndexBuilder::new();
    let mut key = Vec::new();
    for (name, owner) in &graph.symbols {
        let owner_name = &modules.candidates[*owner].name;
        key.clear();
        key.extend_from_slice(b"symbol:");
        key.extend_from_slice(name);
        text.extend_from_slice(b"alias ");
        text.extend_from_slice(&key);
        text.push(b' ');
        text.extend_from_slice(owner_name);
        text.push(b'\n');
        if !index.insert(&key, owner_name, *owner as u32)? && warn_dups {
            log.push(Level::Warning, duplicate("syms", &key, owner_name));
        }
    }
    Ok((text, index.build(Layout::PreOrder)?))
}

/// `-w`'s words for a value stored twice under one key.
fn duplicate(what: &str, key: &[u8], value: &[u8]) -> String {
    format!(
        "duplicate module {what}:\n{} {}",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(value)
    )
}

/// `modules.builtin.bin`: one key per line of `modules.builtin`, the normalised base name.
fn builtin_index(list: &[u8], log: &mut Log) -> Result<Vec<u8>, IndexError> {
    let mut index = IndexBuilder::new();
    for line in list.split_inclusive(|&b| b == b'\n') {
        if !line.first().is_some_and(u8::is_ascii_alphabetic) {
            log.push(
                Level::Error,
                format!(
                    "Invalid modules.builtin line: {}",
                    String::from_utf8_lossy(line)
                ),
            );
            continue;
        }
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let base = line.rsplit(|&b| b == b'/').next().unwrap_or(line);
        index.insert(&names::normalize_name(base), b"", 0)?;
    }
    index.build(Layout::PreOrder)
}

/// `modules.builtin.alias.bin`: the `MOD.alias=VALUE` records of `modules.builtin.modinfo`.
fn builtin_alias_index(modinfo: &[u8], log: &mut Log) -> Result<Vec<u8>, IndexError> {
    let mut index = IndexBuilder::new();
    for record in modinfo.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let Some(dot) = record.iter().position(|&b| b == b'.') else {
            continue;
        };
        let (module, rest) = (&record[..dot], &record[dot + 1..]);
        let Some(alias) = rest.strip_prefix(b"alias=") else {
            continue;
        };
        match names::normalize_alias(alias) {
            Some(key) => {
                index.insert(&key, module, 0)?;
            }
            None => log.push(
                Level::Warning,
                format!("Unmatched bracket in {}", String::from_utf8_lossy(alias)),
            ),
        }
    }
    index.build(Layout::PreOrder)
}

/// `modules.devname`: modules with a `devname:` alias and a `char-major-`/`block-major-` one.
fn devnames(modules: &Modules<'_>, log: &mut Log) -> Vec<u8> {
    let mut text = Vec::new();
    for (c, d) in modules.candidates.iter().zip(&modules.data) {
        let mut devname: Option<&[u8]> = None;
        let mut node: Option<(u8, u32, u32)> = None;
        for alias in &d.aliases {
            if let Some(name) = alias.strip_prefix(b"devname:") {
                devname = Some(name);
            } else if let Some(rest) = alias.strip_prefix(b"char-major-") {
                if let Some((major, minor)) = major_minor(rest) {
                    node = Some((b'c', major, minor));
                }
            } else if let Some(rest) = alias.strip_prefix(b"block-major-")
                && let Some((major, minor)) = major_minor(rest)
            {
                node = Some((b'b', major, minor));
            }
            if devname.is_some() && node.is_some() {
                break;
            }
        }
        match (devname, node) {
            (Some(name), Some((kind, major, minor))) => {
                if text.is_empty() {
                    text.extend_from_slice(
                        b"# Device nodes to trigger on-demand module loading.\n",
                    );
                }
                text.extend_from_slice(&c.name);
                text.push(b' ');
                text.extend_from_slice(name);
                text.extend_from_slice(
                    format!(" {}{major}:{minor}\n", char::from(kind)).as_bytes(),
                );
            }
            (Some(name), None) => log.push(
                Level::Error,
                format!(
                    "Module '{}' has devname ({}) but lacks major and minor information. Ignoring.",
                    String::from_utf8_lossy(&c.name),
                    String::from_utf8_lossy(name)
                ),
            ),
            _ => {}
        }
    }
    text
}

/// `sscanf("%u-%u")`: two decimal numbers separated by `-`; anything may follow the second.
fn major_minor(s: &[u8]) -> Option<(u32, u32)> {
    fn number(s: &[u8]) -> Option<(u32, &[u8])> {
        let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
        let n = std::str::from_utf8(&s[..digits]).ok()?.parse().ok()?;
        Some((n, &s[digits..]))
    }
    let (major, rest) = number(s)?;
    let (minor, _) = number(rest.strip_prefix(b"-")?)?;
    Some((major, minor))
}

/// Why a file could not be published.
#[derive(Debug)]
pub struct PublishError {
    /// The file's final name.
    pub name: &'static str,
    /// The cause.
    pub source: std::io::Error,
}

/// Replaces each file in `dir` atomically: every file is written under a temporary name and
/// synced (all at once, one thread each, so the disk waits overlap); only when all are written
/// are they renamed over their old versions, in order; the directory is synced at the end. A
/// file that cannot be written (full or read-only disk) leaves every old file in place and no
/// temporary behind. Temporaries left by a run that was killed are removed first.
pub fn publish(dir: &Path, files: &[Output]) -> Result<(), PublishError> {
    remove_stale_temporaries(dir, files);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let temps: Vec<PathBuf> = files
        .iter()
        .map(|file| {
            dir.join(temporary_name(
                file.name,
                std::process::id(),
                stamp.subsec_micros(),
                stamp.as_secs(),
            ))
        })
        .collect();
    let written: Vec<std::io::Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .zip(&temps)
            .map(|(file, tmp)| scope.spawn(move || write_synced(tmp, &file.bytes)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("writer thread failed")))
            })
            .collect()
    });
    let failure = files
        .iter()
        .zip(written)
        .find_map(|(file, result)| result.err().map(|source| (file.name, source)));
    if let Some((name, source)) = failure {
        for tmp in &temps {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(PublishError { name, source });
    }
    for (i, (file, tmp)) in files.iter().zip(&temps).enumerate() {
        if let Err(source) = std::fs::rename(tmp, dir.join(file.name)) {
            for tmp in &temps[i..] {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(PublishError {
                name: file.name,
                source,
            });
        }
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| PublishError {
            name: files.last().map_or("", |f| f.name),
            source,
        })
}

/// kmod 34's spelling of a temporary name: `NAME.PID.USEC.SEC`.
fn temporary_name(name: &str, pid: u32, usec: u32, sec: u64) -> String {
    format!("{name}.{pid}.{usec}.{sec}")
}

/// Removes `NAME.PID.USEC.SEC` files of our output names whose process is gone (a depmod that
/// was killed while writing). A live process's temporaries are left alone, and so is
/// everything when `/proc` cannot tell.
fn remove_stale_temporaries(dir: &Path, files: &[Output]) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let pid = files.iter().find_map(|f| {
            let rest = name.strip_prefix(f.name)?.strip_prefix('.')?;
            let numbers: Vec<&str> = rest.split('.').collect();
            let is_stamp = numbers.len() == 3
                && numbers
                    .iter()
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            is_stamp.then(|| numbers[0])
        });
        if let Some(pid) = pid
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Creates `path` (mode 0644 minus the umask, as kmod 34) with `bytes`, synced to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_minor_reads_like_sscanf() {
        assert_eq!(major_minor(b"250-3"), Some((250, 3)));
        assert_eq!(major_minor(b"10-229x"), Some((10, 229)));
        assert_eq!(major_minor(b"10"), None);
        assert_eq!(major_minor(b"x-1"), None);
    }
}
