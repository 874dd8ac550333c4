//! Integration tests: the built binaries, run as a user would, against real fixtures and,
//! where it is installed, Debian's kmod as the oracle. harness.rs is the one launcher; there is
//! one file per tool, plus the bad-input catalogue, the multicall binary, what ships, and the
//! proof that the suite never makes a module system call on the host (host_kernel.rs).

mod bad_inputs;
mod fuzz_regressions;
mod harness;
mod host_kernel;
mod insmod;
mod kmod;
mod lsmod;
mod modaudit;
mod modinfo;
mod modprobe;
mod multicall;
mod rmmod;
mod ship;
