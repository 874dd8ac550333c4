//! POSIX extended regular expressions, through the C library's `regcomp`/`regexec`.
//!
//! depmod.d's `override` and `external` lines name kernel versions with an extended regular
//! expression that kmod hands to the C library (`REG_EXTENDED | REG_NOSUB`, unanchored). The
//! C library's matcher is used here too, so that every pattern — bracket expressions,
//! character classes, intervals, the C library's reading of odd escapes — means what it means
//! to kmod; a crate with its own syntax would differ at the edges. This is the only FFI of the
//! file; the rest of the library sees a safe function.

use std::ffi::CString;

/// Whether the extended regular expression `pattern` matches anywhere in `text`; `None` when
/// the pattern does not compile (or either contains a NUL byte).
pub fn search(pattern: &[u8], text: &[u8]) -> Option<bool> {
    let pattern = CString::new(pattern).ok()?;
    let text = CString::new(text).ok()?;
    let mut re = std::mem::MaybeUninit::<libc::regex_t>::uninit();
    // SAFETY: `re` is written by regcomp before any use; both strings are NUL-terminated and
    // outlive the calls; regfree is called exactly once, only after a successful regcomp.
    unsafe {
        if libc::regcomp(
            re.as_mut_ptr(),
            pattern.as_ptr(),
            libc::REG_EXTENDED | libc::REG_NOSUB,
        ) != 0
        {
            return None;
        }
        let status = libc::regexec(re.as_ptr(), text.as_ptr(), 0, std::ptr::null_mut(), 0);
        libc::regfree(re.as_mut_ptr());
        Some(status == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::search;

    #[test]
    fn patterns_match_anywhere_as_regexec_does() {
        let v = b"6.12.107+deb12-amd64";
        assert_eq!(search(br"6\.1", v), Some(true));
        assert_eq!(search(br"^6\.12\.", v), Some(true));
        assert_eq!(search(br"^6\.1\.", v), Some(false));
        assert_eq!(search(b"(5|6)[.][0-9]+", v), Some(true));
        assert_eq!(search(b"[[:digit:]]{3}", v), Some(true));
        assert_eq!(search(b"amd64$", v), Some(true));
        assert_eq!(search(b"arm64", v), Some(false));
        assert_eq!(search(b"(", v), None);
        assert_eq!(search(b"a\0b", v), None);
    }
}
