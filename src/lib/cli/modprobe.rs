//! `modprobe`: insert and remove modules with their dependencies, as kmod 34.2's modprobe.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use clap::Parser;

use crate::cli::{self, Io, Parsed};
use crate::exit_code::ExitCode;
use crate::insert::Force;
use crate::moddir::ModuleDir;
use crate::modprobe::config;
use crate::modprobe::lookup::Modules;
use crate::modprobe::plan::{Flags, Level, Log};
use crate::modprobe::request::{self, Mode};
use crate::modprobe::run::SystemKernel;
use crate::modprobe::show::{self, Table};
use crate::sysroot::SysRoot;

/// Add and remove modules from the Linux kernel, with their dependencies.
///
/// MODULE is a module name, an alias (pci:v00008086d..., fs-ext4, net-pf-10), symbol:NAME, or a
/// module file given as /PATH or ./PATH. It is looked up as kmod looks it up: modprobe.d aliases,
/// modules.dep, modules.symbols, install/remove commands, modules.alias, builtin modules, builtin
/// aliases. Its dependencies (modules.dep) and softdeps (modprobe.d, modules.softdep) are
/// inserted first, with their options from modprobe.d and the kernel command line
/// (MOD.PARAM=VALUE); the remaining operands are parameters of MODULE.
///
/// With -r, the modules are removed, then every dependency they leave unused, the whole chain
/// (kmod removes one level). Names on the kernel command line's modprobe.blacklist= match with
/// '-' and '_' equal.
#[derive(Parser, Debug)]
#[command(
    name = "modprobe",
    disable_version_flag = true,
    infer_long_args = true,
    args_override_self = true,
    after_help = "Options from the MODPROBE_OPTIONS environment variable come first.\n\n\
                  Exit status: 0 on success (a module already loaded, or blacklisted, is \
                  success), 1 otherwise."
)]
pub struct ModprobeArgs {
    /// Consider every operand a module to insert (or remove, with -r)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Remove modules instead of inserting them
    #[arg(short = 'r', long)]
    pub remove: bool,
    /// Also remove the modules holding the module (use with -r)
    #[arg(long, visible_alias = "remove-dependencies")]
    pub remove_holders: bool,
    /// When removing, wait up to MSEC for the module to be unused (0: no limit)
    #[arg(short = 'w', long, value_name = "MSEC")]
    pub wait: Option<String>,
    /// Fail if the module is already inserted (or, with -r, not loaded)
    #[arg(long)]
    pub first_time: bool,
    /// Ignore install and remove commands (and the module's softdeps)
    #[arg(short = 'i', long, visible_alias = "ignore-remove")]
    pub ignore_install: bool,
    /// Apply the blacklist to module names too, not only to aliases
    #[arg(short = 'b', long)]
    pub use_blacklist: bool,
    /// DANGEROUS: force insertion or removal; implies --force-modversion and --force-vermagic
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Ignore the module's symbol versions
    #[arg(long)]
    pub force_modversion: bool,
    /// Ignore the module's version magic
    #[arg(long)]
    pub force_vermagic: bool,
    /// Only print the modules the name resolves to
    #[arg(short = 'R', long, visible_alias = "show-alias")]
    pub resolve_alias: bool,
    /// Only print what would be inserted (insmod/install/builtin lines)
    #[arg(short = 'D', long)]
    pub show_depends: bool,
    /// Print the configuration and the index aliases
    #[arg(short = 'c', long, visible_alias = "showconfig")]
    pub show_config: bool,
    /// Print the symbol versions a module file needs
    #[arg(long, visible_alias = "dump-modversions")]
    pub show_modversions: bool,
    /// Print the symbols a module file exports, with their CRCs
    #[arg(long)]
    pub show_exports: bool,
    /// Do not change anything (with -v: print what would be done)
    #[arg(short = 'n', long, visible_alias = "show")]
    pub dry_run: bool,
    /// Read PATH instead of the modprobe.d directories (repeatable)
    #[arg(short = 'C', long, value_name = "PATH")]
    pub config: Vec<PathBuf>,
    /// Use DIR as the root of /lib/modules
    #[arg(short = 'd', long, value_name = "DIR")]
    pub dirname: Option<OsString>,
    /// Use VERSION instead of `uname -r`
    #[arg(short = 'S', long, value_name = "VERSION")]
    pub set_version: Option<String>,
    /// Print to syslog, not stderr
    #[arg(short = 's', long)]
    pub syslog: bool,
    /// No messages at all
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// More messages; print what is done
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Show version
    #[arg(short = 'V', long)]
    pub version: bool,
    /// Read /proc, /sys, /lib/modules and the configuration under DIR (for tests)
    #[arg(long, hide = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The module, then its parameters; with -a or -r, modules
    #[arg(value_name = "MODULE")]
    pub modules: Vec<OsString>,
}

/// `MODPROBE_OPTIONS` words before the real arguments, as kmod prepends them.
fn with_env_options(mut argv: Vec<OsString>) -> Vec<OsString> {
    let Some(env) = std::env::var_os("MODPROBE_OPTIONS") else {
        return argv;
    };
    let words = crate::modprobe::split_env_options(env.as_bytes());
    let rest = argv.split_off(1.min(argv.len()));
    argv.extend(words.into_iter().map(OsString::from_vec));
    argv.extend(rest);
    argv
}

/// `MODPROBE_OPTIONS` for install/remove commands: the inherited value plus this run's `-C`,
/// `-s`, `-q` and `-v`, as kmod appends them.
fn child_options(args: &ModprobeArgs) -> Option<OsString> {
    let mut words: Vec<OsString> = Vec::new();
    for c in &args.config {
        words.push("-C".into());
        words.push(c.clone().into_os_string());
    }
    if args.syslog {
        words.push("-s".into());
    }
    if args.quiet {
        words.push("-q".into());
    }
    for _ in 0..args.verbose {
        words.push("-v".into());
    }
    let old = std::env::var_os("MODPROBE_OPTIONS");
    if words.is_empty() {
        return old;
    }
    let mut v = old.map(OsString::into_vec).unwrap_or_default();
    for w in words {
        if !v.is_empty() {
            v.push(b' ');
        }
        v.extend_from_slice(w.as_bytes());
    }
    Some(OsString::from_vec(v))
}

/// `strtoul(s, 0)` with kmod's check: all of it a number (decimal, 0x hex or 0 octal).
fn parse_wait(s: &str) -> Option<u64> {
    let t = s.trim_start();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

/// Runs modprobe with `argv` (`argv[0]` included).
pub fn main(argv: Vec<OsString>, io: &mut Io<'_>) -> ExitCode {
    let args = match cli::parse::<ModprobeArgs>(with_env_options(argv), io) {
        Parsed::Run(a, _) => a,
        Parsed::Exit(code) => return code,
    };
    if let Some(code) = cli::begin(io, args.syslog, args.version) {
        return code;
    }
    let wait = match &args.wait {
        None => None,
        Some(w) => match parse_wait(w) {
            Some(n) => Some(n),
            None => {
                io.error(format!("unexpected wait value '{w}'."));
                return ExitCode::Failure;
            }
        },
    };
    if !args.show_config && args.modules.is_empty() {
        io.error("missing parameters. See -h.");
        return ExitCode::Failure;
    }
    let root = SysRoot::from_option(args.root.as_deref());
    let dir = if args.dirname.is_some() || args.set_version.is_some() {
        crate::moddir::resolve::module_dir(
            &root,
            Some(args.dirname.as_deref().unwrap_or_default()),
            args.set_version.as_deref(),
        )
    } else {
        root.kernel_release()
            .map(|r| root.modules.join(r))
            .map_err(|e| format!("uname() failed: {}", crate::error::io_cause(&e)))
    };
    let dir = match dir {
        Ok(d) => d,
        Err(e) => {
            io.error(e);
            return ExitCode::Failure;
        }
    };
    let verbose = if args.quiet {
        0
    } else {
        4 + i32::from(args.verbose)
    };
    let paths = if args.config.is_empty() {
        root.config_dirs("modprobe.d")
    } else {
        args.config.clone()
    };
    let cfg = config::load(&dir, &paths, Some(&root.proc.join("cmdline")));
    let moddir = ModuleDir::new(dir);
    // libkmod reports these while reading the configuration, before -q or -v apply.
    for m in &cfg.messages {
        io.error(m);
    }
    if args.show_config {
        // Streamed: the index dump is megabytes.
        let mut text = Vec::new();
        cfg.show(&mut text);
        text.extend_from_slice(b"\n# End of configuration files. Dumping indexes now:\n\n");
        let written = io
            .out
            .write_all(&text)
            .and_then(|()| moddir.dump_aliases(io.out));
        return match written {
            Err(e) if !cli::is_broken_pipe(&e) => {
                io.error(format!(
                    "could not write to standard output: {}",
                    crate::error::io_cause(&e)
                ));
                ExitCode::Failure
            }
            _ => ExitCode::Success,
        };
    }
    let mut emit = |level: Level, text: &str| match level {
        Level::Fatal => io.fatal(text),
        Level::Error => io.error(text),
        Level::Warning => io.warning(text),
        Level::Notice => io.notice(text),
        Level::Info => io.info(text),
    };
    let mut out = Vec::new();
    let code = {
        let mut log = Log {
            verbose,
            all: args.all,
            show: args.show_depends || verbose > 4,
            out: &mut out,
            emit: &mut emit,
        };
        run_mode(&args, &root, &cfg, &moddir, &mut log, wait)
    };
    let _ = io.out.write_all(&out);
    code
}

fn run_mode(
    args: &ModprobeArgs,
    root: &SysRoot,
    cfg: &config::Config,
    moddir: &ModuleDir,
    log: &mut Log<'_>,
    wait: Option<u64>,
) -> ExitCode {
    let operands: Vec<Vec<u8>> = args.modules.iter().map(|o| o.as_bytes().to_vec()).collect();
    if args.show_modversions || args.show_exports {
        let table = if args.show_modversions {
            Table::Modversions
        } else {
            Table::Exports
        };
        let arg = args.modules[0].to_string_lossy();
        return match show::show(&arg, table) {
            Ok(text) => {
                let _ = log.out.write_all(&text);
                ExitCode::Success
            }
            Err(e) => {
                let _ = log.log(&e.0);
                ExitCode::Failure
            }
        };
    }
    let mode = if args.remove {
        Mode::Remove
    } else if args.resolve_alias && args.all {
        Mode::ResolveAll
    } else if args.resolve_alias {
        Mode::Resolve
    } else if args.all {
        Mode::InsertAll
    } else {
        Mode::Insert
    };
    let flags = Flags {
        ignore_loaded: args.show_depends,
        dry_run: args.show_depends || args.dry_run,
        ignore_commands: args.ignore_install,
        use_blacklist: args.use_blacklist,
        first_time: args.first_time,
        remove_holders: args.remove_holders,
        force: args.force,
        wait,
    };
    let force = Force {
        modversion: args.force || args.force_modversion,
        vermagic: args.force || args.force_vermagic,
    };
    let mut trace = |_: String| {};
    let mut kernel = SystemKernel {
        root,
        force,
        trace: &mut trace,
        modprobe_options: child_options(args),
    };
    let mut mods = Modules::new(cfg, moddir);
    let result = request::run(&mut mods, &mut kernel, log, mode, &operands, flags);
    match result {
        Ok(failed) => ExitCode::from_failed(failed),
        Err(_) => ExitCode::Failure,
    }
}
