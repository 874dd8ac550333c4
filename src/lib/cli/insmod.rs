//! `insmod`: insert one module file into the kernel.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use crate::cli::{self, Io, Parsed};
use crate::exit_code::ExitCode;
use crate::insert::{self, Force, LoadError};
use crate::sysroot::SysRoot;

/// Insert a module into the Linux kernel.
///
/// FILE is a module file, plain or compressed (.ko, .ko.xz, .ko.zst, .ko.gz; the compression is
/// recognised by its magic bytes). Module options follow it as name=value; a value containing a
/// space is quoted for the kernel ('str=a b' becomes str="a b").
///
/// A plain file is given to the kernel with finit_module; a compressed one too when the kernel
/// decompresses that format itself (/sys/module/compression), otherwise it is decompressed here
/// and passed with init_module. Dependencies are not loaded: that is modprobe's job.
#[derive(Parser, Debug)]
#[command(
    name = "insmod",
    disable_version_flag = true,
    infer_long_args = true,
    args_override_self = true,
    after_help = "Exit status: 0 if the module was inserted, 1 otherwise."
)]
pub struct InsmodArgs {
    /// DANGEROUS: force a module load, may cause data corruption and crash your machine;
    /// implies --force-modversion and --force-vermagic
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Ignore module's version
    #[arg(long)]
    pub force_modversion: bool,
    /// Ignore module's version magic
    #[arg(long)]
    pub force_vermagic: bool,
    /// Print to syslog, not stderr
    #[arg(short = 's', long)]
    pub syslog: bool,
    /// Enable more messages (which system call was used, and why)
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Show version
    #[arg(short = 'V', long)]
    pub version: bool,
    /// Read /sys under DIR (for tests)
    #[arg(long, hide = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The module file, then its options (name=value ...)
    #[arg(value_name = "FILE [OPTION]")]
    pub args: Vec<OsString>,
}

/// Runs insmod with `argv` (`argv[0]` included).
pub fn main(argv: Vec<OsString>, io: &mut Io<'_>) -> ExitCode {
    let args = match cli::parse::<InsmodArgs>(argv, io) {
        Parsed::Run(a, _) => a,
        Parsed::Exit(code) => return code,
    };
    if let Some(code) = cli::begin(io, args.syslog, args.version) {
        return code;
    }
    let Some((file, options)) = args.args.split_first() else {
        io.error("missing filename.");
        return ExitCode::Failure;
    };
    if file == "-" {
        io.error("this tool does not support loading from stdin!");
        return ExitCode::Failure;
    }
    let shown = file.to_string_lossy().into_owned();
    let options: Vec<String> = options
        .iter()
        .map(|o| o.to_string_lossy().into_owned())
        .collect();
    let force = Force {
        modversion: args.force || args.force_modversion,
        vermagic: args.force || args.force_vermagic,
    };
    let root = SysRoot::from_option(args.root.as_deref());
    let verbose = args.verbose > 0;
    let mut trace = Vec::new();
    let result = insert::insert(
        &root,
        std::path::Path::new(file),
        &options,
        force,
        &mut |line| {
            if verbose {
                trace.push(line);
            }
        },
    );
    for line in trace {
        io.info(line);
    }
    match result {
        Ok(how) => {
            if verbose {
                io.info(format!("inserted {shown} via {how}"));
            }
            ExitCode::Success
        }
        Err(e) => {
            io.error(&e);
            if verbose && let LoadError::Kernel { path, .. } = e.error {
                io.info(format!("the kernel refused it through {path}"));
            }
            ExitCode::Failure
        }
    }
}
