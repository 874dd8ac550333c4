//! insmod: what it refuses before any system call, and (with `--root`, where the fake kernel
//! records every module system call instead of making it) exactly which call it makes.

#[test]
fn clap_definition_is_consistent() {
    use clap::CommandFactory;
    rkmod::cli::insmod::InsmodArgs::command().debug_assert();
}
