//! `modules.devname`: the device nodes that load a module when they are opened, written by
//! depmod from the modules' `devname:NAME` and `char-major-M-m`/`block-major-M-m` aliases and read
//! by `kmod static-nodes`. One node per line, `MODULE DEVNAME TYPEMAJOR:MINOR` (`fuse fuse
//! c10:229`, `dm_mod mapper/control c10:236`), type `c` or `b`; lines starting with `#` are
//! comments.
//!
//! kmod reads the file in pieces of at most 4095 bytes up to and including a newline (a
//! 4096-byte `fgets` buffer) and matches each piece, as a C string, against `%s %s %c%u:%u`.
//! This parser reproduces that exactly, because the nodes kmod prints and the lines it rejects
//! are what `kmod static-nodes` users get: whitespace of any kind between fields, anything after
//! the minor number ignored, numbers read as `strtoul` reads them (a sign allowed, `-1` wrapping
//! to 4294967295), a blank line rejected, and a line longer than 4095 bytes read as several.

/// A node's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// `c`: a character device.
    Char,
    /// `b`: a block device.
    Block,
}

impl NodeKind {
    /// The letter in `modules.devname` and in tmpfiles.d lines.
    pub fn letter(self) -> char {
        match self {
            NodeKind::Char => 'c',
            NodeKind::Block => 'b',
        }
    }
}

/// One device node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The module that provides it.
    pub module: Vec<u8>,
    /// Its path under /dev (`mapper/control`).
    pub name: Vec<u8>,
    /// Character or block device.
    pub kind: NodeKind,
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

/// One piece of the file, as kmod reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A device node.
    Node(Node),
    /// A piece that is not a node: its text up to the first NUL or newline, and the 1-based
    /// number of the line it starts in.
    Invalid {
        /// The text.
        text: Vec<u8>,
        /// Where it starts.
        line: usize,
    },
}

/// kmod's read buffer holds this many bytes, one of them the terminating NUL.
const PIECE: usize = 4096 - 1;

/// Every node and every invalid line of `data` (the contents of `modules.devname`), in order;
/// comments are left out.
pub fn parse(data: &[u8]) -> Vec<Line> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut line = 1;
    while !rest.is_empty() {
        let limit = rest.len().min(PIECE);
        let end = rest[..limit]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(limit, |i| i + 1);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        let start_line = line;
        if piece.ends_with(b"\n") {
            line += 1;
        }
        // C string semantics: a NUL ends the text.
        let text = piece.split(|&b| b == 0).next().unwrap_or_default();
        if text.first() == Some(&b'#') {
            continue;
        }
        out.push(match scan(text) {
            Some(node) => Line::Node(node),
            None => Line::Invalid {
                text: text.strip_suffix(b"\n").unwrap_or(text).to_vec(),
                line: start_line,
            },
        });
    }
    out
}

/// `%s %s %c%u:%u`, and a type of `c` or `b`.
fn scan(s: &[u8]) -> Option<Node> {
    let mut cur = Cursor { s, at: 0 };
    let module = cur.word()?;
    let name = cur.word()?;
    cur.skip_space();
    let kind = match cur.next()? {
        b'c' => NodeKind::Char,
        b'b' => NodeKind::Block,
        // scanf would still read the numbers, but kmod rejects the line either way.
        _ => return None,
    };
    let major = cur.number()?;
    if cur.next()? != b':' {
        return None;
    }
    let minor = cur.number()?;
    Some(Node {
        module: module.to_vec(),
        name: name.to_vec(),
        kind,
        major,
        minor,
    })
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn next(&mut self) -> Option<u8> {
        let b = *self.s.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    /// C's isspace in the C locale.
    fn skip_space(&mut self) {
        while matches!(
            self.peek(),
            Some(b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
        ) {
            self.at += 1;
        }
    }

    /// `%s`: leading whitespace skipped, then one or more other bytes.
    fn word(&mut self) -> Option<&'a [u8]> {
        self.skip_space();
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        {
            self.at += 1;
        }
        (self.at > start).then(|| &self.s[start..self.at])
    }

    /// `%u`: leading whitespace, an optional sign, decimal digits, converted as `strtoul` does
    /// on a 64-bit system (saturating at `u64::MAX`, a minus sign negating modulo 2^64) and
    /// then truncated to 32 bits as scanf stores it.
    fn number(&mut self) -> Option<u32> {
        self.skip_space();
        let negative = match self.peek() {
            Some(b'-') => {
                self.at += 1;
                true
            }
            Some(b'+') => {
                self.at += 1;
                false
            }
            _ => false,
        };
        let start = self.at;
        let mut value: Option<u64> = Some(0);
        while let Some(d @ b'0'..=b'9') = self.peek() {
            value = value
                .and_then(|v| v.checked_mul(10))
                .and_then(|v| v.checked_add(u64::from(d - b'0')));
            self.at += 1;
        }
        if self.at == start {
            return None;
        }
        let value = match value {
            None => u64::MAX,
            Some(v) if negative => v.wrapping_neg(),
            Some(v) => v,
        };
        Some(value as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(module: &str, name: &str, kind: NodeKind, major: u32, minor: u32) -> Line {
        Line::Node(Node {
            module: module.into(),
            name: name.into(),
            kind,
            major,
            minor,
        })
    }

    fn invalid(text: &str, line: usize) -> Line {
        Line::Invalid {
            text: text.into(),
            line,
        }
    }

    #[test]
    fn depmod_output() {
        let data = b"# Device nodes to trigger on-demand module loading.\n\
                     fuse fuse c10:229\ndm_mod mapper/control c10:236\nloop loop b7:0\n";
        assert_eq!(
            parse(data),
            [
                node("fuse", "fuse", NodeKind::Char, 10, 229),
                node("dm_mod", "mapper/control", NodeKind::Char, 10, 236),
                node("loop", "loop", NodeKind::Block, 7, 0),
            ]
        );
        assert_eq!(parse(b""), []);
    }

    #[test]
    fn scanf_leniency() {
        assert_eq!(
            parse(b"  a\tb\tc1:2 extra\na b c 1: 2\na b c-1:2\na b c99999999999:1\na b c010:1\n"),
            [
                node("a", "b", NodeKind::Char, 1, 2),
                node("a", "b", NodeKind::Char, 1, 2),
                node("a", "b", NodeKind::Char, u32::MAX, 2),
                node("a", "b", NodeKind::Char, 1215752191, 1),
                node("a", "b", NodeKind::Char, 10, 1),
            ]
        );
        // Beyond u64: strtoul saturates.
        assert_eq!(
            parse(b"a b b99999999999999999999999:-99999999999"),
            [node("a", "b", NodeKind::Block, u32::MAX, 3079215105)]
        );
    }

    #[test]
    fn invalid_lines() {
        assert_eq!(
            parse(b"\nmod dev\nmod dev x10:1\na b c10\na b c0x10:1\n  # not a comment\nz y c1:1"),
            [
                invalid("", 1),
                invalid("mod dev", 2),
                invalid("mod dev x10:1", 3),
                invalid("a b c10", 4),
                invalid("a b c0x10:1", 5),
                invalid("  # not a comment", 6),
                node("z", "y", NodeKind::Char, 1, 1),
            ]
        );
    }

    #[test]
    fn nul_ends_the_text() {
        assert_eq!(
            parse(b"a b c1:2\0junk\nx\0y z c3:4\n"),
            [node("a", "b", NodeKind::Char, 1, 2), invalid("x", 2)]
        );
        assert_eq!(parse(b"\0# x\n"), [invalid("", 1)]);
    }

    #[test]
    fn long_lines_are_read_in_pieces() {
        // 4094 bytes and a newline fit one piece.
        let mut fits = vec![b'a'; 4087];
        fits.extend_from_slice(b" b c1:2\n");
        assert_eq!(fits.len(), 4095);
        assert!(matches!(&parse(&fits)[..], [Line::Node(_)]));
        // One byte more: the newline is a piece of its own, an empty line.
        let mut over = vec![b'a'; 4088];
        over.extend_from_slice(b" b c1:2\nq r c3:4\n");
        let lines = parse(&over);
        assert!(matches!(&lines[0], Line::Node(n) if n.module.len() == 4088));
        assert_eq!(lines[1], invalid("", 1));
        assert_eq!(lines[2], node("q", "r", NodeKind::Char, 3, 4));
        // Cut inside the numbers: two invalid pieces.
        let mut cut = vec![b'a'; 4089];
        cut.extend_from_slice(b" b c1:2\n");
        let lines = parse(&cut);
        assert_eq!(lines.len(), 2);
        assert!(matches!(&lines[0], Line::Invalid { text, line: 1 } if text.ends_with(b" c1:")));
        assert_eq!(lines[1], invalid("2", 1));
    }
}
