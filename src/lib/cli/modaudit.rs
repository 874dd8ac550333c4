//! `modaudit`: report, before loading, whether modules can be unloaded.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Parser;

use crate::audit::report::{self, Rule, Tally};
use crate::audit::targets::{self, Failure, Item};
use crate::audit::{self, Audit, Verdict};
use crate::cli::{self, Io, Parsed};
use crate::exit_code::ExitCode;
use crate::file::ModuleFile;
use crate::moddir::resolve;
use crate::parallel;
use crate::sysroot::SysRoot;

/// Tell, before loading, whether kernel modules can ever be unloaded.
///
/// Each argument is a module file (.ko, .ko.xz, .ko.zst, .ko.gz), a directory (searched
/// recursively for module files, audited in sorted order), or, when no file or directory by
/// that name exists, a module name or alias looked up in /lib/modules/$(uname -r) as modinfo
/// does. The verdict comes from the relocations that fill `__this_module.init` and `.exit`,
/// exactly what the kernel uses; nothing is loaded.
///
/// Output is a table (module, verdict, init and exit function sections, findings) followed by
/// a summary line with the count of each verdict. With --json it is JSON Lines instead: one
/// object per module file, in the same order, and no summary.
#[derive(Parser, Debug)]
#[command(
    name = "modaudit",
    disable_version_flag = true,
    args_override_self = true,
    after_help = "Exit status: 0 if every module was audited, 1 if an argument failed, \
                  2 if all were audited and a --deny'd verdict or finding was present.",
    after_long_help = long_help_footer()
)]
pub struct ModauditArgs {
    /// Print JSON Lines (one object per module file) instead of a table
    ///
    /// Each line is an object with "filename", "name", "verdict", "init" and "exit" (null, or
    /// "symbol", "section" and "relocation_offset"), "symbols" (defined init/exit symbols with
    /// their sections), "vermagic" and "findings" (each with "id", "meaning" and "detail"); or,
    /// for a file that could not be audited, "filename" and "error". No summary is printed.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 2 if any module has one of these verdicts or findings
    ///
    /// Comma-separated, repeatable; the names are listed below. Every module is still shown, and
    /// each denied one is named on standard error. `permanent` also matches `force-only`, which
    /// is permanent on today's kernels.
    #[arg(long, value_name = "VERDICT|FINDING", value_delimiter = ',', value_parser = Rule::parse)]
    pub deny: Vec<Rule>,
    /// Look names up for kernel VERSION instead of $(uname -r)
    #[arg(short = 'k', long = "set-version", value_name = "VERSION")]
    pub set_version: Option<String>,
    /// Use DIR as filesystem root for /lib/modules
    #[arg(short = 'b', long, value_name = "DIR")]
    pub basedir: Option<PathBuf>,
    /// Show version
    #[arg(short = 'V', long)]
    pub version: bool,
    /// Look symbol_get names up in this Module.symvers too (the kernel's own exports)
    ///
    /// symbol-get-non-gpl needs to know how the provider exports each name: the modules
    /// audited in the same run are searched first, then this file.
    #[arg(long, value_name = "FILE")]
    pub symvers: Option<PathBuf>,
    /// Read /lib/modules and /proc under DIR (for tests)
    #[arg(long, hide = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Module files, directories or module names
    #[arg(value_name = "PATH|NAME|DIR")]
    pub modules: Vec<OsString>,
}

/// `--help`'s list of verdicts and findings, and the exit statuses.
fn long_help_footer() -> String {
    let mut s = audit::report::describe_all();
    s.push_str(
        "\nExit status:\n  \
         0  every module was audited, and none matched --deny\n  \
         1  an argument failed (unreadable, not a module, not found); the rest were audited\n  \
         2  every argument was audited, and a verdict or finding named by --deny was present\n",
    );
    s
}

/// A parsed command line, ready to run.
#[derive(Debug)]
pub struct Config {
    /// JSON Lines instead of a table.
    pub json: bool,
    /// `--deny` rules.
    pub deny: Vec<Rule>,
    /// `-k`.
    pub set_version: Option<String>,
    /// `-b`.
    pub basedir: Option<PathBuf>,
    /// Where `/lib/modules` and `/proc` are.
    pub root: SysRoot,
    /// Show a progress counter on standard error.
    pub progress: bool,
    /// `--symvers`.
    pub symvers: Option<PathBuf>,
    /// The arguments.
    pub modules: Vec<OsString>,
}

impl Config {
    /// Turns parsed arguments into a config.
    pub fn new(args: ModauditArgs) -> Config {
        Config {
            json: args.json,
            deny: args.deny,
            set_version: args.set_version,
            basedir: args.basedir,
            root: SysRoot::from_option(args.root.as_deref()),
            progress: std::io::stderr().is_terminal(),
            symvers: args.symvers,
            modules: args.modules,
        }
    }
}

/// Runs modaudit with `argv` (`argv[0]` included).
pub fn main(argv: Vec<OsString>, io: &mut Io<'_>) -> ExitCode {
    let args = match cli::parse::<ModauditArgs>(argv, io) {
        Parsed::Run(a, _) => a,
        Parsed::Exit(code) => return code,
    };
    if let Some(code) = cli::begin(io, false, args.version) {
        return code;
    }
    if args.modules.is_empty() {
        io.error("missing module file, directory or name.");
        return ExitCode::Failure;
    }
    run(&Config::new(args), io)
}

/// The result for one item.
enum Outcome {
    Audited {
        path: PathBuf,
        label: String,
        audit: Box<Audit>,
    },
    Failed(Failure),
}

/// Below this many files, threads cost more than they save.
const PARALLEL_MIN: usize = 8;
/// Below this many files, a progress counter would only flicker.
const PROGRESS_MIN: usize = 200;

/// Audits every argument of `config`.
pub fn run(config: &Config, io: &mut Io<'_>) -> ExitCode {
    let items = targets::expand(&config.modules, || {
        resolve::module_dir(
            &config.root,
            config.basedir.as_deref().map(|b| b.as_os_str()),
            config.set_version.as_deref(),
        )
    });
    let threads = if items.len() < PARALLEL_MIN {
        1
    } else {
        parallel::threads()
    };
    let mut exports = audit::Exports::default();
    if let Some(path) = &config.symvers {
        match std::fs::read(path) {
            Ok(text) => {
                let bad = exports.add_symvers(&text);
                if bad > 0 {
                    io.warning(format_args!(
                        "{}: {bad} lines are not Module.symvers lines; skipped",
                        path.display()
                    ));
                }
            }
            Err(e) => {
                io.error(format_args!(
                    "{}: {}",
                    path.display(),
                    crate::error::io_cause(&e)
                ));
                return ExitCode::Failure;
            }
        }
    }
    let mut state = Output::new(config, items.len());
    // symbol-get-non-gpl needs the exports of modules that come later in the order: a module
    // that calls symbol_get waits whole until all are in; the results after it wait rendered.
    let mut queue: Vec<Slot> = Vec::new();
    parallel::ordered(
        &items,
        threads,
        |item| match item {
            Item::File { path, label } => {
                match ModuleFile::open(path).and_then(|f| audit::audit(&f)) {
                    Ok(audit) => Outcome::Audited {
                        path: path.clone(),
                        label: label.clone(),
                        audit: Box::new(audit),
                    },
                    Err(e) => Outcome::Failed(Failure {
                        what: e.path().display().to_string(),
                        cause: e.cause(),
                    }),
                }
            }
            Item::Failed(f) => Outcome::Failed(f.clone()),
        },
        |mut outcome| {
            let mut waits = false;
            if let Outcome::Audited { path, audit, .. } = &mut outcome {
                exports.add_module(&provider_name(path, audit), audit);
                audit.plain_exports = Vec::new();
                waits = !audit.symbol_gets.is_empty();
            }
            state.progress(io);
            if waits {
                queue.push(Slot::Waiting(outcome));
                return true;
            }
            let ready = state.prepare(outcome);
            if queue.is_empty() {
                return state.take(ready, io);
            }
            queue.push(Slot::Ready(ready));
            true
        },
    );
    for slot in queue {
        let ready = match slot {
            Slot::Ready(ready) => ready,
            Slot::Waiting(mut outcome) => {
                if let Outcome::Audited { audit, .. } = &mut outcome {
                    exports.check(audit);
                }
                state.prepare(outcome)
            }
        };
        if !state.take(ready, io) {
            break;
        }
    }
    state.finish(io)
}

/// A result waiting for its turn: still to be checked against every export, or final.
enum Slot {
    Waiting(Outcome),
    Ready(Ready),
}

/// A final result, rendered: what [`Output::take`] needs of it.
enum Ready {
    Failed(Failure),
    Audited {
        path: Option<PathBuf>,
        verdict: Verdict,
        denied: Vec<&'static str>,
        line: Line,
    },
}

/// A JSON line, or a table row.
enum Line {
    Json(Vec<u8>),
    Row(Box<[String; 5]>),
}

/// How a provider is named: `name=` from `.modinfo`, or the file name without `.ko…`.
fn provider_name(path: &std::path::Path, audit: &Audit) -> String {
    audit.name.clone().unwrap_or_else(|| {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        file.split(".ko").next().unwrap_or_default().to_string()
    })
}

/// Where results go as they arrive, in order.
struct Output<'c> {
    config: &'c Config,
    total: usize,
    done: usize,
    progress_shown: usize,
    failed: bool,
    denied: bool,
    counts: [usize; Verdict::ALL.len()],
    rows: Vec<[String; 5]>,
    out: cli::Output,
}

impl<'c> Output<'c> {
    fn new(config: &'c Config, total: usize) -> Output<'c> {
        Output {
            config,
            total,
            done: 0,
            progress_shown: 0,
            failed: false,
            denied: false,
            counts: [0; Verdict::ALL.len()],
            rows: Vec::new(),
            out: cli::Output::default(),
        }
    }

    fn show_progress(&self) -> bool {
        self.config.progress && self.total >= PROGRESS_MIN
    }

    /// Counts one result in and shows the progress counter.
    fn progress(&mut self, io: &mut Io<'_>) {
        self.done += 1;
        if self.show_progress() && (self.done - self.progress_shown) * 100 >= self.total {
            self.progress_shown = self.done;
            let _ = write!(io.err, "\r{}: {}/{}", io.prog, self.done, self.total);
            let _ = io.err.flush();
        }
    }

    /// Renders one final result.
    fn prepare(&self, outcome: Outcome) -> Ready {
        let (path, label, audit) = match outcome {
            Outcome::Failed(f) => return Ready::Failed(f),
            Outcome::Audited { path, label, audit } => (path, label, audit),
        };
        let denied: Vec<&str> = (self.config.deny.iter())
            .filter(|r| r.matches(&audit))
            .map(|r| r.as_str())
            .collect();
        let line = if self.config.json {
            let line = report::JsonLine {
                filename: path.to_string_lossy().into_owned(),
                audit: &audit,
            };
            let mut buf = serde_json::to_vec(&line).unwrap_or_default();
            if !buf.is_empty() {
                buf.push(b'\n');
            }
            Line::Json(buf)
        } else {
            Line::Row(Box::new(report::table_row(label, &audit)))
        };
        Ready::Audited {
            // Only a denial names the file.
            path: (!denied.is_empty()).then_some(path),
            verdict: audit.verdict,
            denied,
            line,
        }
    }

    /// Handles one result; `false` stops the run (standard output is gone).
    fn take(&mut self, ready: Ready, io: &mut Io<'_>) -> bool {
        match ready {
            Ready::Failed(f) => {
                self.failed = true;
                self.clear_progress(io);
                if self.config.json {
                    let line = report::JsonError {
                        filename: &f.what,
                        error: &f.cause,
                    };
                    if serde_json::to_writer(&mut self.out.buf, &line).is_ok() {
                        self.out.buf.push(b'\n');
                    }
                }
                io.error(format_args!("{}: {}", f.what, f.cause));
            }
            Ready::Audited {
                path,
                verdict,
                denied,
                line,
            } => {
                if let Some(i) = Verdict::ALL.iter().position(|&v| v == verdict) {
                    self.counts[i] += 1;
                }
                if let Some(path) = path.filter(|_| !denied.is_empty()) {
                    self.denied = true;
                    self.clear_progress(io);
                    let _ = writeln!(
                        io.err,
                        "{}: DENIED: {}: {}",
                        io.prog,
                        path.display(),
                        denied.join(", ")
                    );
                }
                match line {
                    Line::Json(bytes) => self.out.buf.extend_from_slice(&bytes),
                    Line::Row(row) => self.rows.push(*row),
                }
            }
        }
        self.out.maybe_flush(io)
    }

    fn clear_progress(&mut self, io: &mut Io<'_>) {
        if self.show_progress() && self.progress_shown > 0 {
            let _ = write!(io.err, "\r\x1b[K");
        }
    }

    fn finish(mut self, io: &mut Io<'_>) -> ExitCode {
        self.clear_progress(io);
        if !self.config.json && !self.out.stopped {
            if !self.rows.is_empty() {
                report::write_table(&self.rows, &mut self.out.buf);
            }
            let summary = Tally {
                counts: self.counts,
                errors: self.done - self.counts.iter().sum::<usize>(),
            };
            self.out
                .buf
                .extend_from_slice(summary.to_string().as_bytes());
        }
        self.out.flush(io);
        if self.failed || self.out.failed {
            ExitCode::Failure
        } else if self.denied {
            ExitCode::Denied
        } else {
            ExitCode::Success
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_well_formed() {
        ModauditArgs::command().debug_assert();
    }
}
