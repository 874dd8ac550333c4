//! `modinfo`: show information about kernel modules, byte-compatible with kmod 34.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::{ArgMatches, Parser};

use crate::cli::{self, Io, Message, Parsed, Report};
use crate::error::Error;
use crate::exit_code::ExitCode;
use crate::file::modinfo::{self, ModuleInfo, Separator};
use crate::moddir::resolve::{self, Source};
use crate::moddir::{Found, ModuleDir};
use crate::parallel;
use crate::sysroot::SysRoot;

/// Show information about Linux kernel modules.
///
/// Each argument is a module file (a path ending in .ko, .ko.xz, .ko.zst or .ko.gz), a module
/// name, an alias or `symbol:NAME`, looked up in /lib/modules/$(uname -r) through depmod's
/// indexes. Output is identical to kmod 34's modinfo; -F build-id also shows the GNU build id.
#[derive(Parser, Debug)]
#[command(
    name = "modinfo",
    disable_version_flag = true,
    infer_long_args = true,
    args_override_self = true,
    after_help = "Exit status: 0 if every argument was shown, 1 if any failed."
)]
pub struct ModinfoArgs {
    /// Print only 'author'
    #[arg(short = 'a', long)]
    pub author: bool,
    /// Print only 'description'
    #[arg(short = 'd', long)]
    pub description: bool,
    /// Print only 'license'
    #[arg(short = 'l', long)]
    pub license: bool,
    /// Print only 'parm'
    #[arg(short = 'p', long)]
    pub parameters: bool,
    /// Print only 'filename'
    #[arg(short = 'n', long)]
    pub filename: bool,
    /// Use \0 instead of \n
    #[arg(short = '0', long)]
    pub null: bool,
    /// Handle argument as module name instead of alias or filename
    #[arg(short = 'm', long)]
    pub modname: bool,
    /// Print only provided FIELD (repeat -F to print several fields, in order)
    #[arg(short = 'F', long, value_name = "FIELD")]
    pub field: Vec<String>,
    /// Use VERSION instead of $(uname -r)
    #[arg(short = 'k', long = "set-version", value_name = "VERSION")]
    pub set_version: Option<String>,
    /// Use DIR as filesystem root for /lib/modules
    #[arg(short = 'b', long, value_name = "DIR")]
    pub basedir: Option<PathBuf>,
    /// Print one JSON object per module (one per line) instead of text
    #[arg(long, conflicts_with_all = ["null", "field", "author", "description", "license", "parameters", "filename"])]
    pub json: bool,
    /// Show version
    #[arg(short = 'V', long)]
    pub version: bool,
    /// Read /lib/modules and /proc under DIR (for tests)
    #[arg(long, hide = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Modules: file names, module names, aliases or symbol:NAME
    #[arg(value_name = "MODULE")]
    pub modules: Vec<OsString>,
}

/// What to print for each module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Everything, in kmod's layout.
    All,
    /// Only these fields, in this order (`-F`, `-a`, `-d`, `-l`, `-p`, `-n`).
    Fields(Vec<String>),
    /// JSON objects.
    Json,
}

/// A parsed command line, ready to run.
#[derive(Debug)]
pub struct Config {
    /// What to print.
    pub mode: Mode,
    /// Line separator.
    pub sep: Separator,
    /// `-m`: arguments are module names only.
    pub modname_only: bool,
    /// The module directory, spelled as printed.
    pub moddir: PathBuf,
    /// The arguments.
    pub modules: Vec<OsString>,
}

impl Config {
    /// Turns parsed arguments into a config; `matches` gives the order of field options.
    pub fn new(args: ModinfoArgs, matches: &ArgMatches) -> Result<Config, String> {
        let mut fields: Vec<(usize, String)> = Vec::new();
        for (id, field) in [
            ("author", "author"),
            ("description", "description"),
            ("license", "license"),
            ("parameters", "parm"),
            ("filename", "filename"),
        ] {
            if matches.get_flag(id) {
                let at = matches.index_of(id).unwrap_or(0);
                fields.push((at, field.to_string()));
            }
        }
        if let Some(indices) = matches.indices_of("field") {
            fields.extend(indices.zip(args.field.iter().cloned()));
        }
        fields.sort_by_key(|(at, _)| *at);
        // kmod shows only the last field option. Repeating -F is our opt-in extension: then
        // every field option counts, in command-line order.
        if args.field.len() < 2 {
            fields.drain(..fields.len().saturating_sub(1));
        }
        let mode = if args.json {
            Mode::Json
        } else if fields.is_empty() {
            Mode::All
        } else {
            Mode::Fields(fields.into_iter().map(|(_, f)| f).collect())
        };
        let root = SysRoot::from_option(args.root.as_deref());
        let moddir = resolve::module_dir(
            &root,
            args.basedir.as_deref().map(|b| b.as_os_str()),
            args.set_version.as_deref(),
        )?;
        Ok(Config {
            mode,
            sep: if args.null {
                Separator::Nul
            } else {
                Separator::Newline
            },
            modname_only: args.modname,
            moddir,
            modules: args.modules,
        })
    }
}

/// Runs modinfo with `argv` (`argv[0]` included).
pub fn main(argv: Vec<OsString>, io: &mut Io<'_>) -> ExitCode {
    let (args, matches) = match cli::parse::<ModinfoArgs>(argv, io) {
        Parsed::Run(a, m) => (a, m),
        Parsed::Exit(code) => return code,
    };
    if let Some(code) = cli::begin(io, false, args.version) {
        return code;
    }
    if args.modules.is_empty() {
        io.error("missing module or filename.");
        return ExitCode::Failure;
    }
    let config = match Config::new(args, &matches) {
        Ok(c) => c,
        Err(msg) => {
            io.error(msg);
            return ExitCode::Failure;
        }
    };
    // clap's copy of every argument is no longer needed; thousands of paths add up.
    drop(matches);
    run(&config, io)
}

/// Below this many arguments, threads cost more than they save.
const PARALLEL_MIN: usize = 8;

/// Shows every argument of `config`.
pub fn run(config: &Config, io: &mut Io<'_>) -> ExitCode {
    let dir = ModuleDir::new(config.moddir.clone());
    let mut failed = false;
    let mut out = cli::Output::default();
    let threads = if config.modules.len() < PARALLEL_MIN {
        1
    } else {
        parallel::threads()
    };
    parallel::ordered(
        &config.modules,
        threads,
        |arg| process(config, &dir, arg),
        |report| {
            failed |= report.failed;
            out.buf.extend_from_slice(&report.out);
            let more = if report.messages.is_empty() {
                out.maybe_flush(io)
            } else {
                out.flush(io)
            };
            if !more {
                return false;
            }
            for m in report.messages {
                match m {
                    Message::Error(s) => io.error(s),
                    Message::Warning(s) => io.warning(s),
                }
            }
            true
        },
    );
    out.flush(io);
    ExitCode::from_failed(failed || out.failed)
}

/// Resolves one argument and shows every module it names.
pub fn process(config: &Config, dir: &ModuleDir, arg: &OsString) -> Report {
    let mut report = Report::default();
    match resolve::resolve(dir, arg, config.modname_only) {
        Ok(targets) => {
            for mut t in targets {
                show(config, dir, &t.found, &mut t.opened, &mut report);
            }
        }
        Err(e) => report.error(e.to_string()),
    }
    report
}

/// Shows one module according to the config.
fn show(
    config: &Config,
    dir: &ModuleDir,
    f: &Found,
    opened: &mut Option<resolve::Opened>,
    report: &mut Report,
) {
    let name = String::from_utf8_lossy(&f.name).into_owned();
    let filename: Vec<u8> = match &f.path {
        Some(p) => p.as_os_str().as_bytes().to_vec(),
        None => b"(builtin)".to_vec(),
    };
    let sep = config.sep;
    let fail = |report: &mut Report, e: &Error| {
        report.error(format!("could not get modinfo from '{name}': {e}"));
    };
    match &config.mode {
        Mode::All => {
            if f.path.is_none() {
                modinfo::write_padded(&mut report.out, "name:", &f.name, sep);
            }
            modinfo::write_padded(&mut report.out, "filename:", &filename, sep);
            let source = match Source::open(dir, f, opened) {
                Ok(s) => s,
                Err(e) => return fail(report, &e),
            };
            let info = match source.info(dir, f) {
                Ok(i) => i,
                Err(e) => return fail(report, &e),
            };
            modinfo::write_entries(&mut report.out, &info, sep);
            let (params, invalid) = modinfo::merge_params(&info.entries);
            modinfo::write_param_lines(&mut report.out, &params, sep);
            report_invalid(report, &invalid, &filename);
            report_signature(report, &info, &filename);
        }
        Mode::Fields(fields) => {
            let mut source: Option<Source> = None;
            for field in fields {
                if field == "filename" {
                    // Printed without reading the file, as kmod does.
                    report.out.extend_from_slice(&filename);
                    report.out.push(sep.byte());
                    continue;
                }
                if field == "name" && f.path.is_none() {
                    report.out.extend_from_slice(&f.name);
                    report.out.push(sep.byte());
                }
                if source.is_none() {
                    match Source::open(dir, f, opened) {
                        Ok(s) => source = Some(s),
                        Err(e) => return fail(report, &e),
                    }
                }
                let Some(src) = source.as_ref() else { return };
                let info = match src.info(dir, f) {
                    Ok(i) => i,
                    Err(e) => return fail(report, &e),
                };
                if field == "parm" {
                    let (params, invalid) = modinfo::merge_params(&info.entries);
                    modinfo::write_param_field(&mut report.out, &params, sep);
                    report_invalid(report, &invalid, &filename);
                } else {
                    for v in info.values(field.as_bytes()) {
                        report.out.extend_from_slice(v);
                        report.out.push(sep.byte());
                    }
                    if modinfo::SIGNATURE_KEYS.contains(&field.as_str()) {
                        report_signature(report, &info, &filename);
                    }
                }
            }
        }
        Mode::Json => {
            let source = Source::open(dir, f, opened);
            let info = source
                .as_ref()
                .map_err(|e| e.to_string())
                .and_then(|s| s.info(dir, f).map_err(|e| e.to_string()));
            let obj = modinfo::json(&f.name, &filename, f.path.is_none(), &info);
            report.out.extend_from_slice(obj.to_string().as_bytes());
            report.out.push(b'\n');
            match info {
                Ok(info) => report_signature(report, &info, &filename),
                Err(e) => report.error(format!("could not get modinfo from '{name}': {e}")),
            }
        }
    }
}

fn report_invalid(report: &mut Report, invalid: &[(&[u8], &[u8])], filename: &[u8]) {
    for (k, v) in invalid {
        // Reported, but kmod does not fail the argument for it.
        report.messages.push(Message::Error(format!(
            "Found invalid \"{}={}\": missing ':' (in {})",
            String::from_utf8_lossy(k),
            String::from_utf8_lossy(v),
            String::from_utf8_lossy(filename)
        )));
    }
}

fn report_signature(report: &mut Report, info: &ModuleInfo<'_>, filename: &[u8]) {
    // A warning, not a failure: kmod 34.2 lists such a module without signature lines and
    // exits 0, and so do we; we also say why the lines are missing.
    if let Some(e) = &info.signature_error {
        report.messages.push(Message::Warning(format!(
            "{}: bad module signature, not shown: {e}",
            String::from_utf8_lossy(filename)
        )));
    }
}
