//! The running kernel: its list of loaded modules (`/proc/modules`), their sysfs attributes, and
//! the module system calls.

pub mod loaded;
pub mod procmodules;
pub mod syscall;
pub mod sysfs;
