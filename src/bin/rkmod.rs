//! `rkmod`: every tool in one binary, chosen by the name it is invoked under or by its first
//! argument.
fn main() -> std::process::ExitCode {
    rkmod::cli::run_main(rkmod::cli::multicall::main)
}
