//! `kmod`: kmod's own program, so that `/usr/bin/kmod` can be a link to rkmod. Its commands are
//! kmod 34's: `help`, `list` (lsmod) and `static-nodes`, which systemd's
//! `kmod-static-nodes.service`, mkinitcpio and initramfs-tools run at boot. Like kmod 34, it
//! does not take the tools' names as commands (`kmod insmod` is an invalid command); they are
//! links of their own.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::cli::{self, Io};
use crate::exit_code::ExitCode;
use crate::moddir::devname::{self, Line};
use crate::static_nodes::{self, CreateError, Format, ReadError};
use crate::sysroot::SysRoot;

/// Manage kernel modules: kmod's multicall program, answered by rkmod.
///
/// Invoked as kmod (a link to rkmod), rkmod takes kmod's commands. The tools themselves are
/// links named insmod, rmmod, lsmod and modinfo, as with kmod.
#[derive(Parser, Debug)]
#[command(
    name = "kmod",
    disable_version_flag = true,
    disable_help_subcommand = true,
    subcommand_value_name = "COMMAND",
    subcommand_help_heading = "Commands",
    override_usage = "kmod [OPTIONS] COMMAND [COMMAND OPTIONS]",
    after_help = "Exit status: that of the command; 1 without a command, for an unknown command \
                  or option."
)]
pub struct KmodArgs {
    /// Show version
    #[arg(short = 'V', long)]
    pub version: bool,
    /// The command
    #[command(subcommand)]
    pub command: Option<KmodCommand>,
}

/// kmod's commands.
#[derive(Subcommand, Debug)]
pub enum KmodCommand {
    /// Show this help
    Help,
    /// List the loaded modules, as lsmod does
    List(cli::lsmod::LsmodArgs),
    /// Print the device nodes of the running kernel's modules.devname
    StaticNodes(StaticNodesArgs),
}

/// Print the device nodes that load a module when opened, from the running kernel's
/// modules.devname.
///
/// systemd's kmod-static-nodes.service runs `kmod static-nodes --format=tmpfiles
/// --output=/run/tmpfiles.d/static-nodes.conf` at boot, so that systemd-tmpfiles creates the
/// nodes. The output is kmod 34's, byte for byte.
#[derive(Parser, Debug)]
#[command(
    name = "static-nodes",
    disable_version_flag = true,
    infer_long_args = true,
    args_override_self = true,
    after_help = "Exit status: 0, also when modules.devname does not exist (a warning says so); \
                  1 if a line of it is invalid (the valid ones are still printed), if it cannot \
                  be opened, or if the output cannot be created or written."
)]
pub struct StaticNodesArgs {
    /// Output format
    #[arg(
        short = 'f',
        long,
        value_enum,
        default_value = "human",
        value_name = "FORMAT"
    )]
    pub format: Format,
    /// Write to FILE (created with its parent directories) instead of standard output
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read /lib/modules and /proc under DIR (for tests)
    #[arg(long, hide = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// (ignored, as kmod ignores operands)
    #[arg(hide = true)]
    pub ignored: Vec<OsString>,
}

/// kmod's commands that `rkmod` also takes as subcommands: `rkmod static-nodes`.
pub const STATIC_NODES: &str = "static-nodes";

/// Runs rkmod invoked as `kmod`, with `argv` (`argv[0]` included).
pub fn main(argv: Vec<OsString>, io: &mut Io<'_>) -> ExitCode {
    io.prog = "kmod".to_string();
    // kmod's options come before the command (getopt "+hV"), and each of them ends the run;
    // `--` ends them, and the first operand is the command.
    let mut at = 1;
    if let Some(word) = argv.get(1).map(|w| w.to_string_lossy().into_owned()) {
        if word == "--" {
            at = 2;
        } else if word.starts_with('-') && word != "-" {
            return match own_option(&word) {
                Ok(Own::Help) => help(io, ExitCode::Success),
                Ok(Own::Version) => {
                    let _ = io.out.write_all(cli::version_text().as_bytes());
                    ExitCode::Success
                }
                Err(msg) => {
                    let _ = writeln!(io.err, "kmod: {msg}");
                    ExitCode::Failure
                }
            };
        }
    }
    let Some(command) = argv.get(at) else {
        let _ = writeln!(io.err, "missing command");
        return help(io, ExitCode::Failure);
    };
    let rest = argv[at + 1..].iter().cloned();
    match command.to_str() {
        Some("help") => help(io, ExitCode::Success),
        Some("list") => cli::lsmod::main(std::iter::once("kmod".into()).chain(rest).collect(), io),
        Some(STATIC_NODES) => static_nodes(
            std::iter::once(STATIC_NODES.into()).chain(rest).collect(),
            io,
            "kmod",
        ),
        _ => {
            let _ = writeln!(io.err, "invalid command '{}'", command.to_string_lossy());
            help(io, ExitCode::Failure)
        }
    }
}

enum Own {
    Help,
    Version,
}

/// One of kmod's own options as getopt_long reads it: `-h`, `-V` (bundled: the first wins),
/// `--help`, `--version` or an unambiguous prefix of them. `Err` is getopt's complaint.
fn own_option(word: &str) -> Result<Own, String> {
    if let Some(long) = word.strip_prefix("--") {
        let (name, value) = match long.split_once('=') {
            Some((n, _)) => (n, true),
            None => (long, false),
        };
        let found = [("help", Own::Help), ("version", Own::Version)]
            .into_iter()
            .find(|(full, _)| full.starts_with(name));
        return match found {
            Some((full, _)) if value => Err(format!("option '--{full}' doesn't allow an argument")),
            Some((_, own)) => Ok(own),
            None => Err(format!("unrecognized option '{word}'")),
        };
    }
    match word.chars().nth(1) {
        Some('h') => Ok(Own::Help),
        Some('V') => Ok(Own::Version),
        Some(c) => Err(format!("invalid option -- '{c}'")),
        None => Err(format!("invalid option -- '{word}'")),
    }
}

/// `kmod`'s help on standard output, with status `code` (kmod prints it for mistakes too).
fn help(io: &mut Io<'_>, code: ExitCode) -> ExitCode {
    let text = KmodArgs::command().bin_name("kmod").render_help();
    let _ = write!(io.out, "{text}");
    code
}

/// Runs `static-nodes` with `argv` (`argv[0]` is `static-nodes`), for `kmod static-nodes` and
/// `rkmod static-nodes`: `parent` names the program in its usage line.
pub fn static_nodes(argv: Vec<OsString>, io: &mut Io<'_>, parent: &str) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let cmd = StaticNodesArgs::command().bin_name(format!("{parent} {STATIC_NODES}"));
    // clap reports `--format` without a value as an invalid empty value; kmod as a mistake.
    let value_missing = argv
        .last()
        .and_then(|w| w.to_str())
        .is_some_and(|w| w == "-f" || (w.len() > 2 && "--format".starts_with(w)));
    let parsed = cmd
        .clone()
        .try_get_matches_from(argv)
        .and_then(|m| StaticNodesArgs::from_arg_matches(&m));
    let args = match parsed {
        Ok(a) => a,
        Err(e) if e.kind() == ErrorKind::DisplayHelp => {
            let _ = write!(io.out, "{}", e.render());
            return ExitCode::Success;
        }
        Err(e)
            if e.kind() == ErrorKind::InvalidValue
                && !value_missing
                && matches!(e.get(ContextKind::InvalidArg),
                    Some(ContextValue::String(a)) if a.starts_with("--format")) =>
        {
            // kmod's words on stderr and its help on stdout; the valid names follow.
            let value = match e.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(v)) => v.clone(),
                _ => String::new(),
            };
            let _ = writeln!(
                io.err,
                "Unknown format: '{value}'. Formats: human, tmpfiles, devname."
            );
            let _ = write!(io.out, "{}", cmd.clone().render_help());
            return ExitCode::Failure;
        }
        Err(e) => {
            let _ = write!(io.err, "{}", e.render());
            return ExitCode::Failure;
        }
    };
    run_static_nodes(&args, io)
}

fn run_static_nodes(args: &StaticNodesArgs, io: &mut Io<'_>) -> ExitCode {
    let cause = crate::error::io_cause;
    let root = SysRoot::from_option(args.root.as_deref());
    let path = match static_nodes::devname_path(&root) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(
                io.err,
                "Error: could not get the kernel release - {}",
                cause(&e)
            );
            return ExitCode::Failure;
        }
    };
    let data = match static_nodes::read_devname(&path) {
        Ok(Some(d)) => d,
        Ok(None) => {
            let _ = writeln!(io.err, "Warning: {} not found - ignoring", path.display());
            return ExitCode::Success;
        }
        Err(ReadError::Open(e)) => {
            let _ = writeln!(
                io.err,
                "Error: could not open {} - {}",
                path.display(),
                cause(&e)
            );
            return ExitCode::Failure;
        }
        Err(ReadError::Read(e)) => {
            // kmod reads nothing and says nothing; the output is still created, empty.
            let _ = writeln!(
                io.err,
                "Warning: could not read {} - {} - ignoring",
                path.display(),
                cause(&e)
            );
            Vec::new()
        }
    };
    let file = match &args.output {
        None => None,
        Some(out) => match static_nodes::create_output(out) {
            Ok(f) => Some(f),
            Err(CreateError::Parent(e)) => {
                let _ = writeln!(
                    io.err,
                    "Error: could not create parent directory for {} - {}.",
                    out.display(),
                    cause(&e)
                );
                return ExitCode::Failure;
            }
            Err(CreateError::File(e)) => {
                let _ = writeln!(
                    io.err,
                    "Error: could not create {} - {}",
                    out.display(),
                    cause(&e)
                );
                return ExitCode::Failure;
            }
        },
    };
    let mut text = Vec::with_capacity(data.len() * 4);
    let mut failed = false;
    for line in devname::parse(&data) {
        match line {
            Line::Node(n) => static_nodes::write_node(args.format, &n, &mut text),
            Line::Invalid { text: bad, line } => {
                failed = true;
                let _ = writeln!(
                    io.err,
                    "Error: invalid devname entry: {} ({}:{line})",
                    String::from_utf8_lossy(&bad),
                    path.display()
                );
            }
        }
    }
    let written = match (file, &args.output) {
        (Some(mut f), Some(out)) => f
            .write_all(&text)
            .map_err(|e| (out.display().to_string(), e)),
        _ => match io.out.write_all(&text).and_then(|_| io.out.flush()) {
            Err(e) if !cli::is_broken_pipe(&e) => Err(("standard output".to_string(), e)),
            _ => Ok(()),
        },
    };
    if let Err((what, e)) = written {
        let _ = writeln!(io.err, "Error: could not write {what} - {}", cause(&e));
        failed = true;
    }
    ExitCode::from_failed(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_valid() {
        KmodArgs::command().debug_assert();
        StaticNodesArgs::command().debug_assert();
    }

    #[test]
    fn own_options_as_getopt() {
        assert!(matches!(own_option("-h"), Ok(Own::Help)));
        assert!(matches!(own_option("-Vh"), Ok(Own::Version)));
        assert!(matches!(own_option("--vers"), Ok(Own::Version)));
        assert!(matches!(own_option("--h"), Ok(Own::Help)));
        assert_eq!(
            own_option("--bogus").err().unwrap(),
            "unrecognized option '--bogus'"
        );
        assert_eq!(own_option("-x").err().unwrap(), "invalid option -- 'x'");
        assert_eq!(
            own_option("--help=1").err().unwrap(),
            "option '--help' doesn't allow an argument"
        );
    }
}
