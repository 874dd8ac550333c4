//! A scratch directory under target/ for one test, removed on drop. Shared by the depmod test
//! files (`#[path]` modules: each tests/*.rs file is its own crate).

use std::path::{Path, PathBuf};

/// `target/NAME-PID`, created empty.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// Creates `target/NAME-PID` afresh.
    pub fn new(name: &str) -> Scratch {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
