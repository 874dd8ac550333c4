//! modprobe: load and remove modules with their dependencies, as kmod 34.2 does.
//!
//! * [`config`] turns `modprobe.d`, `modules.softdep`/`modules.weakdep` and `/proc/cmdline` into
//!   directives (a pure parser, with kmod's warnings);
//! * [`lookup`] finds the modules a name means, in kmod's order, and what each carries;
//! * [`plan`] decides, as kmod does, what to insert, run or remove, against a kernel interface;
//! * [`run`] is that interface for the real kernel (through insmod's and rmmod's code) and for
//!   install/remove commands.

pub mod config;
pub mod lookup;
pub mod plan;
pub mod request;
pub mod run;
pub mod show;

/// Splits `MODPROBE_OPTIONS` into words as kmod does: words end at a space; a word that starts
/// with a quote ends at the matching quote (blanks inside kept); a quoted part inside a word
/// loses its quotes. Empty words are dropped.
pub fn split_env_options(s: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut word = Vec::new();
    let mut quote: Option<(u8, bool)> = None;
    for &c in s {
        match quote {
            None if c == b' ' => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            None if c == b'"' || c == b'\'' => quote = Some((c, word.is_empty())),
            None => word.push(c),
            Some((q, whole)) if c == q => {
                quote = None;
                if whole {
                    out.push(std::mem::take(&mut word));
                }
            }
            Some(_) => word.push(c),
        }
    }
    if let Some((q, _)) = quote {
        // An unterminated quote stays part of the word, as in kmod.
        word.insert(0, q);
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_options_split_as_kmod_splits_them() {
        assert_eq!(
            split_env_options(b"-v -q 'a b' x\"y z\"w -C dir"),
            [&b"-v"[..], b"-q", b"a b", b"xy zw", b"-C", b"dir"]
        );
    }
}
