//! `lsmod`: show the loaded modules, in kmod's layout.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use crate::cli::{self, Io, Parsed};
use crate::exit_code::ExitCode;
use crate::kernel::loaded::{self, LoadedModule};
use crate::sysroot::SysRoot;

/// Show the status of modules in the Linux kernel.
///
/// The default output is kmod's: name, size (sysfs coresize), use count and the modules using
/// each one, most recently loaded first. Unlike kmod, a permanent module (an init function but
/// no exit function: it cannot be removed without --force) shows [permanent] in the last
/// column, as /proc/modules does.
// This text is also the --help text and the man page, so `[permanent]` stays as users see it.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Parser, Debug)]
#[command(
    name = "lsmod",
    disable_version_flag = true,
    after_help = "Exit status: 0, or 1 if /proc/modules cannot be read (a kernel without module support)."
)]
pub struct LsmodArgs {
    /// Print to syslog, not stderr
    #[arg(short = 's', long)]
    pub syslog: bool,
    /// Show a detailed table: state, taint, and references not held by modules
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Print one JSON object per module (one per line)
    #[arg(long, conflicts_with = "verbose")]
    pub json: bool,
    /// Show version
    #[arg(short = 'V', long)]
    pub version: bool,
    /// Read /proc and /sys under DIR (for tests)
    #[arg(long, hide = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// (none: lsmod takes no operands)
    #[arg(hide = true)]
    pub extra: Vec<OsString>,
}

/// Runs lsmod with `argv` (`argv[0]` included).
pub fn main(argv: Vec<OsString>, io: &mut Io<'_>) -> ExitCode {
    let args = match cli::parse::<LsmodArgs>(argv, io) {
        Parsed::Run(a, _) => a,
        Parsed::Exit(code) => return code,
    };
    if let Some(code) = cli::begin(io, args.syslog, args.version) {
        return code;
    }
    if !args.extra.is_empty() {
        io.error("too many arguments provided.");
        return ExitCode::Failure;
    }
    let root = SysRoot::from_option(args.root.as_deref());
    let listing = match loaded::list(&root) {
        Ok(l) => l,
        Err(e) => {
            io.error(format!(
                "could not get list of modules: {} (does this kernel support modules?)",
                e
            ));
            return ExitCode::Failure;
        }
    };
    let text = if args.json {
        json(&listing.modules)
    } else if args.verbose {
        long(&listing.modules)
    } else {
        table(&listing.modules)
    };
    if let Err(e) = io
        .out
        .write_all(text.as_bytes())
        .and_then(|_| io.out.flush())
        && !cli::is_broken_pipe(&e)
    {
        io.error(format!(
            "could not write output: {}",
            crate::error::io_cause(&e)
        ));
        return ExitCode::Failure;
    }
    ExitCode::Success
}

/// kmod's table: `%-19s %8ld  %d` then the holders, comma-separated.
pub fn table(modules: &[LoadedModule]) -> String {
    let mut s = String::with_capacity(64 * (modules.len() + 1));
    s.push_str("Module                  Size  Used by\n");
    for m in modules {
        s.push_str(&format!("{:<19} {:>8}  {}", m.name, m.size, m.refcnt));
        let mut first = true;
        for h in m
            .holders
            .iter()
            .map(String::as_str)
            .chain(m.is_permanent.then_some("[permanent]"))
        {
            s.push(if first { ' ' } else { ',' });
            s.push_str(h);
            first = false;
        }
        s.push('\n');
    }
    s
}

/// The detailed view.
pub fn long(modules: &[LoadedModule]) -> String {
    let rows: Vec<[String; 7]> = modules
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                m.size.to_string(),
                m.refcnt.to_string(),
                m.other_refs().map_or("-".to_string(), |n| n.to_string()),
                m.state
                    .map_or("?".to_string(), |s| format!("{s:?}").to_lowercase()),
                if m.taint.is_empty() {
                    "-".to_string()
                } else {
                    m.taint.clone()
                },
                {
                    let mut by = m.holders.join(",");
                    if m.is_permanent {
                        if !by.is_empty() {
                            by.push(' ');
                        }
                        by.push_str("[permanent]");
                    }
                    by
                },
            ]
        })
        .collect();
    let header = [
        "Module", "Size", "Refs", "Other", "State", "Taint", "Used by",
    ];
    let mut width = header.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut s = String::new();
    let line = |cells: [&str; 7], s: &mut String| {
        for (i, c) in cells.iter().enumerate() {
            if i == 6 {
                s.push_str(c);
            } else if (1..=3).contains(&i) {
                s.push_str(&format!("{:>w$}  ", c, w = width[i]));
            } else {
                s.push_str(&format!("{:<w$}  ", c, w = width[i]));
            }
        }
        while s.ends_with(' ') {
            s.pop();
        }
        s.push('\n');
    };
    line(header, &mut s);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]], &mut s);
    }
    s.push_str(
        "\nRefs: reference count. Other: references not held by modules (open files, sockets, symbol_get).\n",
    );
    s
}

/// One JSON object per module: name, size, refcnt, other_refs, holders, state, taint, permanent.
pub fn json(modules: &[LoadedModule]) -> String {
    let mut s = String::new();
    for m in modules {
        let v = serde_json::json!({
            "name": m.name,
            "size": m.size,
            "refcnt": m.refcnt,
            "other_refs": m.other_refs(),
            "holders": m.holders,
            "state": m.state,
            "taint": m.taint,
            "permanent": m.is_permanent,
        });
        s.push_str(&v.to_string());
        s.push('\n');
    }
    s
}
