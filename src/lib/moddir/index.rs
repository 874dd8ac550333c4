//! kmod's binary index files (`modules.dep.bin`, `modules.alias.bin`, `modules.symbols.bin`,
//! `modules.builtin.bin`, `modules.builtin.alias.bin`), written by depmod.
//!
//! Format (all integers big-endian): a header `magic 0xB007F457, version 0x0002_0001, root`,
//! then a trie of nodes. A node reference is a u32 whose top bits say what the node holds
//! (0x8000_0000 a prefix string, 0x4000_0000 values, 0x2000_0000 children) and whose low 28 bits
//! are its file offset; offset 0 means "no node". A node stores, in order: its NUL-terminated
//! prefix; `first`, `last` (u8) and `last - first + 1` child references; a u32 value count and
//! that many `(u32 priority, NUL-terminated string)` values.
//!
//! The searches reproduce libkmod-index.c: exact search returns the node's first value;
//! wildcard search treats keys containing `*?[` as patterns and orders results by priority.
//! Nothing is trusted: every read is bounds-checked and traversal is bounded, so a corrupt or
//! hostile index gives an error or no match, never a hang or a panic.

use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::fnmatch::fnmatch;

// The format's constants, shared with the writer (index_writer.rs).
pub(crate) const MAGIC: u32 = 0xB007_F457;
const VERSION_MAJOR: u32 = 0x0002;
pub(crate) const FLAG_PREFIX: u32 = 0x8000_0000;
pub(crate) const FLAG_VALUES: u32 = 0x4000_0000;
pub(crate) const FLAG_CHILDREN: u32 = 0x2000_0000;
/// Node offsets live in the low 28 bits of a reference.
pub(crate) const OFFSET_MASK: u32 = 0x0FFF_FFFF;
/// Deeper than any real key: a bound on traversal of a corrupt, cyclic trie.
const MAX_DEPTH: usize = 4096;
/// Recursion bound for wildcard traversal (real aliases are a few hundred bytes).
const MAX_WILD_DEPTH: usize = 1024;

/// How much of a dump is gathered before it is written.
const DUMP_CHUNK: usize = 1 << 16;

/// The state of a dump in progress.
struct Dump<'a> {
    prefix: &'a [u8],
    key: &'a mut Vec<u8>,
    buf: &'a mut Vec<u8>,
    w: &'a mut dyn std::io::Write,
    budget: &'a mut usize,
}

/// A value stored in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// Lower sorts first.
    pub priority: u32,
    /// The value's bytes.
    pub value: Vec<u8>,
}

/// Where index bytes live.
enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

/// An opened index file.
pub struct Index {
    path: PathBuf,
    bytes: Bytes,
    root: u32,
}

struct Node<'a> {
    prefix: &'a [u8],
    first: u8,
    children: &'a [u8],
    values: Option<&'a [u8]>,
    value_count: u32,
}

impl Index {
    /// Opens and memory-maps an index file, checking its header.
    pub fn open(path: &Path) -> Result<Index> {
        let map = crate::file::map_file(path).map_err(|e| Error::io(path, e))?;
        let bytes = match map {
            Some(m) => Bytes::Mapped(m),
            None => Bytes::Owned(Vec::new()),
        };
        Index::new(path.to_path_buf(), bytes)
    }

    /// An index held in memory (tests, fuzzing).
    pub fn from_bytes(path: impl Into<PathBuf>, data: Vec<u8>) -> Result<Index> {
        Index::new(path.into(), Bytes::Owned(data))
    }

    fn new(path: PathBuf, bytes: Bytes) -> Result<Index> {
        let data: &[u8] = match &bytes {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        };
        let bad = |cause: &str| Error::BadIndex {
            path: path.clone(),
            cause: cause.to_string(),
        };
        let magic = be32(data, 0).ok_or_else(|| bad("file too short for a header"))?;
        if magic != MAGIC {
            return Err(bad("bad magic number"));
        }
        let version = be32(data, 4).ok_or_else(|| bad("file too short for a header"))?;
        if version >> 16 != VERSION_MAJOR {
            return Err(bad(&format!("unsupported version {version:#x}")));
        }
        let root = be32(data, 8).ok_or_else(|| bad("file too short for a header"))?;
        Ok(Index { path, bytes, root })
    }

    fn data(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }

    /// The file this index was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn node(&self, reference: u32) -> Option<Node<'_>> {
        let offset = (reference & OFFSET_MASK) as usize;
        if offset == 0 {
            return None;
        }
        let data = self.data();
        let mut pos = offset;
        let prefix = if reference & FLAG_PREFIX != 0 {
            let s = cstr(data, pos)?;
            pos += s.len() + 1;
            s
        } else {
            &[]
        };
        let (first, children) = if reference & FLAG_CHILDREN != 0 {
            let first = *data.get(pos)?;
            let last = *data.get(pos + 1)?;
            if last < first {
                return None;
            }
            let n = usize::from(last - first) + 1;
            let kids = data.get(pos + 2..pos + 2 + n * 4)?;
            pos += 2 + n * 4;
            (first, kids)
        } else {
            (0, &[][..])
        };
        let (values, value_count) = if reference & FLAG_VALUES != 0 {
            let count = be32(data, pos)?;
            (Some(data.get(pos + 4..)?), count)
        } else {
            (None, 0)
        };
        Some(Node {
            prefix,
            first,
            children,
            values,
            value_count,
        })
    }

    fn child(&self, node: &Node<'_>, ch: u8) -> Option<u32> {
        let i = usize::from(ch.checked_sub(node.first)?);
        let r = be32(node.children, i * 4)?;
        (r & OFFSET_MASK != 0).then_some(r)
    }

    /// Iterates a node's values in file order.
    fn values<'n>(&self, node: &Node<'n>) -> impl Iterator<Item = (u32, &'n [u8])> {
        let mut rest = node.values.unwrap_or_default();
        let mut left = if node.values.is_some() {
            node.value_count
        } else {
            0
        };
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let priority = be32(rest, 0)?;
            let s = cstr(rest, 4)?;
            rest = &rest[4 + s.len() + 1..];
            Some((priority, s))
        })
    }

    /// The node whose full key is exactly `key`.
    fn find_node(&self, key: &[u8]) -> Option<Node<'_>> {
        let mut reference = self.root;
        let mut i = 0;
        for _ in 0..MAX_DEPTH {
            let node = self.node(reference)?;
            for &ch in node.prefix {
                if key.get(i) != Some(&ch) {
                    return None;
                }
                i += 1;
            }
            if i == key.len() {
                return Some(node);
            }
            reference = self.child(&node, key[i])?;
            i += 1;
        }
        None
    }

    /// Exact lookup: the first value stored under `key`, as libkmod's `index_search`.
    pub fn search(&self, key: &[u8]) -> Option<Vec<u8>> {
        let node = self.find_node(key)?;
        self.values(&node).next().map(|(_, v)| v.to_vec())
    }

    /// Every value stored under `key` exactly, in priority order.
    pub fn search_all(&self, key: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some(node) = self.find_node(key) {
            for (p, v) in self.values(&node) {
                add_value(&mut out, p, v);
            }
        }
        out
    }

    /// Wildcard lookup, as libkmod's `index_searchwild`: stored keys may be patterns; every
    /// value whose key matches `key` is returned, ordered by priority.
    pub fn search_wild(&self, key: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        let mut pattern = Vec::new();
        let mut budget = self.data().len().max(1024);
        let mut reference = self.root;
        let mut i = 0;
        for _ in 0..MAX_DEPTH {
            let Some(node) = self.node(reference) else {
                return out;
            };
            for (j, &ch) in node.prefix.iter().enumerate() {
                if matches!(ch, b'*' | b'?' | b'[') {
                    self.wild_all(
                        &node,
                        j,
                        &mut pattern,
                        &key[(i + j).min(key.len())..],
                        &mut out,
                        0,
                        &mut budget,
                    );
                    return out;
                }
                if key.get(i + j) != Some(&ch) {
                    return out;
                }
            }
            i += node.prefix.len();
            for wild in [b'*', b'?', b'['] {
                if let Some(r) = self.child(&node, wild)
                    && let Some(child) = self.node(r)
                {
                    pattern.push(wild);
                    self.wild_all(&child, 0, &mut pattern, &key[i..], &mut out, 1, &mut budget);
                    pattern.pop();
                }
            }
            if i == key.len() {
                for (p, v) in self.values(&node) {
                    add_value(&mut out, p, v);
                }
                return out;
            }
            match self.child(&node, key[i]) {
                Some(r) => reference = r,
                None => return out,
            }
            i += 1;
        }
        out
    }

    /// Every key and value, as libkmod's `index_dump` writes them: `PREFIX KEY VALUE\n` lines,
    /// keys in byte order, each key's values in stored order. Written to `w` in 64 KiB pieces.
    pub fn dump(&self, prefix: &[u8], w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut key = Vec::new();
        let mut buf = Vec::with_capacity(DUMP_CHUNK + 4096);
        let mut budget = self.data().len().max(1024);
        let mut d = Dump {
            prefix,
            key: &mut key,
            buf: &mut buf,
            w,
            budget: &mut budget,
        };
        self.dump_node(self.root, &mut d, 0)?;
        d.w.write_all(d.buf)
    }

    fn dump_node(&self, reference: u32, d: &mut Dump<'_>, depth: usize) -> std::io::Result<()> {
        if depth > MAX_DEPTH || *d.budget == 0 {
            return Ok(());
        }
        *d.budget -= 1;
        let Some(node) = self.node(reference) else {
            return Ok(());
        };
        let pushed = node.prefix.len();
        d.key.extend_from_slice(node.prefix);
        for (_, v) in self.values(&node) {
            d.buf.extend_from_slice(d.prefix);
            d.buf.extend_from_slice(d.key);
            d.buf.push(b' ');
            d.buf.extend_from_slice(v);
            d.buf.push(b'\n');
        }
        if d.buf.len() >= DUMP_CHUNK {
            d.w.write_all(d.buf)?;
            d.buf.clear();
        }
        for k in 0..node.children.len() / 4 {
            let ch = node.first.wrapping_add(k as u8);
            if let Some(r) = self.child(&node, ch) {
                d.key.push(ch);
                self.dump_node(r, d, depth + 1)?;
                d.key.pop();
            }
        }
        d.key.truncate(d.key.len() - pushed);
        Ok(())
    }

    /// Collects every value below `node` (from prefix position `j`) whose full pattern matches.
    #[allow(clippy::too_many_arguments)]
    fn wild_all(
        &self,
        node: &Node<'_>,
        j: usize,
        pattern: &mut Vec<u8>,
        subkey: &[u8],
        out: &mut Vec<Value>,
        depth: usize,
        budget: &mut usize,
    ) {
        if depth > MAX_WILD_DEPTH || *budget == 0 {
            return;
        }
        *budget -= 1;
        let pushed = node.prefix.len().saturating_sub(j);
        pattern.extend_from_slice(node.prefix.get(j..).unwrap_or_default());
        for (k, _) in node.children.chunks_exact(4).enumerate() {
            let ch = node.first.wrapping_add(k as u8);
            if let Some(r) = self.child(node, ch)
                && let Some(child) = self.node(r)
            {
                pattern.push(ch);
                self.wild_all(&child, 0, pattern, subkey, out, depth + 1, budget);
                pattern.pop();
            }
        }
        if node.values.is_some() && node.value_count > 0 && fnmatch(pattern, subkey) {
            for (p, v) in self.values(node) {
                add_value(out, p, v);
            }
        }
        pattern.truncate(pattern.len() - pushed);
    }
}

/// Inserts keeping priority order; a value goes before existing ones of equal priority, as
/// libkmod's `add_value` does.
fn add_value(out: &mut Vec<Value>, priority: u32, value: &[u8]) {
    let at = out
        .iter()
        .position(|v| v.priority >= priority)
        .unwrap_or(out.len());
    out.insert(
        at,
        Value {
            priority,
            value: value.to_vec(),
        },
    );
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn cstr(data: &[u8], at: usize) -> Option<&[u8]> {
    let rest = data.get(at..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(&rest[..end])
}

/// Writes an index in depmod's format (kmod 34's layout) from `(key, value, priority)` entries
/// in insertion order: literal samples for tests. depmod uses
/// [`super::index_writer::IndexBuilder`] directly.
///
/// # Panics
/// On a key or value that is not 7-bit ASCII (test input only).
#[allow(clippy::panic)]
pub fn write(entries: &[(&[u8], &[u8], u32)]) -> Vec<u8> {
    use super::index_writer::{IndexBuilder, Layout};
    let mut builder = IndexBuilder::new();
    for (key, value, priority) in entries {
        if let Err(e) = builder.insert(key, value, *priority) {
            panic!("index::write: {e}");
        }
    }
    match builder.build(Layout::PreOrder) {
        Ok(bytes) => bytes,
        Err(e) => panic!("index::write: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(entries: &[(&[u8], &[u8], u32)]) -> Index {
        Index::from_bytes("/t/modules.alias.bin", write(entries)).unwrap()
    }

    #[test]
    fn exact_search() {
        let i = idx(&[
            (b"e1000e", b"kernel/e1000e.ko:", 0),
            (b"e1000", b"kernel/e1000.ko: dep.ko", 1),
            (b"ext4", b"kernel/ext4.ko: jbd2.ko mbcache.ko", 2),
        ]);
        assert_eq!(i.search(b"e1000").unwrap(), b"kernel/e1000.ko: dep.ko");
        assert_eq!(i.search(b"e1000e").unwrap(), b"kernel/e1000e.ko:");
        assert_eq!(i.search(b"e100"), None);
        assert_eq!(i.search(b"e1000ee"), None);
        assert_eq!(i.search(b"nope"), None);
    }

    #[test]
    fn wildcard_search_orders_by_priority() {
        let i = idx(&[
            (b"pci:v00008086d*sv*sd*bc*sc*i*", b"e1000e", 5),
            (b"pci:v00008086d000010D3sv*sd*bc*sc*i*", b"e1000e_exact", 3),
            (b"crc32", b"crc32_pclmul", 1),
            (b"crc32", b"crc32_generic", 2),
            (b"usb:v*p*d[0-9]*", b"digits", 4),
        ]);
        let names = |k: &[u8]| -> Vec<String> {
            i.search_wild(k)
                .into_iter()
                .map(|v| String::from_utf8(v.value).unwrap())
                .collect()
        };
        assert_eq!(
            names(b"pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"),
            vec!["e1000e_exact", "e1000e"]
        );
        assert_eq!(names(b"crc32"), vec!["crc32_pclmul", "crc32_generic"]);
        assert_eq!(names(b"usb:v1p2d7"), vec!["digits"]);
        assert!(names(b"usb:v1p2dX").is_empty());
        assert!(names(b"nothing").is_empty());
    }

    #[test]
    fn equal_priorities_put_the_later_value_first() {
        // depmod stores the later value first; libkmod's reader inserts each value it reads
        // before those of equal priority, which reverses ties once more.
        let i = idx(&[(b"a", b"first", 0), (b"a", b"second", 0)]);
        assert_eq!(i.search(b"a").unwrap(), b"second");
        let v: Vec<_> = i.search_all(b"a").into_iter().map(|v| v.value).collect();
        assert_eq!(v, vec![b"first".to_vec(), b"second".to_vec()]);
    }

    #[test]
    fn corrupt_indexes_fail_cleanly() {
        assert!(Index::from_bytes("/t/x", vec![]).is_err());
        assert!(Index::from_bytes("/t/x", vec![0; 12]).is_err());
        let mut good = write(&[(b"abc", b"v", 0)]);
        // Root pointing at itself with a children table: must terminate.
        let self_ref = 12u32 | FLAG_CHILDREN;
        good.truncate(12);
        good[8..12].copy_from_slice(&self_ref.to_be_bytes());
        good.extend_from_slice(b"aa");
        good.extend_from_slice(&self_ref.to_be_bytes());
        let i = Index::from_bytes("/t/x", good).unwrap();
        assert_eq!(i.search(b"aaaa"), None);
        assert!(i.search_wild(b"aaaa").is_empty());
        // Root beyond the end of the file.
        let mut far = write(&[(b"abc", b"v", 0)]);
        far[8..12].copy_from_slice(&(0x0FFF_FFF0u32 | FLAG_PREFIX).to_be_bytes());
        let i = Index::from_bytes("/t/x", far).unwrap();
        assert_eq!(i.search(b"abc"), None);
    }
}
