//! Exit statuses, decided in one place.

/// How a tool ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done.
    Success,
    /// At least one argument failed (kmod's `EXIT_FAILURE`), or the command line was invalid.
    Failure,
    /// `modaudit --deny`: a denied verdict or finding was present (all files were readable).
    Denied,
}

impl ExitCode {
    /// The process status.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Denied => 2,
        }
    }

    /// Failure if `failed`, else success.
    pub fn from_failed(failed: bool) -> ExitCode {
        if failed {
            ExitCode::Failure
        } else {
            ExitCode::Success
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> std::process::ExitCode {
        std::process::ExitCode::from(c.code() as u8)
    }
}
