//! The library's one error type.
//!
//! Every variant that concerns a file carries its path, so a binary can print one line that names
//! the file and the cause. The library never prints and never panics on input.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::file::compression::Compression;

/// What went wrong, and where.
#[derive(Debug)]
pub enum Error {
    /// A system call on `path` failed.
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A module file is a directory.
    IsDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// A module file is a FIFO, a device or a socket: reading it could block or never end.
    NotRegularFile {
        /// The file.
        path: PathBuf,
        /// What it is instead ("FIFO", "character device", ...).
        kind: &'static str,
    },
    /// The file is shorter than any module could be.
    TooShort {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },
    /// A compressed file could not be decompressed.
    Decompress {
        /// The file.
        path: PathBuf,
        /// Its compression, detected from its magic bytes.
        compression: Compression,
        /// The decoder's explanation.
        cause: String,
    },
    /// A compressed file expands beyond the size limit (a decompression bomb, or not a module).
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its compression.
        compression: Compression,
        /// The limit in bytes.
        limit: u64,
    },
    /// The contents are not a well-formed ELF file, or not a kernel module.
    BadElf {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        cause: ElfError,
    },
    /// A `modules.*.bin` index or another module-directory file is malformed.
    BadIndex {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        cause: String,
    },
    /// An appended module signature is present but cannot be understood.
    BadSignature {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        cause: String,
    },
}

/// Why bytes are not a usable ELF kernel module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// The first four bytes are not `\x7fELF`.
    BadMagic,
    /// EI_CLASS is neither 32- nor 64-bit.
    BadClass(u8),
    /// EI_DATA is neither little- nor big-endian.
    BadEndianness(u8),
    /// The file ends inside the ELF header.
    TruncatedHeader,
    /// `e_shentsize` does not match the class.
    BadSectionEntrySize(u16),
    /// The file has no section headers.
    NoSections,
    /// The section header table lies (partly) outside the file.
    SectionTableOutOfBounds,
    /// The section-name string table index is out of range, or the table is unusable.
    BadSectionNames,
    /// A section's contents lie outside the file.
    SectionOutOfBounds(String),
    /// The module has no `.modinfo` section.
    NoModinfo,
    /// Some other structural problem, as described.
    Other(String),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::BadMagic => f.write_str("not an ELF file (bad magic)"),
            ElfError::BadClass(c) => write!(f, "invalid ELF class {c}"),
            ElfError::BadEndianness(d) => write!(f, "invalid ELF byte order {d}"),
            ElfError::TruncatedHeader => f.write_str("truncated ELF header"),
            ElfError::BadSectionEntrySize(s) => write!(f, "invalid ELF section header size {s}"),
            ElfError::NoSections => f.write_str("ELF file has no sections"),
            ElfError::SectionTableOutOfBounds => {
                f.write_str("ELF section header table extends past the end of the file")
            }
            ElfError::BadSectionNames => f.write_str("invalid ELF section name table"),
            ElfError::SectionOutOfBounds(name) => {
                write!(f, "ELF section {name} extends past the end of the file")
            }
            ElfError::NoModinfo => f.write_str("not a kernel module (no .modinfo section)"),
            ElfError::Other(s) => f.write_str(s),
        }
    }
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Error::Io { path, .. }
            | Error::IsDirectory { path }
            | Error::NotRegularFile { path, .. }
            | Error::TooShort { path, .. }
            | Error::Decompress { path, .. }
            | Error::TooLarge { path, .. }
            | Error::BadElf { path, .. }
            | Error::BadIndex { path, .. }
            | Error::BadSignature { path, .. } => path,
        }
    }

    /// The cause alone, without the path (for messages that name the file themselves).
    pub fn cause(&self) -> String {
        match self {
            Error::Io { source, .. } => io_cause(source),
            Error::IsDirectory { .. } => "is a directory, not a module file".to_string(),
            Error::NotRegularFile { kind, .. } => format!("is a {kind}, not a regular file"),
            Error::TooShort { len, .. } => {
                format!("file is too short to be a module ({len} bytes)")
            }
            Error::Decompress {
                compression, cause, ..
            } => format!("corrupt {compression} data: {cause}"),
            Error::TooLarge {
                compression, limit, ..
            } => format!(
                "{compression} data expands beyond {} MiB (decompression bomb?)",
                limit >> 20
            ),
            Error::BadElf { cause, .. } => cause.to_string(),
            Error::BadIndex { cause, .. } => format!("malformed index: {cause}"),
            Error::BadSignature { cause, .. } => format!("bad module signature: {cause}"),
        }
    }

    /// The errno closest to this error, as kmod would have reported it.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            Error::IsDirectory { .. } => libc::EISDIR,
            Error::NotRegularFile { .. } | Error::TooShort { .. } => libc::EINVAL,
            Error::Decompress { .. } | Error::BadIndex { .. } | Error::BadSignature { .. } => {
                libc::EINVAL
            }
            Error::TooLarge { .. } => libc::EFBIG,
            Error::BadElf { cause, .. } => match cause {
                ElfError::BadMagic => libc::ENOEXEC,
                ElfError::NoModinfo => libc::ENODATA,
                _ => libc::EINVAL,
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path().display(), self.cause())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// An I/O error as the C library words it: "No such file or directory", without Rust's
/// "(os error 2)" suffix.
pub fn io_cause(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => strerror(errno),
        None => e.to_string(),
    }
}

/// The C library's description of `errno`, as kmod prints it (`strerror`). nix's own
/// descriptions differ from glibc's ("Try again" for EAGAIN), so they are not used.
pub fn strerror(errno: i32) -> String {
    let s = io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error ") {
        Some(at) => s[..at].to_string(),
        None => s,
    }
}

/// A result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    #[test]
    fn strerror_uses_the_c_library_words() {
        assert_eq!(
            super::strerror(libc::EAGAIN),
            "Resource temporarily unavailable"
        );
        assert_eq!(super::strerror(libc::EIO), "Input/output error");
        assert_eq!(super::strerror(libc::ENOENT), "No such file or directory");
    }
}
