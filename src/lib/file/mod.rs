//! Opening a module file: plain files are memory-mapped, compressed ones decompressed in memory.

pub mod compression;
pub mod elf;
pub mod modinfo;
pub mod signature;

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::file::compression::{Compression, DecompressError, MAGIC_LEN, MAX_DECOMPRESSED};

/// Plain files up to this size are read rather than mapped.
const READ_WHOLE_MAX: u64 = 256 << 10;

/// The bytes of a module, however they were obtained.
enum Contents {
    Mapped(Mmap),
    Owned(Vec<u8>),
    /// Decompressed; the permit accounts for the buffer in the process-wide memory budget.
    Decompressed(Vec<u8>, #[allow(dead_code)] Permit),
}

/// A module file opened for reading, its contents uncompressed.
pub struct ModuleFile {
    path: PathBuf,
    compression: Compression,
    contents: Contents,
}

/// Memory that concurrent decompressions may hold together. Beyond it a decompression waits;
/// one larger than it runs alone. With parallel workers this keeps peak memory near that of
/// the largest single module, as for a sequential tool.
const DECOMPRESS_BUDGET: u64 = 16 << 20;

struct Gate {
    state: std::sync::Mutex<GateState>,
    changed: std::sync::Condvar,
}

struct GateState {
    in_flight: u64,
    big_waiting: bool,
}

static GATE: Gate = Gate {
    state: std::sync::Mutex::new(GateState {
        in_flight: 0,
        big_waiting: false,
    }),
    changed: std::sync::Condvar::new(),
};

/// A reservation of decompression memory, released on drop.
struct Permit(u64);

impl Permit {
    fn acquire(size: u64) -> Permit {
        let big = size > DECOMPRESS_BUDGET;
        let mut st = GATE.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let fits = st.in_flight == 0
                || (!big && !st.big_waiting && st.in_flight + size <= DECOMPRESS_BUDGET);
            if fits {
                break;
            }
            // Hold back small jobs while a big one waits, so it is not starved.
            st.big_waiting |= big;
            st = GATE.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if big {
            st.big_waiting = false;
        }
        st.in_flight += size;
        Permit(size)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut st = GATE.state.lock().unwrap_or_else(|p| p.into_inner());
        st.in_flight -= self.0;
        drop(st);
        GATE.changed.notify_all();
    }
}

impl ModuleFile {
    /// Opens `path`, detects its compression by magic bytes and makes its uncompressed bytes
    /// available. Directories, FIFOs, devices and files shorter than a magic number are refused.
    pub fn open(path: impl AsRef<Path>) -> Result<ModuleFile> {
        ModuleFile::open_with_limit(path.as_ref(), MAX_DECOMPRESSED)
    }

    /// [`ModuleFile::open`] with a custom limit on the decompressed size.
    pub fn open_with_limit(path: &Path, limit: u64) -> Result<ModuleFile> {
        let (file, len) = open_regular(path)?;
        ModuleFile::from_open_file(path, file, len, limit)
    }

    /// Reads a file already opened (and checked to be regular) by [`open_regular`].
    pub fn from_open_file(path: &Path, file: File, len: u64, limit: u64) -> Result<ModuleFile> {
        ModuleFile::from_open_file_with(path, file, len, limit, READ_WHOLE_MAX)
    }

    /// [`ModuleFile::open`] for readers that touch a few sections of each file (depmod): an
    /// uncompressed file is always mapped, so only the pages read are loaded, where `open`
    /// reads small files whole.
    pub fn open_mapped(path: &Path) -> Result<ModuleFile> {
        let (file, len) = open_regular(path)?;
        ModuleFile::from_open_file_with(path, file, len, MAX_DECOMPRESSED, 0)
    }

    fn from_open_file_with(
        path: &Path,
        file: File,
        len: u64,
        limit: u64,
        read_whole_max: u64,
    ) -> Result<ModuleFile> {
        let mut head = [0u8; MAGIC_LEN];
        if len < MAGIC_LEN as u64 {
            return Err(Error::TooShort {
                path: path.to_path_buf(),
                len,
            });
        }
        file.read_exact_at(&mut head, 0)
            .map_err(|e| Error::io(path, e))?;
        let compression = Compression::detect(&head);
        if compression == Compression::None && len <= read_whole_max {
            // Small files are cheaper to read than to map: no page faults, and no munmap, whose
            // TLB shootdown is costly once worker threads exist.
            let mut buf = vec![0u8; len as usize];
            file.read_exact_at(&mut buf, 0)
                .map_err(|e| Error::io(path, e))?;
            return Ok(ModuleFile {
                path: path.to_path_buf(),
                compression,
                contents: Contents::Owned(buf),
            });
        }
        let contents = match compression {
            Compression::None => {
                // SAFETY: the mapping is read-only and private. A file truncated by someone
                // else while mapped could fault on access; kmod accepts the same risk, and
                // module trees are not rewritten in place by package managers (they rename).
                Contents::Mapped(unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?)
            }
            c => {
                // Stream the compressed bytes rather than mapping them: only the output buffer
                // is resident, as with kmod's read loop.
                let mut head = [0u8; 32];
                let head_len = file.read_at(&mut head, 0).map_err(|e| Error::io(path, e))?;
                let tail_len = len.min(64 << 10);
                let mut tail = vec![0u8; tail_len as usize];
                file.read_exact_at(&mut tail, len - tail_len)
                    .map_err(|e| Error::io(path, e))?;
                let hint = compression::size_hint(c, &head[..head_len], &tail);
                drop(tail);
                let permit = Permit::acquire(hint.unwrap_or(len.saturating_mul(4)).min(limit));
                let data =
                    compression::decompress_reader(c, &file, hint, limit).map_err(|e| match e {
                        DecompressError::TooLarge => Error::TooLarge {
                            path: path.to_path_buf(),
                            compression: c,
                            limit,
                        },
                        DecompressError::Corrupt(cause) => Error::Decompress {
                            path: path.to_path_buf(),
                            compression: c,
                            cause,
                        },
                    })?;
                Contents::Decompressed(data, permit)
            }
        };
        Ok(ModuleFile {
            path: path.to_path_buf(),
            compression,
            contents,
        })
    }

    /// Wraps bytes already in memory (tests, fuzzing, stdin-less pipelines).
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<ModuleFile> {
        let path = path.into();
        let compression = Compression::detect(&bytes);
        let contents = match compression {
            Compression::None => bytes,
            c => compression::decompress(c, &bytes, MAX_DECOMPRESSED).map_err(|e| match e {
                DecompressError::TooLarge => Error::TooLarge {
                    path: path.clone(),
                    compression: c,
                    limit: MAX_DECOMPRESSED,
                },
                DecompressError::Corrupt(cause) => Error::Decompress {
                    path: path.clone(),
                    compression: c,
                    cause,
                },
            })?,
        };
        Ok(ModuleFile {
            path,
            compression,
            contents: Contents::Owned(contents),
        })
    }

    /// The path the file was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The compression detected in the file.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The uncompressed module image, signature trailer included.
    pub fn bytes(&self) -> &[u8] {
        match &self.contents {
            Contents::Mapped(m) => m,
            Contents::Owned(v) | Contents::Decompressed(v, _) => v,
        }
    }
}

/// Opens `path` for reading and checks that it is a regular file; returns it with its length.
pub fn open_regular(path: &Path) -> Result<(File, u64)> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It changes
    // nothing for regular files.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    let ft = meta.file_type();
    if ft.is_dir() {
        return Err(Error::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    if !ft.is_file() {
        let kind = if ft.is_fifo() {
            "FIFO"
        } else if ft.is_char_device() {
            "character device"
        } else if ft.is_block_device() {
            "block device"
        } else if ft.is_socket() {
            "socket"
        } else {
            "special file"
        };
        return Err(Error::NotRegularFile {
            path: path.to_path_buf(),
            kind,
        });
    }
    Ok((file, meta.len()))
}

/// Maps a whole file read-only, or returns an empty slice holder for an empty file.
pub(crate) fn map_file(path: &Path) -> io::Result<Option<Mmap>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: read-only private mapping of an index file; see ModuleFile::open.
    unsafe { Mmap::map(&file) }.map(Some)
}
