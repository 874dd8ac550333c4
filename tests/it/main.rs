//! Integration tests: the built binaries, run as a user would, against real fixtures and,
//! where it is installed, Debian's kmod as the oracle. harness.rs is the one launcher; there is
//! one file per tool, plus the bad-input catalogue, the multicall binary and what ships.

mod bad_inputs;
mod fuzz_regressions;
mod harness;
mod insmod;
mod lsmod;
mod modaudit;
mod modinfo;
mod multicall;
mod rmmod;
mod ship;
