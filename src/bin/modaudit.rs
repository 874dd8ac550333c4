//! `modaudit`: tell from the ELF whether a module can ever be unloaded.
fn main() -> std::process::ExitCode {
    rkmod::cli::run_main(rkmod::cli::modaudit::main)
}
