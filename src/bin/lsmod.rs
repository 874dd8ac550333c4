//! `lsmod`: list loaded modules.
mod common;

fn main() -> std::process::ExitCode {
    common::main(rkmod::cli::lsmod::main)
}
