//! What modaudit audits: its arguments turned into module files, in order. A directory becomes
//! the module files under it (sorted), an existing file is itself, and anything else is a module
//! name or alias looked up as modinfo does.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::io_cause;
use crate::moddir::ModuleDir;
use crate::names;

/// What failed, and why: printed as `<what>: <cause>`.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The file or argument.
    pub what: String,
    /// Why.
    pub cause: String,
}

/// An argument that failed before it could be audited.
fn failed(what: impl std::fmt::Display, cause: impl Into<String>) -> Item {
    Item::Failed(Failure {
        what: what.to_string(),
        cause: cause.into(),
    })
}

/// One module file to audit, or an argument that already failed.
pub enum Item {
    /// A file, and how the table names it: as given, relative to the directory argument it was
    /// found in, or the module name it was looked up by.
    File {
        /// The file.
        path: PathBuf,
        /// How to name it.
        label: String,
    },
    /// An argument that failed.
    Failed(Failure),
}

/// Turns the arguments into module files, in order: directories become their sorted module
/// files, names are looked up.
pub fn expand(args: &[OsString], moddir: impl FnOnce() -> Result<PathBuf, String>) -> Vec<Item> {
    let dir: OnceLock<Result<ModuleDir, String>> = OnceLock::new();
    let mut items = Vec::new();
    let mut moddir = Some(moddir);
    for arg in args {
        let path = Path::new(arg);
        let shown = String::from_utf8_lossy(arg.as_bytes());
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let before = items.len();
                let mut files = Vec::new();
                let mut errors = Vec::new();
                crate::moddir::module_files(path, &mut files, &mut errors);
                items.extend(
                    errors
                        .into_iter()
                        .map(|(p, e)| failed(p.display(), io_cause(&e))),
                );
                if files.is_empty() && items.len() == before {
                    items.push(failed(
                        &shown,
                        "no module files (*.ko, *.ko.xz, *.ko.zst, *.ko.gz) in this directory",
                    ));
                }
                files.sort();
                items.extend(files.into_iter().map(|file| {
                    Item::File {
                        label: file
                            .strip_prefix(path)
                            .unwrap_or(&file)
                            .to_string_lossy()
                            .into_owned(),
                        path: file,
                    }
                }));
            }
            Ok(_) => items.push(Item::File {
                path: path.to_path_buf(),
                label: shown.into_owned(),
            }),
            Err(e)
                if arg.as_bytes().contains(&b'/')
                    || names::has_module_extension(arg.as_bytes())
                    || e.kind() != std::io::ErrorKind::NotFound =>
            {
                items.push(failed(&shown, io_cause(&e)));
            }
            Err(_) => {
                let dir = dir.get_or_init(|| match moddir.take() {
                    Some(f) => f().map(ModuleDir::new),
                    None => Err("no module directory".to_string()),
                });
                match dir {
                    Ok(dir) => lookup(dir, arg.as_bytes(), &shown, &mut items),
                    Err(msg) => items.push(failed(&shown, msg.clone())),
                }
            }
        }
    }
    items
}

/// Looks a module name or alias up the way modinfo does.
fn lookup(dir: &ModuleDir, arg: &[u8], shown: &str, items: &mut Vec<Item>) {
    match dir.lookup(arg) {
        Ok(Some(found)) if !found.is_empty() => {
            for f in found {
                match f.path {
                    Some(path) => items.push(Item::File {
                        path,
                        label: String::from_utf8_lossy(&f.name).into_owned(),
                    }),
                    None => items.push(failed(
                        String::from_utf8_lossy(&f.name),
                        "built into the kernel, not a module file (it can never be unloaded)",
                    )),
                }
            }
        }
        Ok(_) => items.push(failed(
            shown,
            format!(
                "no such file, and no module by that name in {}",
                dir.path().display()
            ),
        )),
        Err(e) => items.push(failed(e.path().display(), e.cause())),
    }
}
