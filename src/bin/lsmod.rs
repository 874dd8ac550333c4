//! `lsmod`: list loaded modules.
fn main() -> std::process::ExitCode {
    rkmod::cli::run_main(rkmod::cli::lsmod::main)
}
