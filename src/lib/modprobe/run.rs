//! The [`Kernel`] modprobe acts on: sysfs for the state, insmod's [`crate::insert::load`] and
//! rmmod's [`crate::remove`] code for the changes (so a fixture root's fake kernel records them
//! instead), and `/bin/sh -c` for install and remove commands.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use nix::errno::Errno;

use crate::insert::{self, Force, LoadError};
use crate::kernel::procmodules::State;
use crate::kernel::syscall;
use crate::kernel::sysfs::ModuleSys;
use crate::modprobe::plan::{Failure, InitState, Kernel};
use crate::remove::{self, WaitError};
use crate::sysroot::SysRoot;

/// Set by SIGINT/SIGTERM while `-r --wait` waits.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The kernel under a [`SysRoot`] (the running one, or a fixture's fake kernel).
pub struct SystemKernel<'a> {
    /// Where `/sys` is and which kernel answers.
    pub root: &'a SysRoot,
    /// `-f`, `--force-modversion`, `--force-vermagic` for insertions.
    pub force: Force,
    /// Receives insmod's trace lines (`-vv`).
    pub trace: &'a mut dyn FnMut(String),
    /// `MODPROBE_OPTIONS` for install/remove commands: kmod passes its `-C`, `-s`, `-q` and `-v`
    /// on to the modprobe a command may run.
    pub modprobe_options: Option<OsString>,
}

/// A module name usable as a sysfs directory name: never a path.
fn sys_name(name: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(name).ok()?;
    (!s.is_empty() && !s.contains('/') && s != "." && s != "..").then_some(s)
}

impl Kernel for SystemKernel<'_> {
    fn initstate(&self, name: &[u8]) -> Option<InitState> {
        let sys = ModuleSys::new(self.root, sys_name(name)?);
        match sys.initstate() {
            Ok(Some(State::Live)) => Some(InitState::Live),
            Ok(Some(State::Loading)) => Some(InitState::Coming),
            Ok(Some(State::Unloading)) => Some(InitState::Going),
            Ok(None) => None,
            Err(_) if sys.exists() => Some(InitState::Coming),
            Err(_) => None,
        }
    }

    fn refcnt(&self, name: &[u8]) -> Option<i64> {
        ModuleSys::new(self.root, sys_name(name)?).refcnt().ok()
    }

    fn holders(&self, name: &[u8]) -> Option<Vec<Vec<u8>>> {
        let h = ModuleSys::new(self.root, sys_name(name)?).holders().ok()?;
        Some(h.into_iter().map(String::into_bytes).collect())
    }

    fn insert(&mut self, _name: &[u8], path: &Path, options: &[u8]) -> Result<(), Failure> {
        let options = String::from_utf8_lossy(options);
        match insert::load(self.root, path, &options, self.force, self.trace) {
            Ok(_) => Ok(()),
            Err(LoadError::Kernel { errno, .. }) => Err(Failure {
                errno,
                detail: insert::load_hint(errno).map(str::to_string),
            }),
            Err(LoadError::File(e)) => Err(Failure {
                errno: Errno::from_raw(e.errno()),
                detail: Some(e.to_string()),
            }),
        }
    }

    fn delete(&mut self, name: &[u8], force: bool, wait: Option<u64>) -> Result<(), Failure> {
        let bad = |why: String| Failure {
            errno: Errno::EINVAL,
            detail: Some(why),
        };
        let text = sys_name(name).ok_or_else(|| bad("not a module name".into()))?;
        let cname = remove::kernel_name(text).map_err(bad)?;
        let Some(msec) = wait else {
            return syscall::delete_module(self.root, &cname, force).map_err(|errno| Failure {
                errno,
                detail: remove::explain(self.root, text, errno, force),
            });
        };
        let timeout = (msec > 0).then(|| Duration::from_millis(msec));
        remove::wait_and_remove(self.root, &cname, timeout, &INTERRUPTED, &mut |_| {}).map_err(
            |e| match e {
                WaitError::TimedOut(busy) => Failure {
                    errno: Errno::EAGAIN,
                    detail: busy.map(|b| format!("timed out after {msec} ms; {b}")),
                },
                WaitError::Interrupted => Failure {
                    errno: Errno::EINTR,
                    detail: Some("interrupted while waiting; not removed".into()),
                },
                WaitError::Kernel(errno) => errno.into(),
            },
        )
    }

    fn run(&mut self, name: &[u8], command: &[u8]) -> Option<i32> {
        // kmod's system(): stdout is not flushed first, as kmod's printf buffer is not.
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(OsStr::from_bytes(command))
            .env("MODPROBE_MODULE", OsStr::from_bytes(name));
        if let Some(o) = &self.modprobe_options {
            cmd.env("MODPROBE_OPTIONS", o);
        }
        let status = cmd.status().ok()?;
        Some(status.code().unwrap_or(0))
    }
}
