//! The modules loaded in the running kernel: `/proc/modules` for the list and order, sysfs for
//! sizes, reference counts and holders — the sources kmod's lsmod uses.

use std::io;

use crate::error::{Error, Result};
use crate::kernel::procmodules::{self, ProcModule, State};
use crate::kernel::sysfs::ModuleSys;
use crate::sysroot::SysRoot;

/// One loaded module.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoadedModule {
    /// Module name.
    pub name: String,
    /// sysfs `coresize`, else the `/proc/modules` size; kmod prints `-errno` when the sysfs
    /// directory cannot be read and 0 when `coresize` is unreadable.
    pub size: i64,
    /// sysfs `refcnt`, or the negative errno kmod prints when it cannot be read.
    pub refcnt: i64,
    /// Modules that depend on this one (`holders/`), in directory order.
    pub holders: Vec<String>,
    /// live / loading / unloading.
    pub state: Option<State>,
    /// Per-module taint letters (`OE`, ...), empty when untainted.
    pub taint: String,
    /// Init but no exit: `[permanent]` in /proc/modules.
    pub is_permanent: bool,
}

impl LoadedModule {
    /// References not held by modules: open files, sockets, `try_module_get`, `symbol_get`.
    /// Each holder accounts for one reference.
    pub fn other_refs(&self) -> Option<i64> {
        (self.refcnt >= 0).then(|| (self.refcnt - self.holders.len() as i64).max(0))
    }
}

/// What reading the list found besides the modules.
#[derive(Debug, Default)]
pub struct Listing {
    /// Modules, most recently loaded first.
    pub modules: Vec<LoadedModule>,
    /// Modules listed in /proc/modules that vanished before their sysfs entries were read.
    pub vanished: Vec<String>,
}

/// Reads `/proc/modules`. Its absence means a kernel without module support.
pub fn read_proc_modules(root: &SysRoot) -> Result<Vec<ProcModule>> {
    let path = root.proc_modules();
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    Ok(procmodules::parse(&text))
}

/// Lists loaded modules. Modules that disappear while being read are skipped (kmod prints
/// `-2  -2` for them).
pub fn list(root: &SysRoot) -> Result<Listing> {
    let mut listing = Listing::default();
    for pm in read_proc_modules(root)? {
        match view(root, &pm) {
            Some(m) => listing.modules.push(m),
            None => listing.vanished.push(pm.name),
        }
    }
    Ok(listing)
}

/// Combines a /proc/modules line with sysfs. `None` if the module's sysfs directory is gone.
/// State and taint come from /proc/modules, which has them already.
pub fn view(root: &SysRoot, pm: &ProcModule) -> Option<LoadedModule> {
    let sys = ModuleSys::new(root, &pm.name);
    let size = match sys.coresize() {
        Ok(n) => n,
        // Without coresize kmod falls back to /proc/modules; without the directory, the
        // module is gone.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if !sys.exists() {
                return None;
            }
            pm.size as i64
        }
        Err(_) => 0,
    };
    let refcnt = sys
        .refcnt()
        .unwrap_or_else(|e| -i64::from(e.raw_os_error().unwrap_or(libc::EINVAL)));
    Some(LoadedModule {
        name: pm.name.clone(),
        size,
        refcnt,
        holders: sys.holders().unwrap_or_default(),
        state: pm.state,
        taint: pm.taint.clone().unwrap_or_default(),
        is_permanent: pm.is_permanent,
    })
}

/// Finds one module in /proc/modules.
pub fn find(root: &SysRoot, name: &str) -> Result<Option<ProcModule>> {
    Ok(read_proc_modules(root)?
        .into_iter()
        .find(|m| m.name == name))
}
