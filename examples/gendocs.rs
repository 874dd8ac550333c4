//! Writes the man pages (`man/*.8`) and the shell completions (`completions/{bash,zsh,fish}/`)
//! from the tools' clap definitions, the one source of their options and help.
//!
//! ```sh
//! cargo run --example gendocs            # rewrites man/ and completions/ in the repository
//! cargo run --example gendocs -- OUTDIR  # writes them under OUTDIR instead
//! ```
//!
//! `tests/it/ship.rs` includes this file and fails when the committed copies differ from what
//! it generates. What clap cannot know is written here: the man pages' FILES, DIFFERENCES FROM
//! KMOD and SEE ALSO sections, and the completions of module names (loaded modules for rmmod,
//! modules.dep for modinfo and modaudit), appended to clap_complete's scripts per shell.

use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap::{Arg, Command};
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use rkmod::cli::kmod;
use rkmod::cli::multicall::{self, TOOLS};

/// The date the man pages carry. Bump it with the version.
const DATE: &str = "2026-11-21";

/// Where a tool's positional arguments take their names from, for completion.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Names {
    /// Loaded modules, from /proc/modules.
    Loaded,
    /// Installed modules, from modules.dep.
    Installed,
    /// Installed and builtin modules, from modules.dep and modules.builtin.
    InstalledOrBuiltin,
    /// File names only. zsh and fish complete them already; clap's bash script offers the
    /// options instead, so bash needs the same wrapper as for names.
    Files,
}

/// What the man pages and completions need beyond the clap definition.
struct Extra {
    /// What completes the positional arguments, if there are any.
    names: Option<Names>,
    /// FILES: path and what the tool takes from it.
    files: &'static [(&'static str, &'static str)],
    /// DIFFERENCES FROM KMOD, one paragraph each.
    differences: &'static [&'static str],
}

fn extra(tool: &str) -> Extra {
    match tool {
        "insmod" => Extra {
            names: Some(Names::Files),
            files: &[
                (
                    "/sys/module/compression",
                    "The compression the kernel decompresses itself (Linux 6.4 and later). A \
                     module compressed that way goes to finit_module(2) as it is; any other is \
                     decompressed here and passed to init_module(2).",
                ),
                (
                    "/proc/modules",
                    "Not read: insmod asks the kernel directly, and the kernel reports a module \
                     that is already loaded.",
                ),
            ],
            differences: &[
                "-v names the system call used (finit_module(2), with or without in-kernel \
                 decompression, or init_module(2) after decompressing in userspace), why it was \
                 chosen, and which call the kernel refused. kmod's -v prints libkmod's log.",
                "A file that cannot be a module (empty, a directory, a FIFO or device, a truncated \
                 or corrupt compressed file, one that decompresses beyond 256 MiB) is refused \
                 with the cause in words before anything reaches the kernel.",
                "The kernel's refusals keep kmod's words (\"Unknown symbol in module\", \
                 \"Invalid parameters\", ...) and add what they usually mean.",
                "A compressed module follows kmod 34's rule: the kernel decompresses it when \
                 /sys/module/compression names its format; kmod 30 always decompresses in \
                 userspace. .ko.gz files are supported whatever the kernel supports.",
            ],
        },
        "rmmod" => Extra {
            names: Some(Names::Loaded),
            files: &[
                (
                    "/proc/modules",
                    "The loaded modules, and which are permanent (an init function but no exit \
                     function).",
                ),
                (
                    "/sys/module/NAME/initstate",
                    "Whether NAME is loaded (live, coming or going); a directory without it is a \
                     builtin module.",
                ),
                (
                    "/sys/module/NAME/refcnt",
                    "The reference count: rmmod refuses a module whose count is above zero.",
                ),
                (
                    "/sys/module/NAME/holders/",
                    "The modules that use NAME: rmmod refuses while there are any.",
                ),
                (
                    "/lib/modules/$(uname -r)/modules.builtin.bin",
                    "Builtin modules, which cannot be removed.",
                ),
            ],
            differences: &[
                "--wait is not in kmod's rmmod (kmod's modprobe -r --wait is the nearest). It \
                 polls in userspace until the module is unused, then removes it. Unlike the \
                 kernel's own wait before Linux 3.13, which stopped new users from taking the \
                 module, new users can still take the module while rmmod waits; rmmod then \
                 keeps waiting. --wait=MSEC gives up after MSEC milliseconds; Ctrl-C stops \
                 waiting and removes nothing.",
                "A permanent module (an init function but no exit function) is named as such: \
                 the message says that only --force can remove it, that its cleanup will not \
                 run and that the kernel is tainted, where kmod prints only \"Device or \
                 resource busy\".",
                "A module in use is explained: by which modules, or by how many references \
                 held by open files, sockets or other kernel code, with --wait suggested.",
                "Builtin code that has parameters (a /sys/module/NAME directory without \
                 initstate) is reported as \"Module NAME is builtin.\", where kmod says \
                 \"Module unloading is not supported\".",
                "A name containing / or longer than the kernel's limit (55 characters) is \
                 refused with the reason instead of being passed to the kernel.",
            ],
        },
        "lsmod" => Extra {
            names: None,
            files: &[
                (
                    "/proc/modules",
                    "The loaded modules, most recently loaded first, their state and whether \
                     they are permanent.",
                ),
                ("/sys/module/NAME/coresize", "The size shown."),
                ("/sys/module/NAME/refcnt", "The use count shown."),
                (
                    "/sys/module/NAME/holders/",
                    "The modules using NAME, shown in the last column.",
                ),
                (
                    "/sys/module/NAME/initstate",
                    "The state shown by --verbose and --json.",
                ),
                (
                    "/sys/module/NAME/taint",
                    "The taint flags shown by --verbose and --json.",
                ),
            ],
            differences: &[
                "A permanent module (an init function but no exit function, which cannot be \
                 removed without --force) shows [permanent] in the last column, as \
                 /proc/modules does; kmod's lsmod omits it.",
                "--verbose (a table with state, taint and references not held by modules) and \
                 --json are rkmod's; kmod's lsmod has no such views.",
                "A module removed while lsmod reads is skipped; kmod prints it with -2 as size \
                 and use count, and a libkmod error.",
            ],
        },
        "modinfo" => Extra {
            names: Some(Names::InstalledOrBuiltin),
            files: MODINFO_FILES,
            differences: &[
                "The output is kmod 34's, byte for byte. Against Debian's kmod 30 that means: a \
                 build-id: line after the .modinfo entries, no padding after keys longer than 15 \
                 characters, and a builtin module without modinfo strings shown (two lines, exit \
                 status 0) instead of an error.",
                "Several -F options print every field asked for, in command-line order; kmod \
                 prints only the last. The other field options (-a, -d, -l, -p, -n) keep kmod's \
                 rule that the last one wins.",
                "--json prints one JSON object per module and line; kmod has no JSON output.",
                ".ko.gz files are supported (Debian's kmod is built without zlib).",
                "An undecodable PKCS#7 signature gets kmod 34's placeholder lines and an error \
                 naming the file, with exit status 1; kmod 30 silently omits the signature \
                 lines.",
                "An empty, short or non-ELF file, a directory, a FIFO or a device named x.ko, and \
                 a compressed file that decompresses beyond 256 MiB are refused with the cause \
                 in words, naming the file.",
            ],
        },
        "modaudit" => Extra {
            names: Some(Names::Installed),
            files: LOOKUP_FILES,
            differences: &[
                "modaudit exists only in rkmod: kmod has no equivalent. It reads module files \
                 and never loads anything.",
            ],
        },
        "depmod" => Extra {
            names: None,
            files: &[
                (
                    "/lib/modules/$(uname -r)",
                    "The modules indexed (build and source are skipped), and where the indexes \
                     are written.",
                ),
                (
                    "/lib/modules/$(uname -r)/modules.order",
                    "The order of the kernel's own modules; the others follow in kmod's hash \
                     order.",
                ),
                (
                    "/lib/modules/$(uname -r)/modules.builtin",
                    "Builtin modules, for modules.builtin.bin.",
                ),
                (
                    "/lib/modules/$(uname -r)/modules.builtin.modinfo",
                    "Builtin modules' aliases, for modules.builtin.alias.bin.",
                ),
                (
                    "/etc/depmod.d, /run/depmod.d, /usr/local/lib/depmod.d, /usr/lib/depmod.d, \
                     /lib/depmod.d",
                    "search, override, external and exclude lines, in kmod 34's order.",
                ),
            ],
            differences: &[
                "Each index is synced to disk before it is renamed over the old one, and the \
                 directory is synced at the end: a crash or power loss leaves each file either \
                 old or new, never empty. Modules are read and decompressed on every core.",
                "Not yet supported: -A, -e with -E or -F, -P and module files as arguments \
                 (each is refused with a message).",
            ],
        },
        "modprobe" => Extra {
            names: Some(Names::InstalledOrBuiltin),
            files: &[
                (
                    "/lib/modules/$(uname -r)",
                    "modules.dep.bin, modules.alias.bin, modules.symbols.bin, modules.builtin.bin \
                     and modules.builtin.alias.bin (written by depmod(8)), looked up in kmod's \
                     order; modules.softdep and modules.weakdep, read as configuration files.",
                ),
                (
                    "/etc/modprobe.d, /run/modprobe.d, /usr/local/lib/modprobe.d, \
                     /usr/lib/modprobe.d, /lib/modprobe.d",
                    "*.conf files (alias, options, install, remove, blacklist, softdep, weakdep), \
                     read in file-name order; a file hides one of the same name in a later \
                     directory.",
                ),
                (
                    "/proc/cmdline",
                    "MODULE.PARAM=VALUE options and modprobe.blacklist=NAME,... entries.",
                ),
                (
                    "/sys/module",
                    "Which modules are loaded, their reference counts and holders.",
                ),
            ],
            differences: &[
                "modprobe -r removes every dependency the removed modules leave unused, highest \
                 level first, so the whole chain goes; kmod tries them lowest level first and so \
                 removes only one level.",
                "Names in modprobe.blacklist= on the kernel command line match with '-' and '_' \
                 equal, as module names do everywhere else; kmod compares them as written.",
                "Errors say more after kmod's words: why the kernel refused a module, and with \
                 -vv which configuration line blacklisted it.",
            ],
        },
        other => panic!("no documentation extras for tool {other}"),
    }
}

/// What modinfo and modaudit read to look a name up: depmod's indexes, as kmod reads them.
const LOOKUP_FILES: &[(&str, &str)] = &[
    (
        "/lib/modules/$(uname -r)/modules.dep.bin",
        "Module names to files (modules.dep when the index is missing).",
    ),
    (
        "/lib/modules/$(uname -r)/modules.alias.bin",
        "Aliases to module names.",
    ),
    (
        "/lib/modules/$(uname -r)/modules.symbols.bin",
        "symbol:NAME to the module exporting it.",
    ),
    (
        "/lib/modules/$(uname -r)/modules.builtin.bin",
        "Modules built into the kernel.",
    ),
    (
        "/lib/modules/$(uname -r)/modules.builtin.alias.bin",
        "Aliases of builtin modules.",
    ),
];

/// modinfo also shows builtin modules.
const MODINFO_FILES: &[(&str, &str)] = &[
    LOOKUP_FILES[0],
    LOOKUP_FILES[1],
    LOOKUP_FILES[2],
    LOOKUP_FILES[3],
    LOOKUP_FILES[4],
    (
        "/lib/modules/$(uname -r)/modules.builtin.modinfo",
        "The modinfo strings of builtin modules.",
    ),
];

/// Every generated file: its path relative to the output directory, and its contents.
pub fn files() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for tool in TOOLS {
        let extra = extra(tool.name);
        let cmd = (tool.command)().name(tool.name);
        out.push((
            PathBuf::from(format!("man/{}.8", tool.name)),
            tidy(&tool_man(cmd.clone(), &extra)),
        ));
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            out.push((
                completion_path(shell, tool.name),
                completion(shell, cmd.clone(), tool.name),
            ));
        }
    }
    out.push((PathBuf::from("man/rkmod.8"), tidy(&rkmod_man())));
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        out.push((
            completion_path(shell, multicall::NAME),
            completion(shell, multicall::command(), multicall::NAME),
        ));
    }
    out.push((PathBuf::from("man/kmod.8"), tidy(&kmod_man())));
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        out.push((
            completion_path(shell, multicall::KMOD),
            completion(shell, kmod::KmodArgs::command(), multicall::KMOD),
        ));
    }
    out
}

/// Writes every generated file under `dir`.
pub fn write_all(dir: &Path) -> io::Result<()> {
    for (path, bytes) in files() {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
    }
    Ok(())
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> io::Result<()> {
    let dir = match std::env::args_os().nth(1) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };
    // Start clean so a tool that is gone leaves no stale page behind.
    for sub in ["man", "completions"] {
        match std::fs::remove_dir_all(dir.join(sub)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    write_all(&dir)?;
    eprintln!(
        "gendocs: wrote man/ and completions/ under {}",
        dir.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Man pages

fn man(cmd: Command) -> Man {
    let title = cmd.get_name().to_uppercase();
    Man::new(cmd)
        .title(title)
        .section("8")
        .date(DATE)
        .source(format!("rkmod {}", env!("CARGO_PKG_VERSION")))
        .manual("rkmod")
}

/// clap_mangen's page (title to options), without its EXTRA section: the after-help text is
/// split into proper sections by [`after_help_sections`] instead.
fn clap_part(cmd: &Command) -> Vec<u8> {
    let bare = cmd
        .clone()
        .after_help(None::<&str>)
        .after_long_help(None::<&str>);
    let mut buf = Vec::new();
    man(bare).render(&mut buf).expect("render to memory");
    buf
}

/// Renders `roff` without the preamble that clap_mangen's part already has.
fn append(page: &mut Vec<u8>, roff: &Roff) {
    let preamble = Roff::new().render();
    let text = roff.render();
    page.extend_from_slice(
        text.strip_prefix(&preamble)
            .expect("roff renders its preamble first")
            .as_bytes(),
    );
}

fn tool_man(cmd: Command, extra: &Extra) -> Vec<u8> {
    let mut page = clap_part(&cmd);
    let mut r = Roff::new();
    let after = cmd
        .get_after_long_help()
        .or(cmd.get_after_help())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let sections = after_help_sections(&after);
    assert!(
        sections.iter().any(|s| s.heading == "EXIT STATUS"),
        "{}: its after_help must state the exit status",
        cmd.get_name()
    );
    for s in &sections {
        s.render(&mut r);
    }
    r.control("SH", ["FILES"]);
    for (path, what) in extra.files {
        r.control("TP", []);
        r.text([bold(*path)]);
        r.text([roman(*what)]);
    }
    r.control("SH", ["DIFFERENCES FROM KMOD"]);
    for (i, d) in extra.differences.iter().enumerate() {
        if i > 0 {
            r.control("PP", []);
        }
        r.text([roman(*d)]);
    }
    r.control("PP", []);
    r.text([roman(format!(
        "This program is also \"rkmod {}\"; see rkmod(8).",
        cmd.get_name()
    ))]);
    see_also(&mut r, cmd.get_name());
    append(&mut page, &r);
    page
}

fn rkmod_man() -> Vec<u8> {
    let full = multicall::command();
    // Only rkmod's own options here: the tools get their own pages, listed under TOOLS.
    let mut own = Command::new(multicall::NAME)
        .about(full.get_about().cloned().unwrap_or_default())
        .long_about(full.get_long_about().cloned().unwrap_or_default())
        .override_usage(full.get_overridden_usage().cloned().unwrap_or_default());
    for a in full.get_arguments() {
        own = own.arg(a.clone());
    }
    let mut page = clap_part(&own);
    let mut r = Roff::new();
    r.control("SH", ["TOOLS"]);
    for tool in TOOLS {
        let cmd = (tool.command)();
        r.control("TP", []);
        let mut tag = vec![bold(tool.name)];
        for alias in tool.aliases {
            tag.push(roman(", "));
            tag.push(bold(*alias));
        }
        r.text(tag);
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        r.text([
            roman(format!("{about}; see ")),
            roman(format!("{}(8).", tool.name)),
        ]);
    }
    r.control("TP", []);
    r.text([bold(kmod::STATIC_NODES)]);
    r.text([roman(
        "The device nodes of the running kernel's modules.devname, as \"kmod static-nodes\" \
         prints them; see kmod(8).",
    )]);
    r.control("SH", ["INSTALLATION"]);
    r.text([roman(
        "make install puts rkmod in $(SBINDIR) and links named after the tools beside it. A \
         distribution package that keeps kmod installs the links that would collide with kmod's in a directory of their \
         own instead; see packaging/README.md in the source.",
    )]);
    for s in after_help_sections(
        &full
            .get_after_help()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    ) {
        s.render(&mut r);
    }
    r.control("SH", ["DIFFERENCES FROM KMOD"]);
    r.text([roman(
        "rkmod offers every tool of kmod's binary, and is meant to be installed beside kmod \
         until its modprobe and depmod have been proven on the system. Invoked as kmod, rkmod takes kmod's commands (help, list, \
         static-nodes); see kmod(8). modaudit exists only in rkmod. The \
         differences of each tool are listed on its page.",
    )]);
    see_also(&mut r, multicall::NAME);
    append(&mut page, &r);
    page
}

/// kmod(8): the `kmod` program and its commands, with static-nodes' options in full (clap_mangen
/// lists subcommands by name only).
fn kmod_man() -> Vec<u8> {
    let cmd = kmod::KmodArgs::command();
    // clap_mangen would name a page per command (kmod-list(8)); they are described here.
    let mut own = Command::new(multicall::KMOD)
        .about(cmd.get_about().cloned().unwrap_or_default())
        .long_about(cmd.get_long_about().cloned().unwrap_or_default())
        .override_usage(cmd.get_overridden_usage().cloned().unwrap_or_default())
        .disable_version_flag(true);
    for a in cmd.get_arguments() {
        own = own.arg(a.clone());
    }
    let mut page = clap_part(&own);
    let mut r = Roff::new();
    r.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands() {
        r.control("TP", []);
        r.text([bold(sub.get_name())]);
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let see = match sub.get_name() {
            "list" => " (its options are lsmod's; see lsmod(8))",
            "static-nodes" => " (see STATIC-NODES below)",
            _ => "",
        };
        r.text([roman(format!("{about}{see}."))]);
    }
    let nodes = kmod::StaticNodesArgs::command();
    r.control("SH", ["STATIC-NODES"]);
    r.text([bold("kmod static-nodes"), roman(" [OPTIONS]")]);
    r.control("PP", []);
    r.text([roman(join_words(
        &nodes
            .get_long_about()
            .or(nodes.get_about())
            .map(|s| s.to_string())
            .unwrap_or_default(),
    ))]);
    for a in nodes.get_arguments().filter(|a| !a.is_hide_set()) {
        let mut tag = Vec::new();
        if let Some(s) = a.get_short() {
            tag.push(format!("-{s}"));
        }
        if let Some(l) = a.get_long() {
            tag.push(format!("--{l}"));
        }
        let value = a
            .get_value_names()
            .and_then(|v| v.first())
            .map(|v| format!(" {v}"))
            .unwrap_or_default();
        r.control("TP", []);
        r.text([bold(tag.join(", ")), roman(value)]);
        r.text([roman(
            a.get_help().map(|h| h.to_string()).unwrap_or_default(),
        )]);
        for v in a.get_possible_values().iter().filter(|v| !v.is_hide_set()) {
            r.control("RS", []);
            r.control("TP", []);
            r.text([bold(v.get_name())]);
            r.text([roman(
                v.get_help().map(|h| h.to_string()).unwrap_or_default(),
            )]);
            r.control("RE", []);
        }
    }
    for s in after_help_sections(
        &cmd.get_after_help()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    ) {
        s.render(&mut r);
    }
    r.control("PP", []);
    r.text([roman(format!(
        "static-nodes: {}",
        nodes
            .get_after_help()
            .map(|s| s.to_string())
            .unwrap_or_default()
            .trim_start_matches("Exit status: ")
    ))]);
    r.control("SH", ["FILES"]);
    r.control("TP", []);
    r.text([bold("/lib/modules/$(uname -r)/modules.devname")]);
    r.text([roman(
        "The device nodes static-nodes prints, written by depmod(8): MODULE DEVNAME TYPEMAJOR:MINOR \
         per line.",
    )]);
    r.control("SH", ["DIFFERENCES FROM KMOD"]);
    for (i, d) in KMOD_DIFFERENCES.iter().enumerate() {
        if i > 0 {
            r.control("PP", []);
        }
        r.text([roman(*d)]);
    }
    see_also(&mut r, multicall::KMOD);
    append(&mut page, &r);
    page
}

/// kmod(8)'s DIFFERENCES FROM KMOD; the README's table says the same.
const KMOD_DIFFERENCES: &[&str] = &[
    "-V prints rkmod's version, and the help texts are rkmod's own.",
    "An invalid line of modules.devname is reported with kmod's words, followed by the file \
     and the line number.",
    "A failure to write the output (a full disk) is reported and makes the exit status 1; kmod \
     exits 0 with the output cut short.",
    "A modules.devname that opens but cannot be read (a directory) is reported as a warning; \
     kmod says nothing. Both exit 0 and create an empty output file.",
    "When a parent directory of the --output file cannot be created, the message gives the real \
     cause; kmod 34 may say \"Success\".",
];

/// Makes a page pass `mandoc -T lint` cleanly: no trailing spaces (clap_mangen leaves one after
/// the synopsis) and text lines of at most 80 bytes, broken between words (roff refills them).
fn tidy(page: &[u8]) -> Vec<u8> {
    const WIDTH: usize = 80;
    let page = std::str::from_utf8(page).expect("roff is UTF-8");
    let mut out = String::with_capacity(page.len() + page.len() / 16);
    let mut fill = true;
    for line in page.lines().map(str::trim_end) {
        match line {
            ".nf" => fill = false,
            ".fi" => fill = true,
            _ => {}
        }
        if !fill || line.starts_with('.') || line.starts_with('\'') || line.len() <= WIDTH {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut current = String::new();
        for word in line.split(' ') {
            // A word ending in an odd number of backslashes ends in the escape `\ `: keep its space.
            let escaped_space = current.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1;
            if !current.is_empty() && !escaped_space && current.len() + 1 + word.len() > WIDTH {
                out.push_str(&current);
                out.push('\n');
                current.clear();
            }
            if current.is_empty() {
                if word.starts_with('.') || word.starts_with('\'') {
                    current.push_str("\\&");
                }
            } else {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push_str(&current);
        out.push('\n');
    }
    out.into_bytes()
}

fn see_also(r: &mut Roff, this: &str) {
    let mut refs: Vec<String> = std::iter::once(multicall::NAME)
        .chain(TOOLS.iter().map(|t| t.name))
        .chain([multicall::KMOD])
        .filter(|n| *n != this)
        .map(|n| format!("{n}(8)"))
        .collect();
    refs.push("modules.dep(5)".to_string());
    r.control("SH", ["SEE ALSO"]);
    let mut line = Vec::new();
    for (i, x) in refs.iter().enumerate() {
        let (name, sect) = x.split_once('(').expect("name(section)");
        line.push(bold(name));
        line.push(roman(format!(
            "({sect}{}",
            if i + 1 < refs.len() { ", " } else { "" }
        )));
    }
    r.text(line);
}

/// A section made from a paragraph of a tool's after-help text.
struct Section {
    heading: String,
    intro: Option<String>,
    /// `.TP` items: tag and text.
    items: Vec<(String, String)>,
    /// Plain paragraphs.
    paragraphs: Vec<String>,
}

impl Section {
    fn render(&self, r: &mut Roff) {
        r.control("SH", [self.heading.as_str()]);
        if let Some(intro) = &self.intro {
            r.text([roman(intro.as_str())]);
        }
        for (tag, text) in &self.items {
            r.control("TP", []);
            r.text([bold(tag.as_str())]);
            r.text([roman(text.as_str())]);
        }
        for (i, p) in self.paragraphs.iter().enumerate() {
            if i > 0 {
                r.control("PP", []);
            }
            r.text([roman(p.as_str())]);
        }
    }
}

/// Splits after-help text into man sections. The tools write it in three shapes:
///
/// - `Exit status: text` (one paragraph) becomes EXIT STATUS;
/// - `Heading (note):` followed by indented `  tag` lines, each with its text either after two
///   spaces or on deeper-indented lines, becomes a section HEADING with tagged paragraphs;
/// - anything else is prose, collected under NOTES.
fn after_help_sections(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut notes = Vec::new();
    for para in text
        .split("\n\n")
        .map(str::trim_end)
        .filter(|p| !p.trim().is_empty())
    {
        let first = para.lines().next().unwrap_or_default();
        if let Some(rest) = para.strip_prefix("Exit status: ") {
            sections.push(Section {
                heading: "EXIT STATUS".into(),
                intro: None,
                items: Vec::new(),
                paragraphs: vec![capitalise(&join_words(rest))],
            });
        } else if let Some(head) = first.strip_suffix(':')
            && !first.starts_with(' ')
            && para.lines().skip(1).all(|l| l.starts_with("  "))
        {
            let (name, note) = match head.split_once(" (") {
                Some((n, note)) => (
                    n,
                    Some(format!("{}.", capitalise(note.trim_end_matches(')')))),
                ),
                None => (head, None),
            };
            let mut items: Vec<(String, String)> = Vec::new();
            for line in para.lines().skip(1) {
                let body = line.trim_start();
                if line.len() - body.len() == 2 {
                    match body.split_once("  ") {
                        Some((tag, text)) => items.push((tag.into(), text.trim().into())),
                        None => items.push((body.into(), String::new())),
                    }
                } else if let Some((_, text)) = items.last_mut() {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(body);
                }
            }
            sections.push(Section {
                heading: name.to_uppercase(),
                intro: note,
                items,
                paragraphs: Vec::new(),
            });
        } else {
            notes.push(join_words(para));
        }
    }
    if !notes.is_empty() {
        // Prose explains the options, so it goes before the other sections.
        sections.insert(
            0,
            Section {
                heading: "NOTES".into(),
                intro: None,
                items: Vec::new(),
                paragraphs: notes,
            },
        );
    }
    sections
}

fn join_words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Completions

fn completion_path(shell: Shell, name: &str) -> PathBuf {
    PathBuf::from(match shell {
        Shell::Bash => format!("completions/bash/{name}"),
        Shell::Zsh => format!("completions/zsh/_{name}"),
        Shell::Fish => format!("completions/fish/{name}.fish"),
        other => panic!("no completions for {other}"),
    })
}

/// A copy of `cmd` with only what `--help` shows: hidden options (`--root`) are for tests and
/// are not offered.
fn visible(cmd: &Command) -> Command {
    // clap takes `&'static str` names (its `string` feature is off); this runs once.
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let mut v = Command::new(leak(cmd.get_name()))
        .about(cmd.get_about().cloned().unwrap_or_default())
        .args_conflicts_with_subcommands(cmd.is_args_conflicts_with_subcommands_set())
        .disable_help_subcommand(cmd.is_disable_help_subcommand_set());
    for alias in cmd.get_visible_aliases() {
        v = v.visible_alias(leak(alias));
    }
    for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        v = v.arg(a.clone());
    }
    for s in cmd.get_subcommands() {
        v = v.subcommand(visible(s));
    }
    v
}

/// Marks the positional argument whose values are module names, so that the zsh script's
/// action for it can be found and replaced.
fn marker(names: Names) -> &'static str {
    match names {
        Names::Loaded => "@rkmod-loaded-modules@",
        Names::Installed => "@rkmod-installed-modules@",
        Names::InstalledOrBuiltin => "@rkmod-installed-or-builtin-modules@",
        Names::Files => unreachable!("zsh completes files without help"),
    }
}

/// The options of `cmd` whose value is the next word (`-F FIELD`): after them, a module name is
/// not wanted.
fn value_options(cmd: &Command) -> String {
    let mut v = Vec::new();
    for a in cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
    {
        if a.get_action().takes_values() && !a.is_require_equals_set() {
            v.extend(a.get_short().map(|s| format!("-{s}")));
            v.extend(a.get_long().map(|l| format!("--{l}")));
        }
    }
    v.join(" ")
}

fn completion(shell: Shell, cmd: Command, name: &str) -> Vec<u8> {
    let is_multicall = name == multicall::NAME;
    // The tools whose module-name completion this script carries: itself, or (for rkmod) each
    // subcommand.
    let dynamic: Vec<(&str, Names, String)> = TOOLS
        .iter()
        .filter(|t| is_multicall || t.name == name)
        .filter_map(|t| {
            extra(t.name)
                .names
                .map(|n| (t.name, n, value_options(&(t.command)())))
        })
        .filter(|(_, names, _)| shell == Shell::Bash || *names != Names::Files)
        .collect();
    let mut cmd = visible(&cmd);
    if shell == Shell::Zsh {
        let mark =
            |c: Command, n: Names| c.mut_arg("modules", |a: Arg| a.value_parser([marker(n)]));
        for (tool, names, _) in &dynamic {
            cmd = if is_multicall {
                cmd.mut_subcommand(*tool, |s| mark(s, *names))
            } else {
                mark(cmd, *names)
            };
        }
    }
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut buf);
    let mut script = String::from_utf8(buf).expect("clap_complete writes UTF-8");
    if dynamic.is_empty() {
        return script.into_bytes();
    }
    match shell {
        Shell::Bash => bash_names(&mut script, name, &dynamic),
        Shell::Zsh => zsh_names(&mut script, name, &dynamic),
        Shell::Fish => fish_names(&mut script, name, &dynamic),
        _ => unreachable!(),
    }
    script.into_bytes()
}

const ADDED: &str =
    "# Module names: added to clap_complete's script by rkmod's examples/gendocs.rs.";

fn bash_source(names: Names) -> &'static str {
    match names {
        Names::Loaded => "loaded",
        Names::Installed => "installed",
        Names::InstalledOrBuiltin => "installed builtin",
        Names::Files => "",
    }
}

/// bash: a wrapper around clap's function that offers module names for a word that is neither
/// an option, nor an option's value, nor a path (those keep clap's and bash's completion).
fn bash_names(script: &mut String, name: &str, dynamic: &[(&str, Names, String)]) {
    script.push_str(&format!(
        r#"
{ADDED}
# __rkmod_names SOURCES VALUE_OPTIONS: SOURCES are "loaded" (/proc/modules), "installed"
# (modules.dep) and "builtin" (modules.builtin), or none for file names only; VALUE_OPTIONS take
# the next word as their value.
__rkmod_names() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} src names=
    [[ $cur == -* || $cur == */* || $cur == .* ]] && return 0
    [[ " $2 " == *" $prev "* ]] && return 0
    for src in $1; do
        case $src in
            loaded) names+=" $(cut -d ' ' -f 1 /proc/modules 2>/dev/null)" ;;
            installed | builtin)
                [[ $src == installed ]] && src=dep
                names+=" $(sed -e 's/:.*//' -e 's|.*/||' -e 's/\.ko\(\.[a-z]*\)\{{0,1\}}$//' \
                    "/lib/modules/$(uname -r)/modules.$src" 2>/dev/null)"
                ;;
        esac
    done
    # No match leaves COMPREPLY empty, and bash falls back to file names (-o default).
    COMPREPLY=($(compgen -W "$names" -- "$cur"))
    return 0
}}

__rkmod_{fname}() {{
    _{fname} "$@"
"#,
        fname = name.replace('-', "_"),
    ));
    if name == multicall::NAME {
        script.push_str("    ((COMP_CWORD >= 2)) || return 0\n    case ${COMP_WORDS[1]} in\n");
        for (tool, names, opts) in dynamic {
            script.push_str(&format!(
                "        {tool}) __rkmod_names \"{}\" \"{opts}\" ;;\n",
                bash_source(*names)
            ));
        }
        script.push_str("    esac\n");
    } else {
        let (_, names, opts) = &dynamic[0];
        script.push_str(&format!(
            "    __rkmod_names \"{}\" \"{opts}\"\n",
            bash_source(*names)
        ));
    }
    script.push_str(&format!(
        "}}\n\ncomplete -F __rkmod_{} -o bashdefault -o default {name}\n",
        name.replace('-', "_")
    ));
}

/// zsh: the action of the module argument (clap writes its possible values, here a marker)
/// becomes a function listing module names; the functions go before the script's last lines,
/// which run the completion on the first use.
fn zsh_names(script: &mut String, name: &str, dynamic: &[(&str, Names, String)]) {
    for (tool, names, _) in dynamic {
        let from = format!(":({})'", marker(*names));
        let to = format!(":{}'", zsh_function(*names));
        // Two tools completing the same names share the marker: the first replaced both.
        assert!(
            script.contains(&from) || script.contains(&to),
            "zsh completion of {name}: no action {from} for {tool}'s modules; clap_complete's output changed"
        );
        *script = script.replace(&from, &to);
    }
    let functions = format!(
        r#"{ADDED}
(( $+functions[__rkmod_loaded_modules] )) ||
__rkmod_loaded_modules() {{
    local -a names
    [[ -r /proc/modules ]] && names=(${{${{(f)"$(</proc/modules)"}}%% *}})
    _wanted modules expl 'loaded module' compadd -a names
}}

# __rkmod_module_names INDEX...: module names from /lib/modules/$(uname -r)/modules.INDEX
(( $+functions[__rkmod_module_names] )) ||
__rkmod_module_names() {{
    local dir=/lib/modules/$(uname -r) index
    local -a names
    for index in "$@"; do
        [[ -r $dir/modules.$index ]] || continue
        names+=(${{${{${{(f)"$(<$dir/modules.$index)"}}%%:*}}##*/}})
    done
    names=(${{names%.ko*}})
    _alternative "modules:module:compadd -a names" \
        'files:module file:_files -g "*.ko(|.xz|.zst|.gz)(-.)"'
}}

(( $+functions[__rkmod_installed_modules] )) ||
__rkmod_installed_modules() {{ __rkmod_module_names dep }}

(( $+functions[__rkmod_installed_or_builtin_modules] )) ||
__rkmod_installed_or_builtin_modules() {{ __rkmod_module_names dep builtin }}

"#
    );
    let tail = format!("if [ \"$funcstack[1]\" = \"_{name}\" ]; then");
    let at = script
        .rfind(&tail)
        .unwrap_or_else(|| panic!("zsh completion of {name}: no final `{tail}`"));
    script.insert_str(at, &functions);
}

fn zsh_function(names: Names) -> &'static str {
    match names {
        Names::Loaded => "__rkmod_loaded_modules",
        Names::Installed => "__rkmod_installed_modules",
        Names::InstalledOrBuiltin => "__rkmod_installed_or_builtin_modules",
        Names::Files => unreachable!("zsh completes files without help"),
    }
}

/// fish: more `complete` lines; fish merges them with clap's.
fn fish_names(script: &mut String, name: &str, dynamic: &[(&str, Names, String)]) {
    script.push_str(&format!(
        r#"
{ADDED}
function __rkmod_loaded_modules
    test -r /proc/modules; and string replace -r ' .*' '' </proc/modules
end

# __rkmod_module_names INDEX...: module names from /lib/modules/(uname -r)/modules.INDEX
function __rkmod_module_names
    set -l dir /lib/modules/(uname -r)
    for index in $argv
        test -r $dir/modules.$index; or continue
        string replace -r ':.*' '' <$dir/modules.$index | string replace -r '.*/' '' | string replace -r '\.ko(\.[a-z]+)?$' ''
    end
end

"#
    ));
    for (tool, names, _) in dynamic {
        let condition = if name == multicall::NAME {
            format!(" -n '__fish_rkmod_using_subcommand {tool}'")
        } else {
            String::new()
        };
        let line = match names {
            // rmmod takes names of loaded modules: no file names (as fish's own rmmod does).
            Names::Loaded => format!(
                "complete -c {name}{condition} -x -a '(__rkmod_loaded_modules)' -d 'loaded module'\n"
            ),
            Names::Installed => {
                format!("complete -c {name}{condition} -a '(__rkmod_module_names dep)' -d module\n")
            }
            Names::InstalledOrBuiltin => format!(
                "complete -c {name}{condition} -a '(__rkmod_module_names dep builtin)' -d module\n"
            ),
            Names::Files => unreachable!("fish completes files without help"),
        };
        script.push_str(&line);
    }
}
