//! `/sys/module/NAME/` attributes (kernel/module/sysfs.c and main.c `modinfo_attrs`).
//!
//! A loaded module has `initstate`, `refcnt`, `coresize`, `taint` and a `holders/` directory;
//! a builtin "module" (code with parameters or a version, built into the kernel) has a directory
//! but no `initstate`.

use std::io;
use std::path::PathBuf;

use crate::kernel::procmodules::State;
use crate::sysroot::SysRoot;

/// The sysfs directory of one module.
#[derive(Debug, Clone)]
pub struct ModuleSys {
    dir: PathBuf,
}

impl ModuleSys {
    /// `/sys/module/NAME` under `root`.
    pub fn new(root: &SysRoot, name: &str) -> ModuleSys {
        ModuleSys {
            dir: root.sys_module().join(name),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Whether the directory exists (loaded, loading, or builtin).
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// Reads a small attribute with one read: sysfs returns a whole attribute at once, and
    /// lsmod reads a few per module, so the open-stat-read-read-close of `read_to_string`
    /// would double its system calls.
    fn read(&self, attr: &str) -> io::Result<String> {
        use std::io::Read;
        let mut f = std::fs::File::open(self.dir.join(attr))?;
        let mut buf = [0u8; 512];
        let n = f.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// `initstate`: live, coming or going. Missing for builtin modules.
    pub fn initstate(&self) -> io::Result<Option<State>> {
        Ok(State::parse(&self.read("initstate")?))
    }

    /// `refcnt`. Missing without CONFIG_MODULE_UNLOAD.
    pub fn refcnt(&self) -> io::Result<i64> {
        parse_number(&self.read("refcnt")?)
    }

    /// `coresize`: text and core data, what kmod's lsmod prints.
    pub fn coresize(&self) -> io::Result<i64> {
        parse_number(&self.read("coresize")?)
    }

    /// `taint`: the module's taint letters (empty when untainted).
    pub fn taint(&self) -> io::Result<String> {
        Ok(self.read("taint")?.trim_end().to_string())
    }

    /// The modules holding this one, in directory order (kmod's lsmod order).
    pub fn holders(&self) -> io::Result<Vec<String>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(self.dir.join("holders"))? {
            v.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(v)
    }
}

/// A decimal number followed by optional whitespace, as sysfs prints it.
fn parse_number(s: &str) -> io::Result<i64> {
    s.trim_end()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("not a number: {s:?}")))
}

/// The compression the kernel decompresses itself (`/sys/module/compression`, Linux 5.17+ with
/// CONFIG_MODULE_DECOMPRESS), if any.
pub fn kernel_compression(root: &SysRoot) -> Option<crate::file::compression::Compression> {
    let s = std::fs::read_to_string(root.sys_module().join("compression")).ok()?;
    crate::file::compression::Compression::from_kernel_name(&s)
}
