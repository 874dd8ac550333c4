//! What a module argument means, as kmod's modinfo (and modaudit) read it: a module file when it
//! ends in a module extension and is a regular file, else a name, an alias or `symbol:NAME`
//! looked up in the module directory; and where each module's information then comes from.

use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::file::ModuleFile;
use crate::file::modinfo::ModuleInfo;
use crate::moddir::{Found, ModuleDir};
use crate::names;
use crate::sysroot::SysRoot;

/// The module directory the tools read: `ROOT/lib/modules/$(uname -r)`, or, with `-b BASEDIR`
/// and/or `-k VERSION`, kmod's `BASEDIR/lib/modules/VERSION` spelled as kmod spells it (no
/// normalisation, made absolute: the spelling shows in every file name printed).
pub fn module_dir(
    root: &SysRoot,
    basedir: Option<&OsStr>,
    version: Option<&str>,
) -> Result<PathBuf, String> {
    let release = || {
        root.kernel_release()
            .map_err(|e| format!("uname() failed: {}", crate::error::io_cause(&e)))
    };
    if basedir.is_none() && version.is_none() {
        return Ok(root.modules.join(release()?));
    }
    let release = match version {
        Some(v) => v.to_string(),
        None => release()?,
    };
    let mut dir = basedir.map(|b| b.as_bytes().to_vec()).unwrap_or_default();
    dir.extend_from_slice(b"/lib/modules/");
    dir.extend_from_slice(release.as_bytes());
    Ok(names::absolute(Path::new(&std::ffi::OsString::from_vec(
        dir,
    ))))
}

/// A module file named on the command line, opened once (file and length).
pub type Opened = (std::fs::File, u64);

/// One module an argument names.
pub struct Target {
    /// The module.
    pub found: Found,
    /// Its file, when the argument was that file and it is open already.
    pub opened: Option<Opened>,
}

/// Why an argument names no module. `Display` is kmod's message, with the reason spelled out
/// where kmod leaves it implicit.
#[derive(Debug)]
pub enum ResolveError {
    /// `-m` and no module of that name.
    NameNotFound(String),
    /// A module file whose name gives no module name.
    FileNotFound(String),
    /// Nothing by that name, alias or symbol (with why, when it names something on disk).
    NotFound(String),
    /// Found as an alias pattern's key, but it resolves to nothing.
    AliasNotFound(String),
    /// An index could not be read.
    Index(Error),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::NameNotFound(s) => write!(f, "Module name {s} not found."),
            ResolveError::FileNotFound(s) => write!(f, "Module file {s} not found."),
            ResolveError::NotFound(msg) => f.write_str(msg),
            ResolveError::AliasNotFound(s) => write!(f, "Module alias {s} not found."),
            ResolveError::Index(e) => write!(f, "{e}"),
        }
    }
}

/// Resolves one argument to the modules it names, as kmod's modinfo does. With `modname_only`
/// (`-m`) the argument is a module name and nothing else.
pub fn resolve(
    dir: &ModuleDir,
    arg: &OsStr,
    modname_only: bool,
) -> Result<Vec<Target>, ResolveError> {
    let bytes = arg.as_bytes();
    let shown = || String::from_utf8_lossy(bytes).into_owned();
    let targets = |found: Vec<Found>| {
        found
            .into_iter()
            .map(|found| Target {
                found,
                opened: None,
            })
            .collect()
    };
    if modname_only {
        return match dir.lookup_name(bytes) {
            Ok(Some(f)) => Ok(targets(vec![f])),
            Ok(None) => Err(ResolveError::NameNotFound(shown())),
            Err(e) => Err(ResolveError::Index(e)),
        };
    }
    if let Some(opened) = open_module_arg(bytes) {
        let path = names::absolute(Path::new(arg));
        let name =
            names::name_from_path(&path).ok_or_else(|| ResolveError::FileNotFound(shown()))?;
        // The file is open already: read it from that descriptor rather than reopening.
        return Ok(vec![Target {
            found: Found {
                name,
                path: Some(path),
                builtin: false,
            },
            opened: Some(opened),
        }]);
    }
    match dir.lookup(bytes) {
        Ok(Some(found)) if !found.is_empty() => Ok(targets(found)),
        Ok(Some(_)) => Err(ResolveError::NotFound(not_found_message(arg, &shown()))),
        Ok(None) => Err(ResolveError::AliasNotFound(shown())),
        Err(e) => Err(ResolveError::Index(e)),
    }
}

/// kmod takes an argument as a file when it ends in a module extension and is a regular file.
fn open_module_arg(arg: &[u8]) -> Option<Opened> {
    if !names::has_module_extension(arg) {
        return None;
    }
    crate::file::open_regular(Path::new(OsStr::from_bytes(arg))).ok()
}

/// kmod's "Module X not found." with the reason spelled out when the argument names something
/// on disk that is not a module file.
fn not_found_message(arg: &OsStr, shown: &str) -> String {
    let path = Path::new(arg);
    let looks_like_path =
        arg.as_bytes().contains(&b'/') || names::has_module_extension(arg.as_bytes());
    if looks_like_path {
        let meta = std::fs::metadata(path);
        // A symlink loop, a permission problem: say what stat(2) said.
        if let Err(e) = &meta
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return format!("Module {shown} not found: {}", crate::error::io_cause(e));
        }
        if let Ok(meta) = meta {
            let why = if meta.is_dir() {
                "it is a directory, not a module file"
            } else if !meta.is_file() {
                "it is not a regular file"
            } else {
                "a file by that name exists, but module files must end in .ko, .ko.xz, .ko.zst or .ko.gz"
            };
            return format!("Module {shown} not found: {why}");
        }
        if arg.as_bytes().contains(&b'/') {
            return format!(
                "Module {shown} not found: no such file, and a module name cannot contain '/'"
            );
        }
    }
    format!("Module {shown} not found.")
}

/// Where a module's information comes from.
pub enum Source {
    /// Its file.
    File(ModuleFile),
    /// Built into the kernel: `modules.builtin.modinfo`.
    Builtin,
    /// Found by alias but neither in modules.dep nor builtin: nothing to show.
    Nothing,
}

impl Source {
    /// Opens the source of `f` (from `opened` when the file is open already).
    pub fn open(dir: &ModuleDir, f: &Found, opened: &mut Option<Opened>) -> Result<Source, Error> {
        match &f.path {
            Some(p) => match opened.take() {
                Some((file, len)) => ModuleFile::from_open_file(
                    p,
                    file,
                    len,
                    crate::file::compression::MAX_DECOMPRESSED,
                )
                .map(Source::File),
                None => ModuleFile::open(p).map(Source::File),
            },
            None if f.builtin || dir.is_builtin(&f.name)? => Ok(Source::Builtin),
            None => Ok(Source::Nothing),
        }
    }

    /// The module's information list.
    pub fn info<'a>(&'a self, dir: &'a ModuleDir, f: &Found) -> Result<ModuleInfo<'a>, Error> {
        match self {
            Source::File(file) => ModuleInfo::from_file(file),
            Source::Builtin => Ok(ModuleInfo::from_builtin(
                dir.builtin_info(&f.name).unwrap_or_default(),
            )),
            Source::Nothing => Ok(ModuleInfo::default()),
        }
    }
}
