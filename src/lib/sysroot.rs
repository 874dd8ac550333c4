//! Every system path the tools read goes through a [`SysRoot`], so tests and fixtures can point
//! the tools at a fake `/proc`, `/sys` and `/lib/modules`.

use std::path::{Path, PathBuf};

/// Where `/proc`, `/sys` and `/lib/modules` are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysRoot {
    /// `/proc`.
    pub proc: PathBuf,
    /// `/sys`.
    pub sys: PathBuf,
    /// `/lib/modules`.
    pub modules: PathBuf,
    is_host: bool,
}

impl SysRoot {
    /// The running system.
    pub fn host() -> SysRoot {
        SysRoot {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
            modules: PathBuf::from("/lib/modules"),
            is_host: true,
        }
    }

    /// A tree laid out like a root file system: `DIR/proc`, `DIR/sys`, `DIR/lib/modules`.
    pub fn at(dir: impl AsRef<Path>) -> SysRoot {
        let dir = dir.as_ref();
        SysRoot {
            proc: dir.join("proc"),
            sys: dir.join("sys"),
            modules: dir.join("lib/modules"),
            is_host: false,
        }
    }

    /// `--root DIR` if given, else the host.
    pub fn from_option(root: Option<&Path>) -> SysRoot {
        root.map_or_else(SysRoot::host, SysRoot::at)
    }

    /// The running kernel's release (`uname -r`). Under a fixture root,
    /// `proc/sys/kernel/osrelease` is used when present.
    pub fn kernel_release(&self) -> std::io::Result<String> {
        if !self.is_host
            && let Ok(s) = std::fs::read_to_string(self.proc.join("sys/kernel/osrelease"))
        {
            return Ok(s.trim_end().to_string());
        }
        let uts = nix::sys::utsname::uname().map_err(std::io::Error::from)?;
        Ok(uts.release().to_string_lossy().into_owned())
    }

    /// `/proc/modules`.
    pub fn proc_modules(&self) -> PathBuf {
        self.proc.join("modules")
    }

    /// `/sys/module`.
    pub fn sys_module(&self) -> PathBuf {
        self.sys.join("module")
    }
}
