//! depmod: index a module tree as kmod 34's depmod does, byte for byte.
//!
//! The procedure is config → scan → graph → write: [`config`] reads depmod.d, [`scan`] finds
//! the modules and reads them on every core, [`graph`] orders them and resolves symbols, and
//! [`write`](mod@write) renders the files and publishes them atomically. [`run`] strings them together
//! and returns the messages for the caller to print; the library prints nothing.

pub mod config;
pub mod graph;
pub mod quick;
pub mod scan;
pub mod vmlinux;
pub mod write;

use std::path::{Path, PathBuf};

use crate::error::io_cause;

/// The level of a message, as kmod's log prefixes spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `ERROR`.
    Error,
    /// `WARNING`.
    Warning,
    /// `INFO` (shown with `-vv`).
    Info,
}

impl Level {
    /// kmod's word for the level.
    pub fn word(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Info => "INFO",
        }
    }
}

/// Messages of a run, in the order kmod prints them.
#[derive(Debug, Default)]
pub struct Log {
    lines: Vec<(Level, String)>,
}

impl Log {
    /// Adds a message.
    pub fn push(&mut self, level: Level, text: String) {
        self.lines.push((level, text));
    }

    /// The messages.
    pub fn lines(&self) -> impl Iterator<Item = (Level, &str)> {
        self.lines.iter().map(|(l, t)| (*l, t.as_str()))
    }
}

/// What a run does, decided from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// The kernel version (`6.1.0-50-amd64`).
    pub version: String,
    /// `-b`: the root of the input tree (absolute; `/` by default).
    pub basedir: PathBuf,
    /// `-m`: the module directory relative to the base and output directories.
    pub moduledir: PathBuf,
    /// `-o`: the root of the output tree (the base directory by default).
    pub outdir: Option<PathBuf>,
    /// `-C`: configuration paths replacing the default depmod.d directories.
    pub config: Option<Vec<PathBuf>>,
    /// `-n`: print the text files instead of writing anything.
    pub is_dry_run: bool,
    /// `-v`: print each dependency with the symbol that creates it.
    pub is_verbose: bool,
    /// `-w`: warn about values stored twice under one index key.
    pub warn_dups: bool,
    /// `-E` or `-F` (`-E` wins when both are given): vmlinux's symbols.
    pub vmlinux: Option<vmlinux::Source>,
    /// `-e`: report unknown symbols and CRC mismatches (needs `-E` or `-F`).
    pub report_symbols: bool,
    /// `-P`: a character stripped from the front of symbol names.
    pub symbol_prefix: Option<u8>,
    /// `-A`: do nothing when no module is newer than `modules.dep`.
    pub is_quick: bool,
    /// Module files named on the command line: only they are indexed (empty: the whole tree).
    pub module_files: Vec<PathBuf>,
}

impl Options {
    /// `BASEDIR/MODULEDIR/VERSION`: where the modules are read from.
    pub fn input_dir(&self) -> PathBuf {
        self.basedir.join(&self.moduledir).join(&self.version)
    }

    /// `OUTDIR/MODULEDIR/VERSION`: where the indexes go.
    pub fn output_dir(&self) -> PathBuf {
        self.outdir
            .as_deref()
            .unwrap_or(&self.basedir)
            .join(&self.moduledir)
            .join(&self.version)
    }

    /// The depmod.d paths to read, highest precedence first.
    pub fn config_paths(&self) -> Vec<PathBuf> {
        match &self.config {
            Some(paths) => paths.clone(),
            None => crate::sysroot::SysRoot::host().config_dirs("depmod.d"),
        }
    }
}

/// How a run ended, when it did not succeed. The text is kmod's; the CLI adds the prefix.
#[derive(Debug)]
pub enum Failure {
    /// `FATAL: …` (after the messages of the log).
    Fatal(String),
    /// One or more `ERROR: …` lines (cycles, write errors).
    Errors(Vec<String>),
}

/// The result of a run: messages, and the bytes for standard output (`-n`).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Messages for standard error.
    pub log: Log,
    /// What goes to standard output.
    pub stdout: Vec<u8>,
    /// Set when the run failed; `log` holds what came before.
    pub failure: Option<Failure>,
}

/// Indexes the tree `options` describes.
pub fn run(options: &Options) -> Outcome {
    let mut outcome = Outcome::default();
    if let Err(f) = run_into(options, &mut outcome) {
        outcome.failure = Some(f);
    }
    outcome
}

fn run_into(options: &Options, outcome: &mut Outcome) -> Result<(), Failure> {
    let log = &mut outcome.log;
    let input = options.input_dir();
    let mut module_files = options.module_files.as_slice();
    if options.is_quick {
        // kmod checks nothing with -n; an out-of-date tree is indexed whole.
        if options.is_dry_run || quick::is_up_to_date(&input, log) {
            return Ok(());
        }
        module_files = &[];
    }
    let mut report = options.report_symbols;
    let vmlinux_symbols = match &options.vmlinux {
        Some(source) => vmlinux::load(source, options.symbol_prefix, log).map_err(|e| {
            let (vmlinux::Source::Symvers(path) | vmlinux::Source::SystemMap(path)) = source;
            Failure::Fatal(format!(
                "could not load {}: {}",
                path.display(),
                io_cause(&e)
            ))
        })?,
        None => {
            if report {
                log.push(Level::Warning, "-e needs -E or -F".to_string());
                report = false;
            }
            Vec::new()
        }
    };
    let candidates = if module_files.is_empty() {
        let config = config::load(&options.config_paths(), &options.version, log);
        scan::find(&input, &config, log).map_err(|e| {
            log.push(
                Level::Error,
                format!(
                    "could not open directory {}: {}",
                    input.display(),
                    io_cause(&e)
                ),
            );
            Failure::Fatal(format!("could not search modules: {}", io_cause(&e)))
        })?
    } else {
        scan::from_files(module_files, &input, log).map_err(Failure::Fatal)?
    };

    let order_text = read_input(&input, "modules.order", log);
    let order = match &order_text {
        Some(text) if text.is_empty() || text.ends_with(b"\n") => graph::OrderFile::Text(text),
        Some(text) => {
            let lines = text.split(|&b| b == b'\n').count();
            log.push(
                Level::Error,
                format!(
                    "{}/modules.order:{lines} corrupted line misses '\\n'",
                    input.display()
                ),
            );
            graph::OrderFile::Unusable
        }
        None => graph::OrderFile::Unusable,
    };
    let names: Vec<&[u8]> = candidates.iter().map(|c| c.name.as_slice()).collect();
    let order_paths: Vec<Option<&[u8]>> =
        candidates.iter().map(|c| c.order_path.as_deref()).collect();
    let array = graph::module_order(&names, &order_paths, order);
    let sorted: Vec<scan::Candidate> = array.iter().map(|&i| candidates[i].clone()).collect();
    drop(candidates);

    let read = scan::read_all(&sorted);
    let empty = scan::ModuleData::default();
    let data: Vec<&scan::ModuleData> = sorted
        .iter()
        .zip(&read)
        .map(|(c, r)| match r {
            Ok(d) => d,
            Err(e) => {
                let xz = |log: &mut Log, words| log.push(Level::Error, format!("xz: {words}"));
                if let Some(words) = e.xz {
                    xz(log, words);
                }
                log.push(
                    Level::Error,
                    format!(
                        "failed to load symbols from {}: {}",
                        c.path.display(),
                        crate::error::strerror(e.errno)
                    ),
                );
                // kmod reads the file twice more (for its information and its imports), from
                // where its first read stopped: both find the input cut short.
                if e.xz.is_some() {
                    xz(log, "Unexpected end of input");
                    xz(log, "Unexpected end of input");
                }
                &empty
            }
        })
        .collect();

    let rules = graph::SymbolRules {
        vmlinux: &vmlinux_symbols,
        prefix: options.symbol_prefix,
        check_crcs: matches!(options.vmlinux, Some(vmlinux::Source::Symvers(_))),
        report,
    };
    let mut problems = Vec::new();
    let built = graph::build(&data, &rules, &mut problems);
    for problem in problems {
        let (m, words, symbol) = match &problem {
            graph::Problem::Unknown(m, s) => (*m, "needs unknown symbol", s),
            graph::Problem::Crc(m, s) => (*m, "disagrees about version of symbol", s),
        };
        log.push(
            Level::Warning,
            format!(
                "{} {words} {}",
                sorted[m].path.display(),
                String::from_utf8_lossy(symbol)
            ),
        );
    }
    let graph = built.map_err(|(cycles, count)| {
        let mut lines: Vec<String> = cycles
            .iter()
            .map(|cycle| {
                let names: Vec<String> = cycle
                    .iter()
                    .map(|&m| String::from_utf8_lossy(&sorted[m].name).into_owned())
                    .collect();
                format!("Cycle detected: {}", names.join(" -> "))
            })
            .collect();
        lines.push(format!("Found {count} modules in dependency cycles!"));
        Failure::Errors(lines)
    })?;

    if options.is_verbose {
        // kmod's words: `PATH needs "SYMBOL": OWNERPATH`, absolute paths.
        for (m, symbol, o) in &graph.edges {
            let line = format!(
                "{} needs \"{}\": {}\n",
                sorted[*m].path.display(),
                String::from_utf8_lossy(symbol),
                sorted[*o].path.display()
            );
            outcome.stdout.extend_from_slice(line.as_bytes());
        }
    }
    let log = &mut outcome.log;
    let modules = write::Modules {
        candidates: sorted.iter().collect(),
        data,
    };
    let builtin = write::Builtin { dir: &input };
    let files = write::render(
        &modules,
        &graph,
        &builtin,
        options.is_dry_run,
        options.warn_dups,
        log,
    )
    .map_err(|e| Failure::Fatal(e.to_string()))?;

    if options.is_dry_run {
        for f in files.iter().filter(|f| !f.is_binary) {
            outcome.stdout.extend_from_slice(&f.bytes);
        }
        return Ok(());
    }
    let out = options.output_dir();
    std::fs::create_dir_all(&out).map_err(|e| {
        Failure::Fatal(format!(
            "could not create directory {}: {}",
            out.display(),
            io_cause(&e)
        ))
    })?;
    write::publish(&out, &files).map_err(|e| {
        Failure::Errors(vec![format!(
            "Could not write index '{}': {}",
            e.name,
            io_cause(&e.source)
        )])
    })
}

/// Reads `DIR/NAME`; a missing file is a warning in kmod's words.
pub(crate) fn read_input(dir: &Path, name: &str, log: &mut Log) -> Option<Vec<u8>> {
    match std::fs::read(dir.join(name)) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            log.push(
                Level::Warning,
                format!(
                    "could not open {name} at {}: {}",
                    dir.display(),
                    io_cause(&e)
                ),
            );
            None
        }
    }
}
