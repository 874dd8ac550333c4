//! `modprobe`: insert and remove modules with their dependencies.
mod common;

fn main() -> std::process::ExitCode {
    common::main(rkmod::cli::modprobe::main)
}
