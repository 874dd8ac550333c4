//! What every binary does: run its tool, and report in kmod's format what went wrong outside
//! the tool itself, with context (anyhow, as the binaries' error type).

use anyhow::Context;
use rkmod::cli::Io;
use rkmod::exit_code::ExitCode;

/// Runs `tool` with the process's arguments and streams, and exits with its status.
pub fn main(tool: fn(Vec<std::ffi::OsString>, &mut Io<'_>) -> ExitCode) -> std::process::ExitCode {
    match rkmod::cli::run_main(tool).context("could not write to standard output") {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("{}: ERROR: {e:#}", rkmod::cli::prog_name());
            ExitCode::Failure.into()
        }
    }
}
