//! `depmod`: write the index files of a module tree, byte for byte as kmod 34.2's depmod.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use crate::cli::{self, Io, Parsed};
use crate::depmod::vmlinux::Source;
use crate::depmod::{self, Failure, Level, Options};
use crate::exit_code::ExitCode;
use crate::sysroot::SysRoot;

/// Generate modules.dep and map files.
///
/// Reads the modules of /lib/modules/VERSION (or BASEDIR/MODULEDIR/VERSION), resolves the
/// symbols they export and import, and writes modules.dep, modules.alias, modules.softdep,
/// modules.weakdep, modules.symbols, modules.devname and the binary indexes modprobe, modinfo
/// and libkmod read. The files are the same, byte for byte, as kmod 34's. Each file is written
/// under a temporary name, synced to disk and renamed over the old one, so a reader (or a
/// crash) never sees a partial index.
#[derive(Parser, Debug)]
#[command(
    name = "depmod",
    disable_version_flag = true,
    after_help = "Exit status: 0 on success (warnings included), 1 on bad arguments, an unreadable \
                  module directory, -E or -F file, a dependency cycle or a file that cannot be \
                  written."
)]
pub struct DepmodArgs {
    /// Probe all modules (the default)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do nothing unless a module is newer than modules.dep
    #[arg(short = 'A', long)]
    pub quick: bool,
    /// Use an image of a module tree: read BASEDIR/MODULEDIR/VERSION
    #[arg(short = 'b', long, value_name = "DIR")]
    pub basedir: Option<PathBuf>,
    /// Directory of the modules under BASEDIR and OUTDIR (default lib/modules)
    #[arg(short = 'm', long, value_name = "DIR")]
    pub moduledir: Option<PathBuf>,
    /// Write the indexes to OUTDIR/MODULEDIR/VERSION instead
    #[arg(short = 'o', long, value_name = "DIR")]
    pub outdir: Option<PathBuf>,
    /// Read PATH instead of the depmod.d directories (repeatable)
    #[arg(short = 'C', long, value_name = "PATH")]
    pub config: Vec<PathBuf>,
    /// Report unknown symbols and symbol version mismatches (needs -E or -F)
    #[arg(short = 'e', long)]
    pub errsyms: bool,
    /// Read vmlinux's symbols and their versions from Module.symvers
    #[arg(short = 'E', long, value_name = "FILE")]
    pub symvers: Option<PathBuf>,
    /// Read vmlinux's symbols from System.map
    #[arg(short = 'F', long, value_name = "FILE")]
    pub filesyms: Option<PathBuf>,
    /// Write the text files to standard output, change nothing
    #[arg(short = 'n', long = "show", visible_alias = "dry-run")]
    pub dry_run: bool,
    /// Strip this character from the front of symbol names
    #[arg(short = 'P', long = "symbol-prefix", value_name = "CHAR")]
    pub symbol_prefix: Option<String>,
    /// Warn about values stored twice under one index key
    #[arg(short = 'w', long)]
    pub warn: bool,
    /// More messages (repeatable)
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Show version
    #[arg(short = 'V', long)]
    pub version: bool,
    /// The kernel version (default: the running kernel's), then module files (absolute paths):
    /// only those are indexed, unless -a is given
    #[arg(value_name = "VERSION")]
    pub args: Vec<OsString>,
}

/// Runs depmod with `argv` (`argv[0]` included).
pub fn main(argv: Vec<OsString>, io: &mut Io<'_>) -> ExitCode {
    let args = match cli::parse::<DepmodArgs>(argv, io) {
        Parsed::Run(a, _) => a,
        Parsed::Exit(code) => return code,
    };
    if let Some(code) = cli::begin(io, false, args.version) {
        return code;
    }
    let options = match options(&args, io) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let outcome = depmod::run(&options);
    let threshold = match args.verbose {
        0 => Level::Warning,
        _ => Level::Info,
    };
    for (level, text) in outcome.log.lines() {
        if level > threshold || (level == Level::Info && args.verbose < 2) {
            continue;
        }
        match level {
            Level::Error => io.error(text),
            Level::Warning => io.warning(text),
            Level::Info => io.info(text),
        }
    }
    if let Err(e) = io
        .out
        .write_all(&outcome.stdout)
        .and_then(|()| io.out.flush())
        && !cli::is_broken_pipe(&e)
    {
        io.error(format!(
            "could not write output: {}",
            crate::error::io_cause(&e)
        ));
        return ExitCode::Failure;
    }
    match outcome.failure {
        None => ExitCode::Success,
        Some(Failure::Fatal(text)) => {
            io.fatal(text);
            ExitCode::Failure
        }
        Some(Failure::Errors(lines)) => {
            for line in lines {
                io.error(line);
            }
            ExitCode::Failure
        }
    }
}

/// Turns the command line into [`Options`], or the exit status of a refusal.
fn options(args: &DepmodArgs, io: &mut Io<'_>) -> Result<Options, ExitCode> {
    let symbol_prefix = match args.symbol_prefix.as_deref().map(str::as_bytes) {
        None => None,
        Some(&[c]) => Some(c),
        Some(_) => {
            io.fatal("-P only takes a single char");
            return Err(ExitCode::Failure);
        }
    };
    let version = match args.args.first() {
        Some(v) => {
            let v = v.to_string_lossy().into_owned();
            if !is_version(&v) {
                io.error(format!("Bad version passed {v}"));
                return Err(ExitCode::Failure);
            }
            v
        }
        None => match SysRoot::host().kernel_release() {
            Ok(v) => v,
            Err(e) => {
                io.fatal(format!("uname() failed: {}", crate::error::io_cause(&e)));
                return Err(ExitCode::Failure);
            }
        },
    };
    let relative = |p: &PathBuf| -> PathBuf {
        p.strip_prefix("/")
            .map(PathBuf::from)
            .unwrap_or_else(|_| p.clone())
    };
    Ok(Options {
        version,
        basedir: args
            .basedir
            .as_deref()
            .map_or_else(|| PathBuf::from("/"), crate::names::absolute),
        moduledir: args
            .moduledir
            .as_ref()
            .map_or_else(|| PathBuf::from("lib/modules"), relative),
        outdir: args.outdir.as_deref().map(crate::names::absolute),
        config: (!args.config.is_empty()).then(|| args.config.clone()),
        is_dry_run: args.dry_run,
        is_verbose: args.verbose > 0,
        warn_dups: args.warn,
        vmlinux: match (&args.symvers, &args.filesyms) {
            (Some(f), _) => Some(Source::Symvers(f.clone())),
            (None, Some(f)) => Some(Source::SystemMap(f.clone())),
            (None, None) => None,
        },
        report_symbols: args.errsyms,
        symbol_prefix,
        is_quick: args.quick,
        module_files: if args.all {
            Vec::new()
        } else {
            args.args.iter().skip(1).map(PathBuf::from).collect()
        },
    })
}

/// kmod accepts a version when `sscanf("%u.%u")` matches: digits, a dot, digits.
fn is_version(v: &str) -> bool {
    let b = v.as_bytes();
    let first = b.iter().take_while(|c| c.is_ascii_digit()).count();
    first > 0 && b.get(first) == Some(&b'.') && b.get(first + 1).is_some_and(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_well_formed() {
        DepmodArgs::command().debug_assert();
    }

    #[test]
    fn versions_start_with_two_numbers() {
        assert!(is_version("6.1.0-50-amd64"));
        assert!(is_version("5.10"));
        assert!(!is_version("6"));
        assert!(!is_version("abc"));
        assert!(!is_version("6.x"));
    }
}
