//! Removing a module: kmod's checks before `delete_module`, plain words for the kernel's refusals,
//! and waiting in userspace until a module is unused (the kernel stopped waiting in 3.13).

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::kernel::loaded;
use crate::kernel::procmodules::State;
use crate::kernel::syscall;
use crate::kernel::sysfs::ModuleSys;
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

/// Explains a `delete_module` failure in terms of the module's state.
pub fn explain(root: &SysRoot, name: &str, errno: Errno, forced: bool) -> Option<String> {
    let pm = loaded::find(root, name).ok().flatten();
    let sys = ModuleSys::new(root, name);
    match errno {
        Errno::EBUSY => {
            let state = sys
                .initstate()
                .ok()
                .flatten()
                .or(pm.as_ref().and_then(|m| m.state));
            match state {
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
    let state = ModuleSys::new(root, name)
        .initstate()
        .ok()
        .flatten()
        .or_else(|| {
            loaded::find(root, name)
                .ok()
                .flatten()
                .and_then(|m| m.state)
        });
    state != Some(State::Live)
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
