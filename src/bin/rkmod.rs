//! `rkmod`: every tool in one binary, chosen by the name it is invoked under or by its first
//! argument.
mod common;

fn main() -> std::process::ExitCode {
    common::main(rkmod::cli::multicall::main)
}
