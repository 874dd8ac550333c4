//! depmod.d: `search`, `override`, `external` and `exclude` (kmod tools/depmod.c `cfg_load`,
//! `cfg_file_parse`).
//!
//! Files come from every configuration directory at once, sorted by base name; the first
//! directory wins for equal names (as for modprobe.d). The parser takes the text and returns
//! directives plus messages; only [`load`] touches the file system.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Level, Log};

/// One entry of the search list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// A subdirectory of the module directory (`updates`, `extra`, …).
    Dir(Vec<u8>),
    /// `built-in`: wherever no other entry matches.
    BuiltIn,
    /// `external`: the directories of `external` lines.
    External,
}

/// The depmod.d directives that shape a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The search list, highest priority first (the order of the words in the files).
    pub searches: Vec<Search>,
    /// `override` lines that matched the kernel version, as `SUBDIR/MOD` (file name as spelled
    /// on disk, without extension), in file order.
    pub overrides: Vec<Vec<u8>>,
    /// `external` directories that matched the kernel version, in file order.
    pub externals: Vec<PathBuf>,
    /// Directory entry names that the walk skips at any depth.
    pub excludes: Vec<Vec<u8>>,
}

impl Default for Config {
    /// No depmod.d at all: search `updates` first, then the rest.
    fn default() -> Config {
        Config {
            searches: vec![Search::Dir(b"updates".to_vec())],
            overrides: Vec::new(),
            externals: Vec::new(),
            excludes: Vec::new(),
        }
    }
}

/// Reads every depmod.d file under `paths` (each a directory, or a single file) for kernel
/// `version`.
pub fn load(paths: &[PathBuf], version: &str, log: &mut Log) -> Config {
    let mut files: Vec<(Vec<u8>, PathBuf)> = Vec::new();
    for path in paths {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if !meta.is_dir() {
            let base = path.file_name().map(|n| n.as_bytes().to_vec());
            insert_sorted(&mut files, base.unwrap_or_default(), path.clone());
            continue;
        }
        let Ok(entries) = std::fs::read_dir(path) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.as_bytes();
            if name.starts_with(b".") {
                continue;
            }
            let full = entry.path();
            if !name.ends_with(b".conf") {
                log.push(
                    Level::Info,
                    format!("All cfg files need .conf: {}", full.display()),
                );
                continue;
            }
            if std::fs::metadata(&full).is_ok_and(|m| m.is_dir()) {
                log.push(
                    Level::Error,
                    format!(
                        "Directories inside directories are not supported: {}",
                        full.display()
                    ),
                );
                continue;
            }
            insert_sorted(&mut files, name.to_vec(), full);
        }
    }
    let mut parser = Parser::default();
    for (_, file) in &files {
        match std::fs::read(file) {
            Ok(text) => parser.parse(&text, file, version, log),
            Err(e) => log.push(
                Level::Error,
                format!(
                    "file parse {}: {}",
                    file.display(),
                    crate::error::io_cause(&e)
                ),
            ),
        }
    }
    parser.finish()
}

/// Keeps `files` sorted by base name; a name already present keeps its first file.
fn insert_sorted(files: &mut Vec<(Vec<u8>, PathBuf)>, base: Vec<u8>, path: PathBuf) {
    if let Err(at) = files.binary_search_by(|(b, _)| b.as_slice().cmp(&base)) {
        files.insert(at, (base, path));
    }
}

/// Accumulates directives over the files of one run.
#[derive(Default)]
pub struct Parser {
    searches: Vec<Search>,
    overrides: Vec<Vec<u8>>,
    externals: Vec<PathBuf>,
    excludes: Vec<Vec<u8>>,
}

impl Parser {
    /// Parses one file's text; `file` names it in messages.
    pub fn parse(&mut self, text: &[u8], file: &Path, version: &str, log: &mut Log) {
        for (number, line) in logical_lines(text) {
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let words: Vec<&[u8]> = line
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|w| !w.is_empty())
                .collect();
            let Some((&command, args)) = words.split_first() else {
                continue;
            };
            let at = format!("{}:{number}", file.display());
            // Whether a line for kernel pattern `kver` applies to this version; if not, kmod's
            // info message, saying which kind of line it was.
            let applies = |kver: &[u8], what: &str, log: &mut Log| {
                let yes = version_matches(kver, version);
                if !yes {
                    log.push(
                        Level::Info,
                        format!(
                            "{at}: {what} did not match {}",
                            String::from_utf8_lossy(kver)
                        ),
                    );
                }
                yes
            };
            let bad = |log: &mut Log| {
                log.push(
                    Level::Error,
                    format!(
                        "{at}: ignoring bad line starting with '{}'",
                        String::from_utf8_lossy(command)
                    ),
                )
            };
            match command {
                b"search" => {
                    for &word in args {
                        self.searches.push(match word {
                            b"built-in" => Search::BuiltIn,
                            b"external" => Search::External,
                            dir => Search::Dir(dir.to_vec()),
                        });
                    }
                }
                b"override" => {
                    let [module, kver, subdir, ..] = args else {
                        bad(log);
                        continue;
                    };
                    if !applies(kver, "override kernel", log) {
                        continue;
                    }
                    let mut path = subdir.to_vec();
                    path.push(b'/');
                    path.extend_from_slice(module);
                    self.overrides.push(path);
                }
                b"external" => {
                    let [kver, dir, ..] = args else {
                        bad(log);
                        continue;
                    };
                    if !applies(kver, "external directory", log) {
                        continue;
                    }
                    self.externals
                        .push(PathBuf::from(std::ffi::OsStr::from_bytes(dir)));
                }
                b"exclude" => self.excludes.extend(args.iter().map(|w| w.to_vec())),
                b"include" | b"make_map_files" => log.push(
                    Level::Info,
                    format!(
                        "{at}: command {} not implemented yet",
                        String::from_utf8_lossy(command)
                    ),
                ),
                _ => bad(log),
            }
        }
    }

    /// The configuration: `search updates` when no file had a `search` line.
    pub fn finish(self) -> Config {
        let searches = if self.searches.is_empty() {
            Config::default().searches
        } else {
            self.searches
        };
        Config {
            searches,
            overrides: self.overrides,
            externals: self.externals,
            excludes: self.excludes,
        }
    }
}

/// `*`, or a POSIX extended regular expression found anywhere in the version (kmod
/// `cfg_kernel_matches`: the C library's `regcomp`/`regexec`; a pattern that does not compile
/// matches nothing).
fn version_matches(pattern: &[u8], version: &str) -> bool {
    pattern == b"*" || crate::posix_regex::search(pattern, version.as_bytes()) == Some(true)
}

/// The lines of a configuration file with kmod's continuation rules, numbered by the line each
/// one ends on: `\` + newline joins lines, `\` + another byte keeps that byte, a final `\` is
/// dropped.
fn logical_lines(text: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut lines = Vec::new();
    let mut line = Vec::new();
    let mut number = 0;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' => {
                if let Some(&next) = text.get(i + 1) {
                    if next == b'\n' {
                        number += 1;
                    } else {
                        line.push(next);
                    }
                }
                i += 2;
                continue;
            }
            b'\n' => {
                number += 1;
                lines.push((number, std::mem::take(&mut line)));
            }
            b => line.push(b),
        }
        i += 1;
    }
    if !line.is_empty() {
        lines.push((number + 1, line));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Config, Vec<String>) {
        let mut log = Log::default();
        let mut p = Parser::default();
        p.parse(
            text.as_bytes(),
            Path::new("/etc/depmod.d/t.conf"),
            "6.1.0-50-amd64",
            &mut log,
        );
        (
            p.finish(),
            log.lines().map(|(_, t)| t.to_string()).collect(),
        )
    }

    #[test]
    fn without_search_lines_updates_comes_first() {
        assert_eq!(parse("").0.searches, vec![Search::Dir(b"updates".to_vec())]);
    }

    #[test]
    fn directives() {
        let (c, msgs) = parse(
            "# comment\nsearch extra built-in\\\n updates external\noverride c-lib * kernel/lib\n\
             override x 5\\.4 kernel\nexternal 6\\.1 /opt/mods\nexclude build2 tmp\nbogus 1\n",
        );
        assert_eq!(
            c.searches,
            vec![
                Search::Dir(b"extra".to_vec()),
                Search::BuiltIn,
                Search::Dir(b"updates".to_vec()),
                Search::External
            ]
        );
        assert_eq!(c.overrides, vec![b"kernel/lib/c-lib".to_vec()]);
        assert_eq!(c.externals, vec![PathBuf::from("/opt/mods")]);
        assert_eq!(c.excludes, vec![b"build2".to_vec(), b"tmp".to_vec()]);
        assert_eq!(
            msgs,
            vec![
                // The line reader has already dropped the backslash, as kmod's does.
                "/etc/depmod.d/t.conf:5: override kernel did not match 5.4",
                "/etc/depmod.d/t.conf:8: ignoring bad line starting with 'bogus'"
            ]
        );
    }

    #[test]
    fn versions_match_anywhere() {
        assert!(version_matches(b"6\\.1", "6.12.0"));
        assert!(version_matches(b"amd64", "6.1.0-50-amd64"));
        assert!(!version_matches(b"5\\.4", "6.1.0"));
    }
}
