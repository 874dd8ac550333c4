//! rkmod: the Linux kernel-module tools (`insmod`, `rmmod`, `lsmod`, `modinfo`) and `modaudit`,
//! as a library with thin binaries on top.
//!
//! # Kernel support and privileges
//! Reading module files and depmod indexes needs no privilege and works for modules of any
//! architecture (32/64-bit, either byte order). Loading and removing modules needs
//! `CAP_SYS_MODULE` and a kernel with `CONFIG_MODULES` (and `CONFIG_MODULE_UNLOAD` to remove).
//!
//! # Panics
//! None on any input: malformed files, indexes and sysfs contents are reported as [`Error`]s
//! naming the file and the cause.

#![deny(missing_docs)]
// The library never panics on input: no unwrap, expect or panic outside tests (clippy.toml
// allows them in tests).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit;
pub mod cli;
pub mod depmod;
pub mod error;
pub mod exit_code;
pub mod file;
pub mod fnmatch;
#[doc(hidden)]
// A fuzz target reports a broken invariant by panicking: that is its only way to tell libFuzzer.
#[allow(clippy::panic)]
pub mod fuzz;
pub mod insert;
pub mod kernel;
pub mod moddir;
pub mod modprobe;
pub mod names;
pub mod parallel;
pub mod remove;
pub mod static_nodes;
pub mod sysroot;

pub use error::{Error, Result};
