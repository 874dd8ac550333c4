//! `rmmod`: remove modules from the kernel.
mod common;

fn main() -> std::process::ExitCode {
    common::main(rkmod::cli::rmmod::main)
}
