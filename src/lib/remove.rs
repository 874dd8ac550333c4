//! Removing a module: kmod's checks before `delete_module`, plain words for the kernel's refusals,
//! and waiting in userspace until a module is unused (the kernel stopped waiting in 3.13).

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::kernel::loaded;
use crate::kernel::procmodules::State;
use crate::kernel::syscall;
use crate::kernel::sysfs::ModuleSys;
use crate::moddir::ModuleDir;
use crate::names;
use crate::sysroot::SysRoot;

/// Why rmmod refuses before asking the kernel (kmod's `check_module_inuse`, in its order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Built into the kernel image.
    Builtin,
    /// No such module is loaded.
    NotLoaded,
    /// Other modules depend on it.
    InUseBy(Vec<String>),
    /// Its reference count is above zero.
    InUse(i64),
    /// No `refcnt` file: the kernel was built without CONFIG_MODULE_UNLOAD.
    UnloadingUnsupported,
}

impl Refusal {
    /// kmod's message, then what it means where kmod leaves it implicit.
    pub fn message(&self, name: &str) -> String {
        match self {
            Refusal::Builtin => format!("Module {name} is builtin."),
            Refusal::NotLoaded => format!("Module {name} is not currently loaded"),
            Refusal::InUseBy(holders) => {
                let mut s = format!("Module {name} is in use by:");
                for h in holders {
                    s.push(' ');
                    s.push_str(h);
                }
                s
            }
            Refusal::InUse(refcnt) => format!(
                "Module {name} is in use (reference count {refcnt}: open files, sockets or other kernel code, not modules)"
            ),
            Refusal::UnloadingUnsupported => "Module unloading is not supported".to_string(),
        }
    }
}

/// Whether `name` is known to be builtin: listed in `modules.builtin`, or present in sysfs
/// without the `initstate` every loaded module has.
pub fn is_builtin(root: &SysRoot, in_builtin_index: bool, name: &str) -> bool {
    if in_builtin_index {
        return true;
    }
    let sys = ModuleSys::new(root, name);
    sys.exists()
        && !sys.dir().join("initstate").exists()
        && loaded::find(root, name).ok().flatten().is_none()
}

/// kmod's checks, in kmod's order: builtin, loaded, holders, reference count.
pub fn check(root: &SysRoot, in_builtin_index: bool, name: &str) -> Result<(), Refusal> {
    if is_builtin(root, in_builtin_index, name) {
        return Err(Refusal::Builtin);
    }
    check_loaded(root, name)?;
    check_busy(root, name)
}

fn check_loaded(root: &SysRoot, name: &str) -> Result<(), Refusal> {
    let sys = ModuleSys::new(root, name);
    match sys.initstate() {
        Ok(_) => Ok(()),
        // A directory without initstate: kmod assumes "coming".
        Err(_) if sys.exists() => Ok(()),
        Err(_) => Err(Refusal::NotLoaded),
    }
}

fn check_busy(root: &SysRoot, name: &str) -> Result<(), Refusal> {
    let sys = ModuleSys::new(root, name);
    let holders = sys.holders().unwrap_or_default();
    if !holders.is_empty() {
        return Err(Refusal::InUseBy(holders));
    }
    match sys.refcnt() {
        Ok(n) if n > 0 => Err(Refusal::InUse(n)),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Refusal::UnloadingUnsupported),
        Err(_) => Ok(()),
    }
}

/// A module name ready for `delete_module`.
pub fn kernel_name(name: &str) -> Result<CString, String> {
    if name.is_empty() {
        return Err("empty module name".to_string());
    }
    if name.contains('/') {
        return Err(format!(
            "'{name}' is neither a module name (names cannot contain '/') nor an existing file"
        ));
    }
    if name.len() >= crate::names::MODULE_NAME_LEN {
        return Err(format!(
            "'{name}' is not a module name: longer than the kernel's {} characters",
            crate::names::MODULE_NAME_LEN - 1
        ));
    }
    CString::new(name).map_err(|_| format!("'{name}' contains a NUL byte"))
}

/// The warning rmmod gives before removing a loaded module whose file (the argument itself, or
/// the name looked up in `modules.dep` as modinfo does) hands the kernel file operations
/// without an owner: removing it while one of its files is open crashes the kernel on the next
/// access (modaudit's `ownerless-fops`). debugfs files (root only) count only with
/// `with_debugfs`. None when the module is not loaded, its file cannot be found or read, or it
/// has no such table: the warning is advice, never a reason to fail.
pub fn unload_race_warning(
    root: &SysRoot,
    moddir: Option<&ModuleDir>,
    arg: &OsStr,
    with_debugfs: bool,
) -> Option<String> {
    let path = Path::new(arg);
    let (name, file) = if path.is_file() {
        (names::name_from_path(path)?, path.to_path_buf())
    } else {
        let found = moddir?.lookup_name(arg.as_bytes()).ok()??;
        (found.name, found.path?)
    };
    let name = String::from_utf8_lossy(&name).into_owned();
    if !ModuleSys::new(root, &name).exists() {
        return None;
    }
    let audit = crate::file::ModuleFile::open(&file)
        .and_then(|f| crate::audit::audit(&f))
        .ok()?;
    let tables: Vec<String> = audit
        .ownerless
        .iter()
        .filter(|t| with_debugfs || t.is_user_reachable())
        .map(|t| {
            let sinks: Vec<&str> = t.sinks.iter().map(|s| s.as_str()).collect();
            format!("{} ({})", t.symbol, sinks.join(", "))
        })
        .collect();
    (!tables.is_empty()).then(|| {
        format!(
            "removing {name} while one of its files is open will crash the kernel: its file operations have no owner, so an open file does not keep it loaded ({})",
            tables.join(", ")
        )
    })
}

/// Explains a `delete_module` failure in terms of the module's state.
pub fn explain(root: &SysRoot, name: &str, errno: Errno, forced: bool) -> Option<String> {
    let pm = loaded::find(root, name).ok().flatten();
    let sys = ModuleSys::new(root, name);
    match errno {
        Errno::EBUSY => {
            match module_state(root, name) {
                Some(State::Loading) => return Some("it is still initialising".into()),
                Some(State::Unloading) => return Some("it is already being removed".into()),
                _ => {}
            }
            if pm.as_ref().is_some_and(|m| m.is_permanent) {
                return Some(if forced {
                    "it is permanent (an init function but no exit function), and this kernel was built without CONFIG_MODULE_FORCE_UNLOAD, so not even --force can remove it".into()
                } else {
                    "it is permanent: it has an init function but no exit function, so only 'rmmod --force' can remove it, without running any cleanup code and tainting the kernel".into()
                });
            }
            None
        }
        Errno::EAGAIN => {
            let holders = sys.holders().unwrap_or_default();
            if !holders.is_empty() {
                return Some(format!(
                    "in use by: {} (not even --force removes a module other modules depend on)",
                    holders.join(" ")
                ));
            }
            let refcnt = sys.refcnt().unwrap_or(0);
            if forced {
                return Some(format!(
                    "in use: reference count {refcnt}; forcing past references needs a kernel built with CONFIG_MODULE_FORCE_UNLOAD, which this one lacks"
                ));
            }
            Some(format!(
                "in use: reference count {refcnt}, held by open files, sockets or other kernel code; try --wait, or --force"
            ))
        }
        Errno::EPERM => Some(
            "removing modules needs CAP_SYS_MODULE, and kernel.modules_disabled must be 0".into(),
        ),
        Errno::ENOENT => Some("no module of that name is loaded".into()),
        Errno::ENOSYS => {
            Some("this kernel cannot unload modules (CONFIG_MODULE_UNLOAD is off)".into())
        }
        _ => None,
    }
}

/// What a waiting rmmod is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    /// Modules holding it.
    pub holders: Vec<String>,
    /// Its reference count.
    pub refcnt: i64,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let others = (self.refcnt - self.holders.len() as i64).max(0);
        write!(f, "reference count {}", self.refcnt)?;
        if self.holders.is_empty() {
            f.write_str(", no holders")?;
        } else {
            write!(f, ", held by {}", self.holders.join(" "))?;
        }
        if others > 0 {
            write!(
                f,
                ", {others} not from modules: open files, sockets, symbol_get"
            )?;
        }
        Ok(())
    }
}

fn busy(root: &SysRoot, name: &str) -> Option<Busy> {
    let sys = ModuleSys::new(root, name);
    let holders = sys.holders().unwrap_or_default();
    let refcnt = sys.refcnt().unwrap_or(0);
    (!holders.is_empty() || refcnt > 0).then_some(Busy { holders, refcnt })
}

/// Whether an EBUSY from `delete_module` means "coming or going" rather than "permanent". The
/// kernel says EBUSY for any module that is not live, and for a live permanent one; so only a
/// module seen live is permanent. While the kernel tears a module down, its sysfs files and its
/// /proc/modules line can vanish before it is gone: unreadable counts as going, and the next
/// attempt says whether it is (ENOENT).
fn in_transition(root: &SysRoot, name: &str) -> bool {
    module_state(root, name) != Some(State::Live)
}

/// The module's state: sysfs `initstate`, else its `/proc/modules` line; `None` if neither says.
fn module_state(root: &SysRoot, name: &str) -> Option<State> {
    ModuleSys::new(root, name)
        .initstate()
        .ok()
        .flatten()
        .or_else(|| {
            loaded::find(root, name)
                .ok()
                .flatten()
                .and_then(|m| m.state)
        })
}

/// How waiting ended without removing the module.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitError {
    /// The timeout passed while the module was still in use.
    TimedOut(Option<Busy>),
    /// Interrupted (Ctrl-C); nothing was removed.
    Interrupted,
    /// `delete_module` failed with something other than "in use".
    Kernel(Errno),
}

/// Backoff between polls: from 5 ms, doubling, capped at 500 ms.
const FIRST_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_millis(500);
/// Sleep in slices this long so Ctrl-C is noticed promptly.
const SLICE: Duration = Duration::from_millis(50);

/// Waits until `name` is unused, then removes it. New users can still take the module while we
/// wait (the kernel's own wait, before 3.13, blocked them); each `delete_module` attempt is
/// non-blocking, and EAGAIN (someone took a reference) sends us back to waiting.
pub fn wait_and_remove(
    root: &SysRoot,
    name: &CString,
    timeout: Option<Duration>,
    interrupted: &AtomicBool,
    progress: &mut dyn FnMut(&Busy),
) -> Result<(), WaitError> {
    let start = Instant::now();
    let text = name.to_string_lossy();
    let mut delay = FIRST_DELAY;
    let mut last: Option<Busy> = None;
    loop {
        if interrupted.load(Ordering::Relaxed) {
            return Err(WaitError::Interrupted);
        }
        let now_busy = busy(root, &text);
        if now_busy.is_none() {
            match syscall::delete_module(root, name, false) {
                Ok(()) => return Ok(()),
                Err(Errno::EAGAIN) => {}
                // Still initialising, or another process is removing it right now: both end
                // soon. (A permanent module also gets EBUSY; waiting cannot change that.)
                Err(Errno::EBUSY) if in_transition(root, &text) => {}
                Err(e) => return Err(WaitError::Kernel(e)),
            }
        }
        if let Some(b) = &now_busy
            && last.as_ref() != Some(b)
        {
            progress(b);
        }
        last = now_busy.or(last);
        let left = match timeout {
            Some(t) => match t.checked_sub(start.elapsed()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Err(WaitError::TimedOut(busy(root, &text))),
            },
            None => None,
        };
        let mut nap = left.map_or(delay, |l| l.min(delay));
        while !nap.is_zero() {
            if interrupted.load(Ordering::Relaxed) {
                return Err(WaitError::Interrupted);
            }
            let step = nap.min(SLICE);
            std::thread::sleep(step);
            nap -= step;
        }
        delay = (delay * 2).min(MAX_DELAY);
    }
}

/// How rmmod removes: its `--force` and `--wait[=MSEC]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// `--force`: skip every check, and ask the kernel with O_TRUNC.
    pub force: bool,
    /// `--wait[=MSEC]`: wait until the module is unused; `Some(0)` waits without a limit.
    pub wait: Option<u64>,
}

/// Why one argument of rmmod was not removed. `Display` is rmmod's one line (without the
/// `rmmod: ERROR: ` prefix): kmod's words first, then what they mean.
#[derive(Debug, PartialEq, Eq)]
pub enum RemoveError {
    /// The argument is neither a usable module name nor a module file.
    BadArgument {
        /// The argument as given.
        shown: String,
        /// Why it cannot be used.
        why: String,
    },
    /// Refused before asking the kernel, as kmod refuses.
    Refused {
        /// The module's name.
        name: String,
        /// Why.
        refusal: Refusal,
    },
    /// `--wait=MSEC` ran out while the module was still in use.
    TimedOut {
        /// The argument as given.
        shown: String,
        /// The limit.
        msec: u64,
        /// What still held the module.
        busy: Option<Busy>,
    },
    /// Ctrl-C or SIGTERM while waiting; nothing was removed.
    Interrupted {
        /// The argument as given.
        shown: String,
    },
    /// `delete_module` failed.
    Kernel {
        /// The argument as given.
        shown: String,
        /// The kernel's answer.
        errno: Errno,
        /// What it means here, from the module's state when it failed.
        why: Option<String>,
    },
}

impl std::fmt::Display for RemoveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoveError::BadArgument { shown, why } => {
                write!(f, "could not use module {shown}: {why}")
            }
            RemoveError::Refused { name, refusal } => {
                f.write_str(&refusal.message(name))?;
                if let Refusal::InUseBy(_) = refusal {
                    f.write_str(" (remove those first, or use --wait)")?;
                }
                Ok(())
            }
            RemoveError::TimedOut { shown, msec, busy } => {
                let why = busy
                    .as_ref()
                    .map_or("still in use".to_string(), |b| b.to_string());
                write!(
                    f,
                    "could not remove module {shown}: timed out after {msec} ms waiting for it to be unused; {why}"
                )
            }
            RemoveError::Interrupted { shown } => write!(
                f,
                "could not remove module {shown}: interrupted while waiting; nothing was removed"
            ),
            RemoveError::Kernel { shown, errno, why } => {
                write!(
                    f,
                    "could not remove module {shown}: {}",
                    crate::error::strerror(*errno as i32)
                )?;
                match why {
                    Some(why) => write!(f, " ({why})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// rmmod's procedure for one argument, a module name or a module file's path (kmod: an argument
/// that exists on disk is a path, and the name comes from its file name): kmod's checks unless
/// forced, then `delete_module`, waiting first if asked. `moddir` (the running kernel's module
/// directory) tells builtin modules apart. `progress` hears what a wait is waiting for, each
/// time it changes. Returns the module's name.
pub fn remove_one(
    root: &SysRoot,
    moddir: Option<&ModuleDir>,
    arg: &OsStr,
    opts: Options,
    interrupted: &AtomicBool,
    progress: &mut dyn FnMut(&str, &Busy),
) -> Result<String, RemoveError> {
    let shown = String::from_utf8_lossy(arg.as_bytes()).into_owned();
    let bad = |why: &str| RemoveError::BadArgument {
        shown: shown.clone(),
        why: why.to_string(),
    };
    let path = Path::new(arg);
    let name_bytes = if path.exists() {
        names::name_from_path(path).ok_or_else(|| bad("No such file or directory"))?
    } else {
        names::normalize_name(arg.as_bytes())
    };
    let name = String::from_utf8_lossy(&name_bytes).into_owned();
    if arg.as_bytes().contains(&b'/') && !path.exists() {
        return Err(bad("no such file, and a module name cannot contain '/'"));
    }
    let cname = kernel_name(&name).map_err(|why| bad(&why))?;
    if !opts.force {
        let in_index = moddir.is_some_and(|d| d.is_builtin(&name_bytes).unwrap_or(false));
        let check = if opts.wait.is_some() {
            // Waiting covers holders and references; only refuse what waiting cannot change.
            if is_builtin(root, in_index, &name) {
                Err(Refusal::Builtin)
            } else if !ModuleSys::new(root, &name).exists() {
                Err(Refusal::NotLoaded)
            } else {
                Ok(())
            }
        } else {
            check(root, in_index, &name)
        };
        if let Err(refusal) = check {
            return Err(RemoveError::Refused { name, refusal });
        }
    }
    let result = match opts.wait {
        Some(msec) if !opts.force => {
            let timeout = (msec > 0).then(|| Duration::from_millis(msec));
            match wait_and_remove(root, &cname, timeout, interrupted, &mut |b| {
                progress(&name, b)
            }) {
                Ok(()) => Ok(()),
                Err(WaitError::Kernel(e)) => Err(e),
                Err(WaitError::TimedOut(busy)) => {
                    return Err(RemoveError::TimedOut { shown, msec, busy });
                }
                Err(WaitError::Interrupted) => return Err(RemoveError::Interrupted { shown }),
            }
        }
        _ => syscall::delete_module(root, &cname, opts.force),
    };
    result.map(|()| name.clone()).map_err(|errno| {
        let why = if errno == Errno::ENOENT && opts.wait.is_some() && !opts.force {
            Some("it was removed by someone else while rmmod waited".to_string())
        } else {
            explain(root, &name, errno, opts.force)
        };
        RemoveError::Kernel { shown, errno, why }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_are_validated() {
        assert!(kernel_name("rk_basic").is_ok());
        assert!(kernel_name("").is_err());
        assert!(kernel_name("a/b").unwrap_err().contains("'/'"));
        assert!(kernel_name(&"x".repeat(56)).unwrap_err().contains("55"));
        assert!(kernel_name(&"x".repeat(55)).is_ok());
    }

    #[test]
    fn busy_says_what_holds_the_module() {
        let b = Busy {
            holders: vec!["a".into()],
            refcnt: 3,
        };
        assert_eq!(
            b.to_string(),
            "reference count 3, held by a, 2 not from modules: open files, sockets, symbol_get"
        );
    }
}
