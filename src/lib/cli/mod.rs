//! Command-line front ends. Each tool has a clap `Parser` struct (the single source for help,
//! man pages and completions), a conversion into a plain config, and a `run` function that
//! writes to the streams it is given and returns an [`ExitCode`].

pub mod depmod;
pub mod insmod;
pub mod kmod;
pub mod lsmod;
pub mod modaudit;
pub mod modinfo;
pub mod modprobe;
pub mod multicall;
pub mod rmmod;

use std::ffi::OsString;
use std::io::{self, Write};

use clap::{ArgMatches, Parser};

use crate::exit_code::ExitCode;

/// What every tool does first: log to syslog if asked (-s), and answer -V. `Some` is the exit
/// status when there is nothing more to do.
pub fn begin(io: &mut Io<'_>, syslog: bool, version: bool) -> Option<ExitCode> {
    io.syslog = syslog;
    if version {
        let _ = io.out.write_all(version_text().as_bytes());
        return Some(ExitCode::Success);
    }
    None
}

/// The version line and the enabled features, as `kmod -V` prints them.
pub fn version_text() -> String {
    format!(
        "rkmod version {}\n+ZSTD +XZ +ZLIB +PKCS7\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// Where a tool writes, and how it words its messages.
pub struct Io<'a> {
    /// The tool's name as invoked (basename of `argv[0]`), used as the message prefix.
    pub prog: String,
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// `-s/--syslog`: messages go to syslog instead of standard error.
    pub syslog: bool,
}

impl Io<'_> {
    /// Prints `<prog>: FATAL: <msg>` on standard error (the caller then exits with status 1).
    pub fn fatal(&mut self, msg: impl std::fmt::Display) {
        self.log(libc::LOG_CRIT, "FATAL", &msg.to_string());
    }

    /// Prints `<prog>: ERROR: <msg>` on standard error, kmod's format.
    pub fn error(&mut self, msg: impl std::fmt::Display) {
        self.log(libc::LOG_ERR, "ERROR", &msg.to_string());
    }

    /// Prints `<prog>: WARNING: <msg>` on standard error.
    pub fn warning(&mut self, msg: impl std::fmt::Display) {
        self.log(libc::LOG_WARNING, "WARNING", &msg.to_string());
    }

    /// Prints `<prog>: NOTICE: <msg>` on standard error.
    pub fn notice(&mut self, msg: impl std::fmt::Display) {
        self.log(libc::LOG_NOTICE, "NOTICE", &msg.to_string());
    }

    /// Prints `<prog>: INFO: <msg>` (verbose output) on standard error.
    pub fn info(&mut self, msg: impl std::fmt::Display) {
        self.log(libc::LOG_INFO, "INFO", &msg.to_string());
    }

    fn log(&mut self, priority: libc::c_int, level: &str, msg: &str) {
        if self.syslog {
            syslog(&self.prog, priority, &format!("{level}: {msg}"));
        } else {
            let _ = writeln!(self.err, "{}: {level}: {msg}", self.prog);
        }
    }
}

/// The outcome of parsing a command line.
pub enum Parsed<P> {
    /// Arguments to act on, with clap's matches (for argument order).
    Run(P, ArgMatches),
    /// Help, version or an error was printed; exit with this status.
    Exit(ExitCode),
}

/// Parses `argv` for tool `P`. Help goes to stdout with status 0; an invalid command line gets
/// clap's message on stderr and status 1, as kmod's tools exit 1 on bad options.
pub fn parse<P: Parser>(argv: Vec<OsString>, io: &mut Io<'_>) -> Parsed<P> {
    let cmd = P::command().bin_name(io.prog.clone());
    match cmd.try_get_matches_from(argv) {
        Ok(m) => match P::from_arg_matches(&m) {
            Ok(p) => Parsed::Run(p, m),
            Err(e) => {
                let _ = write!(io.err, "{}", e.render());
                Parsed::Exit(ExitCode::Failure)
            }
        },
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = write!(io.out, "{}", e.render());
                    Parsed::Exit(ExitCode::Success)
                }
                _ => {
                    let _ = write!(io.err, "{}", e.render());
                    Parsed::Exit(ExitCode::Failure)
                }
            }
        }
    }
}

/// One line for standard error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `ERROR:`.
    Error(String),
    /// `WARNING:`.
    Warning(String),
}

/// What one argument produced: its output and its messages, kept apart so arguments can be
/// processed in parallel and printed in order.
#[derive(Debug, Default)]
pub struct Report {
    /// Bytes for standard output.
    pub out: Vec<u8>,
    /// Lines for standard error, printed after `out`.
    pub messages: Vec<Message>,
    /// Whether the argument failed (exit status 1).
    pub failed: bool,
}

impl Report {
    /// Adds an error, which fails the argument.
    pub fn error(&mut self, msg: String) {
        self.messages.push(Message::Error(msg));
        self.failed = true;
    }
}

/// Standard output for tools that print many results: bytes gather in a buffer written out in
/// 64 KiB blocks (and before any message, so stdout and stderr stay in order). A closed pipe
/// (`modinfo x | head -1`) ends output quietly; any other write error is reported once and
/// fails the run.
#[derive(Default)]
pub struct Output {
    /// Bytes not written yet.
    pub buf: Vec<u8>,
    /// Standard output is gone: write nothing more.
    pub stopped: bool,
    /// A write failed for another reason than a closed pipe.
    pub failed: bool,
}

impl Output {
    /// Writes the buffer if it has grown past 64 KiB; `false` once output has stopped.
    pub fn maybe_flush(&mut self, io: &mut Io<'_>) -> bool {
        if self.buf.len() >= 1 << 16 {
            self.flush(io)
        } else {
            !self.stopped
        }
    }

    /// Writes the buffer; `false` once output has stopped.
    pub fn flush(&mut self, io: &mut Io<'_>) -> bool {
        if self.stopped {
            return false;
        }
        if let Err(e) = io.out.write_all(&self.buf).and_then(|_| io.out.flush()) {
            self.stopped = true;
            if !is_broken_pipe(&e) {
                io.error(format!(
                    "could not write output: {}",
                    crate::error::io_cause(&e)
                ));
                self.failed = true;
            }
            return false;
        }
        self.buf.clear();
        true
    }
}

/// Whether an output error is a closed pipe.
pub fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// Runs a tool's `main` with the process's arguments and standard streams: the whole body of
/// each binary, which adds context to the error (see `src/bin/common`). `Err` means standard
/// output could not be written at the end (a closed pipe is not an error).
pub fn run_main(tool: fn(Vec<OsString>, &mut Io<'_>) -> ExitCode) -> io::Result<ExitCode> {
    limit_allocator_retention();
    let argv: Vec<OsString> = std::env::args_os().collect();
    let stdout = io::stdout();
    let mut out = Watched {
        inner: io::BufWriter::with_capacity(1 << 16, stdout.lock()),
        failed: false,
    };
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let code = {
        let mut io = Io {
            prog: prog_name(),
            out: &mut out,
            err: &mut err,
            syslog: false,
        };
        tool(argv, &mut io)
    };
    // A write error the tool already saw is the tool's to report (it did, and failed).
    let seen = out.failed;
    match out.flush() {
        Err(e) if !seen && !is_broken_pipe(&e) => Err(e),
        _ => Ok(code),
    }
}

/// Standard output that remembers whether a write to it has failed.
struct Watched<W: Write> {
    inner: W,
    failed: bool,
}

impl<W: Write> Write for Watched<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        self.failed |= r.is_err();
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.failed |= r.is_err();
        r
    }
}

/// The name this process was invoked under (basename of `argv[0]`), for message prefixes.
pub fn prog_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "rkmod".to_string())
}

/// glibc raises its mmap threshold each time a large block is freed, after which large buffers
/// (decompressed modules) come from the heap and stay resident. A fixed threshold keeps them
/// mmapped, so freeing one returns it to the system and peak memory stays that of one module.
fn limit_allocator_retention() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 2 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Sends one message to syslog as kmod does: `openlog(prog, LOG_CONS, LOG_DAEMON)`.
fn syslog(prog: &str, priority: libc::c_int, msg: &str) {
    use std::ffi::CString;
    use std::sync::OnceLock;
    // openlog keeps the pointer: the identity must live for the whole process.
    static IDENT: OnceLock<CString> = OnceLock::new();
    let ident = IDENT.get_or_init(|| CString::new(prog).unwrap_or_default());
    let Ok(text) = CString::new(msg.replace('\0', " ")) else {
        return;
    };
    // SAFETY: both strings are NUL-terminated and outlive the calls; "%s" keeps the message
    // from being read as a format.
    unsafe {
        libc::openlog(ident.as_ptr(), libc::LOG_CONS, libc::LOG_DAEMON);
        libc::syslog(priority, c"%s".as_ptr(), text.as_ptr());
    }
}
