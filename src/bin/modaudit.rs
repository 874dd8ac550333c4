//! `modaudit`: tell, before loading, whether modules can ever be unloaded.
mod common;

fn main() -> std::process::ExitCode {
    common::main(rkmod::cli::modaudit::main)
}
