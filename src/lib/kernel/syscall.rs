//! The three module system calls, through `nix::kmod`.
//!
//! # The fake kernel
//! Each call takes the [`SysRoot`] the tool runs against. For the running system it is the real
//! system call. Under a fake root (`--root DIR`, [`SysRoot::at`]) no module system call is ever
//! issued: the call is appended as one line to `DIR/kernel/calls`, and its result is read from
//! `DIR/kernel/errno` (an errno name such as `ENOENT`, or a number; absent means success). So a
//! test run against a fake tree can never load or remove a module of the machine it runs on,
//! and it can check exactly which calls a tool would have made (with `DIR/kernel/follow-sysfs`
//! present, a removal also updates the fake sysfs, as modprobe -r's later steps expect):
//!
//! ```text
//! finit_module /path/to/x.ko flags=0x0 params="a=1"
//! init_module /path/to/x.ko.xz len=12345 params=""
//! delete_module x flags=O_NONBLOCK|O_TRUNC
//! ```

use std::ffi::CStr;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::kmod::{DeleteModuleFlags, ModuleInitFlags};

use crate::sysroot::SysRoot;

/// `MODULE_INIT_COMPRESSED_FILE` (Linux 5.17): the kernel decompresses the file itself.
/// nix does not name it yet.
pub const MODULE_INIT_COMPRESSED_FILE: libc::c_uint = 4;

/// `finit_module(fd, params, flags)` on the file at `path` (named only in a fake kernel's record).
pub fn finit_module(
    root: &SysRoot,
    path: &Path,
    fd: impl AsFd,
    params: &CStr,
    flags: ModuleInitFlags,
) -> Result<(), Errno> {
    match root.fake_kernel() {
        None => nix::kmod::finit_module(fd, params, flags),
        Some(dir) => fake_call(
            &dir,
            &format!(
                "finit_module {} flags={:#x} params={:?}",
                path.display(),
                flags.bits(),
                params.to_string_lossy()
            ),
        ),
    }
}

/// `init_module(image, len, params)`: the image must be uncompressed. `path` is where it came
/// from (named only in a fake kernel's record).
pub fn init_module(root: &SysRoot, path: &Path, image: &[u8], params: &CStr) -> Result<(), Errno> {
    match root.fake_kernel() {
        None => nix::kmod::init_module(image, params),
        Some(dir) => fake_call(
            &dir,
            &format!(
                "init_module {} len={} params={:?}",
                path.display(),
                image.len(),
                params.to_string_lossy()
            ),
        ),
    }
}

/// `delete_module(name, O_NONBLOCK [| O_TRUNC])`. The kernel has not waited since 3.13;
/// O_NONBLOCK is sent as kmod does, O_TRUNC forces.
pub fn delete_module(root: &SysRoot, name: &CStr, force: bool) -> Result<(), Errno> {
    let mut flags = DeleteModuleFlags::O_NONBLOCK;
    if force {
        flags |= DeleteModuleFlags::O_TRUNC;
    }
    match root.fake_kernel() {
        None => nix::kmod::delete_module(name, flags),
        Some(dir) => {
            fake_call(
                &dir,
                &format!(
                    "delete_module {} flags={}",
                    name.to_string_lossy(),
                    if force {
                        "O_NONBLOCK|O_TRUNC"
                    } else {
                        "O_NONBLOCK"
                    }
                ),
            )?;
            if dir.join("follow-sysfs").exists() {
                fake_unload(root, &name.to_string_lossy());
            }
            Ok(())
        }
    }
}

/// With `DIR/kernel/follow-sysfs` present, a fake `delete_module` that succeeds changes the
/// fake sysfs as the kernel would: the module's directory goes, and each module it held loses
/// it from `holders/` and one from `refcnt`. (Off by default: most tests want a still picture.)
fn fake_unload(root: &SysRoot, name: &str) {
    let sys = root.sys_module();
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return;
    }
    let _ = std::fs::remove_dir_all(sys.join(name));
    let Ok(entries) = std::fs::read_dir(&sys) else {
        return;
    };
    for e in entries.flatten() {
        let held = e.path().join("holders").join(name);
        if held.symlink_metadata().is_ok() && std::fs::remove_file(&held).is_ok() {
            let refcnt = e.path().join("refcnt");
            if let Some(n) = std::fs::read_to_string(&refcnt)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
            {
                let _ = std::fs::write(&refcnt, format!("{}\n", n - 1));
            }
        }
    }
}

/// A fake kernel's answer: record `line` in `dir/calls`, answer with `dir/errno`. A record that
/// cannot be written is EIO, so a test never mistakes an unrecorded call for a made one.
fn fake_call(dir: &Path, line: &str) -> Result<(), Errno> {
    let recorded = std::fs::create_dir_all(dir).and_then(|()| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("calls"))?;
        f.write_all(format!("{line}\n").as_bytes())
    });
    if recorded.is_err() {
        return Err(Errno::EIO);
    }
    match std::fs::read_to_string(dir.join("errno")) {
        Err(_) => Ok(()),
        Ok(s) => Err(parse_errno(s.trim()).unwrap_or(Errno::EINVAL)),
    }
}

/// An errno by name (`ENOENT`) or number (`2`).
fn parse_errno(s: &str) -> Option<Errno> {
    if let Ok(n) = s.parse::<i32>() {
        return Some(Errno::from_raw(n));
    }
    (1..200)
        .map(Errno::from_raw)
        .find(|e| format!("{e:?}") == s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fake_root_records_calls_and_answers_with_its_errno() {
        let dir = std::env::temp_dir().join(format!("rkmod-fake-kernel-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = SysRoot::at(&dir);
        delete_module(&root, c"x", false).unwrap();
        std::fs::write(dir.join("kernel/errno"), "EBUSY\n").unwrap();
        assert_eq!(delete_module(&root, c"y", true), Err(Errno::EBUSY));
        std::fs::write(dir.join("kernel/errno"), "2").unwrap();
        assert_eq!(
            init_module(&root, Path::new("/m/x.ko"), b"abc", c"a=1"),
            Err(Errno::ENOENT)
        );
        let calls = std::fs::read_to_string(dir.join("kernel/calls")).unwrap();
        assert_eq!(
            calls,
            "delete_module x flags=O_NONBLOCK\n\
             delete_module y flags=O_NONBLOCK|O_TRUNC\n\
             init_module /m/x.ko len=3 params=\"a=1\"\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_host_root_has_no_fake_kernel() {
        assert!(SysRoot::host().fake_kernel().is_none());
    }
}
