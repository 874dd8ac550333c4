//! `depmod`: index a module tree.
mod common;

fn main() -> std::process::ExitCode {
    common::main(rkmod::cli::depmod::main)
}
