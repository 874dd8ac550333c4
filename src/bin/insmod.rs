//! `insmod`: insert a module file into the kernel.
mod common;

fn main() -> std::process::ExitCode {
    common::main(rkmod::cli::insmod::main)
}
