//! `rmmod`: remove modules, with kmod's checks and messages, and a userspace `--wait`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

use crate::cli::{self, Io, Parsed};
use crate::exit_code::ExitCode;
use crate::moddir::ModuleDir;
use crate::remove;
use crate::sysroot::SysRoot;

/// Remove modules from the Linux kernel.
///
/// Each argument is a module name or a module file's path (the name is taken from the file name:
/// `nf-tables` and `/x/nf_tables.ko.xz` both mean nf_tables). Before asking the kernel, rmmod
/// refuses, as kmod does, a builtin module, a module that is not loaded, one that other modules
/// use, and one whose reference count is above zero.
///
/// A permanent module (an init function but no exit function) can only be removed with --force,
/// and only on a kernel built with CONFIG_MODULE_FORCE_UNLOAD; its cleanup never runs.
#[derive(Parser, Debug)]
#[command(
    name = "rmmod",
    disable_version_flag = true,
    infer_long_args = true,
    args_override_self = true,
    after_help = "\
--wait polls in userspace until the module is unused, then removes it. Unlike the kernel's own \
wait before Linux 3.13 (which stopped new users from taking the module), new users can still \
take the module while rmmod waits; rmmod then keeps waiting. Ctrl-C stops waiting and removes \
nothing.

Exit status: 0 if every module was removed, 1 otherwise (including a --wait that timed out or \
was interrupted)."
)]
pub struct RmmodArgs {
    /// DANGEROUS: force removal, skipping every check: removes a permanent module or one still
    /// in use (needs CONFIG_MODULE_FORCE_UNLOAD; taints the kernel; may crash it)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Wait until the module is unused, then remove it; give up after MSEC milliseconds if
    /// given (--wait=MSEC)
    #[arg(
        short = 'w',
        long,
        value_name = "MSEC",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "0"
    )]
    pub wait: Option<u64>,
    /// Print to syslog, not stderr
    #[arg(short = 's', long)]
    pub syslog: bool,
    /// Enable more messages (what --wait is waiting for; unload races of debugfs files too)
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Show version
    #[arg(short = 'V', long)]
    pub version: bool,
    /// Read /proc, /sys and /lib/modules under DIR (for tests)
    #[arg(long, hide = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Module names or files
    #[arg(value_name = "MODULE")]
    pub modules: Vec<OsString>,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Runs rmmod with `argv` (`argv[0]` included).
pub fn main(argv: Vec<OsString>, io: &mut Io<'_>) -> ExitCode {
    let args = match cli::parse::<RmmodArgs>(argv, io) {
        Parsed::Run(a, _) => a,
        Parsed::Exit(code) => return code,
    };
    if let Some(code) = cli::begin(io, args.syslog, args.version) {
        return code;
    }
    if args.modules.is_empty() {
        io.error("missing module name.");
        return ExitCode::Failure;
    }
    let root = SysRoot::from_option(args.root.as_deref());
    if args.wait.is_some() {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            let action = nix::sys::signal::SigAction::new(
                nix::sys::signal::SigHandler::Handler(on_sigint),
                nix::sys::signal::SaFlags::empty(),
                nix::sys::signal::SigSet::empty(),
            );
            let _ = nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGINT, &action);
            let _ = nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGTERM, &action);
        }
    }
    let moddir = root
        .kernel_release()
        .ok()
        .map(|r| ModuleDir::new(root.modules.join(r)));
    let mut failed = false;
    for arg in &args.modules {
        failed |= !remove_one(&args, &root, moddir.as_ref(), arg, io);
        if INTERRUPTED.load(Ordering::Relaxed) {
            failed = true;
            break;
        }
    }
    ExitCode::from_failed(failed)
}

/// Removes one module; false if it failed (the message is printed).
fn remove_one(
    args: &RmmodArgs,
    root: &SysRoot,
    moddir: Option<&ModuleDir>,
    arg: &OsString,
    io: &mut Io<'_>,
) -> bool {
    let opts = remove::Options {
        force: args.force,
        wait: args.wait,
    };
    let verbose = args.verbose > 0;
    if let Some(w) = remove::unload_race_warning(root, moddir, arg, verbose) {
        io.warning(w);
    }
    // Said as it happens: someone watching a long wait wants to know what blocks it.
    let mut progress = |name: &str, busy: &remove::Busy| {
        if verbose {
            io.info(format!("waiting for {name}: {busy}"));
            let _ = io.err.flush();
        }
    };
    match remove::remove_one(root, moddir, arg, opts, &INTERRUPTED, &mut progress) {
        Ok(name) => {
            if verbose {
                io.info(format!("removed {name}"));
            }
            true
        }
        Err(e) => {
            io.error(e);
            false
        }
    }
}
