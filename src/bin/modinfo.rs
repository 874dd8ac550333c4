//! `modinfo`: show information about kernel modules.
fn main() -> std::process::ExitCode {
    rkmod::cli::run_main(rkmod::cli::modinfo::main)
}
