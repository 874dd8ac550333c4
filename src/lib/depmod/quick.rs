//! `-A`/`--quick`: is `modules.dep` newer than every module? (kmod tools/depmod.c
//! `depfile_up_to_date`.)
//!
//! kmod 34.2 walks the input directory as the full run does but without depmod.d (no
//! `exclude`, no external directories), follows symbolic links, and compares modification
//! times in whole seconds: a module modified in the same second as `modules.dep` counts as
//! older. It stops at the first newer module. Configuration files are not compared.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Level, Log};
use crate::error::io_cause;
use crate::names;

/// True when `dir/modules.dep` exists and no module under `dir` is newer (in whole seconds).
/// Problems are logged as kmod logs them; any of them means "not up to date" only when
/// `modules.dep` itself cannot be examined.
pub fn is_up_to_date(dir: &Path, log: &mut Log) -> bool {
    if let Err(e) = std::fs::read_dir(dir) {
        log.push(
            Level::Error,
            format!(
                "could not open directory {}: {}",
                dir.display(),
                io_cause(&e)
            ),
        );
        return false;
    }
    let dep = match std::fs::metadata(dir.join("modules.dep")) {
        Ok(m) => m.mtime(),
        Err(e) => {
            log.push(
                Level::Error,
                format!(
                    "could not fstatat({}, modules.dep): {}",
                    dir.display(),
                    io_cause(&e)
                ),
            );
            return false;
        }
    };
    !has_newer(dir, dep, &mut Vec::new(), log)
}

/// Whether a module under `dir` was modified after `mtime` (seconds). `ancestors` holds the
/// (device, inode) of the directories being walked, so a symbolic link back to one of them
/// is not walked again (kmod walks it until its path buffer is full).
fn has_newer(dir: &Path, mtime: i64, ancestors: &mut Vec<(u64, u64)>, log: &mut Log) -> bool {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            log.push(Level::Error, super::scan::open_message(dir, &e));
            return false;
        }
    };
    let depth = ancestors.len();
    if let Ok(meta) = std::fs::metadata(dir) {
        ancestors.push((meta.dev(), meta.ino()));
    }
    let mut is_newer = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.as_bytes();
        if matches!(name, b"build" | b"source") {
            continue;
        }
        let path = entry.path();
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                log.push(
                    Level::Error,
                    format!(
                        "fstatat({}, {}): {}",
                        dir.display(),
                        String::from_utf8_lossy(name),
                        io_cause(&e)
                    ),
                );
                continue;
            }
        };
        if meta.is_dir() {
            if ancestors.contains(&(meta.dev(), meta.ino())) {
                log.push(Level::Error, super::scan::loop_message(&path));
            } else if has_newer(&path, mtime, ancestors, log) {
                is_newer = true;
                break;
            }
        } else if meta.is_file() {
            if names::has_module_extension(name) && meta.mtime() > mtime {
                is_newer = true;
                break;
            }
        } else {
            log.push(
                Level::Error,
                format!(
                    "unsupported file type {}: {:o}",
                    path.display(),
                    meta.mode() & 0o170000
                ),
            );
        }
    }
    ancestors.truncate(depth);
    is_newer
}
