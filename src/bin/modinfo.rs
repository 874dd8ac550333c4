//! `modinfo`: show information about kernel modules.
mod common;

fn main() -> std::process::ExitCode {
    common::main(rkmod::cli::modinfo::main)
}
