//! Every system path the tools read goes through a [`SysRoot`], so tests and fixtures can point
//! the tools at a fake `/proc`, `/sys`, `/lib/modules` and configuration directories.
//!
//! A fake root is also a fake kernel: under [`SysRoot::at`] the module system calls are never
//! issued (see [`crate::kernel::syscall`]), so a test can never load or remove a real module.

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
    /// The fake root's directory; `None` for the running system.
    base: Option<PathBuf>,
}

/// The directories kmod 34 reads `modprobe.d` and `depmod.d` files from, highest precedence
/// first: a file in an earlier directory hides one of the same name in a later one.
pub const CONFIG_DIRS: [&str; 5] = ["etc", "run", "usr/local/lib", "usr/lib", "lib"];

impl SysRoot {
    /// The running system.
    pub fn host() -> SysRoot {
        SysRoot {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
            modules: PathBuf::from("/lib/modules"),
            base: None,
        }
    }

    /// A tree laid out like a root file system: `DIR/proc`, `DIR/sys`, `DIR/lib/modules`.
    pub fn at(dir: impl AsRef<Path>) -> SysRoot {
        let dir = dir.as_ref();
        SysRoot {
            proc: dir.join("proc"),
            sys: dir.join("sys"),
            modules: dir.join("lib/modules"),
            base: Some(dir.to_path_buf()),
        }
    }

    /// `--root DIR` if given, else the host.
    pub fn from_option(root: Option<&Path>) -> SysRoot {
        root.map_or_else(SysRoot::host, SysRoot::at)
    }

    /// The running kernel's release (`uname -r`). Under a fixture root,
    /// `proc/sys/kernel/osrelease` is used when present.
    pub fn kernel_release(&self) -> std::io::Result<String> {
        if self.base.is_some()
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

    /// Whether this is the running system (not a fake root).
    pub fn is_host(&self) -> bool {
        self.base.is_none()
    }

    /// Under a fake root, the directory that stands in for the kernel's module system calls:
    /// `DIR/kernel` (see [`crate::kernel::syscall`]). `None` for the running system.
    pub fn fake_kernel(&self) -> Option<PathBuf> {
        self.base.as_ref().map(|b| b.join("kernel"))
    }

    /// `/etc/NAME`, `/run/NAME`, `/usr/local/lib/NAME`, `/usr/lib/NAME`, `/lib/NAME` (for
    /// `modprobe.d` and `depmod.d`), under this root, highest precedence first.
    pub fn config_dirs(&self, name: &str) -> Vec<PathBuf> {
        let base = self.base.as_deref().unwrap_or(Path::new("/"));
        CONFIG_DIRS
            .iter()
            .map(|d| base.join(d).join(name))
            .collect()
    }
}
