//! Opening a module file: plain files are memory-mapped (small ones read), compressed ones
//! decompressed in memory.
//!
//! A mapped file that someone truncates while we read it raises SIGBUS. Reading every file into
//! a buffer instead was measured and rejected: over the 6.1 tree (4022 plain modules, 390 MB)
//! modinfo went from 0.15 s to 0.36 s and its peak RSS from 5.5 to 28.6 MiB, because a mapping
//! only faults in the pages the parser touches. So the mapping stays, and the `sigbus` module turns the
//! signal into an error message naming the file and exit status 1, instead of "Bus error".

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
    Mapped(sigbus::GuardedMap),
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

    /// [`ModuleFile::open`] with a custom limit on the uncompressed size (of a plain file, its
    /// length).
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
        let contents = match compression {
            // Small files are cheaper to read than to map: no page faults, and no munmap, whose
            // TLB shootdown is costly once worker threads exist.
            Compression::None if len <= read_whole_max => {
                Contents::Owned(read_whole(path, &file, len)?)
            }
            Compression::None => match sigbus::GuardedMap::new(path, &file) {
                Ok(Some(map)) => Contents::Mapped(map),
                // No guard slot free (or no handler): read, which cannot fault.
                Ok(None) => Contents::Owned(read_whole(path, &file, len)?),
                Err(e) => return Err(Error::io(path, e)),
            },
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
            Contents::Mapped(m) => m.bytes(),
            Contents::Owned(v) | Contents::Decompressed(v, _) => v,
        }
    }

    /// Lets go of the memory behind `part` of [`ModuleFile::bytes`] once it has been read: a
    /// mapped file's pages leave the process (reading `part` again maps them back). Only
    /// worth it for big ranges; does nothing to a file read into memory.
    pub fn release(&self, part: &[u8]) {
        // A few pages are not worth a system call.
        if let Contents::Mapped(m) = &self.contents
            && part.len() >= 64 << 10
            && let Some(offset) = (part.as_ptr() as usize).checked_sub(m.bytes().as_ptr() as usize)
            && offset.saturating_add(part.len()) <= m.bytes().len()
        {
            m.release(offset, part.len());
        }
    }
}

/// Reads the `len` bytes that `fstat` reported. A file that has shrunk since is an error naming
/// it: it is being rewritten, and its remaining bytes are no module. A file that has grown is
/// read up to `len`, as a snapshot of the moment it was opened.
fn read_whole(path: &Path, file: &File, len: u64) -> Result<Vec<u8>> {
    let len = usize::try_from(len)
        .map_err(|_| Error::io(path, io::Error::from_raw_os_error(libc::EFBIG)))?;
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match file.read_at(&mut buf[done..], done as u64) {
            Ok(0) => {
                let why = format!("file shrank while being read ({done} of {len} bytes)");
                return Err(Error::io(
                    path,
                    io::Error::new(io::ErrorKind::UnexpectedEof, why),
                ));
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Ok(buf)
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
    // SAFETY: a read-only private mapping. Index files are replaced by rename (depmod writes a
    // temporary file), not rewritten in place, so the mapped file does not shrink under us.
    unsafe { Mmap::map(&file) }.map(Some)
}

/// Mappings of module files, guarded against SIGBUS.
///
/// Each live mapping holds a slot in a fixed table: its address range and a ready-made message.
/// A SIGBUS handler (installed once, on the first mapping) looks the faulting address up; inside
/// a module mapping it writes that message (`<prog>: ERROR: <path>: file shrank while being
/// read`) and exits with status 1. The handler cannot return a `Result` to the code that was
/// reading, and returning would fault again; the library prints here and nowhere else. Any other
/// SIGBUS goes to the action that was installed before ours. When every slot is taken the file
/// is read instead of mapped, which cannot fault.
mod sigbus {
    use std::ffi::c_int;
    use std::fs::File;
    use std::io;
    use std::path::Path;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

    use memmap2::Mmap;

    /// Live mappings at once: about one per worker thread is ever needed.
    const SLOTS: usize = 64;
    /// `start` of a slot being filled or emptied: matches no address.
    const CLAIMED: usize = 1;

    struct Slot {
        /// 0 = free, [`CLAIMED`], or the mapping's first address; written last when filling.
        start: AtomicUsize,
        end: AtomicUsize,
        msg: AtomicPtr<u8>,
        msg_len: AtomicUsize,
    }

    static TABLE: [Slot; SLOTS] = [const {
        Slot {
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            msg: AtomicPtr::new(std::ptr::null_mut()),
            msg_len: AtomicUsize::new(0),
        }
    }; SLOTS];

    /// The SIGBUS action before ours; `None` until installed, or if installing failed.
    static PREVIOUS: OnceLock<Option<libc::sigaction>> = OnceLock::new();

    /// A read-only private mapping of a module file, registered in [`TABLE`] while it lives.
    pub(super) struct GuardedMap {
        map: Mmap,
        slot: usize,
        /// Owned here, pointed at by the slot.
        _msg: Box<[u8]>,
    }

    impl GuardedMap {
        /// Maps `file`; `Ok(None)` when it cannot be guarded and should be read instead.
        pub(super) fn new(path: &Path, file: &File) -> io::Result<Option<GuardedMap>> {
            if !install() {
                return Ok(None);
            }
            let Some(slot) = TABLE.iter().position(|s| {
                s.start
                    .compare_exchange(0, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            }) else {
                return Ok(None);
            };
            // SAFETY: read-only and private. If the file shrinks while mapped, touching the lost
            // pages raises SIGBUS, which the handler turns into an error exit naming the file.
            let map = match unsafe { Mmap::map(file) } {
                Ok(m) => m,
                Err(e) => {
                    TABLE[slot].start.store(0, Ordering::Release);
                    return Err(e);
                }
            };
            let mut msg = format!(
                "{}: ERROR: {}: file shrank while being read\n",
                prog(),
                path.display()
            )
            .into_bytes()
            .into_boxed_slice();
            let s = &TABLE[slot];
            let start = map.as_ptr() as usize;
            s.end.store(start + map.len(), Ordering::Relaxed);
            s.msg.store(msg.as_mut_ptr(), Ordering::Relaxed);
            s.msg_len.store(msg.len(), Ordering::Relaxed);
            // An empty file maps nothing that could fault; keep the slot claimed but inert.
            if !map.is_empty() {
                s.start.store(start, Ordering::Release);
            }
            Ok(Some(GuardedMap {
                map,
                slot,
                _msg: msg,
            }))
        }

        pub(super) fn bytes(&self) -> &[u8] {
            &self.map
        }

        /// Drops the pages of `offset..offset + len` from the process's memory; the next read
        /// maps them again from the page cache.
        pub(super) fn release(&self, offset: usize, len: usize) {
            // SAFETY: the mapping is private and never written, so dropping its pages loses
            // nothing: a later read of the range sees the file's bytes again, exactly what a
            // read-only private mapping of an unchanged file shows.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len)
            };
        }
    }

    impl Drop for GuardedMap {
        fn drop(&mut self) {
            // Before the fields drop: the range stops matching before it is unmapped.
            TABLE[self.slot].start.store(0, Ordering::Release);
        }
    }

    /// The program's name as typed, without directories, for the message.
    fn prog() -> &'static str {
        static PROG: OnceLock<String> = OnceLock::new();
        PROG.get_or_init(|| {
            std::env::args_os()
                .next()
                .map(|a| {
                    Path::new(&a)
                        .file_name()
                        .unwrap_or(&a)
                        .to_string_lossy()
                        .into_owned()
                })
                .unwrap_or_else(|| "rkmod".into())
        })
    }

    /// Installs the handler once; false if the system refused.
    fn install() -> bool {
        PREVIOUS
            .get_or_init(|| {
                // SAFETY: sigaction with a zeroed (then filled) struct and a handler that only
                // reads atomics and calls async-signal-safe functions.
                unsafe {
                    let mut new: libc::sigaction = std::mem::zeroed();
                    new.sa_sigaction = on_sigbus as *const () as usize;
                    new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                    libc::sigemptyset(&mut new.sa_mask);
                    let mut old: libc::sigaction = std::mem::zeroed();
                    (libc::sigaction(libc::SIGBUS, &new, &mut old) == 0).then_some(old)
                }
            })
            .is_some()
    }

    extern "C" fn on_sigbus(sig: c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
        let (addr, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
        for s in &TABLE {
            let start = s.start.load(Ordering::Acquire);
            if start > CLAIMED && addr >= start && addr < s.end.load(Ordering::Relaxed) {
                let (msg, len) = (
                    s.msg.load(Ordering::Relaxed),
                    s.msg_len.load(Ordering::Relaxed),
                );
                // SAFETY: write(2) and _exit(2) are async-signal-safe; msg lives as long as the
                // slot is filled, and the faulting thread is still borrowing the mapping.
                unsafe {
                    libc::write(2, msg.cast(), len);
                    libc::_exit(1);
                }
            }
        }
        // Not ours: reinstate the previous action. A fault then recurs and reaches it; a signal
        // sent with kill(2) (si_code <= 0) would not recur, so it is raised again.
        if let Some(Some(prev)) = PREVIOUS.get() {
            // SAFETY: sigaction and raise are async-signal-safe.
            unsafe {
                libc::sigaction(libc::SIGBUS, prev, std::ptr::null_mut());
                if code <= 0 {
                    libc::raise(sig);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A plain "module" well above the size at which files used to be mapped. ModuleFile does not
    /// parse ELF, so any bytes without a compression magic will do.
    fn big_file(dir: &Path) -> (PathBuf, Vec<u8>) {
        let path = dir.join("big.ko");
        let bytes: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
        let mut f = File::create(&path).unwrap();
        f.write_all(b"\x7fELF").unwrap();
        f.write_all(&bytes[4..]).unwrap();
        let mut want = b"\x7fELF".to_vec();
        want.extend_from_slice(&bytes[4..]);
        (path, want)
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rkmod-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The child half of the SIGBUS test: maps a big file, truncates it, reads it all. The
    /// handler must end the process with status 1 and a message naming the file.
    #[test]
    fn sigbus_child() {
        let Some(path) = std::env::var_os("RKMOD_SIGBUS_CHILD") else {
            return;
        };
        let path = PathBuf::from(path);
        let m = ModuleFile::open(&path).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        let sum: u64 = m.bytes().iter().map(|&b| u64::from(b)).sum();
        std::hint::black_box(sum);
        panic!("read a truncated mapping without SIGBUS");
    }

    /// Regression: a mapped module truncated while being read killed the tool with SIGBUS
    /// ("Bus error", no file named). Run in a child process, since it ends that process.
    #[test]
    fn sigbus_module_truncated_while_mapped_is_an_error_naming_it() {
        let dir = scratch("sigbus");
        let (path, _) = big_file(&dir);
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "file::tests::sigbus_child", "--nocapture"])
            .env("RKMOD_SIGBUS_CHILD", &path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "child: {:?}\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains(&format!(
                ": ERROR: {}: file shrank while being read\n",
                path.display()
            )),
            "{stderr}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A small (read, not mapped) file that shrinks between `fstat` and the read is an error
    /// naming it, not a silently short module.
    #[test]
    fn small_module_shrinking_between_stat_and_read() {
        let dir = scratch("shrinking-small");
        let path = dir.join("small.ko");
        std::fs::write(&path, vec![0x7f; 100 << 10]).unwrap();
        let (file, len) = open_regular(&path).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let err = ModuleFile::from_open_file(&path, file, len, MAX_DECOMPRESSED)
            .err()
            .expect("a shrunk file must be an error");
        assert_eq!(err.path(), path);
        let msg = err.to_string();
        assert!(
            msg.contains("file shrank while being read (51200 of 102400 bytes)"),
            "{msg}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A big (mapped) file that shrinks between `fstat` and the mapping is mapped at its new
    /// size: what the parser sees is the file as it is now, and nothing can fault.
    #[test]
    fn big_module_shrinking_between_stat_and_map() {
        let dir = scratch("shrinking-big");
        let (path, want) = big_file(&dir);
        let (file, len) = open_regular(&path).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let m = ModuleFile::from_open_file(&path, file, len, MAX_DECOMPRESSED).unwrap();
        assert_eq!(m.bytes(), &want[..want.len() / 2]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A small (read) file that grows after `fstat` is read as it was when opened.
    #[test]
    fn small_module_growing_after_stat_is_read_up_to_its_old_length() {
        let dir = scratch("growing");
        let path = dir.join("small.ko");
        let want: Vec<u8> = (0..(100u32 << 10)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &want).unwrap();
        let (file, len) = open_regular(&path).unwrap();
        File::options()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"more")
            .unwrap();
        let m = ModuleFile::from_open_file(&path, file, len, MAX_DECOMPRESSED).unwrap();
        assert_eq!(m.bytes(), &want[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
