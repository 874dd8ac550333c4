//! The load list and the removal procedure against a model kernel: a map of loaded modules with
//! reference counts and holders that changes as modules are inserted and removed, as a real
//! kernel's sysfs does.

use std::collections::BTreeMap;
use std::path::Path;

use nix::errno::Errno;

use super::*;
use crate::moddir::ModuleDir;
use crate::modprobe::config::Config;
use crate::modprobe::lookup::{Id, Modules};

#[derive(Default)]
struct Model {
    /// name → (refcnt, holders)
    live: BTreeMap<Vec<u8>, (i64, Vec<Vec<u8>>)>,
    calls: Vec<String>,
    fail: BTreeMap<Vec<u8>, Errno>,
    exit: i32,
}

impl Model {
    fn load(&mut self, name: &str, uses: &[&str]) {
        self.live.insert(name.as_bytes().to_vec(), (0, Vec::new()));
        for u in uses {
            let e = self.live.get_mut(u.as_bytes()).unwrap();
            e.0 += 1;
            e.1.push(name.as_bytes().to_vec());
        }
    }
}

impl Kernel for Model {
    fn initstate(&self, name: &[u8]) -> Option<InitState> {
        self.live.get(name).map(|_| InitState::Live)
    }
    fn refcnt(&self, name: &[u8]) -> Option<i64> {
        self.live.get(name).map(|e| e.0)
    }
    fn holders(&self, name: &[u8]) -> Option<Vec<Vec<u8>>> {
        self.live.get(name).map(|e| e.1.clone())
    }
    fn insert(&mut self, name: &[u8], path: &Path, options: &[u8]) -> Result<(), Failure> {
        self.calls.push(format!(
            "insert {} {}",
            path.file_name().unwrap().to_string_lossy(),
            String::from_utf8_lossy(options)
        ));
        if let Some(&e) = self.fail.get(name) {
            return Err(e.into());
        }
        self.live.insert(name.to_vec(), (0, Vec::new()));
        Ok(())
    }
    fn delete(&mut self, name: &[u8], _force: bool, _wait: Option<u64>) -> Result<(), Failure> {
        self.calls
            .push(format!("delete {}", String::from_utf8_lossy(name)));
        match self.live.get(name) {
            None => return Err(Errno::ENOENT.into()),
            Some(e) if e.0 > 0 => return Err(Errno::EAGAIN.into()),
            _ => {}
        }
        self.live.remove(name);
        for e in self.live.values_mut() {
            if let Some(at) = e.1.iter().position(|h| h == name) {
                e.1.remove(at);
                e.0 -= 1;
            }
        }
        Ok(())
    }
    fn run(&mut self, name: &[u8], command: &[u8]) -> Option<i32> {
        self.calls.push(format!(
            "run {} {}",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(command)
        ));
        Some(self.exit)
    }
}

/// A module directory whose modules.dep.bin holds `deps` (`name: path deps...` lines keyed by
/// name) and whose modules.alias.bin holds `aliases`.
struct Tree(std::path::PathBuf);

impl Tree {
    fn new(tag: &str, deps: &[(&str, &str)], aliases: &[(&str, &str)]) -> Tree {
        let dir = std::env::temp_dir().join(format!("rkmod-plan-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let e: Vec<(&[u8], &[u8], u32)> = deps
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes(), 0))
            .collect();
        std::fs::write(dir.join("modules.dep.bin"), crate::moddir::index::write(&e)).unwrap();
        let e: Vec<(&[u8], &[u8], u32)> = aliases
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes(), 0))
            .collect();
        std::fs::write(
            dir.join("modules.alias.bin"),
            crate::moddir::index::write(&e),
        )
        .unwrap();
        Tree(dir)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// d uses a, a uses b_lib, b_lib uses c-lib (modules.dep lists a module's whole closure, users
/// first).
fn chain(tag: &str) -> Tree {
    Tree::new(
        tag,
        &[
            ("d", "d.ko: a.ko b_lib.ko c-lib.ko"),
            ("a", "a.ko: b_lib.ko c-lib.ko"),
            ("b_lib", "b_lib.ko: c-lib.ko"),
            ("c_lib", "c-lib.ko:"),
            ("soft", "soft.ko:"),
        ],
        &[("alias_of_d", "d")],
    )
}

struct Run {
    out: Vec<u8>,
    messages: Vec<(Level, String)>,
    result: Result<Option<Failure>, Stop>,
}

/// Parses `config`, looks `name` up in `tree` and runs `op` on the first module found.
fn with_module(
    tree: &Tree,
    config: &str,
    name: &str,
    all: bool,
    op: impl FnOnce(&mut Modules<'_>, &mut Log<'_>, Id) -> Result<Option<Failure>, Stop>,
) -> Run {
    let mut cfg = Config::new();
    cfg.parse_file(config.as_bytes(), "test.conf");
    let dir = ModuleDir::new(tree.0.clone());
    let mut mods = Modules::new(&cfg, &dir);
    let mut out = Vec::new();
    let mut messages = Vec::new();
    let mut emit = |l: Level, t: &str| messages.push((l, t.to_string()));
    let mut log = Log {
        verbose: 4,
        all,
        show: true,
        out: &mut out,
        emit: &mut emit,
    };
    let id = mods.lookup(name.as_bytes()).unwrap()[0];
    let result = op(&mut mods, &mut log, id);
    Run {
        out,
        messages,
        result,
    }
}

fn insert_op(
    tree: &Tree,
    config: &str,
    k: &mut Model,
    name: &str,
    extra: Option<&[u8]>,
    flags: Flags,
) -> Run {
    with_module(tree, config, name, false, |mods, log, id| {
        Ok(insert(mods, k, log, id, extra, flags).unwrap())
    })
}

fn remove_op(tree: &Tree, config: &str, k: &mut Model, name: &str, flags: Flags, all: bool) -> Run {
    with_module(tree, config, name, all, |mods, log, id| {
        remove(mods, k, log, id, true, flags.remove_holders, flags)
    })
}

fn loaded_chain() -> Model {
    let mut k = Model::default();
    k.load("c_lib", &[]);
    k.load("b_lib", &["c_lib"]);
    k.load("a", &["b_lib", "c_lib"]);
    k.load("d", &["a", "b_lib", "c_lib"]);
    k
}

#[test]
fn remove_takes_the_whole_unused_chain_highest_level_first() {
    let tree = chain("whole");
    let mut k = loaded_chain();
    let r = remove_op(&tree, "", &mut k, "d", Flags::default(), false);
    assert_eq!(r.result, Ok(None));
    assert_eq!(
        k.calls,
        ["delete d", "delete a", "delete b_lib", "delete c_lib"]
    );
    assert!(k.live.is_empty(), "{:?}", k.live);
    assert_eq!(
        String::from_utf8(r.out).unwrap(),
        "rmmod d\nrmmod a\nrmmod b_lib\nrmmod c_lib\n"
    );
}

#[test]
fn remove_keeps_dependencies_other_modules_still_use() {
    let tree = chain("shared");
    let mut k = loaded_chain();
    k.load("other", &["b_lib"]);
    let r = remove_op(&tree, "", &mut k, "d", Flags::default(), false);
    assert_eq!(r.result, Ok(None));
    assert_eq!(k.calls, ["delete d", "delete a"]);
    assert!(k.live.contains_key(&b"b_lib"[..]) && k.live.contains_key(&b"c_lib"[..]));
}

#[test]
fn remove_in_use_is_fatal_or_a_warning_with_all() {
    let tree = chain("inuse");
    let mut k = loaded_chain();
    let r = remove_op(&tree, "", &mut k, "a", Flags::default(), false);
    assert_eq!(r.result, Err(Stop));
    assert_eq!(
        r.messages,
        [(Level::Fatal, "Module a is in use.".to_string())]
    );
    assert!(k.calls.is_empty());
    let r = remove_op(&tree, "", &mut k, "a", Flags::default(), true);
    assert_eq!(r.result, Ok(Some(Errno::EBUSY.into())));
    assert_eq!(r.messages[0].0, Level::Warning);
    // With --remove-holders the holder goes first.
    let flags = Flags {
        remove_holders: true,
        ..Flags::default()
    };
    let r = remove_op(&tree, "", &mut k, "a", flags, false);
    assert_eq!(r.result, Ok(None));
    assert_eq!(
        k.calls[..2],
        ["delete d".to_string(), "delete a".to_string()]
    );
}

#[test]
fn remove_of_a_module_not_loaded_is_silent_unless_first_time() {
    let tree = chain("notloaded");
    let mut k = Model::default();
    let r = remove_op(&tree, "", &mut k, "d", Flags::default(), false);
    assert_eq!(r.result, Ok(None));
    assert!(r.messages.is_empty() && k.calls.is_empty());
    let flags = Flags {
        first_time: true,
        ..Flags::default()
    };
    let r = remove_op(&tree, "", &mut k, "d", flags, false);
    assert_eq!(r.result, Err(Stop));
    assert_eq!(r.messages[0].1, "Module d is not in kernel.");
}

#[test]
fn remove_commands_run_instead_of_delete_module() {
    let tree = chain("removecmd");
    let mut k = loaded_chain();
    let r = remove_op(
        &tree,
        "remove d echo bye $CMDLINE_OPTS.\n",
        &mut k,
        "d",
        Flags::default(),
        false,
    );
    assert_eq!(r.result, Ok(None));
    assert_eq!(k.calls, ["run d echo bye ."]);
    assert_eq!(String::from_utf8(r.out).unwrap(), "remove echo bye .\n");
    k.exit = 3;
    let r = remove_op(
        &tree,
        "remove d false\n",
        &mut k,
        "d",
        Flags::default(),
        false,
    );
    assert_eq!(r.result, Err(Stop));
    assert_eq!(r.messages[0].1, "Error running remove command for d");
}

#[test]
fn insert_loads_dependencies_lowest_first_with_options() {
    let tree = chain("insert");
    let mut k = Model::default();
    let config = "options a x=1\noptions alias_of_d viaalias=1\noptions d\ty=2\n";
    let r = insert_op(
        &tree,
        config,
        &mut k,
        "alias_of_d",
        Some(b"p=\"a b\""),
        Flags::default(),
    );
    assert_eq!(r.result, Ok(None));
    assert_eq!(
        k.calls,
        [
            "insert c-lib.ko ",
            "insert b_lib.ko ",
            "insert a.ko x=1 ",
            "insert d.ko viaalias=1 y=2 p=\"a b\"",
        ]
    );
    // Already loaded: nothing, or EEXIST with --first-time.
    let r = insert_op(&tree, "", &mut k, "d", None, Flags::default());
    assert_eq!(r.result, Ok(None));
    assert_eq!(k.calls.len(), 4);
    let flags = Flags {
        first_time: true,
        ..Flags::default()
    };
    let r = insert_op(&tree, "", &mut k, "d", None, flags);
    assert_eq!(r.result, Ok(Some(Errno::EEXIST.into())));
}

#[test]
fn install_commands_softdeps_and_ignore_install() {
    let tree = chain("install");
    let config = "install a echo inst $CMDLINE_OPTS!\noptions a o=1\nsoftdep b_lib post: soft\n";
    let mut k = Model::default();
    let r = insert_op(&tree, config, &mut k, "d", None, Flags::default());
    assert_eq!(r.result, Ok(None));
    assert_eq!(
        k.calls,
        [
            "insert c-lib.ko ",
            "insert b_lib.ko ",
            "insert soft.ko ",
            "run a echo inst o=1 !",
            "insert d.ko ",
        ]
    );
    assert!(
        String::from_utf8(r.out)
            .unwrap()
            .contains("install echo inst $CMDLINE_OPTS! o=1 \n")
    );
    // -i ignores the requested module's own install command only.
    let mut k = Model::default();
    let flags = Flags {
        ignore_commands: true,
        ..Flags::default()
    };
    insert_op(&tree, config, &mut k, "a", None, flags);
    assert_eq!(k.calls.last().unwrap(), "insert a.ko o=1 ");
    // A softdep that fails does not fail the request; a dependency that fails does.
    let mut k = Model::default();
    k.fail.insert(b"soft".to_vec(), Errno::EPERM);
    let r = insert_op(&tree, config, &mut k, "d", None, Flags::default());
    assert_eq!(r.result, Ok(None));
    let mut k = Model::default();
    k.fail.insert(b"b_lib".to_vec(), Errno::EPERM);
    let r = insert_op(&tree, config, &mut k, "d", None, Flags::default());
    assert_eq!(r.result, Ok(Some(Errno::EPERM.into())));
    assert_eq!(k.calls, ["insert c-lib.ko ", "insert b_lib.ko "]);
}

#[test]
fn blacklist_applies_to_aliases_and_with_b_to_names() {
    let tree = chain("blacklist");
    let mut k = Model::default();
    let config = "blacklist d\n";
    let r = insert_op(&tree, config, &mut k, "alias_of_d", None, Flags::default());
    assert_eq!(r.result, Ok(None));
    assert!(k.calls.is_empty());
    insert_op(&tree, config, &mut k, "d", None, Flags::default());
    assert_eq!(k.calls.len(), 4);
    let mut k = Model::default();
    let flags = Flags {
        use_blacklist: true,
        ..Flags::default()
    };
    insert_op(&tree, config, &mut k, "d", None, flags);
    assert!(k.calls.is_empty());
}

#[test]
fn command_line_blacklist_names_match_with_dashes() {
    let tree = chain("kblacklist");
    let mut cfg = Config::new();
    cfg.parse_kcmdline(b"modprobe.blacklist=c-lib,b-lib");
    let dir = ModuleDir::new(tree.0.clone());
    let mut mods = Modules::new(&cfg, &dir);
    let id = mods.lookup(b"c_lib").unwrap()[0];
    assert!(mods.blacklisted_by(id).is_some());
    let id = mods.lookup(b"b_lib").unwrap()[0];
    assert!(mods.blacklisted_by(id).is_some());
    let id = mods.lookup(b"a").unwrap()[0];
    assert!(mods.blacklisted_by(id).is_none());
}

#[test]
fn softdep_cycles_end() {
    let tree = chain("cycle");
    let config = "softdep a pre: soft\nsoftdep soft pre: a\n";
    let mut k = Model::default();
    let r = insert_op(&tree, config, &mut k, "a", None, Flags::default());
    assert_eq!(r.result, Ok(None));
    assert!(k.calls.contains(&"insert soft.ko ".to_string()));
}
