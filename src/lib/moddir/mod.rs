//! A module directory (`/lib/modules/VERSION`): finding modules by name, alias and symbol, as
//! libkmod does with depmod's indexes, and reading builtin modules' information.

pub mod devname;
pub mod index;
pub mod index_writer;
pub mod resolve;

use std::collections::HashMap;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::file::modinfo::{Entry, split_entry, split_strings};
use crate::moddir::index::Index;
use crate::names;

/// A module found in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its name.
    pub name: Vec<u8>,
    /// Its file, from `modules.dep`; `None` for builtin modules (and dangling aliases).
    pub path: Option<PathBuf>,
    /// Found through the builtin indexes (libkmod then knows it is builtin without asking
    /// `modules.builtin.bin` again: some builtin modules are only in the builtin alias index).
    pub builtin: bool,
}

/// Which index a lookup reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Dep,
    Alias,
    Symbols,
    Builtin,
    BuiltinAlias,
}

impl Which {
    fn file(self) -> &'static str {
        match self {
            Which::Dep => "modules.dep.bin",
            Which::Alias => "modules.alias.bin",
            Which::Symbols => "modules.symbols.bin",
            Which::Builtin => "modules.builtin.bin",
            Which::BuiltinAlias => "modules.builtin.alias.bin",
        }
    }
}

/// A loaded index: absent files are normal, corrupt ones are remembered as errors.
type Slot = OnceLock<std::result::Result<Option<Index>, String>>;

/// A module directory with lazily opened indexes. Safe to share between threads.
pub struct ModuleDir {
    dir: PathBuf,
    dep: Slot,
    alias: Slot,
    symbols: Slot,
    builtin: Slot,
    builtin_alias: Slot,
    dep_text: OnceLock<Option<HashMap<Vec<u8>, Vec<u8>>>>,
    builtin_modinfo: OnceLock<Option<Mmap>>,
}

impl ModuleDir {
    /// A module directory at `dir`, spelled as it will be printed in file names.
    pub fn new(dir: PathBuf) -> ModuleDir {
        ModuleDir {
            dir,
            dep: OnceLock::new(),
            alias: OnceLock::new(),
            symbols: OnceLock::new(),
            builtin: OnceLock::new(),
            builtin_alias: OnceLock::new(),
            dep_text: OnceLock::new(),
            builtin_modinfo: OnceLock::new(),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn index(&self, which: Which) -> Result<Option<&Index>> {
        let slot = match which {
            Which::Dep => &self.dep,
            Which::Alias => &self.alias,
            Which::Symbols => &self.symbols,
            Which::Builtin => &self.builtin,
            Which::BuiltinAlias => &self.builtin_alias,
        };
        let path = self.dir.join(which.file());
        let loaded = slot.get_or_init(|| match Index::open(&path) {
            Ok(i) => Ok(Some(i)),
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.cause()),
        });
        match loaded {
            Ok(i) => Ok(i.as_ref()),
            Err(cause) => Err(Error::BadIndex {
                path,
                cause: cause.trim_start_matches("malformed index: ").to_string(),
            }),
        }
    }

    /// The file of module `name`, from `modules.dep.bin` (or the text `modules.dep` when the
    /// binary index is missing).
    pub fn dep_path(&self, name: &[u8]) -> Result<Option<PathBuf>> {
        let line = match self.index(Which::Dep)? {
            Some(idx) => idx.search(name),
            None => self.dep_text_line(name),
        };
        Ok(line.and_then(|line| {
            let path = &line[..line.iter().position(|&b| b == b':')?];
            let path = Path::new(std::ffi::OsStr::from_bytes(path));
            Some(if path.is_absolute() {
                path.to_path_buf()
            } else {
                self.dir.join(path)
            })
        }))
    }

    fn dep_text_line(&self, name: &[u8]) -> Option<Vec<u8>> {
        let map = self.dep_text.get_or_init(|| {
            let text = std::fs::read(self.dir.join("modules.dep")).ok()?;
            Some(parse_dep_text(&text))
        });
        map.as_ref()?.get(name).cloned()
    }

    fn found(&self, name: Vec<u8>) -> Result<Found> {
        let path = self.dep_path(&name)?;
        Ok(Found {
            name,
            path,
            builtin: false,
        })
    }

    fn builtin_exact(&self, name: &[u8]) -> Result<Option<Found>> {
        Ok(self
            .index(Which::Builtin)?
            .and_then(|idx| idx.search(name))
            .map(|_| Found {
                name: name.to_vec(),
                path: None,
                builtin: true,
            }))
    }

    fn wild(&self, which: Which, key: &[u8], builtin: bool) -> Result<Vec<Found>> {
        let Some(idx) = self.index(which)? else {
            return Ok(Vec::new());
        };
        idx.search_wild(key)
            .into_iter()
            .map(|v| {
                if builtin {
                    Ok(Found {
                        name: v.value,
                        path: None,
                        builtin: true,
                    })
                } else {
                    self.found(v.value)
                }
            })
            .collect()
    }

    /// Looks up a module by name only (`modinfo -m`): `modules.dep`, then builtin, then builtin
    /// aliases; the first match.
    pub fn lookup_name(&self, name: &[u8]) -> Result<Option<Found>> {
        let name = names::normalize_name(name);
        if let Some(path) = self.dep_path(&name)? {
            return Ok(Some(Found {
                name,
                path: Some(path),
                builtin: false,
            }));
        }
        if let Some(f) = self.builtin_exact(&name)? {
            return Ok(Some(f));
        }
        Ok(self
            .wild(Which::BuiltinAlias, &name, true)?
            .into_iter()
            .next())
    }

    /// Looks up a module name, `symbol:NAME` or alias the way libkmod's
    /// `kmod_module_new_from_lookup` does: module name, symbol, alias, builtin name, builtin
    /// alias; the first source with any match gives all its matches. `Ok(None)` when the alias
    /// cannot be normalised (unbalanced brackets).
    pub fn lookup(&self, arg: &[u8]) -> Result<Option<Vec<Found>>> {
        let Some(alias) = names::normalize_alias(arg) else {
            return Ok(None);
        };
        if !alias.contains(&b':')
            && let Some(path) = self.dep_path(&alias)?
        {
            return Ok(Some(vec![Found {
                name: alias,
                path: Some(path),
                builtin: false,
            }]));
        }
        if alias.starts_with(b"symbol:") {
            let found = self.wild(Which::Symbols, &alias, false)?;
            if !found.is_empty() {
                return Ok(Some(found));
            }
        }
        let found = self.wild(Which::Alias, &alias, false)?;
        if !found.is_empty() {
            return Ok(Some(found));
        }
        if let Some(f) = self.builtin_exact(&alias)? {
            return Ok(Some(vec![f]));
        }
        Ok(Some(self.wild(Which::BuiltinAlias, &alias, true)?))
    }

    /// The `modules.dep` line of module `name` (`path: dep dep...`), from `modules.dep.bin` or
    /// the text file when the binary index is missing.
    pub fn dep_line(&self, name: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(match self.index(Which::Dep)? {
            Some(idx) => idx.search(name),
            None => self.dep_text_line(name),
        })
    }

    /// The modules of every `modules.alias.bin` pattern matching `key`, by priority.
    pub fn alias_targets(&self, key: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.wild_values(Which::Alias, key)
    }

    /// The owners of `symbol:NAME` in `modules.symbols.bin`, by priority.
    pub fn symbol_owners(&self, key: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.wild_values(Which::Symbols, key)
    }

    /// The builtin modules of every `modules.builtin.alias.bin` pattern matching `key`.
    pub fn builtin_alias_targets(&self, key: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.wild_values(Which::BuiltinAlias, key)
    }

    fn wild_values(&self, which: Which, key: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .index(which)?
            .map(|idx| idx.search_wild(key).into_iter().map(|v| v.value).collect())
            .unwrap_or_default())
    }

    /// `modprobe -c`'s index dump: `alias KEY MODULE` for `modules.alias.bin`, then
    /// `alias symbol:NAME MODULE` for `modules.symbols.bin`. Missing indexes give nothing.
    /// Unreadable indexes give nothing, as in libkmod.
    pub fn dump_aliases(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        for which in [Which::Alias, Which::Symbols] {
            if let Ok(Some(idx)) = self.index(which) {
                idx.dump(b"alias ", out)?;
            }
        }
        Ok(())
    }

    /// Whether `name` is a builtin module (listed in `modules.builtin.bin`).
    pub fn is_builtin(&self, name: &[u8]) -> Result<bool> {
        Ok(self.builtin_exact(name)?.is_some())
    }

    /// The information list of builtin module `name` from `modules.builtin.modinfo`: the first
    /// run of `name.key=value` strings. `None` when the file is missing (old kernels).
    pub fn builtin_info(&self, name: &[u8]) -> Option<Vec<Entry<'_>>> {
        let map = self
            .builtin_modinfo
            .get_or_init(|| {
                crate::file::map_file(&self.dir.join("modules.builtin.modinfo"))
                    .ok()
                    .flatten()
            })
            .as_ref()?;
        Some(builtin_entries(map, name))
    }
}

/// Parses the text `modules.dep` (`path: dep dep...` per line) into module name → line; the
/// first line for a name wins, as depmod writes each module once.
pub fn parse_dep_text(text: &[u8]) -> HashMap<Vec<u8>, Vec<u8>> {
    let mut map = HashMap::new();
    for line in text.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let path = Path::new(std::ffi::OsStr::from_bytes(&line[..colon]));
        if let Some(n) = names::name_from_path(path) {
            map.entry(n).or_insert_with(|| line.to_vec());
        }
    }
    map
}

/// The entries of `name` in a `modules.builtin.modinfo` image: collection starts at the first
/// string with the prefix `name.` and stops at the first string without it.
pub fn builtin_entries<'a>(data: &'a [u8], name: &[u8]) -> Vec<Entry<'a>> {
    let mut prefix = name.to_vec();
    prefix.push(b'.');
    split_strings(data)
        .skip_while(|s| !s.starts_with(&prefix))
        .take_while(|s| s.starts_with(&prefix))
        .map(|s| split_entry(&s[prefix.len()..]))
        .collect()
}

/// Collects the module files (`*.ko`, `*.ko.xz`, `*.ko.zst`, `*.ko.gz`) under `dir`, in
/// directory order, and the directories or entries that could not be read. Symbolic links to
/// directories are not followed (a module tree's `build` and `source` links lead to kernel
/// sources, and links can loop); symbolic links to files count as files.
pub fn module_files(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<(PathBuf, std::io::Error)>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push((dir.to_path_buf(), e));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                errors.push((dir.to_path_buf(), e));
                continue;
            }
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => module_files(&path, files, errors),
            Ok(_) if names::has_module_extension(entry.file_name().as_bytes()) => files.push(path),
            Ok(_) => {}
            Err(e) => errors.push((path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moddir::index;

    fn tree() -> (tempdir::Dir, ModuleDir) {
        let d = tempdir::Dir::new();
        let w = |name: &str, data: Vec<u8>| std::fs::write(d.0.join(name), data).unwrap();
        w(
            "modules.dep.bin",
            index::write(&[
                (b"e1000e", b"kernel/net/e1000e.ko:", 0),
                (b"crc32_generic", b"kernel/crypto/crc32_generic.ko:", 1),
                (b"crc32_pclmul", b"/ext/crc32-pclmul.ko:", 2),
            ]),
        );
        w(
            "modules.alias.bin",
            index::write(&[
                (b"pci:v00008086d000010D3sv*sd*bc*sc*i*", b"e1000e", 0),
                (b"crc32", b"crc32_pclmul", 1),
                (b"crc32", b"crc32_generic", 2),
                (b"dangling", b"nowhere", 3),
            ]),
        );
        w(
            "modules.symbols.bin",
            index::write(&[(b"symbol:crc32_le", b"crc32_generic", 0)]),
        );
        w(
            "modules.builtin.bin",
            index::write(&[(b"iosf_mbi", b"", 0)]),
        );
        w(
            "modules.builtin.alias.bin",
            index::write(&[(b"zbud_alias", b"zbud", 0)]),
        );
        w(
            "modules.builtin.modinfo",
            b"aaa.license=GPL\0iosf_mbi.license=GPL v2\0iosf_mbi.file=arch/x86/iosf\0zbud.x=1\0iosf_mbi.late=no\0".to_vec(),
        );
        let md = ModuleDir::new(d.0.clone());
        (d, md)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static N: AtomicUsize = AtomicUsize::new(0);
                let p = std::env::temp_dir().join(format!(
                    "rkmod-moddir-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn names(v: Option<Vec<Found>>) -> Vec<String> {
        v.unwrap()
            .into_iter()
            .map(|f| String::from_utf8(f.name).unwrap())
            .collect()
    }

    #[test]
    fn lookup_order_and_paths() {
        let (d, md) = tree();
        let f = md.lookup(b"e1000e").unwrap().unwrap();
        assert_eq!(
            f[0].path.as_deref(),
            Some(d.0.join("kernel/net/e1000e.ko").as_path())
        );
        assert_eq!(
            names(md.lookup(b"crc32").unwrap()),
            ["crc32_pclmul", "crc32_generic"]
        );
        let f = md.lookup(b"crc32").unwrap().unwrap();
        assert_eq!(
            f[0].path.as_deref(),
            Some(Path::new("/ext/crc32-pclmul.ko"))
        );
        assert_eq!(
            names(md.lookup(b"symbol:crc32_le").unwrap()),
            ["crc32_generic"]
        );
        assert_eq!(
            names(md.lookup(b"pci:v00008086d000010D3sv1sd2bc3sc4i5").unwrap()),
            ["e1000e"]
        );
        let b = md.lookup(b"iosf-mbi").unwrap().unwrap();
        assert_eq!(
            (b[0].name.as_slice(), b[0].path.as_ref()),
            (&b"iosf_mbi"[..], None)
        );
        assert_eq!(names(md.lookup(b"zbud_alias").unwrap()), ["zbud"]);
        assert!(md.lookup(b"nothing").unwrap().unwrap().is_empty());
        assert!(md.lookup(b"bad]alias").unwrap().is_none());
        let dangling = md.lookup(b"dangling").unwrap().unwrap();
        assert_eq!(dangling[0].path, None);
    }

    #[test]
    fn name_lookup_ignores_aliases() {
        let (_d, md) = tree();
        assert!(md.lookup_name(b"crc32").unwrap().is_none());
        assert_eq!(
            md.lookup_name(b"crc32-generic").unwrap().unwrap().name,
            b"crc32_generic"
        );
        assert_eq!(
            md.lookup_name(b"zbud_alias").unwrap().unwrap().name,
            b"zbud"
        );
    }

    #[test]
    fn builtin_info_takes_the_first_run() {
        let (_d, md) = tree();
        let e = md.builtin_info(b"iosf_mbi").unwrap();
        let keys: Vec<_> = e.iter().map(|e| e.key.as_ref()).collect();
        assert_eq!(keys, vec![&b"license"[..], b"file"]);
        assert!(md.builtin_info(b"nope").unwrap().is_empty());
    }

    #[test]
    fn text_modules_dep_is_a_fallback() {
        let (d, md) = tree();
        std::fs::remove_file(d.0.join("modules.dep.bin")).unwrap();
        std::fs::write(d.0.join("modules.dep"), "kernel/a/snd-x.ko: kernel/b.ko\n").unwrap();
        let md2 = ModuleDir::new(d.0.clone());
        drop(md);
        assert_eq!(
            md2.dep_path(b"snd_x").unwrap(),
            Some(d.0.join("kernel/a/snd-x.ko"))
        );
    }

    #[test]
    fn a_corrupt_index_is_an_error_naming_the_file() {
        let (d, _md) = tree();
        std::fs::write(d.0.join("modules.alias.bin"), b"garbage garbage").unwrap();
        let md = ModuleDir::new(d.0.clone());
        let err = md.lookup(b"crc32").unwrap_err();
        assert!(
            err.to_string()
                .contains("modules.alias.bin: malformed index: bad magic"),
            "{err}"
        );
    }
}
