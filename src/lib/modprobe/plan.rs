//! What modprobe does with a module, decided as kmod 34.2 decides it, against a [`Kernel`] that
//! answers questions about the loaded state and carries out the steps. The algorithms here do no
//! I/O of their own: the tests run them against a model kernel, `run.rs` against the real one
//! (or the fake kernel of a fixture root).
//!
//! * Inserting ([`insert`]): kmod's `kmod_module_probe_insert_module` — already loaded or
//!   builtin, blacklist, then the load list of [`probe_list`] (dependencies and softdeps,
//!   repeated as kmod repeats them), each entry inserted, run as an install command, or skipped.
//! * Removing ([`remove`]): kmod's `rmmod_do_module` — post-softdeps, holders, the module, the
//!   dependencies that became unused, pre-softdeps. Unlike kmod, the unused dependencies are
//!   removed highest level first, so the whole chain goes, not one level of it.

use std::io::Write;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::modprobe::lookup::{Id, Modules};

/// What sysfs says about a module (`/sys/module/NAME/initstate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitState {
    /// Loaded and initialised.
    Live,
    /// Initialising (also: a directory without `initstate`).
    Coming,
    /// Being removed.
    Going,
}

/// A failed step: the errno kmod would see, and what we know beyond it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The errno.
    pub errno: Errno,
    /// More detail for the message (e.g. which file could not be read), if any.
    pub detail: Option<String>,
}

impl From<Errno> for Failure {
    fn from(errno: Errno) -> Failure {
        Failure {
            errno,
            detail: None,
        }
    }
}

/// The kernel as modprobe sees it: its state, and the steps that change it.
pub trait Kernel {
    /// `initstate` of a module; `None` when it is not there.
    fn initstate(&self, name: &[u8]) -> Option<InitState>;
    /// Its reference count; `None` when unreadable (not loaded).
    fn refcnt(&self, name: &[u8]) -> Option<i64>;
    /// The modules holding it, in directory order; `None` when the directory cannot be read.
    fn holders(&self, name: &[u8]) -> Option<Vec<Vec<u8>>>;
    /// Inserts a module file with an option string.
    fn insert(&mut self, name: &[u8], path: &Path, options: &[u8]) -> Result<(), Failure>;
    /// Removes a module (`delete_module`); with `wait`, waits up to that many milliseconds
    /// (0: no limit) for it to be unused first.
    fn delete(&mut self, name: &[u8], force: bool, wait: Option<u64>) -> Result<(), Failure>;
    /// Runs an install/remove command with `/bin/sh -c`, `MODPROBE_MODULE` set to `name`.
    /// `None` when it could not be run, else its exit status (0 when killed by a signal, as
    /// kmod's `WEXITSTATUS` reads it).
    fn run(&mut self, name: &[u8], command: &[u8]) -> Option<i32>;
}

/// Message levels, with kmod's syslog priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// LOG_CRIT: printed, then the process exits with status 1.
    Fatal = 2,
    /// LOG_ERR.
    Error = 3,
    /// LOG_WARNING.
    Warning = 4,
    /// LOG_NOTICE.
    Notice = 5,
    /// LOG_INFO.
    Info = 6,
}

/// A FATAL message was printed: the process ends now with status 1.
#[derive(Debug, PartialEq, Eq)]
pub struct Stop;

/// Where messages and printed actions go, and kmod's thresholds.
pub struct Log<'a> {
    /// kmod's threshold: 4 (WARNING), +1 per `-v`, 0 with `-q`.
    pub verbose: i32,
    /// `-a`: kmod's "LOG" messages are WARNINGs (and do not stop the run).
    pub all: bool,
    /// Print actions (`insmod ...`, `rmmod ...`) on standard output: `-D`, or `-v`.
    pub show: bool,
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Prints one message (without the program name).
    pub emit: &'a mut dyn FnMut(Level, &str),
}

impl Log<'_> {
    /// A message at `level`, if the threshold lets it through.
    pub fn say(&mut self, level: Level, text: &str) {
        if (level as i32) <= self.verbose {
            (self.emit)(level, text);
        }
    }

    /// kmod's `LOG()`: FATAL (which ends the run when printed), or WARNING with `-a`.
    pub fn log(&mut self, text: &str) -> Result<(), Stop> {
        if self.all {
            self.say(Level::Warning, text);
            return Ok(());
        }
        if (Level::Fatal as i32) <= self.verbose {
            (self.emit)(Level::Fatal, text);
            return Err(Stop);
        }
        Ok(())
    }

    /// An action line on standard output, when actions are shown.
    fn show_line(&mut self, parts: &[&[u8]]) {
        if self.show {
            let mut line = parts.join(&b' ');
            line.push(b'\n');
            let _ = self.out.write_all(&line);
        }
    }
}

/// modprobe's switches that change how modules are inserted or removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `-D`: ignore the loaded state (and do nothing).
    pub ignore_loaded: bool,
    /// `-n` (and `-D`): decide and print, change nothing.
    pub dry_run: bool,
    /// `-i`: ignore install/remove commands (and, inserting, the requested module's softdeps).
    pub ignore_commands: bool,
    /// `-b`: the blacklist applies to module names too, not only to aliases.
    pub use_blacklist: bool,
    /// `--first-time`.
    pub first_time: bool,
    /// `--remove-holders`.
    pub remove_holders: bool,
    /// `-f`.
    pub force: bool,
    /// `-w MSEC`.
    pub wait: Option<u64>,
}

/// What an entry of the load list does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Insert the file with these options.
    Insert(PathBuf),
    /// Run this install command (as written; `$CMDLINE_OPTS` not expanded yet).
    Install(Vec<u8>),
    /// A builtin module: nothing to do.
    Builtin,
    /// No file and not builtin (a config alias to a module that does not exist).
    NoFile,
}

/// One entry of the load list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The module object.
    pub id: Id,
    /// Its name.
    pub name: Vec<u8>,
    /// What to do.
    pub action: Action,
    /// Its options (config, then the command line's for the requested module).
    pub options: Vec<u8>,
    /// The requested module or one of its dependencies: its failure fails the request (a
    /// softdep's does not).
    pub required: bool,
    /// The requested module itself.
    pub is_top: bool,
    /// Builtin: always "in the kernel".
    pub builtin: bool,
}

impl Entry {
    /// The line kmod prints for this entry (`insmod PATH OPTIONS`, with a space even when there
    /// are no options), `None` when it prints nothing.
    pub fn line(&self) -> Option<Vec<u8>> {
        use std::os::unix::ffi::OsStrExt;
        let mut v = Vec::new();
        match &self.action {
            Action::Insert(p) => {
                v.extend_from_slice(b"insmod ");
                v.extend_from_slice(p.as_os_str().as_bytes());
                v.push(b' ');
                v.extend_from_slice(&self.options);
            }
            Action::Install(c) => {
                v.extend_from_slice(b"install ");
                v.extend_from_slice(c);
                v.push(b' ');
                v.extend_from_slice(&self.options);
            }
            Action::Builtin => {
                v.extend_from_slice(b"builtin ");
                v.extend_from_slice(&self.name);
            }
            Action::NoFile => return None,
        }
        v.push(b'\n');
        Some(v)
    }
}

/// The load list of `top` (kmod's `kmod_module_get_probe_list`): for each dependency (lowest
/// level first) its pre-softdeps' lists, itself, its post-softdeps' lists; then the same for
/// `top` (with `ignore_commands`, `top` alone). Only whole lists are deduplicated (by module
/// object), so a module can appear several times.
pub fn probe_list(
    mods: &mut Modules<'_>,
    top: Id,
    ignore_commands: bool,
) -> Result<Vec<Id>, crate::Error> {
    for id in mods.ids() {
        let m = mods.get_mut(id);
        m.visited = false;
        m.required = false;
    }
    let mut list = Vec::new();
    probe(mods, top, true, ignore_commands, &mut list)?;
    Ok(list)
}

fn probe(
    mods: &mut Modules<'_>,
    id: Id,
    required: bool,
    ignorecmd: bool,
    list: &mut Vec<Id>,
) -> Result<(), crate::Error> {
    if mods.get(id).visited {
        return Ok(());
    }
    mods.get_mut(id).visited = true;
    let deps = mods.deps(id)?;
    if required {
        mods.get_mut(id).required = true;
        for &d in &deps {
            mods.get_mut(d).required = true;
        }
    }
    for d in deps {
        with_softdeps(mods, d, list)?;
    }
    if ignorecmd {
        list.push(id);
        mods.get_mut(id).ignorecmd = true;
        Ok(())
    } else {
        with_softdeps(mods, id, list)
    }
}

fn with_softdeps(mods: &mut Modules<'_>, id: Id, list: &mut Vec<Id>) -> Result<(), crate::Error> {
    let (pre, post) = mods.softdeps(id);
    for &p in &pre {
        probe(mods, p, false, false, list)?;
    }
    list.push(id);
    mods.get_mut(id).ignorecmd = !pre.is_empty() || !post.is_empty();
    for &q in &post {
        probe(mods, q, false, false, list)?;
    }
    Ok(())
}

/// kmod's `module_options_concat`: config options, a space, the command line's (a trailing
/// space when only the first exist).
fn concat(opt: Option<Vec<u8>>, extra: Option<&[u8]>) -> Vec<u8> {
    match (opt, extra) {
        (None, None) => Vec::new(),
        (Some(mut o), x) => {
            o.push(b' ');
            o.extend_from_slice(x.unwrap_or_default());
            o
        }
        (None, Some(x)) => x.to_vec(),
    }
}

/// The entries of `top`'s load list, each with its action and options.
pub fn entries(
    mods: &mut Modules<'_>,
    top: Id,
    extra: Option<&[u8]>,
    ignore_commands: bool,
) -> Result<Vec<Entry>, crate::Error> {
    let list = probe_list(mods, top, ignore_commands)?;
    let mut out = Vec::with_capacity(list.len());
    for id in list {
        let options = concat(mods.options(id), if id == top { extra } else { None });
        let builtin = mods.is_builtin(id);
        let action = match mods.install_command(id) {
            Some(c) if !mods.get(id).ignorecmd => Action::Install(c),
            _ => match mods.path(id)? {
                Some(p) => Action::Insert(p),
                None if builtin => Action::Builtin,
                None => Action::NoFile,
            },
        };
        let m = mods.get(id);
        out.push(Entry {
            id,
            name: m.name.clone(),
            action,
            options,
            required: m.required,
            is_top: id == top,
            builtin,
        });
    }
    Ok(out)
}

/// Whether kmod counts the module as in the kernel: builtin, or live.
fn in_kernel(k: &dyn Kernel, builtin: bool, name: &[u8]) -> bool {
    builtin || k.initstate(name) == Some(InitState::Live)
}

/// Replaces every `$CMDLINE_OPTS` in `command` with `options`.
pub fn expand(command: &[u8], options: &[u8]) -> Vec<u8> {
    const VAR: &[u8] = b"$CMDLINE_OPTS";
    let mut out = Vec::with_capacity(command.len());
    let mut rest = command;
    while let Some(at) = rest.windows(VAR.len()).position(|w| w == VAR) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(options);
        rest = &rest[at + VAR.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Inserts module `top` with command-line options `extra` (kmod's
/// `kmod_module_probe_insert_module`). `Ok(None)` is success (including "already loaded" and
/// "blacklisted"); `Ok(Some(failure))` the error kmod would return.
pub fn insert(
    mods: &mut Modules<'_>,
    k: &mut dyn Kernel,
    log: &mut Log<'_>,
    top: Id,
    extra: Option<&[u8]>,
    flags: Flags,
) -> Result<Option<Failure>, crate::Error> {
    let name = mods.get(top).name.clone();
    let builtin = mods.is_builtin(top);
    if !flags.ignore_loaded && in_kernel(k, builtin, &name) {
        return Ok(flags.first_time.then(|| Errno::EEXIST.into()));
    }
    if let Some(b) = mods.blacklisted_by(top)
        && (mods.get(top).alias.is_some() || flags.use_blacklist)
    {
        let origin = mods
            .config
            .blacklist_origin
            .get(b)
            .cloned()
            .unwrap_or_default();
        log.say(
            Level::Info,
            &format!(
                "not inserting {}: blacklisted ({origin})",
                String::from_utf8_lossy(&name)
            ),
        );
        return Ok(None);
    }
    let list = entries(mods, top, extra, flags.ignore_commands)?;
    let mut err: Option<Failure> = None;
    for e in list {
        err = if !flags.ignore_loaded && in_kernel(k, e.builtin, &e.name) {
            Some(Errno::EEXIST.into())
        } else {
            if let Some(line) = e.line()
                && log.show
            {
                let _ = log.out.write_all(&line);
            }
            if flags.dry_run {
                None
            } else {
                run_entry(k, log, &e)
            }
        };
        if err.as_ref().is_some_and(|f| f.errno == Errno::EEXIST) && e.is_top && flags.first_time {
            break;
        }
        match &err {
            Some(f) if f.errno == Errno::EEXIST || !e.required => err = None,
            Some(_) => break,
            None => {}
        }
    }
    Ok(err)
}

fn run_entry(k: &mut dyn Kernel, log: &mut Log<'_>, e: &Entry) -> Option<Failure> {
    let name = String::from_utf8_lossy(&e.name);
    match &e.action {
        Action::Install(cmd) => {
            let cmd = expand(cmd, &e.options);
            let shown = String::from_utf8_lossy(&cmd);
            match k.run(&e.name, &cmd) {
                None => {
                    log.say(
                        Level::Error,
                        &format!("Could not run install command '{shown}' for module {name}"),
                    );
                    Some(Errno::EINVAL.into())
                }
                Some(0) => None,
                Some(code) => {
                    log.say(
                        Level::Error,
                        &format!(
                            "Error running install command '{shown}' for module {name}: retcode {code}"
                        ),
                    );
                    Some(Failure {
                        errno: Errno::EINVAL,
                        detail: Some(format!("the install command exited with status {code}")),
                    })
                }
            }
        }
        Action::Insert(path) => k.insert(&e.name, path, &e.options).err(),
        Action::NoFile => {
            log.say(
                Level::Error,
                &format!("could not find module by name='{name}'"),
            );
            Some(Failure {
                errno: Errno::ENOENT,
                detail: Some(format!("no module file for {name} in modules.dep")),
            })
        }
        Action::Builtin => None,
    }
}

/// Removes module `id` and what it leaves unused (kmod's `rmmod_do_module`). `operand`: named
/// on the command line (a builtin module is then an error; reached as a softdep or holder, it is
/// not). Returns the failure, if any; `Err(Stop)` when a FATAL message ended the run.
pub fn remove(
    mods: &mut Modules<'_>,
    k: &mut dyn Kernel,
    log: &mut Log<'_>,
    id: Id,
    operand: bool,
    holders: bool,
    flags: Flags,
) -> Result<Option<Failure>, Stop> {
    let name = mods.get(id).name.clone();
    let shown = String::from_utf8_lossy(&name).into_owned();
    let (pre, post, cmd) = if flags.ignore_commands {
        (Vec::new(), Vec::new(), None)
    } else {
        let (pre, post) = mods.softdeps(id);
        (pre, post, mods.remove_command(id))
    };
    if cmd.is_none() && !flags.ignore_loaded {
        if mods.is_builtin(id) {
            if !operand {
                return Ok(None);
            }
            log.log(&format!("Module {shown} is builtin."))?;
            return Ok(Some(Errno::ENOENT.into()));
        }
        if k.initstate(&name).is_none() {
            if flags.first_time {
                log.log(&format!("Module {shown} is not in kernel."))?;
                return Ok(Some(Errno::ENOENT.into()));
            }
            return Ok(None);
        }
    }
    for &p in post.iter().rev() {
        remove(mods, k, log, p, false, false, flags)?;
    }
    if holders {
        let list = match k.holders(&name) {
            Some(h) => h,
            None => {
                log.say(
                    Level::Error,
                    &format!(
                        "could not open '/sys/module/{shown}/holders': No such file or directory"
                    ),
                );
                Vec::new()
            }
        };
        for h in list.iter().rev() {
            let hid = mods.by_name(h);
            if let Some(f) = remove(mods, k, log, hid, false, false, flags)? {
                return Ok(Some(f));
            }
        }
    }
    // Removing its holders (with their unused dependencies) may have removed it already: gone
    // is success, as kmod after 34 counts it, not a failed delete_module.
    if cmd.is_none() && !flags.ignore_loaded && !flags.dry_run && k.initstate(&name).is_none() {
        return Ok(None);
    }
    if cmd.is_none()
        && !flags.ignore_loaded
        && flags.wait.is_none()
        && k.refcnt(&name).is_some_and(|n| n > 0)
    {
        log.log(&format!("Module {shown} is in use."))?;
        return Ok(Some(Errno::EBUSY.into()));
    }
    match &cmd {
        None => {
            if let Some(f) = delete(k, log, &name, flags)? {
                return Ok(Some(f));
            }
            // Unlike kmod (lowest level first, so only the first level goes), the dependencies
            // are tried highest level first: each one freed frees the next.
            if let Ok(deps) = mods.deps(id) {
                for d in deps.into_iter().rev() {
                    let dname = mods.get(d).name.clone();
                    if k.refcnt(&dname) == Some(0) {
                        let _ = delete(
                            k,
                            log,
                            &dname,
                            Flags {
                                wait: None,
                                ..flags
                            },
                        )?;
                    }
                }
            }
        }
        Some(c) => {
            let c = expand(c, b"");
            log.show_line(&[b"remove", &c]);
            if !flags.dry_run {
                match k.run(&name, &c) {
                    Some(0) => {}
                    _ => {
                        log.log(&format!("Error running remove command for {shown}"))?;
                        return Ok(Some(Errno::EINVAL.into()));
                    }
                }
            }
        }
    }
    for &p in pre.iter().rev() {
        remove(mods, k, log, p, false, false, flags)?;
    }
    Ok(None)
}

/// kmod's `rmmod_do_remove_module`: print, then `delete_module` (waiting with `-w`).
fn delete(
    k: &mut dyn Kernel,
    log: &mut Log<'_>,
    name: &[u8],
    flags: Flags,
) -> Result<Option<Failure>, Stop> {
    let shown = String::from_utf8_lossy(name).into_owned();
    log.show_line(&[b"rmmod", name]);
    if flags.dry_run {
        return Ok(None);
    }
    match k.delete(name, flags.force, flags.wait) {
        Ok(()) => Ok(None),
        Err(f) if f.errno == Errno::EEXIST => {
            if flags.first_time {
                log.log(&format!("Module {shown} is not in kernel."))?;
                return Ok(Some(f));
            }
            Ok(None)
        }
        Err(f) => {
            let mut msg = format!(
                "could not remove '{shown}': {}",
                crate::error::strerror(f.errno as i32)
            );
            if let Some(d) = &f.detail {
                msg.push_str(&format!(" ({d})"));
            }
            log.say(Level::Error, &msg);
            Ok(Some(f))
        }
    }
}

#[cfg(test)]
mod tests;
