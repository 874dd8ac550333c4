//! Module names, aliases and paths as kmod spells them (libkmod-util / shared/util.c).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The kernel's limit on a module name, terminating NUL included (`MODULE_NAME_LEN` on 64-bit).
pub const MODULE_NAME_LEN: usize = 56;

/// File name endings kmod recognises as module files.
pub const MODULE_EXTENSIONS: [&str; 4] = [".ko", ".ko.gz", ".ko.xz", ".ko.zst"];

/// Normalises a module name: stop at the first `.`, turn every `-` into `_`
/// (`snd-hda-intel.ko.xz` → `snd_hda_intel`).
pub fn normalize_name(name: &[u8]) -> Vec<u8> {
    name.iter()
        .take_while(|&&b| b != b'.')
        .map(|&b| if b == b'-' { b'_' } else { b })
        .collect()
}

/// The module name a path stands for: its normalised basename. `None` for an empty basename.
pub fn name_from_path(path: &Path) -> Option<Vec<u8>> {
    let bytes = path.as_os_str().as_bytes();
    let base = bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes);
    (!base.is_empty()).then(|| normalize_name(base))
}

/// Normalises an alias: `-` becomes `_` except inside `[...]`. An unbalanced bracket is an
/// error, as in kmod's `alias_normalize`.
pub fn normalize_alias(alias: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(alias.len());
    let mut i = 0;
    while i < alias.len() {
        match alias[i] {
            b'[' => {
                let close = alias[i..].iter().position(|&b| b == b']')?;
                out.extend_from_slice(&alias[i..=i + close]);
                i += close + 1;
                continue;
            }
            b']' => return None,
            b'-' => out.push(b'_'),
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// Whether `arg` ends in a module extension with at least one character before it.
pub fn has_module_extension(arg: &[u8]) -> bool {
    MODULE_EXTENSIONS
        .iter()
        .any(|ext| arg.len() > ext.len() && arg.ends_with(ext.as_bytes()))
}

/// Makes `path` absolute the way kmod prints it: kept as is when absolute, otherwise appended
/// to the current directory — spelled as `$PWD` when that names the current directory, so a
/// directory reached through a symlink keeps its symlinked name. Nothing is normalised.
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let mut dir = current_dir_name().into_vec();
    if dir.last() != Some(&b'/') {
        dir.push(b'/');
    }
    dir.extend_from_slice(path.as_os_str().as_bytes());
    PathBuf::from(OsString::from_vec(dir))
}

/// `get_current_dir_name(3)`: `$PWD` if it is the current directory, else `getcwd`. Computed
/// once: the tools never change directory, and modinfo may make thousands of paths absolute.
fn current_dir_name() -> OsString {
    static CWD: std::sync::OnceLock<OsString> = std::sync::OnceLock::new();
    CWD.get_or_init(compute_current_dir_name).clone()
}

fn compute_current_dir_name() -> OsString {
    let cwd = std::env::current_dir().map(PathBuf::into_os_string);
    if let Some(pwd) = std::env::var_os("PWD")
        && let (Ok(a), Ok(b)) = (std::fs::metadata(&pwd), std::fs::metadata("."))
        && a.dev() == b.dev()
        && a.ino() == b.ino()
    {
        return pwd;
    }
    cwd.unwrap_or_else(|_| OsString::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_like_kmod() {
        assert_eq!(normalize_name(b"nf-tables"), b"nf_tables");
        assert_eq!(normalize_name(b"snd-hda-intel.ko.xz"), b"snd_hda_intel");
        assert_eq!(normalize_name(b"pc.zst.ko"), b"pc");
        assert_eq!(
            name_from_path(Path::new("/a/b/snd-hda.ko")).unwrap(),
            b"snd_hda"
        );
        assert_eq!(name_from_path(Path::new("/a/b/")), None);
    }

    #[test]
    fn aliases_keep_brackets() {
        assert_eq!(normalize_alias(b"pci-x[a-b]-y").unwrap(), b"pci_x[a-b]_y");
        assert_eq!(normalize_alias(b"a]b"), None);
        assert_eq!(normalize_alias(b"a[b"), None);
    }

    #[test]
    fn extensions() {
        assert!(has_module_extension(b"x.ko"));
        assert!(has_module_extension(b"/a/x.ko.zst"));
        assert!(!has_module_extension(b".ko"));
        assert!(!has_module_extension(b"x.ko.bz2"));
        assert!(!has_module_extension(b"x"));
    }

    #[test]
    fn absolute_paths_stay_unchanged() {
        assert_eq!(absolute(Path::new("/x/./y.ko")), Path::new("/x/./y.ko"));
        let rel = absolute(Path::new("./y.ko"));
        assert!(rel.is_absolute(), "{rel:?}");
        assert!(rel.as_os_str().as_bytes().ends_with(b"/./y.ko"), "{rel:?}");
    }
}
