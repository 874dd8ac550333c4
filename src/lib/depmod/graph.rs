//! The module array, the symbol table and the dependencies, in kmod's orders (kmod
//! tools/depmod.c `depmod_modules_sort`, `depmod_load_symbols`,
//! `depmod_load_module_dependencies`, `depmod_calculate_dependencies`,
//! `depmod_report_cycles`).
//!
//! kmod keeps modules and symbols in its own hash table (shared/hash.c), and the iteration order
//! of that table leaks into the output: it places the modules missing from `modules.order` and
//! orders `modules.symbols`. [`hash_order`] reproduces it.

use std::collections::HashMap;

use super::scan::ModuleData;

/// Buckets of depmod's module table.
pub const MODULE_BUCKETS: u32 = 512;
/// Buckets of depmod's symbol table.
pub const SYMBOL_BUCKETS: u32 = 2048;

/// Paul Hsieh's SuperFastHash as kmod's shared/hash.c computes it, reading 16-bit halves in
/// little-endian order (kmod uses the host's order; x86's is little-endian).
pub fn superfast_hash(key: &[u8]) -> u32 {
    let mut h = key.len() as u32;
    let half = |b: &[u8]| u32::from(u16::from_le_bytes([b[0], b[1]]));
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        h = h.wrapping_add(half(&c[0..2]));
        let t = (half(&c[2..4]) << 11) ^ h;
        h = (h << 16) ^ t;
        h = h.wrapping_add(h >> 11);
    }
    let tail = chunks.remainder();
    match tail.len() {
        3 => {
            h = h.wrapping_add(half(&tail[0..2]));
            h ^= h << 16;
            h ^= (tail[2] as i8 as i32 as u32) << 18;
            h = h.wrapping_add(h >> 11);
        }
        2 => {
            h = h.wrapping_add(half(tail));
            h ^= h << 11;
            h = h.wrapping_add(h >> 17);
        }
        1 => {
            h = h.wrapping_add(tail[0] as i8 as i32 as u32);
            h ^= h << 10;
            h = h.wrapping_add(h >> 1);
        }
        _ => {}
    }
    h ^= h << 3;
    h = h.wrapping_add(h >> 5);
    h ^= h << 4;
    h = h.wrapping_add(h >> 17);
    h ^= h << 25;
    h = h.wrapping_add(h >> 6);
    h
}

/// Sorts `keys` (given by index) into the iteration order of a kmod hash table with
/// `buckets` buckets: by bucket, then by bytes.
pub fn hash_order<K: AsRef<[u8]>>(keys: &[K], buckets: u32) -> Vec<usize> {
    let mut order: Vec<(u32, usize)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (superfast_hash(k.as_ref()) & (buckets - 1), i))
        .collect();
    order.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| keys[a.1].as_ref().cmp(keys[b.1].as_ref()))
    });
    order.into_iter().map(|(_, i)| i).collect()
}

/// How `modules.order` could be read.
pub enum OrderFile<'a> {
    /// Its text.
    Text(&'a [u8]),
    /// Missing or unreadable, or its last line lacks a newline: no sorting at all.
    Unusable,
}

/// The module array: indexes into the candidates, in hash order, then stably sorted by the
/// position of each module's first line in `modules.order` (kmod 34; unlisted modules last).
/// `names[i]` is the module name and `order_paths[i]` its `modules.order` spelling.
pub fn module_order(
    names: &[&[u8]],
    order_paths: &[Option<&[u8]>],
    order: OrderFile<'_>,
) -> Vec<usize> {
    let mut array = hash_order(names, MODULE_BUCKETS);
    let OrderFile::Text(text) = order else {
        return array;
    };
    let by_path: HashMap<&[u8], usize> = order_paths
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (p, i)))
        .collect();
    let mut key = vec![usize::MAX; names.len()];
    for (line_number, line) in text.split(|&b| b == b'\n').enumerate() {
        if let Some(&i) = by_path.get(line)
            && key[i] == usize::MAX
        {
            key[i] = line_number;
        }
    }
    array.sort_by_key(|&i| key[i]);
    array
}

/// The dependency graph of the module array.
pub struct Graph {
    /// For each module (array index), its direct dependencies in discovery order.
    pub deps: Vec<Vec<usize>>,
    /// For each module, its topological index.
    pub topo: Vec<usize>,
    /// Symbols owned by modules, in symbol hash order: (name, owner).
    pub symbols: Vec<(Vec<u8>, usize)>,
    /// Each dependency with the symbol that created it, in discovery order: (module, symbol,
    /// owner). depmod -v prints these.
    pub edges: Vec<(usize, Vec<u8>, usize)>,
}

/// A dependency cycle: module indexes, the first repeated at the end.
pub type Cycle = Vec<usize>;

/// Where vmlinux's symbols come from and what `-e`, `-E` and `-P` ask for.
#[derive(Debug, Default, Clone, Copy)]
pub struct SymbolRules<'a> {
    /// vmlinux's exports from `-E` or `-F`, in file order (names as stored, CRCs), fake
    /// symbols included; empty without either option.
    pub vmlinux: &'a [(Vec<u8>, u64)],
    /// `-P`: the character stripped from the front of symbol names.
    pub prefix: Option<u8>,
    /// `-E`: compare each import's CRC with its exporter's.
    pub check_crcs: bool,
    /// `-e` (with `-E` or `-F`): report unknown symbols and CRC mismatches.
    pub report: bool,
}

/// Something `-e` reports about one import of one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// `PATH needs unknown symbol NAME`.
    Unknown(usize, Vec<u8>),
    /// `PATH disagrees about version of symbol NAME`.
    Crc(usize, Vec<u8>),
}

/// `name` without its first byte when that is `prefix` (kmod's `-P`).
pub(crate) fn strip_prefix(name: &[u8], prefix: Option<u8>) -> &[u8] {
    match (prefix, name.split_first()) {
        (Some(p), Some((&first, rest))) if first == p => rest,
        _ => name,
    }
}

/// The name kmod looks a symbol up by: one leading `.` (PowerPC64 function descriptors), then
/// the `-P` character, removed.
pub fn lookup_name(name: &[u8], prefix: Option<u8>) -> &[u8] {
    strip_prefix(name.strip_prefix(b".").unwrap_or(name), prefix)
}

/// Builds the symbol table and the dependencies of `modules` (in array order), adding what
/// `-e` reports to `problems` (per module, per import, as kmod prints them). Errors with the
/// cycles found and the number of modules in them.
pub fn build(
    modules: &[&ModuleData],
    rules: &SymbolRules<'_>,
    problems: &mut Vec<Problem>,
) -> Result<Graph, (Vec<Cycle>, usize)> {
    // Replace semantics: the last exporter owns a symbol, a module's export replaces vmlinux's.
    let mut owner: HashMap<&[u8], (Option<usize>, u64)> = HashMap::new();
    for (name, crc) in rules.vmlinux {
        owner.insert(name, (None, *crc));
    }
    for (m, data) in modules.iter().enumerate() {
        for export in &data.exports {
            owner.insert(
                strip_prefix(&export.name, rules.prefix),
                (Some(m), export.crc),
            );
        }
    }
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); modules.len()];
    let mut users = vec![0usize; modules.len()];
    let mut edges = Vec::new();
    for (m, data) in modules.iter().enumerate() {
        for import in &data.imports {
            let name = lookup_name(&import.name, rules.prefix);
            let Some(&(o, crc)) = owner.get(name) else {
                if rules.report && !import.is_weak {
                    problems.push(Problem::Unknown(m, import.name.clone()));
                }
                continue;
            };
            if rules.check_crcs && rules.report && crc != import.crc && !import.is_weak {
                problems.push(Problem::Crc(m, import.name.clone()));
            }
            if let Some(o) = o
                && !deps[m].contains(&o)
            {
                deps[m].push(o);
                users[o] += 1;
                edges.push((m, name.to_vec(), o));
            }
        }
    }
    let topo = topological(&deps, users.clone()).map_err(|remaining| cycles(&deps, &remaining))?;
    let owned: Vec<(&[u8], usize)> = owner
        .iter()
        .filter_map(|(name, (o, _))| o.map(|o| (*name, o)))
        .collect();
    let names: Vec<&[u8]> = owned.iter().map(|(n, _)| *n).collect();
    let symbols = hash_order(&names, SYMBOL_BUCKETS)
        .into_iter()
        .map(|i| (owned[i].0.to_vec(), owned[i].1))
        .collect();
    Ok(Graph {
        deps,
        topo,
        symbols,
        edges,
    })
}

/// Kahn's algorithm with a LIFO stack seeded in array order. Errors with the users still
/// counted for each module when a cycle stops it.
fn topological(deps: &[Vec<usize>], mut users: Vec<usize>) -> Result<Vec<usize>, Vec<usize>> {
    let mut topo = vec![usize::MAX; deps.len()];
    let mut stack: Vec<usize> = (0..deps.len()).filter(|&m| users[m] == 0).collect();
    let mut next = 0;
    while let Some(m) = stack.pop() {
        topo[m] = next;
        next += 1;
        for &d in &deps[m] {
            users[d] -= 1;
            if users[d] == 0 {
                stack.push(d);
            }
        }
    }
    if next < deps.len() {
        Err(users)
    } else {
        Ok(topo)
    }
}

/// Finds the cycles among the modules that still have users, in array order, walking
/// dependencies depth first; each module is reported in at most one cycle.
fn cycles(deps: &[Vec<usize>], users: &[usize]) -> (Vec<Cycle>, usize) {
    let mut reported = vec![false; deps.len()];
    let mut found = Vec::new();
    let mut count = 0;
    for start in (0..deps.len()).filter(|&m| users[m] > 0) {
        if reported[start] {
            continue;
        }
        // Depth-first search for a path back to `start`.
        let mut path = vec![start];
        let mut iters = vec![0usize];
        let mut on_path = vec![false; deps.len()];
        let mut dead = vec![false; deps.len()];
        on_path[start] = true;
        while let (Some(&m), Some(it)) = (path.last(), iters.last_mut()) {
            let Some(&d) = deps[m].get(*it) else {
                dead[m] = true;
                on_path[m] = false;
                path.pop();
                iters.pop();
                continue;
            };
            *it += 1;
            if d == start {
                let mut cycle = path.clone();
                cycle.push(start);
                for &c in &path {
                    reported[c] = true;
                }
                count += path.len();
                found.push(cycle);
                break;
            }
            if users[d] > 0 && !on_path[d] && !dead[d] && !reported[d] {
                on_path[d] = true;
                path.push(d);
                iters.push(0);
            }
        }
    }
    (found, count)
}

/// Every module `m` depends on, directly or not, sorted by topological index.
pub fn closure(graph: &Graph, m: usize, seen: &mut [bool]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut stack: Vec<usize> = graph.deps[m].clone();
    while let Some(d) = stack.pop() {
        if seen[d] {
            continue;
        }
        seen[d] = true;
        out.push(d);
        stack.extend(&graph.deps[d]);
    }
    for &d in &out {
        seen[d] = false;
    }
    out.sort_unstable_by_key(|&d| graph.topo[d]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depmod::scan::{Export, Import};

    /// The unlisted modules of the reference's synthetic tree come out of kmod's 512-bucket
    /// table as over, mm_dkms, q_q, zz_extra, aa_extra (buckets 37, 81, 204, 227, 492).
    #[test]
    fn module_hash_order_is_kmods() {
        let names: [&[u8]; 5] = [b"aa_extra", b"zz_extra", b"q_q", b"mm_dkms", b"over"];
        let buckets: Vec<u32> = names
            .iter()
            .map(|n| superfast_hash(n) & (MODULE_BUCKETS - 1))
            .collect();
        assert_eq!(buckets, vec![492, 227, 204, 81, 37]);
        assert_eq!(hash_order(&names, MODULE_BUCKETS), vec![4, 3, 2, 1, 0]);
    }

    fn module(exports: &[&str], imports: &[&str]) -> ModuleData {
        ModuleData {
            exports: exports
                .iter()
                .map(|e| Export {
                    name: e.as_bytes().to_vec(),
                    crc: 0,
                })
                .collect(),
            imports: imports
                .iter()
                .map(|i| Import {
                    name: i.as_bytes().to_vec(),
                    crc: 0,
                    is_weak: false,
                })
                .collect(),
            ..ModuleData::default()
        }
    }

    #[test]
    fn modules_order_first_line_wins_and_unlisted_keep_hash_order() {
        let names: [&[u8]; 4] = [b"over", b"a", b"d", b"q_q"];
        let paths: [Option<&[u8]>; 4] = [
            Some(b"updates/over.ko"),
            Some(b"kernel/a.ko"),
            Some(b"kernel/d.ko"),
            None,
        ];
        let order = b"kernel/d.ko\nkernel/a.ko\nmissing.ko\nkernel/d.ko\n";
        let got = module_order(&names, &paths, OrderFile::Text(order));
        assert_eq!(&got[..2], &[2, 1]);
        // over (bucket 37) before q_q (bucket 204).
        assert_eq!(&got[2..], &[0, 3]);
    }

    /// Kahn with a LIFO stack: `top` needs `x` then `y`, which need nothing. After `top` (index
    /// 0), `x` is pushed, then `y`; `y` is popped first, so `y` gets index 1 and `x` index 2:
    /// the closure of `top` lists `y` before `x`.
    #[test]
    fn dependencies_are_ordered_by_a_lifo_kahn_sort() {
        let top = module(&[], &["sx", "sy"]);
        let x = module(&["sx"], &[]);
        let y = module(&["sy"], &[]);
        let g = build(&[&top, &x, &y], &SymbolRules::default(), &mut Vec::new()).unwrap();
        assert_eq!(g.deps[0], vec![1, 2]);
        assert_eq!(g.topo, vec![0, 2, 1]);
        assert_eq!(closure(&g, 0, &mut [false; 3]), vec![2, 1]);
    }

    #[test]
    fn the_last_exporter_owns_a_symbol() {
        let user = module(&[], &["dup"]);
        let a = module(&["dup"], &[]);
        let b = module(&["dup"], &[]);
        let g = build(&[&user, &a, &b], &SymbolRules::default(), &mut Vec::new()).unwrap();
        assert_eq!(g.deps[0], vec![2]);
        assert_eq!(g.symbols, vec![(b"dup".to_vec(), 2)]);
    }

    #[test]
    fn cycles_are_reported_from_their_first_module() {
        let m1 = module(&["s1"], &["s2"]);
        let m2 = module(&["s2"], &["s1"]);
        let m3 = module(&["s3"], &["s4"]);
        let m4 = module(&["s4"], &["s5"]);
        let m5 = module(&["s5"], &["s3"]);
        let top = module(&[], &["s1", "s3"]);
        let Err((cycles, count)) = build(
            &[&m1, &m2, &m3, &m4, &m5, &top],
            &SymbolRules::default(),
            &mut Vec::new(),
        ) else {
            panic!("no cycle found");
        };
        assert_eq!(cycles, vec![vec![0, 1, 0], vec![2, 3, 4, 2]]);
        assert_eq!(count, 5);
    }
}
