//! `rmmod`: remove modules from the kernel.
fn main() -> std::process::ExitCode {
    rkmod::cli::run_main(rkmod::cli::rmmod::main)
}
