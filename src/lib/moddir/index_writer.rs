//! The writer of kmod's binary index format (the reader is [`super::index`]).
//!
//! The trie is a function of the key set only: a node exists where two keys diverge or a key
//! ends, and a node's prefix holds the bytes below it that do not branch (the root never has a
//! prefix). Values are kept per key in kmod's order: ascending priority, and among equal
//! priorities the value inserted last comes first (depmod's `index_insert` inserts before the
//! first value whose priority is greater than or equal). Duplicated values are stored again.
//!
//! Two node placements exist, with the same node bodies: kmod 34's pre-order (each node before
//! its children's subtrees, root at offset 12) and kmod 30's post-order (children first, root
//! last). [`Layout`] picks one; depmod writes kmod 34's.

use std::collections::HashMap;

use super::index::{FLAG_CHILDREN, FLAG_PREFIX, FLAG_VALUES, MAGIC, OFFSET_MASK};

const VERSION: u32 = 0x0002_0001;
const HEADER_LEN: usize = 12;
/// Node offsets live in the low 28 bits of a reference.
const MAX_OFFSET: usize = OFFSET_MASK as usize;

/// Where node bodies go in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// kmod 34 and later: a node, then its children's subtrees in ascending byte order.
    PreOrder,
    /// kmod 30 to 33: children's subtrees first, then the node; the root is the last body.
    PostOrder,
}

/// Why an index could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexError {
    /// A key or value has a byte outside 7-bit ASCII (kmod 34 refuses these too).
    NotAscii {
        /// The offending byte.
        byte: u8,
        /// The key or value that holds it.
        text: Vec<u8>,
    },
    /// The file would pass the 256 MiB that 28-bit node offsets can address.
    TooLarge,
}

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // kmod's words: "Module index: bad character '%c'=0x%x - only 7-bit ASCII is
            // supported:" followed by the string.
            IndexError::NotAscii { byte, text } => write!(
                f,
                "Module index: bad character '{}'={byte:#x} - only 7-bit ASCII is supported:\n{}",
                char::from(*byte),
                String::from_utf8_lossy(text)
            ),
            IndexError::TooLarge => write!(f, "Module index: larger than 256 MiB"),
        }
    }
}

impl std::error::Error for IndexError {}

/// Collects `(key, value, priority)` entries and lays them out as an index file.
#[derive(Default)]
pub struct IndexBuilder {
    /// Key → its values, already in kmod's order.
    keys: HashMap<Vec<u8>, Vec<(u32, Vec<u8>)>>,
}

impl IndexBuilder {
    /// An empty index.
    pub fn new() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// Whether no entry was added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds `value` under `key` with `priority`. Returns `false` (and still adds it) when the
    /// key already holds the same value string: depmod's `-w` warns about those.
    pub fn insert(&mut self, key: &[u8], value: &[u8], priority: u32) -> Result<bool, IndexError> {
        for text in [key, value] {
            if let Some(&byte) = text.iter().find(|b| !b.is_ascii()) {
                return Err(IndexError::NotAscii {
                    byte,
                    text: text.to_vec(),
                });
            }
        }
        let values = self.keys.entry(key.to_vec()).or_default();
        let is_new = !values.iter().any(|(_, v)| v == value);
        let at = values
            .iter()
            .position(|(p, _)| *p >= priority)
            .unwrap_or(values.len());
        values.insert(at, (priority, value.to_vec()));
        Ok(is_new)
    }

    /// The index file's bytes.
    pub fn build(&self, layout: Layout) -> Result<Vec<u8>, IndexError> {
        let mut keys: Vec<&[u8]> = self.keys.keys().map(Vec::as_slice).collect();
        keys.sort_unstable();
        let mut nodes = Vec::new();
        let root = shape(&keys, 0, keys.len(), 0, true, &mut nodes);
        let mut sizes = vec![0usize; nodes.len()];
        subtree_size(&nodes, root, &self.keys, &keys, &mut sizes);
        let total = HEADER_LEN + sizes[root];
        if total > MAX_OFFSET {
            return Err(IndexError::TooLarge);
        }
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        let writer = Writer {
            nodes: &nodes,
            sizes: &sizes,
            values: &self.keys,
            keys: &keys,
        };
        let root_ref = match layout {
            Layout::PreOrder => writer.pre_order(root, &mut out),
            Layout::PostOrder => writer.post_order(root, &mut out),
        };
        out[8..12].copy_from_slice(&root_ref.to_be_bytes());
        Ok(out)
    }
}

/// One trie node: its prefix (a range of a key), its children (selecting byte, node) and the
/// key whose values it holds.
struct Node<'k> {
    prefix: &'k [u8],
    children: Vec<(u8, usize)>,
    /// Index into the sorted key list.
    key: Option<usize>,
}

/// Builds the node for `keys[lo..hi]`, which share their first `depth` bytes; returns its
/// number.
fn shape<'k>(
    keys: &[&'k [u8]],
    lo: usize,
    hi: usize,
    depth: usize,
    is_root: bool,
    nodes: &mut Vec<Node<'k>>,
) -> usize {
    let me = nodes.len();
    nodes.push(Node {
        prefix: &[],
        children: Vec::new(),
        key: None,
    });
    if lo == hi {
        return me;
    }
    // Sorted keys: the common prefix of the range is that of its first and last keys, and a
    // key that ends inside the range is the first one.
    let (first, last) = (keys[lo], keys[hi - 1]);
    let end = if is_root {
        depth
    } else {
        depth
            + first[depth..]
                .iter()
                .zip(&last[depth..])
                .take_while(|(a, b)| a == b)
                .count()
    };
    let mut i = lo;
    if first.len() == end {
        nodes[me].key = Some(lo);
        i += 1;
    }
    let mut children = Vec::new();
    while i < hi {
        let byte = keys[i][end];
        let j = i + keys[i..hi].partition_point(|k| k[end] <= byte);
        children.push((byte, shape(keys, i, j, end + 1, false, nodes)));
        i = j;
    }
    nodes[me].prefix = &first[depth..end];
    nodes[me].children = children;
    me
}

fn body_size(
    node: &Node<'_>,
    values: &HashMap<Vec<u8>, Vec<(u32, Vec<u8>)>>,
    keys: &[&[u8]],
) -> usize {
    let mut size = 0;
    if !node.prefix.is_empty() {
        size += node.prefix.len() + 1;
    }
    if let (Some(first), Some(last)) = (node.children.first(), node.children.last()) {
        size += 2 + 4 * (usize::from(last.0 - first.0) + 1);
    }
    if let Some(k) = node.key {
        size += 4 + values[keys[k]]
            .iter()
            .map(|(_, v)| 4 + v.len() + 1)
            .sum::<usize>();
    }
    size
}

fn subtree_size(
    nodes: &[Node<'_>],
    n: usize,
    values: &HashMap<Vec<u8>, Vec<(u32, Vec<u8>)>>,
    keys: &[&[u8]],
    sizes: &mut [usize],
) -> usize {
    let mut size = body_size(&nodes[n], values, keys);
    for &(_, c) in &nodes[n].children {
        size += subtree_size(nodes, c, values, keys, sizes);
    }
    sizes[n] = size;
    size
}

struct Writer<'a, 'k> {
    nodes: &'a [Node<'k>],
    sizes: &'a [usize],
    values: &'a HashMap<Vec<u8>, Vec<(u32, Vec<u8>)>>,
    keys: &'a [&'k [u8]],
}

impl Writer<'_, '_> {
    /// The node's flags, for its reference.
    fn flags(&self, n: usize) -> u32 {
        let node = &self.nodes[n];
        let mut flags = 0;
        if !node.prefix.is_empty() {
            flags |= FLAG_PREFIX;
        }
        if !node.children.is_empty() {
            flags |= FLAG_CHILDREN;
        }
        if node.key.is_some() {
            flags |= FLAG_VALUES;
        }
        flags
    }

    /// Writes node `n`'s body given its children's references.
    fn body(&self, n: usize, child_refs: &[u32], out: &mut Vec<u8>) {
        let node = &self.nodes[n];
        if !node.prefix.is_empty() {
            out.extend_from_slice(node.prefix);
            out.push(0);
        }
        if let (Some(first), Some(last)) = (node.children.first(), node.children.last()) {
            out.push(first.0);
            out.push(last.0);
            let mut next = node.children.iter().zip(child_refs).peekable();
            for byte in first.0..=last.0 {
                let r = match next.peek() {
                    Some(((b, _), r)) if *b == byte => {
                        let r = **r;
                        next.next();
                        r
                    }
                    _ => 0,
                };
                out.extend_from_slice(&r.to_be_bytes());
            }
        }
        if let Some(k) = node.key {
            let values = &self.values[self.keys[k]];
            out.extend_from_slice(&(values.len() as u32).to_be_bytes());
            for (priority, value) in values {
                out.extend_from_slice(&priority.to_be_bytes());
                out.extend_from_slice(value);
                out.push(0);
            }
        }
    }

    fn pre_order(&self, n: usize, out: &mut Vec<u8>) -> u32 {
        let offset = out.len();
        let body = body_size(&self.nodes[n], self.values, self.keys);
        let mut child_at = offset + body;
        let child_refs: Vec<u32> = self.nodes[n]
            .children
            .iter()
            .map(|&(_, c)| {
                let r = child_at as u32 | self.flags(c);
                child_at += self.sizes[c];
                r
            })
            .collect();
        self.body(n, &child_refs, out);
        for &(_, c) in &self.nodes[n].children {
            self.pre_order(c, out);
        }
        offset as u32 | self.flags(n)
    }

    fn post_order(&self, n: usize, out: &mut Vec<u8>) -> u32 {
        let child_refs: Vec<u32> = self.nodes[n]
            .children
            .iter()
            .map(|&(_, c)| self.post_order(c, out))
            .collect();
        let offset = out.len();
        self.body(n, &child_refs, out);
        offset as u32 | self.flags(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(entries: &[(&[u8], &[u8], u32)], layout: Layout) -> Vec<u8> {
        let mut b = IndexBuilder::new();
        for (k, v, p) in entries {
            b.insert(k, v, *p).unwrap();
        }
        b.build(layout).unwrap()
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The worked example of the format description: `m0` with aliases `ask`, `ate` (index 0)
    /// and `m1` with `on`, `one` (index 1), in kmod 34's layout, byte by byte.
    #[test]
    fn pre_order_matches_the_worked_example() {
        let entries: &[(&[u8], &[u8], u32)] = &[
            (b"ask", b"m0", 0),
            (b"ate", b"m0", 0),
            (b"on", b"m1", 1),
            (b"one", b"m1", 1),
        ];
        let mut want = hex("b007f457 00020001 2000000c 616f");
        want.extend(hex("2000004a"));
        want.extend(std::iter::repeat_n(0u8, 4 * 13));
        want.extend(hex("e000006e"));
        want.extend(hex("7374 c0000054 c0000061"));
        want.extend(hex("6b00 00000001 00000000 6d3000"));
        want.extend(hex("6500 00000001 00000000 6d3000"));
        want.extend(hex("6e00 6565 40000081 00000001 00000001 6d3100"));
        want.extend(hex("00000001 00000001 6d3100"));
        let got = build(entries, Layout::PreOrder);
        assert_eq!(got.len(), 140);
        assert_eq!(got, want);
    }

    /// The same example in kmod 30's layout: `ask` at 0x0c, `ate` at 0x19, `a` at 0x26, `one`
    /// at 0x30, `on` at 0x3b, the root at 0x4e.
    #[test]
    fn post_order_places_the_root_last() {
        let entries: &[(&[u8], &[u8], u32)] = &[
            (b"one", b"m1", 1),
            (b"ask", b"m0", 0),
            (b"on", b"m1", 1),
            (b"ate", b"m0", 0),
        ];
        let got = build(entries, Layout::PostOrder);
        assert_eq!(got.len(), 140);
        assert_eq!(&got[8..12], &hex("2000004e")[..]);
        assert_eq!(&got[0x0c..0x0e], b"k\0");
        assert_eq!(&got[0x19..0x1b], b"e\0");
        assert_eq!(&got[0x26..0x28], b"st");
        assert_eq!(&got[0x3b..0x43], &hex("6e00 6565 40000030")[..]);
        assert_eq!(&got[0x4e..0x50], b"ao");
        assert_eq!(&got[0x50..0x54], &hex("20000026")[..]);
    }

    #[test]
    fn an_empty_index_is_a_header_pointing_at_offset_12() {
        for layout in [Layout::PreOrder, Layout::PostOrder] {
            assert_eq!(
                build(&[], layout),
                hex("b007f457 00020001 0000000c"),
                "{layout:?}"
            );
        }
    }

    #[test]
    fn values_sort_by_priority_and_ties_put_the_newest_first() {
        let mut b = IndexBuilder::new();
        b.insert(b"k", b"x_y", 0).unwrap();
        b.insert(b"k", b"late", 2).unwrap();
        b.insert(b"k", b"ext4", 0).unwrap();
        assert!(!b.insert(b"k", b"ext4", 1).unwrap());
        assert_eq!(
            b.keys[&b"k".to_vec()],
            vec![
                (0, b"ext4".to_vec()),
                (0, b"x_y".to_vec()),
                (1, b"ext4".to_vec()),
                (2, b"late".to_vec())
            ]
        );
    }

    #[test]
    fn non_ascii_is_refused() {
        let mut b = IndexBuilder::new();
        assert!(matches!(
            b.insert("café".as_bytes(), b"m", 0),
            Err(IndexError::NotAscii { byte: 0xc3, .. })
        ));
    }

    #[test]
    fn the_reader_reads_both_layouts() {
        let entries: &[(&[u8], &[u8], u32)] = &[
            (b"pci:v00008086d*sv*sd*bc*sc*i*", b"e1000e", 5),
            (b"crc32", b"crc32_pclmul", 1),
            (b"crc32", b"crc32_generic", 2),
            (b"crc", b"c", 0),
            (b"e1000", b"kernel/e1000.ko: dep.ko", 7),
        ];
        for layout in [Layout::PreOrder, Layout::PostOrder] {
            let i = super::super::index::Index::from_bytes("/t/x", build(entries, layout)).unwrap();
            assert_eq!(i.search(b"crc").unwrap(), b"c");
            assert_eq!(i.search(b"crc32").unwrap(), b"crc32_pclmul");
            assert_eq!(i.search(b"e1000").unwrap(), b"kernel/e1000.ko: dep.ko");
            assert_eq!(i.search(b"cr"), None);
            let wild = i.search_wild(b"pci:v00008086d000010D3sv0sd0bc02sc00i00");
            assert_eq!(wild.len(), 1);
            assert_eq!(wild[0].value, b"e1000e");
        }
    }
}
