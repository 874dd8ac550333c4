//! One modprobe command: its mode (insert one module with options, insert several with `-a`,
//! remove with `-r`, resolve with `-R`), carried out over [`crate::modprobe::lookup`],
//! [`crate::modprobe::plan`] and a [`Kernel`], with kmod's messages and exit status.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::errno::Errno;

use crate::modprobe::lookup::{Id, LookupError, Modules};
use crate::modprobe::plan::{self, Failure, Flags, Kernel, Level, Log, Stop};

/// What to do with the operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Insert the first operand; the others are its parameters.
    Insert,
    /// `-a`: insert every operand.
    InsertAll,
    /// `-r`: remove every operand.
    Remove,
    /// `-R`: print the modules the first operand resolves to.
    Resolve,
    /// `-R -a`: print the modules every operand resolves to.
    ResolveAll,
}

/// Joins command-line module parameters as kmod does (`options_from_array`): a value containing
/// a space and not starting with a quote is wrapped in double quotes. `None` without parameters.
pub fn join_params(params: &[Vec<u8>]) -> Option<Vec<u8>> {
    if params.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match p.iter().position(|&b| b == b'=') {
            Some(eq)
                if !matches!(p.get(eq + 1), Some(b'"' | b'\'')) && p[eq + 1..].contains(&b' ') =>
            {
                out.extend_from_slice(&p[..=eq]);
                out.push(b'"');
                out.extend_from_slice(&p[eq + 1..]);
                out.push(b'"');
            }
            _ => out.extend_from_slice(p),
        }
    }
    Some(out)
}

/// The absolute path of a `/x.ko` or `./x.ko` operand, as kmod makes it (nothing normalised).
fn absolute(arg: &[u8]) -> PathBuf {
    crate::names::absolute(std::path::Path::new(OsStr::from_bytes(arg)))
}

/// Runs one modprobe command over `operands`. Returns whether it failed (exit status 1); a FATAL
/// message also ends it (`Err(Stop)`, exit status 1).
pub fn run(
    mods: &mut Modules<'_>,
    k: &mut dyn Kernel,
    log: &mut Log<'_>,
    mode: Mode,
    operands: &[Vec<u8>],
    flags: Flags,
) -> Result<bool, Stop> {
    let mut failed = false;
    match mode {
        Mode::Insert | Mode::Resolve => {
            let extra = if mode == Mode::Insert {
                join_params(operands.get(1..).unwrap_or_default())
            } else {
                None
            };
            if let Some(first) = operands.first() {
                failed = insmod(mods, k, log, first, extra.as_deref(), mode, flags)?;
            }
        }
        Mode::InsertAll | Mode::ResolveAll => {
            let each = if mode == Mode::ResolveAll {
                Mode::Resolve
            } else {
                Mode::InsertAll
            };
            for op in operands {
                failed |= insmod(mods, k, log, op, None, each, flags)?;
            }
        }
        Mode::Remove => {
            for op in operands {
                failed |= rmmod(mods, k, log, op, flags)?;
            }
        }
    }
    flush_messages(mods, log);
    Ok(failed)
}

fn flush_messages(mods: &mut Modules<'_>, log: &mut Log<'_>) {
    for m in std::mem::take(&mut mods.messages) {
        log.say(Level::Error, &m);
    }
}

/// kmod's `insmod()` for one operand: a path or a name looked up, then each module found.
fn insmod(
    mods: &mut Modules<'_>,
    k: &mut dyn Kernel,
    log: &mut Log<'_>,
    arg: &[u8],
    extra: Option<&[u8]>,
    mode: Mode,
    flags: Flags,
) -> Result<bool, Stop> {
    let shown = String::from_utf8_lossy(arg).into_owned();
    let ids: Vec<Id> = if arg.starts_with(b"/") || arg.starts_with(b"./") {
        let path = absolute(arg);
        let found = std::fs::metadata(&path).map_err(|e| crate::error::io_cause(&e));
        match found.and_then(|_| {
            mods.by_path(&path)
                .ok_or_else(|| "No such file or directory".to_string())
        }) {
            Ok(id) => vec![id],
            Err(cause) => {
                log.log(&format!("Failed to get module from path {shown}: {cause}"))?;
                return Ok(true);
            }
        }
    } else {
        match mods.lookup(arg) {
            Ok(ids) if !ids.is_empty() => ids,
            Ok(_) | Err(LookupError::Invalid) => {
                flush_messages(mods, log);
                let dir = mods.dir.path().display().to_string();
                log.log(&format!("Module {shown} not found in directory {dir}"))?;
                return Ok(true);
            }
        }
    };
    flush_messages(mods, log);
    let mut failed = false;
    for id in ids {
        if mode == Mode::Resolve {
            let mut line = mods.get(id).name.clone();
            line.push(b'\n');
            let _ = log.out.write_all(&line);
            failed = false;
            continue;
        }
        let result = plan::insert(mods, k, log, id, extra, flags);
        flush_messages(mods, log);
        failed = match result {
            Ok(None) => false,
            Ok(Some(f)) => {
                insert_error(log, &mods.get(id).name, &f);
                true
            }
            Err(e) => {
                log.say(Level::Error, &e.to_string());
                true
            }
        };
    }
    Ok(failed)
}

/// kmod's messages for a failed insertion (`insmod_insert`), with what we know beyond them.
fn insert_error(log: &mut Log<'_>, name: &[u8], f: &Failure) {
    let name = String::from_utf8_lossy(name);
    let mut msg = match f.errno {
        Errno::EEXIST => format!("could not insert '{name}': Module already in kernel"),
        Errno::ENOENT => format!(
            "could not insert '{name}': Unknown symbol in module, or unknown parameter (see dmesg)"
        ),
        e => format!(
            "could not insert '{name}': {}",
            crate::error::strerror(e as i32)
        ),
    };
    if let Some(d) = &f.detail {
        msg.push_str(&format!(" ({d})"));
    }
    log.say(Level::Error, &msg);
}

/// kmod's `rmmod()` for one operand.
fn rmmod(
    mods: &mut Modules<'_>,
    k: &mut dyn Kernel,
    log: &mut Log<'_>,
    arg: &[u8],
    flags: Flags,
) -> Result<bool, Stop> {
    let ids = match mods.lookup(arg) {
        Ok(ids) => ids,
        // kmod returns the lookup's error without a message.
        Err(LookupError::Invalid) => return Ok(true),
    };
    flush_messages(mods, log);
    if ids.is_empty() {
        log.log(&format!(
            "Module {} not found.",
            String::from_utf8_lossy(arg)
        ))?;
        return Ok(true);
    }
    for id in ids {
        let r = plan::remove(mods, k, log, id, true, flags.remove_holders, flags);
        flush_messages(mods, log);
        if r?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_joined_as_kmod_joins_them() {
        assert_eq!(join_params(&[]), None);
        assert_eq!(
            join_params(&[b"p1=a b".to_vec(), b"p2=c".to_vec(), b"q='x y'".to_vec()]).unwrap(),
            b"p1=\"a b\" p2=c q='x y'"
        );
    }
}
