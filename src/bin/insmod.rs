//! `insmod`: insert a module into the kernel.
fn main() -> std::process::ExitCode {
    rkmod::cli::run_main(rkmod::cli::insmod::main)
}
