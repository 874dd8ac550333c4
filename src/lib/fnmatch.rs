//! Shell wildcard matching with the semantics of glibc `fnmatch(pattern, string, 0)`, which kmod
//! uses to match module aliases such as `pci:v00008086d*sv*sd*bc*sc*i*`.
//!
//! No flags: `*` and `?` also match `/` and a leading `.`; `\` quotes the next character;
//! brackets support `!`/`^` negation, ranges and the POSIX classes of the C locale.

/// Whether `string` matches `pattern`.
pub fn fnmatch(pattern: &[u8], string: &[u8]) -> bool {
    // Classic iterative matcher: remember the last `*` and retry from one character further.
    let (mut p, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    // Collapse runs of stars.
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, s));
                    continue;
                }
                b'?' if s < string.len() => {
                    p += 1;
                    s += 1;
                    continue;
                }
                b'[' if s < string.len() => match bracket(&pattern[p..], string[s]) {
                    Bracket::Match(len) => {
                        p += len;
                        s += 1;
                        continue;
                    }
                    Bracket::NoMatch => {}
                    Bracket::Literal => {
                        if string[s] == b'[' {
                            p += 1;
                            s += 1;
                            continue;
                        }
                    }
                },
                b'\\'
                    if p + 1 < pattern.len() && s < string.len() && string[s] == pattern[p + 1] =>
                {
                    p += 2;
                    s += 1;
                    continue;
                }
                c if c != b'?' && c != b'[' && s < string.len() && string[s] == c => {
                    p += 1;
                    s += 1;
                    continue;
                }
                _ => {}
            }
        } else if s == string.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more character.
        match star {
            Some((sp, ss)) if ss < string.len() => {
                star = Some((sp, ss + 1));
                p = sp;
                s = ss + 1;
            }
            _ => return false,
        }
    }
}

enum Bracket {
    /// Matched; the bracket expression is this many bytes long.
    Match(usize),
    NoMatch,
    /// Not a complete bracket expression: `[` stands for itself.
    Literal,
}

/// Matches `c` against the bracket expression at the start of `pat` (which begins with `[`).
fn bracket(pat: &[u8], c: u8) -> Bracket {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let Some(&ch) = pat.get(i) else {
            return Bracket::Literal;
        };
        if ch == b']' && !first {
            i += 1;
            break;
        }
        first = false;
        if ch == b'['
            && pat.get(i + 1) == Some(&b':')
            && let Some(end) = find(&pat[i + 2..], b":]")
        {
            let class = &pat[i + 2..i + 2 + end];
            matched |= in_class(class, c);
            i += 2 + end + 2;
            continue;
        }
        let (lo, next) = if ch == b'\\' && i + 1 < pat.len() {
            (pat[i + 1], i + 2)
        } else {
            (ch, i + 1)
        };
        if pat.get(next) == Some(&b'-') && pat.get(next + 1).is_some_and(|&h| h != b']') {
            let (hi, after) = if pat[next + 1] == b'\\' && next + 2 < pat.len() {
                (pat[next + 2], next + 3)
            } else {
                (pat[next + 1], next + 2)
            };
            matched |= lo <= c && c <= hi;
            i = after;
        } else {
            matched |= lo == c;
            i = next;
        }
    }
    if matched != negate {
        Bracket::Match(i)
    } else {
        Bracket::NoMatch
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn in_class(class: &[u8], c: u8) -> bool {
    match class {
        b"alnum" => c.is_ascii_alphanumeric(),
        b"alpha" => c.is_ascii_alphabetic(),
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => c.is_ascii_control(),
        b"digit" => c.is_ascii_digit(),
        b"graph" => c.is_ascii_graphic(),
        b"lower" => c.is_ascii_lowercase(),
        b"print" => c.is_ascii_graphic() || c == b' ',
        b"punct" => c.is_ascii_punctuation(),
        b"space" => c.is_ascii_whitespace() || c == 0x0b,
        b"upper" => c.is_ascii_uppercase(),
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    fn m(p: &str, s: &str) -> bool {
        fnmatch(p.as_bytes(), s.as_bytes())
    }

    #[test]
    fn stars_and_questions() {
        assert!(m(
            "pci:v00008086d*sv*sd*bc*sc*i*",
            "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"
        ));
        assert!(!m(
            "pci:v00008086d*sv*sd*bc*sc*i*",
            "pci:v00008087d000010D3sv0sd0bc02sc00i00"
        ));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*/x", "a/b/x"), "no FNM_PATHNAME");
        assert!(m("*x", ".x"), "no FNM_PERIOD");
    }

    #[test]
    fn brackets() {
        assert!(m("usb:v*p*d[0-9]*", "usb:v1p2d7zz"));
        assert!(!m("usb:v*p*d[0-9]*", "usb:v1p2dAzz"));
        assert!(m("x[!a]", "xb"));
        assert!(!m("x[^a]", "xa"));
        assert!(m("x[]]", "x]"));
        assert!(m("x[[:digit:]]", "x5"));
        assert!(m(
            "dmi*:svn[Ll][Ee][Nn][Oo][Vv][Oo]*",
            "dmi:bvnX:svnLENOVO:pn1"
        ));
        // An unclosed bracket is a literal '['.
        assert!(m("a[b", "a[b"));
        assert!(!m("a[b", "ab"));
    }

    #[test]
    fn escapes() {
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axb"));
    }
}
