//! Integration tests: the built binaries, run as a user would, against real fixtures and,
//! where it is installed, Debian's kmod as the oracle.

mod bad_inputs;
mod fuzz_regressions;
mod harness;
mod live;
mod modaudit;
mod modinfo;
mod ship;
