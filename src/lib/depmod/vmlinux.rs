//! vmlinux's exported symbols for `-E Module.symvers` and `-F System.map` (kmod tools/depmod.c
//! `depmod_load_symvers`, `depmod_load_system_map`, `depmod_add_fake_syms`).
//!
//! kmod reads both files with `fgets` into a 10240-byte buffer: a longer line is taken as
//! several lines, each counted, and a NUL ends what is seen of a line. [`c_lines`] reproduces
//! that, so line numbers in messages and the symbols found are kmod's.

use std::collections::HashSet;
use std::path::Path;

use super::graph::{lookup_name, strip_prefix as strip};
use super::{Level, Log};

/// Which file `-E` or `-F` named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `-E`: `Module.symvers` (CRC, symbol, module, …), with CRCs compared.
    Symvers(std::path::PathBuf),
    /// `-F`: `System.map` (address, type, `__ksymtab_NAME`).
    SystemMap(std::path::PathBuf),
}

/// vmlinux's symbols, in file order, the way kmod stores them (replace semantics apply when
/// they are inserted in this order).
pub type Symbols = Vec<(Vec<u8>, u64)>;

/// Reads the file of `source`; an unreadable one is the caller's FATAL.
pub fn load(source: &Source, prefix: Option<u8>, log: &mut Log) -> std::io::Result<Symbols> {
    let (path, is_symvers) = match source {
        Source::Symvers(p) => (p, true),
        Source::SystemMap(p) => (p, false),
    };
    let text = std::fs::read(path)?;
    Ok(if is_symvers {
        parse_symvers(&text, path, prefix, log)
    } else {
        parse_system_map(&text, path, prefix, log)
    })
}

/// `Module.symvers`: `CRC SYMBOL MODULE …` split on blanks; only lines whose third word is
/// exactly `vmlinux` count (so a line of three words, whose third keeps its newline, does
/// not). A CRC that is not hexadecimal is an error and skips the line.
pub fn parse_symvers(text: &[u8], file: &Path, prefix: Option<u8>, log: &mut Log) -> Symbols {
    let mut out = Vec::new();
    for (number, line) in c_lines(text) {
        let mut words = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|w| !w.is_empty());
        let (Some(crc), Some(symbol), Some(module)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        if module != b"vmlinux" {
            continue;
        }
        match strtoull_hex(crc) {
            Some(crc) => out.push((strip(symbol, prefix).to_vec(), crc)),
            None => log.push(
                Level::Error,
                format!(
                    "{}:{number} Invalid symbol version {}: not a hexadecimal number",
                    file.display(),
                    String::from_utf8_lossy(crc)
                ),
            ),
        }
    }
    add_fake_symbols(&mut out, prefix);
    out
}

/// `System.map`: the text after the second space, less one `-P` character, names an export
/// when it starts with `__ksymtab_`. A line with fewer than two spaces is an error (printed
/// with its newline, as kmod does).
pub fn parse_system_map(text: &[u8], file: &Path, prefix: Option<u8>, log: &mut Log) -> Symbols {
    const KSYMTAB: &[u8] = b"__ksymtab_";
    let mut out = Vec::new();
    for (number, line) in c_lines(text) {
        let after_second_space = line.iter().position(|&b| b == b' ').and_then(|first| {
            let rest = &line[first + 1..];
            rest.iter()
                .position(|&b| b == b' ')
                .map(|second| &rest[second + 1..])
        });
        let Some(mut p) = after_second_space else {
            log.push(
                Level::Error,
                format!(
                    "{}:{number}: invalid line: {}",
                    file.display(),
                    String::from_utf8_lossy(line)
                ),
            );
            continue;
        };
        p = strip(p, prefix);
        let Some(name) = p.strip_prefix(KSYMTAB) else {
            continue;
        };
        let end = name.iter().position(|&b| b == b'\n').unwrap_or(name.len());
        out.push((name[..end].to_vec(), 0));
    }
    add_fake_symbols(&mut out, prefix);
    out
}

/// The symbols the kernel's loader provides itself: `__this_module`, `_GLOBAL_OFFSET_TABLE_`
/// (s390) and, unless vmlinux has it, `TOC.` (PowerPC64).
fn add_fake_symbols(out: &mut Symbols, prefix: Option<u8>) {
    out.push((b"__this_module".to_vec(), 0));
    out.push((b"_GLOBAL_OFFSET_TABLE_".to_vec(), 0));
    let toc = lookup_name(b"TOC.", prefix);
    let names: HashSet<&[u8]> = out.iter().map(|(n, _)| n.as_slice()).collect();
    if !names.contains(toc) {
        out.push((b"TOC.".to_vec(), 0));
    }
}

/// The lines `fgets` with a 10240-byte buffer returns, numbered from 1: each ends after its
/// newline or after 10239 bytes, and is seen only up to its first NUL.
pub fn c_lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    const MAX: usize = 10240 - 1;
    let mut rest = text;
    let mut number = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let newline = rest.iter().take(MAX).position(|&b| b == b'\n');
        let len = newline.map_or(rest.len().min(MAX), |i| i + 1);
        let (line, tail) = rest.split_at(len);
        rest = tail;
        number += 1;
        let seen = line
            .iter()
            .position(|&b| b == 0)
            .map_or(line, |i| &line[..i]);
        Some((number, seen))
    })
}

/// `strtoull(s, &end, 16)` when it consumes the whole word: optional `+`/`-`, optional `0x`,
/// hexadecimal digits; an overflow gives all ones, a minus sign negates modulo 2⁶⁴.
pub fn strtoull_hex(s: &[u8]) -> Option<u64> {
    let mut i = s
        .iter()
        .take_while(|b| b" \t\n\x0b\x0c\r".contains(b))
        .count();
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let is_hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
    if s.get(i) == Some(&b'0') && matches!(s.get(i + 1), Some(b'x' | b'X')) && is_hex(s.get(i + 2))
    {
        i += 2;
    }
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let value = digits.iter().try_fold(0u64, |acc, &d| {
        let d = u64::from((d as char).to_digit(16).unwrap_or(0));
        acc.checked_mul(16).and_then(|v| v.checked_add(d))
    });
    Some(match value {
        None => u64::MAX,
        Some(v) if negative => v.wrapping_neg(),
        Some(v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crcs_parse_like_strtoull() {
        assert_eq!(strtoull_hex(b"0x1234"), Some(0x1234));
        assert_eq!(strtoull_hex(b"DEADbeef"), Some(0xdead_beef));
        assert_eq!(strtoull_hex(b"-1"), Some(u64::MAX));
        assert_eq!(strtoull_hex(b"ffffffffffffffffff"), Some(u64::MAX));
        assert_eq!(strtoull_hex(b"zz"), None);
        assert_eq!(strtoull_hex(b"0x"), None);
        assert_eq!(strtoull_hex(b"12g"), None);
    }

    #[test]
    fn symvers_keeps_vmlinux_lines_of_four_words() {
        let mut log = Log::default();
        let text = b"0x1\ta\tvmlinux\tEXPORT_SYMBOL\t\n0x2\tb\tvmlinux\n0x3\tc\tdrivers/x\tEXPORT_SYMBOL\n\
                     zz\td\tvmlinux\tEXPORT_SYMBOL\nshort line\n";
        let got = parse_symvers(text, Path::new("S"), None, &mut log);
        let names: Vec<&[u8]> = got.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(
            names,
            vec![
                &b"a"[..],
                b"__this_module",
                b"_GLOBAL_OFFSET_TABLE_",
                b"TOC."
            ]
        );
        let lines: Vec<_> = log.lines().collect();
        assert_eq!(
            lines,
            vec![(
                Level::Error,
                "S:4 Invalid symbol version zz: not a hexadecimal number"
            )]
        );
    }

    #[test]
    fn system_map_needs_two_spaces_and_the_ksymtab_prefix() {
        let mut log = Log::default();
        let text = b"ffff R __ksymtab_printk\nbad\nffff T foo\nffff R ___ksymtab_x\n";
        let got = parse_system_map(text, Path::new("M"), Some(b'_'), &mut log);
        // With -P _ the prefix is taken from `__ksymtab_` itself, as kmod does.
        assert_eq!(got[0], (b"x".to_vec(), 0));
        assert_eq!(got.len(), 4);
        let got = parse_system_map(text, Path::new("M"), None, &mut Log::default());
        assert_eq!(got[0], (b"printk".to_vec(), 0));
        assert_eq!(
            log.lines().next(),
            Some((Level::Error, "M:2: invalid line: bad\n"))
        );
    }

    #[test]
    fn long_lines_are_cut_as_fgets_cuts_them() {
        let mut text = vec![b'a'; 10239 + 5];
        text.push(b'\n');
        let lines: Vec<_> = c_lines(&text).map(|(n, l)| (n, l.len())).collect();
        assert_eq!(lines, vec![(1, 10239), (2, 6)]);
    }
}
