//! Loading a module file into the kernel, the way kmod 34 does it:
//!
//! 1. a plain file, or a compressed one whose compression the kernel names in
//!    `/sys/module/compression`, goes to `finit_module` (with `MODULE_INIT_COMPRESSED_FILE` when
//!    compressed);
//! 2. otherwise, or when the kernel lacks `finit_module` (ENOSYS) or in-kernel decompression
//!    (EOPNOTSUPP), the file is decompressed here and passed to `init_module`.
//!
//! No other error triggers a retry: the module's init function may already have run, and running
//! it twice (as BusyBox's insmod does) is a bug.

use std::ffi::CString;
use std::path::Path;

use nix::errno::Errno;
use nix::kmod::ModuleInitFlags;

use crate::error::Error;
use crate::file::compression::{Compression, MAX_DECOMPRESSED};
use crate::file::elf::Elf;
use crate::file::{self, ModuleFile};
use crate::kernel::syscall;
use crate::kernel::sysfs;
use crate::sysroot::SysRoot;

/// What to ignore when loading (each makes the kernel taint itself, and needs
/// CONFIG_MODULE_FORCE_LOAD).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Force {
    /// Ignore symbol versions (`__versions`).
    pub modversion: bool,
    /// Ignore the version magic.
    pub vermagic: bool,
}

impl Force {
    fn flags(self) -> ModuleInitFlags {
        let mut f = ModuleInitFlags::empty();
        if self.modversion {
            f |= ModuleInitFlags::MODULE_INIT_IGNORE_MODVERSIONS;
        }
        if self.vermagic {
            f |= ModuleInitFlags::MODULE_INIT_IGNORE_VERMAGIC;
        }
        f
    }
}

/// Which way the module went into the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadPath {
    /// `finit_module` on the plain file.
    Finit,
    /// `finit_module` with `MODULE_INIT_COMPRESSED_FILE`: the kernel decompressed it.
    KernelDecompression(Compression),
    /// Decompressed here, then `init_module`.
    UserspaceDecompression(Compression),
    /// `init_module` on the plain file (no `finit_module`, or forced stripping).
    Init,
}

impl std::fmt::Display for LoadPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadPath::Finit => f.write_str("finit_module"),
            LoadPath::KernelDecompression(c) => {
                write!(f, "finit_module with in-kernel {c} decompression")
            }
            LoadPath::UserspaceDecompression(c) => {
                write!(f, "{c} decompressed in userspace, then init_module")
            }
            LoadPath::Init => f.write_str("init_module"),
        }
    }
}

/// Why a load failed.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read or prepared; nothing reached the kernel.
    File(Error),
    /// The kernel refused the module.
    Kernel {
        /// The kernel's errno.
        errno: Errno,
        /// The call that failed.
        path: LoadPath,
    },
}

impl std::fmt::Display for LoadError {
    /// The cause: for the kernel's refusals kmod's words, then what they usually mean.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::File(e) => f.write_str(&e.cause()),
            LoadError::Kernel { errno, .. } => {
                f.write_str(&load_strerror(*errno))?;
                match load_hint(*errno) {
                    Some(hint) => write!(f, " ({hint})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A failed `insmod FILE`. `Display` is insmod's one line (without the `insmod: ERROR: `
/// prefix): `could not load module FILE: …` when nothing reached the kernel, `could not insert
/// module FILE: …` when the kernel refused it.
#[derive(Debug)]
pub struct InsertError {
    /// The file as given.
    pub shown: String,
    /// Why.
    pub error: LoadError,
}

impl std::fmt::Display for InsertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = match self.error {
            LoadError::File(_) => "load",
            LoadError::Kernel { .. } => "insert",
        };
        write!(f, "could not {verb} module {}: {}", self.shown, self.error)
    }
}

/// insmod's procedure: inserts the module file `file` with the module options `options`
/// (joined as kmod joins them). `trace` receives one line per decision, for `insmod -v`.
pub fn insert(
    root: &SysRoot,
    file: &Path,
    options: &[String],
    force: Force,
    trace: &mut dyn FnMut(String),
) -> Result<LoadPath, InsertError> {
    load(root, file, &join_params(options), force, trace).map_err(|error| InsertError {
        shown: file.to_string_lossy().into_owned(),
        error,
    })
}

/// kmod's wording for load errors (`mod_strerror`): four fixed texts, strerror otherwise.
fn load_strerror(errno: Errno) -> String {
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

/// Joins module parameters as kmod 34 does: a value containing a space, not already quoted, is
/// wrapped in double quotes (`b=x y` → `b="x y"`), so the kernel sees one parameter.
pub fn join_params<S: AsRef<str>>(args: &[S]) -> String {
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        let a = a.as_ref();
        match a.split_once('=') {
            Some((key, value))
                if value.contains(' ') && !value.starts_with('"') && !value.starts_with('\'') =>
            {
                out.push(format!("{key}=\"{value}\""));
            }
            _ => out.push(a.to_string()),
        }
    }
    out.join(" ")
}

/// Loads the module file at `path` with parameter string `params`. `trace` receives one line
/// per decision, for `insmod -v`.
pub fn load(
    root: &SysRoot,
    path: &Path,
    params: &str,
    force: Force,
    trace: &mut dyn FnMut(String),
) -> Result<LoadPath, LoadError> {
    let params = CString::new(params).map_err(|_| {
        LoadError::File(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "module parameters contain a NUL byte",
            ),
        ))
    })?;
    let (file, len) = file::open_regular(path).map_err(LoadError::File)?;
    let mut head = [0u8; crate::file::compression::MAGIC_LEN];
    if len < head.len() as u64 {
        return Err(LoadError::File(Error::TooShort {
            path: path.to_path_buf(),
            len,
        }));
    }
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut head, 0)
        .map_err(|e| LoadError::File(Error::io(path, e)))?;
    let compression = Compression::detect(&head);
    let kernel_has = sysfs::kernel_compression(root);
    trace(describe_compression(path, compression, kernel_has));

    let finit_flags = if compression == Compression::None {
        Some(force.flags())
    } else if kernel_has == Some(compression) {
        Some(
            force.flags() | ModuleInitFlags::from_bits_retain(syscall::MODULE_INIT_COMPRESSED_FILE),
        )
    } else {
        None
    };
    if finit_flags.is_some() && compression != Compression::None {
        // The kernel decompresses without our limit: refuse what announces itself as a bomb.
        use std::os::unix::fs::FileExt;
        let tail_len = len.min(64 << 10);
        let mut tail = vec![0u8; tail_len as usize];
        file.read_exact_at(&mut tail, len - tail_len)
            .map_err(|e| LoadError::File(Error::io(path, e)))?;
        let mut frame = [0u8; 32];
        let got = file
            .read_at(&mut frame, 0)
            .map_err(|e| LoadError::File(Error::io(path, e)))?;
        let hint = crate::file::compression::size_hint(compression, &frame[..got], &tail);
        if hint.is_some_and(|h| h > MAX_DECOMPRESSED) {
            return Err(LoadError::File(Error::TooLarge {
                path: path.to_path_buf(),
                compression,
                limit: MAX_DECOMPRESSED,
            }));
        }
    }
    if let Some(flags) = finit_flags {
        let how = if compression == Compression::None {
            LoadPath::Finit
        } else {
            LoadPath::KernelDecompression(compression)
        };
        trace(format!(
            "finit_module(fd, \"{}\", {:#x})",
            params.to_string_lossy(),
            flags.bits()
        ));
        match syscall::finit_module(root, path, &file, &params, flags) {
            Ok(()) => return Ok(how),
            Err(Errno::ENOSYS) => {
                trace("finit_module: not implemented; falling back to init_module".into())
            }
            Err(Errno::EOPNOTSUPP) if compression != Compression::None => {
                trace("kernel cannot decompress after all (EOPNOTSUPP); decompressing here".into())
            }
            Err(Errno::EINVAL) if compression != Compression::None => {
                // The kernel says EINVAL both for a corrupt stream and for a bad parameter:
                // decompress here to tell which, and name the corruption if that is it.
                let check = ModuleFile::from_open_file(path, file, len, MAX_DECOMPRESSED);
                return Err(match check {
                    Err(e) => LoadError::File(e),
                    Ok(_) => LoadError::Kernel {
                        errno: Errno::EINVAL,
                        path: how,
                    },
                });
            }
            Err(errno) => return Err(LoadError::Kernel { errno, path: how }),
        }
    }

    let module =
        ModuleFile::from_open_file(path, file, len, MAX_DECOMPRESSED).map_err(LoadError::File)?;
    let mut image = module.bytes().to_vec();
    drop(module);
    if force != Force::default() {
        prepare_forced(&mut image, force).map_err(|cause| {
            LoadError::File(Error::BadElf {
                path: path.to_path_buf(),
                cause: crate::error::ElfError::Other(cause),
            })
        })?;
    }
    let how = if compression == Compression::None {
        LoadPath::Init
    } else {
        LoadPath::UserspaceDecompression(compression)
    };
    trace(format!(
        "init_module({} bytes, \"{}\")",
        image.len(),
        params.to_string_lossy()
    ));
    syscall::init_module(root, path, &image, &params)
        .map_err(|errno| LoadError::Kernel { errno, path: how })?;
    Ok(how)
}

/// For `insmod -v`: the file's compression, and who decompresses it.
fn describe_compression(path: &Path, file: Compression, kernel: Option<Compression>) -> String {
    let path = path.display();
    let own = match kernel {
        None => "this kernel decompresses no format itself".to_string(),
        Some(k) => format!("this kernel decompresses only {k} itself"),
    };
    match file {
        Compression::None => format!("{path}: not compressed"),
        c if kernel == Some(c) => format!(
            "{path}: {c}-compressed; this kernel decompresses {c} itself (/sys/module/compression), so it gets the file as it is"
        ),
        c => format!("{path}: {c}-compressed; {own}, so rkmod decompresses it"),
    }
}

/// A module image made ready for a forced `init_module`: its signature dropped, then
/// [`strip_for_force`]. The kernel treats a forced module as unsigned ("mangled"); an edited
/// copy would no longer match its signature, which signature enforcement then rejects, so it is
/// dropped, as the kernel itself does for a forced finit_module.
pub fn prepare_forced(image: &mut Vec<u8>, force: Force) -> Result<(), String> {
    if let Some(t) = crate::file::signature::find_trailer(image) {
        let len = t.module_len;
        image.truncate(len);
    }
    strip_for_force(image, force)
}

/// What `init_module` needs for a forced load, done on a copy (kmod's strip): clear SHF_ALLOC on
/// `__versions` so the kernel ignores symbol versions, and blank `vermagic=` in `.modinfo`.
pub fn strip_for_force(image: &mut [u8], force: Force) -> Result<(), String> {
    let (flags_at, flags_len, vermagic) = {
        let elf = Elf::parse(image).map_err(|e| e.to_string())?;
        let shoff = elf.header().e_shoff as usize;
        let entsize = usize::from(elf.header().e_shentsize);
        let flags_len = if elf.is_64() { 8 } else { 4 };
        let flags_at = elf
            .find_section("__versions")
            .map(|(i, _)| shoff + i * entsize + 8);
        let vermagic = elf.find_section(".modinfo").and_then(|(_, sh)| {
            let data = elf.section_data(sh);
            let start = sh.sh_offset as usize;
            let mut pos = 0;
            for s in data.split(|&b| b == 0) {
                if s.starts_with(b"vermagic=") {
                    return Some((start + pos, s.len()));
                }
                pos += s.len() + 1;
            }
            None
        });
        (flags_at, flags_len, vermagic)
    };
    if force.modversion
        && let Some(at) = flags_at
    {
        // SHF_ALLOC is bit 1 of the lowest byte, which sits first or last by byte order.
        let low = if image[5] == goblin::elf::header::ELFDATA2MSB {
            at + flags_len - 1
        } else {
            at
        };
        image[low] &= !(goblin::elf::section_header::SHF_ALLOC as u8);
    }
    if force.vermagic {
        let (at, len) = vermagic.ok_or("no vermagic to ignore in .modinfo")?;
        image[at..at + len].fill(0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_quoted_like_kmod_34() {
        let args = [
            "a=1",
            "b=x y",
            "c=\"q s\"",
            "d e",
            "f='x y'",
            "g=",
            "h=a=b c",
        ];
        assert_eq!(
            join_params(&args),
            "a=1 b=\"x y\" c=\"q s\" d e f='x y' g= h=\"a=b c\""
        );
        assert_eq!(join_params::<&str>(&[]), "");
    }

    #[test]
    fn force_stripping_blanks_vermagic_and_versions() {
        let mut image = crate::file::elf::testelf::build(
            true,
            false,
            &[
                (
                    ".modinfo",
                    b"license=GPL\0vermagic=6.1 SMP mod_unload \0name=x\0",
                ),
                ("__versions", &[0u8; 64]),
            ],
        );
        // testelf sets no flags; give __versions SHF_ALLOC first.
        let (i, shoff) = {
            let elf = Elf::parse(&image).unwrap();
            (
                elf.find_section("__versions").unwrap().0,
                elf.header().e_shoff as usize,
            )
        };
        image[shoff + i * 64 + 8] |= 2;
        strip_for_force(
            &mut image,
            Force {
                modversion: true,
                vermagic: true,
            },
        )
        .unwrap();
        let elf = Elf::parse(&image).unwrap();
        let modinfo = elf.section_by_name(".modinfo").unwrap();
        assert!(!modinfo.windows(8).any(|w| w == b"vermagic"));
        assert!(modinfo.starts_with(b"license=GPL\0"));
        assert!(modinfo.ends_with(b"name=x\0"));
        assert_eq!(elf.find_section("__versions").unwrap().1.sh_flags & 2, 0);
    }
}
