//! From a name to modules, as libkmod's `kmod_module_new_from_lookup` finds them, and what each
//! module carries: its file, dependencies, options, install/remove command and softdeps.
//!
//! libkmod keeps one object per module name, and a separate one per (module, alias) pair when a
//! module was found through an alias: the two remember different options (those given for the
//! alias) and are visited separately when the load list is built. [`Modules`] keeps the same
//! objects, so the list comes out with kmod's repetitions.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::fnmatch::fnmatch;
use crate::moddir::ModuleDir;
use crate::modprobe::config::Config;
use crate::names;

/// kmod's `PATH_MAX`: a longer name is cut there before lookup.
const PATH_MAX: usize = 4096;

/// The command of the first line whose pattern matches `name` (kmod takes only the first).
fn first_command(lines: &[crate::modprobe::config::ForModule], name: &[u8]) -> Option<Vec<u8>> {
    lines
        .iter()
        .find(|c| fnmatch(&c.module, name))
        .map(|c| c.text.clone())
}

/// Index of a module object in [`Modules`].
pub type Id = usize;

/// One module object.
#[derive(Debug, Clone, Default)]
pub struct Module {
    /// Its name.
    pub name: Vec<u8>,
    /// The alias it was found by (a config alias pattern, or the name asked for).
    pub alias: Option<Vec<u8>>,
    path: Option<Option<PathBuf>>,
    deps: Option<Vec<Id>>,
    builtin: Option<bool>,
    install: Option<Option<Vec<u8>>>,
    remove: Option<Option<Vec<u8>>>,
    /// Probe-list bookkeeping (libkmod's `visited`, `required`, `ignorecmd`).
    pub(crate) visited: bool,
    pub(crate) required: bool,
    pub(crate) ignorecmd: bool,
}

/// Every module object one modprobe run has made, and what they are made from.
pub struct Modules<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The module directory.
    pub dir: &'a ModuleDir,
    mods: Vec<Module>,
    keys: HashMap<Vec<u8>, Id>,
    /// libkmod's messages (`failed to lookup dependency ...`), printed as ERRORs.
    pub messages: Vec<String>,
    reported: Vec<String>,
}

/// Why a lookup found nothing usable: the name has an unbalanced bracket (libkmod: EINVAL).
/// (An index that cannot be read counts as empty, as in libkmod.)
#[derive(Debug, PartialEq, Eq)]
pub enum LookupError {
    /// Unbalanced bracket.
    Invalid,
}

impl<'a> Modules<'a> {
    /// No module objects yet.
    pub fn new(config: &'a Config, dir: &'a ModuleDir) -> Modules<'a> {
        Modules {
            config,
            dir,
            mods: Vec::new(),
            keys: HashMap::new(),
            messages: Vec::new(),
            reported: Vec::new(),
        }
    }

    /// The object `id`.
    pub fn get(&self, id: Id) -> &Module {
        &self.mods[id]
    }

    pub(crate) fn get_mut(&mut self, id: Id) -> &mut Module {
        &mut self.mods[id]
    }

    /// Every object made so far.
    pub(crate) fn ids(&self) -> std::ops::Range<Id> {
        0..self.mods.len()
    }

    fn object(&mut self, name: &[u8], alias: Option<&[u8]>) -> Id {
        let mut key = name.to_vec();
        if let Some(a) = alias {
            key.push(b'\\');
            key.extend_from_slice(a);
        }
        if let Some(&id) = self.keys.get(&key) {
            return id;
        }
        let id = self.mods.len();
        self.mods.push(Module {
            name: name.to_vec(),
            alias: alias.map(<[u8]>::to_vec),
            ..Module::default()
        });
        self.keys.insert(key, id);
        id
    }

    /// The object for module `name` (normalised as kmod's `kmod_module_new_from_name`).
    pub fn by_name(&mut self, name: &[u8]) -> Id {
        let n = names::normalize_name(name);
        self.object(&n, None)
    }

    /// The object for a module file given by path (`modprobe /x/y.ko`): its name from the file
    /// name, its file the path.
    pub fn by_path(&mut self, path: &Path) -> Option<Id> {
        let name = names::name_from_path(path)?;
        let id = self.object(&name, None);
        let m = &mut self.mods[id];
        if m.path.as_ref().is_none_or(|p| p.is_none()) {
            m.path = Some(Some(path.to_path_buf()));
        }
        Some(id)
    }

    /// Looks `name` up as kmod does: config aliases, `modules.dep`, `modules.symbols` (for
    /// `symbol:` names), install/remove commands, `modules.alias`, `modules.builtin`, builtin
    /// aliases; the first source with a match gives all its matches.
    pub fn lookup(&mut self, given: &[u8]) -> Result<Vec<Id>, LookupError> {
        let cut = &given[..given.len().min(PATH_MAX - 1)];
        let cut = &cut[..cut.iter().position(|&b| b == 0).unwrap_or(cut.len())];
        let name = names::normalize_alias(cut).ok_or(LookupError::Invalid)?;
        let config = self.config;
        let found: Vec<Id> = config
            .aliases
            .iter()
            .filter(|a| fnmatch(&a.pattern, &name))
            .map(|a| (a.module.clone(), a.pattern.clone()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(m, p)| self.object(&m, Some(&p)))
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
        if !name.contains(&b':')
            && let Some(line) = self.soft(self.dir.dep_line(&name))
        {
            let id = self.by_name(&name);
            self.parse_dep_line(id, &line);
            return Ok(vec![id]);
        }
        if name.starts_with(b"symbol:") {
            let owners = self.soft(self.dir.symbol_owners(&name));
            if !owners.is_empty() {
                return Ok(self.aliased(owners, &name, false));
            }
        }
        if let Some(c) = config.installs.iter().find(|c| c.module == name) {
            let id = self.by_name(&c.module);
            self.mods[id].install = Some(Some(c.text.clone()));
            return Ok(vec![id]);
        }
        if let Some(c) = config.removes.iter().find(|c| c.module == name) {
            let id = self.by_name(&c.module);
            self.mods[id].remove = Some(Some(c.text.clone()));
            return Ok(vec![id]);
        }
        let targets = self.soft(self.dir.alias_targets(&name));
        if !targets.is_empty() {
            return Ok(self.aliased(targets, &name, false));
        }
        if self.soft(self.dir.is_builtin(&name)) {
            let id = self.by_name(&name);
            self.mods[id].builtin = Some(true);
            return Ok(vec![id]);
        }
        let targets = self.soft(self.dir.builtin_alias_targets(&name));
        Ok(self.aliased(targets, &name, true))
    }

    /// An index that cannot be read counts as empty, as libkmod counts it; unless it is an empty
    /// file (depmod writes those for missing inputs), it is reported once.
    fn soft<T: Default>(&mut self, r: Result<T, Error>) -> T {
        r.unwrap_or_else(|e| {
            let empty = std::fs::metadata(e.path()).is_ok_and(|m| m.len() == 0);
            let msg = format!("ignoring {}", e);
            if !empty && !self.reported.contains(&msg) {
                self.reported.push(msg.clone());
                self.messages.push(msg);
            }
            T::default()
        })
    }

    fn aliased(&mut self, targets: Vec<Vec<u8>>, alias: &[u8], builtin: bool) -> Vec<Id> {
        targets
            .into_iter()
            .map(|t| {
                let id = self.object(&t, Some(alias));
                if builtin {
                    self.mods[id].builtin = Some(true);
                }
                id
            })
            .collect()
    }

    /// A `modules.dep` path as kmod joins it: absolute as is, else under the module directory.
    fn join(&self, p: &[u8]) -> PathBuf {
        let path = Path::new(OsStr::from_bytes(p));
        if p.first() == Some(&b'/') {
            path.to_path_buf()
        } else {
            let mut s = self.dir.path().as_os_str().as_bytes().to_vec();
            s.push(b'/');
            s.extend_from_slice(p);
            PathBuf::from(OsStr::from_bytes(&s))
        }
    }

    /// Records a module's `modules.dep` line: its file (if not known yet) and its dependencies,
    /// stored last first, as libkmod stores them (that is the load order).
    fn parse_dep_line(&mut self, id: Id, line: &[u8]) {
        if self.mods[id].deps.is_some() {
            return;
        }
        self.mods[id].deps = Some(Vec::new());
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return;
        };
        if self.mods[id].path.as_ref().is_none_or(|p| p.is_none()) {
            let p = self.join(&line[..colon]);
            self.mods[id].path = Some(Some(p));
        }
        let mut deps = Vec::new();
        for word in line[colon + 1..]
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|w| !w.is_empty())
        {
            let path = self.join(word);
            if let Some(d) = self.by_path(&path) {
                deps.push(d);
            }
        }
        deps.reverse();
        self.mods[id].deps = Some(deps);
    }

    /// The module's dependencies in load order (lowest level first).
    pub fn deps(&mut self, id: Id) -> Result<Vec<Id>, Error> {
        if self.mods[id].deps.is_none() {
            let name = self.mods[id].name.clone();
            match self.soft(self.dir.dep_line(&name)) {
                Some(line) => self.parse_dep_line(id, &line),
                None => self.mods[id].deps = Some(Vec::new()),
            }
        }
        Ok(self.mods[id].deps.clone().unwrap_or_default())
    }

    /// The module's file, if it has one.
    pub fn path(&mut self, id: Id) -> Result<Option<PathBuf>, Error> {
        if self.mods[id].path.is_none() {
            self.deps(id)?;
            if self.mods[id].path.is_none() {
                self.mods[id].path = Some(None);
            }
        }
        Ok(self.mods[id].path.clone().flatten())
    }

    /// Whether the module is builtin (found through a builtin index, or listed in
    /// `modules.builtin.bin`).
    pub fn is_builtin(&mut self, id: Id) -> bool {
        if self.mods[id].builtin.is_none() {
            let b = self.dir.is_builtin(&self.mods[id].name).unwrap_or(false);
            self.mods[id].builtin = Some(b);
        }
        self.mods[id].builtin == Some(true)
    }

    /// The install command: the one the lookup attached, else the first `install` line whose
    /// pattern matches the name.
    pub fn install_command(&mut self, id: Id) -> Option<Vec<u8>> {
        let first = first_command(&self.config.installs, &self.mods[id].name);
        self.mods[id].install.get_or_insert(first).clone()
    }

    /// The remove command, as [`Modules::install_command`].
    pub fn remove_command(&mut self, id: Id) -> Option<Vec<u8>> {
        let first = first_command(&self.config.removes, &self.mods[id].name);
        self.mods[id].remove.get_or_insert(first).clone()
    }

    /// The options given for the module's name or for the alias it was found by, joined with
    /// single spaces; `None` when there are none.
    pub fn options(&self, id: Id) -> Option<Vec<u8>> {
        let m = &self.mods[id];
        let mut out: Option<Vec<u8>> = None;
        for o in &self.config.options {
            if (o.module == m.name || m.alias.as_ref() == Some(&o.module)) && !o.text.is_empty() {
                match &mut out {
                    Some(v) => {
                        v.push(b' ');
                        v.extend_from_slice(&o.text);
                    }
                    None => out = Some(o.text.clone()),
                }
            }
        }
        out
    }

    /// The module's softdeps (the first matching `softdep` line), each name looked up.
    pub fn softdeps(&mut self, id: Id) -> (Vec<Id>, Vec<Id>) {
        let name = self.mods[id].name.clone();
        let config = self.config;
        let Some(sd) = config.softdeps.iter().find(|s| fnmatch(&s.module, &name)) else {
            return (Vec::new(), Vec::new());
        };
        (self.lookup_deps(&sd.pre), self.lookup_deps(&sd.post))
    }

    fn lookup_deps(&mut self, names: &[Vec<u8>]) -> Vec<Id> {
        let mut out = Vec::new();
        for n in names {
            match self.lookup(n) {
                Ok(ids) => out.extend(ids),
                Err(_) => self.messages.push(format!(
                    "failed to lookup dependency '{}', continuing anyway.",
                    String::from_utf8_lossy(n)
                )),
            }
        }
        out
    }

    /// The blacklist entry that names this module, if any. Entries from the kernel command
    /// line are compared with `-` and `_` equal (kmod compares them as written, so
    /// `modprobe.blacklist=crc32-pclmul` blocks nothing there).
    pub fn blacklisted_by(&self, id: Id) -> Option<usize> {
        let name = &self.mods[id].name;
        self.config.blacklist.iter().position(|b| {
            b.len() == name.len()
                && b.iter()
                    .zip(name)
                    .all(|(&x, &y)| x == y || (x == b'-' && y == b'_'))
        })
    }
}
