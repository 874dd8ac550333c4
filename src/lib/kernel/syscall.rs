//! The three module system calls, through `nix::kmod`, and what their errors mean.

use std::ffi::CStr;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::kmod::{DeleteModuleFlags, ModuleInitFlags};

/// `MODULE_INIT_COMPRESSED_FILE` (Linux 5.17): the kernel decompresses the file itself.
/// nix does not name it yet.
pub const MODULE_INIT_COMPRESSED_FILE: libc::c_uint = 4;

/// `finit_module(fd, params, flags)`.
pub fn finit_module(fd: impl AsFd, params: &CStr, flags: ModuleInitFlags) -> Result<(), Errno> {
    nix::kmod::finit_module(fd, params, flags)
}

/// `init_module(image, len, params)`: the image must be uncompressed.
pub fn init_module(image: &[u8], params: &CStr) -> Result<(), Errno> {
    nix::kmod::init_module(image, params)
}

/// `delete_module(name, O_NONBLOCK [| O_TRUNC])`. The kernel has not waited since 3.13;
/// O_NONBLOCK is sent as kmod does, O_TRUNC forces.
pub fn delete_module(name: &CStr, force: bool) -> Result<(), Errno> {
    let mut flags = DeleteModuleFlags::O_NONBLOCK;
    if force {
        flags |= DeleteModuleFlags::O_TRUNC;
    }
    nix::kmod::delete_module(name, flags)
}

/// kmod's wording for load errors (`mod_strerror`): four fixed texts, strerror otherwise.
pub fn load_strerror(errno: Errno) -> String {
    match errno {
        Errno::ENOEXEC => "Invalid module format".to_string(),
        Errno::ENOENT => "Unknown symbol in module".to_string(),
        Errno::ESRCH => "Module has wrong symbol version".to_string(),
        Errno::EINVAL => "Invalid parameters".to_string(),
        e => crate::error::strerror(e as i32),
    }
}

/// What a load error usually means, beyond kmod's words (kernel/module/main.c `load_module`).
pub fn load_hint(errno: Errno) -> Option<&'static str> {
    Some(match errno {
        Errno::EEXIST => "a module of that name is already loaded",
        Errno::EPERM => {
            "needs CAP_SYS_MODULE; or module loading is disabled (kernel.modules_disabled), the name is blacklisted, or lockdown refused an unsigned module"
        }
        Errno::ENOEXEC => {
            "not a module for this kernel: wrong architecture, version magic or symbol versions; dmesg says which"
        }
        Errno::ENOENT => {
            "a symbol it needs is not loaded (load the module that provides it first), or its init failed with ENOENT; dmesg says which"
        }
        Errno::EINVAL => {
            "a parameter value was rejected, a symbol version disagrees, or the module's init returned EINVAL; dmesg says which"
        }
        Errno::EBUSY => "a module of that name is still loading or unloading",
        Errno::EKEYREJECTED => "the signature did not verify, or signatures are enforced",
        Errno::ENOKEY => "signatures are enforced and the signing key is not trusted",
        Errno::EBADMSG => "the appended signature is malformed",
        Errno::ENOSYS => "this kernel has no module support: CONFIG_MODULES is off",
        Errno::ETXTBSY => "the file is open for writing",
        _ => return None,
    })
}
