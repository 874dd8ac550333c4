//! `rkmod`: every tool in one binary, chosen as kmod chooses: by the name the binary is invoked
//! under (`lsmod` as a symbolic link to `rkmod`), or by the first argument (`rkmod lsmod`).

use std::ffi::{OsStr, OsString};

use clap::{Arg, ArgAction, Command};

use crate::cli::{self, Io};
use crate::exit_code::ExitCode;

/// One tool the multicall binary offers.
pub struct Tool {
    /// Its name: the `argv[0]` it answers to, and its subcommand.
    pub name: &'static str,
    /// Other subcommand names (kmod's `kmod list` is `lsmod`). Not accepted as `argv[0]`, as kmod
    /// accepts only the tools' own names there.
    pub aliases: &'static [&'static str],
    /// Its entry point, taking argv with `argv[0]`.
    pub main: fn(Vec<OsString>, &mut Io<'_>) -> ExitCode,
    /// Its clap definition.
    pub command: fn() -> Command,
}

/// The tools, in the order `rkmod --help` lists them.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "insmod",
        aliases: &[],
        main: cli::insmod::main,
        command: <cli::insmod::InsmodArgs as clap::CommandFactory>::command,
    },
    Tool {
        name: "rmmod",
        aliases: &[],
        main: cli::rmmod::main,
        command: <cli::rmmod::RmmodArgs as clap::CommandFactory>::command,
    },
    Tool {
        name: "lsmod",
        aliases: &["list"],
        main: cli::lsmod::main,
        command: <cli::lsmod::LsmodArgs as clap::CommandFactory>::command,
    },
    Tool {
        name: "modinfo",
        aliases: &[],
        main: cli::modinfo::main,
        command: <cli::modinfo::ModinfoArgs as clap::CommandFactory>::command,
    },
    Tool {
        name: "modprobe",
        aliases: &[],
        main: cli::modprobe::main,
        command: <cli::modprobe::ModprobeArgs as clap::CommandFactory>::command,
    },
    Tool {
        name: "depmod",
        aliases: &[],
        main: cli::depmod::main,
        command: <cli::depmod::DepmodArgs as clap::CommandFactory>::command,
    },
    Tool {
        name: "modaudit",
        aliases: &[],
        main: cli::modaudit::main,
        command: <cli::modaudit::ModauditArgs as clap::CommandFactory>::command,
    },
];

/// The multicall binary's own name.
pub const NAME: &str = "rkmod";

/// The name under which rkmod is kmod's own program (`kmod static-nodes`, `kmod list`).
pub const KMOD: &str = "kmod";

/// The tool invoked as `argv0` (a path or a bare name), if any.
pub fn tool_by_program(argv0: &OsStr) -> Option<&'static Tool> {
    let base = std::path::Path::new(argv0).file_name()?;
    TOOLS.iter().find(|t| base == t.name)
}

/// The tool a subcommand names, by name or alias.
pub fn tool_by_subcommand(word: &OsStr) -> Option<&'static Tool> {
    TOOLS
        .iter()
        .find(|t| word == t.name || t.aliases.iter().any(|a| word == *a))
}

/// `rkmod`'s clap definition: its own options and one subcommand per tool, each the tool's own
/// definition. Parsing uses it only for `rkmod` itself (help, version, errors); the tools parse
/// their own arguments. The man page and the completions come from it too.
pub fn command() -> Command {
    let mut cmd = Command::new(NAME)
        .about("Linux kernel-module tools in one binary")
        .long_about(
            "Linux kernel-module tools in one binary.\n\n\
             rkmod runs the tool it is invoked as: installed as symbolic links named insmod, \
             rmmod, lsmod, modinfo, modprobe, depmod and modaudit, each behaves as that tool, as kmod's tools are \
             links to kmod. Invoked as rkmod, the first argument names the tool and the rest are \
             its arguments: `rkmod rmmod --wait foo` is `rmmod --wait foo`, and messages are \
             prefixed with the tool's name. `rkmod list` is lsmod and `rkmod static-nodes` is \
             `kmod static-nodes`, as in kmod. Invoked as kmod (a link named kmod), rkmod is \
             kmod's own program; see kmod(8).",
        )
        .override_usage("rkmod <TOOL> [ARGS]...\n       rkmod -V|--version")
        .disable_version_flag(true)
        .args_conflicts_with_subcommands(true)
        .arg_required_else_help(true)
        .subcommand_value_name("TOOL")
        .subcommand_help_heading("Tools")
        .after_help(
            "Exit status: that of the tool; 1 if the command line is invalid or the program \
             name is unknown.",
        )
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::SetTrue)
                .help("Show version"),
        );
    for tool in TOOLS {
        let mut sub = (tool.command)().name(tool.name);
        for alias in tool.aliases {
            sub = sub.visible_alias(*alias);
        }
        cmd = cmd.subcommand(sub);
    }
    cmd.subcommand(
        <cli::kmod::StaticNodesArgs as clap::CommandFactory>::command()
            .name(cli::kmod::STATIC_NODES),
    )
}

/// Runs whichever tool `argv` asks for: `argv[0]`'s basename if it names a tool, else (as
/// `rkmod`) the subcommand in `argv[1]`.
pub fn main(argv: Vec<OsString>, io: &mut Io<'_>) -> ExitCode {
    let argv0 = argv.first().cloned().unwrap_or_else(|| NAME.into());
    if let Some(tool) = tool_by_program(&argv0) {
        return (tool.main)(argv, io);
    }
    if std::path::Path::new(&argv0).file_name() == Some(OsStr::new(KMOD)) {
        return cli::kmod::main(argv, io);
    }
    let base = std::path::Path::new(&argv0)
        .file_name()
        .unwrap_or(&argv0)
        .to_string_lossy()
        .into_owned();
    io.prog = NAME.to_string();
    if base != NAME {
        // kmod exits 1 silently here; one line saying why costs nothing.
        io.error(format!(
            "unknown program '{base}': invoke as {}, {KMOD} (a link to {NAME}), or as {NAME} TOOL",
            TOOLS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        ));
        return ExitCode::Failure;
    }
    if let Some(tool) = argv.get(1).and_then(|w| tool_by_subcommand(w)) {
        io.prog = tool.name.to_string();
        let mut sub = Vec::with_capacity(argv.len() - 1);
        sub.push(OsString::from(tool.name));
        sub.extend(argv.into_iter().skip(2));
        return (tool.main)(sub, io);
    }
    if argv.get(1).is_some_and(|w| w == cli::kmod::STATIC_NODES) {
        io.prog = cli::kmod::STATIC_NODES.to_string();
        return cli::kmod::static_nodes(argv.into_iter().skip(1).collect(), io, NAME);
    }
    // Not a tool: rkmod's own options, `help [TOOL]`, or a mistake, all for clap to answer.
    own_options(argv, io)
}

/// Parses `rkmod`'s own command line, as `cli::parse` does for the tools: help on stdout with
/// status 0, a mistake on stderr with status 1.
fn own_options(argv: Vec<OsString>, io: &mut Io<'_>) -> ExitCode {
    use clap::error::ErrorKind;
    match command().try_get_matches_from(argv) {
        Ok(m) if m.get_flag("version") => {
            let _ = io.out.write_all(cli::version_text().as_bytes());
            ExitCode::Success
        }
        // arg_required_else_help leaves no other way to succeed without a tool.
        Ok(_) => ExitCode::Failure,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp) => {
            let _ = write!(io.out, "{}", e.render());
            ExitCode::Success
        }
        Err(e) => {
            let _ = write!(io.err, "{}", e.render());
            ExitCode::Failure
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_names_are_the_tools_only() {
        assert_eq!(
            tool_by_program(OsStr::new("/usr/sbin/rmmod")).unwrap().name,
            "rmmod"
        );
        assert_eq!(
            tool_by_program(OsStr::new("modaudit")).unwrap().name,
            "modaudit"
        );
        // kmod accepts `list` as a command, not as a program name.
        assert!(tool_by_program(OsStr::new("list")).is_none());
        assert!(tool_by_program(OsStr::new("rkmod")).is_none());
        assert!(tool_by_program(OsStr::new("")).is_none());
    }

    #[test]
    fn subcommands_include_aliases() {
        assert_eq!(
            tool_by_subcommand(OsStr::new("list")).unwrap().name,
            "lsmod"
        );
        assert_eq!(
            tool_by_subcommand(OsStr::new("modinfo")).unwrap().name,
            "modinfo"
        );
        assert!(tool_by_subcommand(OsStr::new("modpost")).is_none());
    }

    #[test]
    fn every_tool_is_a_subcommand_named_as_itself() {
        let cmd = command();
        for tool in TOOLS {
            assert_eq!((tool.command)().get_name(), tool.name);
            assert!(cmd.find_subcommand(tool.name).is_some(), "{}", tool.name);
        }
    }
}
