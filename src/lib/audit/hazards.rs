//! The unload races a module file shows: `file_operations` handed to the kernel without an
//! owner, registrations never undone, `symbol_get` of a symbol the kernel will not hand out, and
//! references a module takes on itself.
//!
//! The rules and the pairs table come from the project's study of both Debian trees
//! (`docs/unload-hazards.md`). The kernel sources they rest on: `chrdev_open` and `misc_open`
//! take `fops_get(fops)`, which pins `fops->owner`; `__register_chrdev` copies `fops->owner` into
//! the cdev; `anon_inode_getfile` pins `fops->owner`; debugfs' `full_proxy_open` pins the real
//! fops' owner and `full_proxy_release` calls its `release` unconditionally. A NULL owner means
//! no reference: `rmmod` succeeds while a file is open, and the next call runs freed code.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use goblin::elf::section_header::{SHF_EXECINSTR, SHF_WRITE, SHN_UNDEF};

use crate::audit::Release;
use crate::audit::code::{self, Callee, Event, FuncId, Objects, Program, Target, Val};
use crate::error::ElfError;
use crate::file::elf::{Elf, Symbols};

/// Where a `file_operations` table is handed to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sink {
    /// `misc_register`: the miscdevice's `.fops`.
    Misc,
    /// `__register_chrdev`.
    Chrdev,
    /// `cdev_init`.
    Cdev,
    /// `anon_inode_getfile`, `anon_inode_getfd` and their variants.
    AnonInode,
    /// `debugfs_create_file*`: root only, behind a debugfs mount, hence lower severity.
    Debugfs,
}

impl Sink {
    /// The word used in a finding's detail.
    pub fn as_str(self) -> &'static str {
        match self {
            Sink::Misc => "misc",
            Sink::Chrdev => "chrdev",
            Sink::Cdev => "cdev",
            Sink::AnonInode => "anon-inode",
            Sink::Debugfs => "debugfs",
        }
    }
}

/// What the sink's argument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Arg {
    /// The `file_operations` itself.
    Fops,
    /// A `struct miscdevice`, whose `.fops` pointer is at offset 16 on 64-bit kernels
    /// (`int minor; const char *name; const struct file_operations *fops;`).
    MiscDevice,
    /// Read from an array of structures that point at tables (`{name, mode, fops}` entries
    /// registered in a loop): every table the array points at.
    Pointed,
}

/// The sinks and which argument (0 = first) carries the table.
const SINKS: &[(&str, Sink, u8, Arg)] = &[
    ("misc_register", Sink::Misc, 0, Arg::MiscDevice),
    ("__register_chrdev", Sink::Chrdev, 4, Arg::Fops),
    ("cdev_init", Sink::Cdev, 1, Arg::Fops),
    ("anon_inode_getfile", Sink::AnonInode, 1, Arg::Fops),
    ("anon_inode_getfd", Sink::AnonInode, 1, Arg::Fops),
    ("anon_inode_getfile_secure", Sink::AnonInode, 1, Arg::Fops),
    ("anon_inode_getfd_secure", Sink::AnonInode, 1, Arg::Fops),
    ("anon_inode_create_getfile", Sink::AnonInode, 1, Arg::Fops),
    ("anon_inode_create_getfd", Sink::AnonInode, 1, Arg::Fops),
    ("debugfs_create_file", Sink::Debugfs, 4, Arg::Fops),
    ("debugfs_create_file_unsafe", Sink::Debugfs, 4, Arg::Fops),
    ("debugfs_create_file_size", Sink::Debugfs, 4, Arg::Fops),
];

/// Offset of `.fops` in `struct miscdevice` (64-bit).
const MISC_FOPS: u64 = 16;

/// Generic notifier chains: registering on the module's own chain head leaks nothing.
const GENERIC_CHAINS: &[&str] = &[
    "atomic_notifier_chain_register",
    "blocking_notifier_chain_register",
    "raw_notifier_chain_register",
    "srcu_notifier_chain_register",
];

/// Registration functions and the functions that undo them (any one suffices): the appendix
/// of the study, which left IRQs out (library code frees them).
pub const PAIRS: &[(&str, &[&str])] = &[
    (
        "register_netdevice_notifier",
        &["unregister_netdevice_notifier"],
    ),
    (
        "register_netdevice_notifier_net",
        &["unregister_netdevice_notifier_net"],
    ),
    (
        "register_netdevice_notifier_dev_net",
        &["unregister_netdevice_notifier_dev_net"],
    ),
    (
        "register_inetaddr_notifier",
        &["unregister_inetaddr_notifier"],
    ),
    (
        "register_inet6addr_notifier",
        &["unregister_inet6addr_notifier"],
    ),
    (
        "register_netevent_notifier",
        &["unregister_netevent_notifier"],
    ),
    ("register_reboot_notifier", &["unregister_reboot_notifier"]),
    ("register_restart_handler", &["unregister_restart_handler"]),
    ("register_pm_notifier", &["unregister_pm_notifier"]),
    ("register_module_notifier", &["unregister_module_notifier"]),
    ("register_die_notifier", &["unregister_die_notifier"]),
    (
        "register_keyboard_notifier",
        &["unregister_keyboard_notifier"],
    ),
    ("register_vt_notifier", &["unregister_vt_notifier"]),
    ("register_oom_notifier", &["unregister_oom_notifier"]),
    ("register_acpi_notifier", &["unregister_acpi_notifier"]),
    (
        "atomic_notifier_chain_register",
        &["atomic_notifier_chain_unregister"],
    ),
    (
        "blocking_notifier_chain_register",
        &["blocking_notifier_chain_unregister"],
    ),
    (
        "raw_notifier_chain_register",
        &["raw_notifier_chain_unregister"],
    ),
    (
        "srcu_notifier_chain_register",
        &["srcu_notifier_chain_unregister"],
    ),
    ("register_pernet_subsys", &["unregister_pernet_subsys"]),
    ("register_pernet_device", &["unregister_pernet_device"]),
    (
        "nf_register_net_hook",
        &["nf_unregister_net_hook", "nf_unregister_net_hooks"],
    ),
    (
        "nf_register_net_hooks",
        &["nf_unregister_net_hook", "nf_unregister_net_hooks"],
    ),
    ("nf_register_sockopt", &["nf_unregister_sockopt"]),
    ("nf_log_register", &["nf_log_unregister"]),
    ("dev_add_pack", &["__dev_remove_pack", "dev_remove_pack"]),
    ("inet_add_protocol", &["inet_del_protocol"]),
    ("inet6_add_protocol", &["inet6_del_protocol"]),
    ("inet_register_protosw", &["inet_unregister_protosw"]),
    ("register_syscore_ops", &["unregister_syscore_ops"]),
    (
        "register_kprobe",
        &["unregister_kprobe", "unregister_kprobes"],
    ),
    (
        "register_kprobes",
        &["unregister_kprobe", "unregister_kprobes"],
    ),
    (
        "register_kretprobe",
        &["unregister_kretprobe", "unregister_kretprobes"],
    ),
    ("register_ftrace_function", &["unregister_ftrace_function"]),
    (
        "tracepoint_probe_register",
        &["tracepoint_probe_unregister"],
    ),
    ("register_sysrq_key", &["unregister_sysrq_key"]),
    ("register_shrinker", &["unregister_shrinker"]),
    ("shrinker_register", &["shrinker_free"]),
    ("input_register_handler", &["input_unregister_handler"]),
    (
        "mmu_notifier_register",
        &["mmu_notifier_put", "mmu_notifier_unregister"],
    ),
    (
        "register_wide_hw_breakpoint",
        &["unregister_wide_hw_breakpoint"],
    ),
    (
        "acpi_install_notify_handler",
        &["acpi_remove_notify_handler"],
    ),
    ("__cpuhp_setup_state", &["__cpuhp_remove_state"]),
    (
        "__cpuhp_state_add_instance",
        &["__cpuhp_state_remove_instance"],
    ),
    ("alloc_workqueue", &["destroy_workqueue"]),
    ("register_filesystem", &["unregister_filesystem"]),
    ("misc_register", &["misc_deregister"]),
    ("__register_chrdev", &["__unregister_chrdev"]),
    ("cdev_add", &["cdev_del", "cdev_device_del"]),
    ("cdev_device_add", &["cdev_del", "cdev_device_del"]),
    ("__register_blkdev", &["unregister_blkdev"]),
    ("sock_register", &["sock_unregister"]),
    ("proto_register", &["proto_unregister"]),
    (
        "tcp_register_congestion_control",
        &["tcp_unregister_congestion_control"],
    ),
    ("register_qdisc", &["unregister_qdisc"]),
    ("register_tcf_proto_ops", &["unregister_tcf_proto_ops"]),
    ("tcf_register_action", &["tcf_unregister_action"]),
    (
        "xt_register_match",
        &["xt_unregister_match", "xt_unregister_matches"],
    ),
    (
        "xt_register_matches",
        &["xt_unregister_match", "xt_unregister_matches"],
    ),
    (
        "xt_register_target",
        &["xt_unregister_target", "xt_unregister_targets"],
    ),
    (
        "xt_register_targets",
        &["xt_unregister_target", "xt_unregister_targets"],
    ),
    ("nft_register_expr", &["nft_unregister_expr"]),
    ("nft_register_obj", &["nft_unregister_obj"]),
    (
        "nfnetlink_subsys_register",
        &["nfnetlink_subsys_unregister"],
    ),
    (
        "nf_conntrack_helpers_register",
        &["nf_conntrack_helpers_unregister"],
    ),
    (
        "nf_conntrack_helper_register",
        &[
            "nf_conntrack_helper_unregister",
            "nf_conntrack_helpers_unregister",
        ],
    ),
    ("genl_register_family", &["genl_unregister_family"]),
    ("rtnl_link_register", &["rtnl_link_unregister"]),
    ("xfrm_register_type", &["xfrm_unregister_type"]),
    ("xfrm_register_km", &["xfrm_unregister_km"]),
    ("register_key_type", &["unregister_key_type"]),
    ("__register_binfmt", &["unregister_binfmt"]),
    ("tty_register_driver", &["tty_unregister_driver"]),
    (
        "crypto_register_alg",
        &["crypto_unregister_alg", "crypto_unregister_algs"],
    ),
    (
        "crypto_register_algs",
        &["crypto_unregister_alg", "crypto_unregister_algs"],
    ),
    (
        "crypto_register_shash",
        &["crypto_unregister_shash", "crypto_unregister_shashes"],
    ),
    (
        "crypto_register_shashes",
        &["crypto_unregister_shash", "crypto_unregister_shashes"],
    ),
    (
        "crypto_register_ahash",
        &["crypto_unregister_ahash", "crypto_unregister_ahashes"],
    ),
    (
        "crypto_register_skcipher",
        &["crypto_unregister_skcipher", "crypto_unregister_skciphers"],
    ),
    (
        "crypto_register_skciphers",
        &["crypto_unregister_skcipher", "crypto_unregister_skciphers"],
    ),
    (
        "crypto_register_aead",
        &["crypto_unregister_aead", "crypto_unregister_aeads"],
    ),
    (
        "crypto_register_aeads",
        &["crypto_unregister_aead", "crypto_unregister_aeads"],
    ),
    (
        "crypto_register_template",
        &["crypto_unregister_template", "crypto_unregister_templates"],
    ),
    (
        "crypto_register_templates",
        &["crypto_unregister_template", "crypto_unregister_templates"],
    ),
    ("__pci_register_driver", &["pci_unregister_driver"]),
    (
        "__platform_driver_register",
        &["platform_driver_unregister"],
    ),
    ("usb_register_driver", &["usb_deregister"]),
    ("i2c_register_driver", &["i2c_del_driver"]),
    ("__hid_register_driver", &["hid_unregister_driver"]),
    ("register_virtio_driver", &["unregister_virtio_driver"]),
    ("__register_virtio_driver", &["unregister_virtio_driver"]),
];

/// The functions that take or drop a module reference.
const REF_FUNCTIONS: &[&str] = &["try_module_get", "__module_get", "module_put"];

/// An ownerless `file_operations` table and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerlessTable {
    /// The table's symbol (or `section+0xOFFSET` when it has none).
    pub symbol: String,
    /// Where it is registered, in [`Sink`] order.
    pub sinks: Vec<Sink>,
}

impl OwnerlessTable {
    /// Whether any sink is not debugfs (so any user who can open the device can trigger it).
    pub fn is_user_reachable(&self) -> bool {
        self.sinks.iter().any(|&s| s != Sink::Debugfs)
    }
}

/// A registration never undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpaired {
    /// The registration function imported.
    pub register: &'static str,
    /// The unregister functions, none of which is imported.
    pub unregister: &'static [&'static str],
}

/// What [`analyse`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hazards {
    /// Ownerless tables, sorted by symbol.
    pub ownerless: Vec<OwnerlessTable>,
    /// Registrations never undone.
    pub unpaired: Vec<Unpaired>,
    /// Names passed to `symbol_get` (sorted, unique).
    pub symbol_gets: Vec<String>,
    /// Symbols the module exports without `_GPL` (from its `__ksymtab` section).
    pub plain_exports: Vec<String>,
    /// Calls that take or drop a reference on the module itself, by function name.
    pub self_refs: BTreeMap<&'static str, usize>,
    /// Calls to the reference functions with another argument, by function name.
    pub other_refs: BTreeMap<&'static str, usize>,
    /// Whether the code could be read; when not, the checks that need it were skipped.
    pub decoded: bool,
    /// The checks skipped for want of a decoder for this architecture.
    pub skipped: Vec<&'static str>,
}

/// Every imported name [`analyse`] looks at, sorted.
fn names_of_interest() -> &'static [&'static [u8]] {
    static NAMES: std::sync::OnceLock<Vec<&'static [u8]>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut v: Vec<&'static [u8]> = SINKS.iter().map(|s| s.0.as_bytes()).collect();
        for (register, unregister) in PAIRS {
            v.push(register.as_bytes());
            v.extend(unregister.iter().map(|u| u.as_bytes()));
        }
        v.extend(REF_FUNCTIONS.iter().map(|n| n.as_bytes()));
        v.extend([&b"__symbol_get"[..], b"register_filesystem"]);
        v.sort_unstable();
        v.dedup();
        v
    })
}

/// What a function does with its parameters: (parameter, sink, what the sink takes), and
/// whether it stores `THIS_MODULE` somewhere (a cdev's owner).
type Summary = (Vec<(u8, Sink, Arg)>, bool);

/// Finds the hazards of one module. `removable`: whether the module can be unloaded at all
/// (a permanent module leaks nothing by never unregistering).
pub fn analyse(
    elf: &Elf<'_>,
    symbols: &Symbols<'_>,
    this_module_section: usize,
    removable: bool,
    release: Release<'_>,
) -> Result<Hazards, ElfError> {
    let mut h = Hazards::default();
    // Imports of interest, by name, and the module's plain exports.
    let mut imports: HashMap<&[u8], usize> = HashMap::new();
    let ksymtab = elf.find_section("__ksymtab").map(|(i, _)| i);
    let known = names_of_interest();
    for (i, sym) in symbols.iter() {
        let name = symbols.name(&sym);
        if sym.st_shndx == SHN_UNDEF as usize {
            if known.binary_search(&name).is_ok() {
                imports.insert(name, i);
            }
        } else if Some(sym.st_shndx) == ksymtab
            && let Some(exported) = name.strip_prefix(b"__ksymtab_")
        {
            h.plain_exports.push(lossy(exported));
        }
    }
    h.plain_exports.sort_unstable();
    h.plain_exports.dedup();
    let imported = |n: &str| imports.get(n.as_bytes()).copied();

    let mut chains_to_check: Vec<usize> = Vec::new();
    for &(register, unregister) in PAIRS {
        if !removable || imported(register).is_none() {
            continue;
        }
        if unregister.iter().any(|u| imported(u).is_some()) {
            continue;
        }
        if GENERIC_CHAINS.contains(&register) {
            chains_to_check.extend(imported(register));
        }
        h.unpaired.push(Unpaired {
            register,
            unregister,
        });
    }

    let sink_syms: Vec<(usize, Sink, u8, Arg)> = SINKS
        .iter()
        .filter_map(|&(n, s, a, k)| imported(n).map(|i| (i, s, a, k)))
        .collect();
    let symbol_get = imported("__symbol_get");
    let refs: Vec<(usize, &'static str)> = REF_FUNCTIONS
        .iter()
        .filter_map(|&n| imported(n).map(|i| (i, n)))
        .collect();
    let mut interesting: Vec<usize> = sink_syms.iter().map(|s| s.0).collect();
    interesting.extend(symbol_get);
    interesting.extend(refs.iter().map(|r| r.0));
    interesting.extend(&chains_to_check);
    interesting.sort_unstable();
    interesting.dedup();
    if interesting.is_empty() {
        h.decoded = true;
        return Ok(h);
    }
    if !code::is_supported(elf) {
        if !sink_syms.is_empty() {
            h.skipped.push("ownerless-fops");
        }
        if symbol_get.is_some() {
            h.skipped.push("symbol-get-non-gpl");
        }
        if !chains_to_check.is_empty() {
            // Whether the chain head is the module's own cannot be read: leave them out rather
            // than guess.
            h.unpaired.retain(|u| !GENERIC_CHAINS.contains(&u.register));
            h.skipped.push("unpaired-register (notifier chains)");
        }
        return Ok(h);
    }
    h.decoded = true;
    let (program, callers) = Program::new(elf, symbols, &interesting, release)?;
    let this_module = Target::Local {
        section: this_module_section,
        offset: 0,
    };

    let mut candidates: BTreeSet<(Target, Sink, Arg, bool)> = BTreeSet::new();
    let mut summaries: HashMap<FuncId, Summary> = HashMap::new();
    let mut foreign_chain = BTreeSet::new();
    let mut gets = BTreeSet::new();
    for func in callers {
        let mut flows = Vec::new();
        let mut found = Vec::new();
        let mut stores_owner = false;
        program.walk(func, true, |e| match e {
            Event::Store { value, .. } => {
                stores_owner |= value == Some(Val::Addr(this_module));
            }
            Event::Call {
                callee: Callee::Extern(s),
                args,
                stored,
            } => {
                for &(sym, sink, at, arg) in sink_syms.iter().filter(|x| x.0 == s) {
                    let _ = sym;
                    let value = args[usize::from(at)];
                    match value {
                        Some(Val::Addr(t)) => found.push((t, sink, arg)),
                        Some(Val::Param(k)) => flows.push((k, sink, arg)),
                        Some(Val::Loaded(t)) if arg == Arg::Fops => {
                            found.push((t, sink, Arg::Pointed))
                        }
                        _ => {}
                    }
                    if arg == Arg::MiscDevice && value.is_none() {
                        // A miscdevice embedded in a bigger object: its .fops was stored there
                        // just before the call.
                        for v in &stored {
                            if let Val::Addr(t) = *v
                                && t != this_module
                            {
                                found.push((t, sink, Arg::Fops));
                            }
                        }
                    }
                }
                if Some(s) == symbol_get
                    && let Some(Val::Addr(Target::Local { section, offset })) = args[0]
                    && let Some(name) = c_string(elf, section, offset)
                {
                    gets.insert(name);
                }
                if let Some(&(_, n)) = refs.iter().find(|r| r.0 == s) {
                    let map = if args[0] == Some(Val::Addr(this_module)) {
                        &mut h.self_refs
                    } else {
                        &mut h.other_refs
                    };
                    *map.entry(n).or_default() += 1;
                }
                if chains_to_check.contains(&s)
                    && !matches!(args[0], Some(Val::Addr(Target::Local { .. })))
                {
                    foreign_chain.insert(s);
                }
            }
            Event::Call { .. } => {}
        });
        for (t, sink, arg) in found {
            candidates.insert((t, sink, arg, stores_owner));
        }
        if !flows.is_empty() {
            summaries.insert(func, (flows, stores_owner));
        }
    }
    // The functions that can load a table's address, found once.
    let mut using_data: Option<Vec<FuncId>> = None;
    // One level of wrappers: a local function that hands its parameter to a sink.
    if !summaries.is_empty() {
        let mut mark = (0, 0);
        for func in using_data
            .get_or_insert_with(|| program.functions_using_data(release))
            .clone()
        {
            program.release_walked(func, &mut mark, release);
            let mut stores_owner = false;
            let mut found = Vec::new();
            program.walk(func, false, |e| match e {
                Event::Store { value, .. } => {
                    stores_owner |= value == Some(Val::Addr(this_module));
                }
                Event::Call {
                    callee: Callee::Local(g),
                    args,
                    ..
                } => {
                    if let Some((flows, callee_owner)) = summaries.get(&g) {
                        for &(k, sink, arg) in flows {
                            if let Some(Val::Addr(t)) = args.get(usize::from(k)).copied().flatten()
                            {
                                found.push((t, sink, arg, *callee_owner));
                            }
                        }
                    }
                }
                Event::Call { .. } => {}
            });
            for (t, sink, arg, callee_owner) in found {
                candidates.insert((t, sink, arg, callee_owner || stores_owner));
            }
        }
        program.release_code(release);
    }
    h.symbol_gets = gets.into_iter().collect();
    h.unpaired.retain(|u| {
        !GENERIC_CHAINS.contains(&u.register)
            || imported(u.register).is_some_and(|s| foreign_chain.contains(&s))
    });

    // Filesystem modules: open files pin the filesystem module through the superblock.
    if imported("register_filesystem").is_some() || candidates.is_empty() {
        return Ok(h);
    }
    let objects = Objects::new(symbols);
    let mut relocs: HashMap<usize, Vec<(u64, Target)>> = HashMap::new();
    let mut tables: BTreeMap<Target, BTreeSet<Sink>> = BTreeMap::new();
    for (t, sink, arg, stores_owner) in candidates {
        if sink == Sink::Cdev && stores_owner {
            // cdev.owner = THIS_MODULE: chrdev_open pins the cdev's owner for the file's life.
            continue;
        }
        let Target::Local { section, offset } = t else {
            continue;
        };
        let r = cached(&mut relocs, elf, symbols, section)?;
        let fops: Vec<Target> = match arg {
            Arg::Fops => vec![t],
            Arg::MiscDevice => lookup(r, offset + MISC_FOPS).into_iter().collect(),
            Arg::Pointed => {
                let (start, end) = extent(&objects, section, offset);
                r.iter()
                    .filter(|(o, _)| (start..end).contains(o))
                    .map(|&(_, t)| t)
                    .filter(|t| !is_code(elf, t))
                    .collect()
            }
        };
        for fops in fops {
            let Target::Local { section, offset } = fops else {
                continue;
            };
            if section == this_module_section {
                continue;
            }
            let r = cached(&mut relocs, elf, symbols, section)?;
            // A table has callbacks: a pointer into code inside it. This keeps strings and
            // plain data out.
            let (_, end) = extent(&objects, section, offset);
            let code_pointers = r
                .iter()
                .skip_while(|(o, _)| *o < offset)
                .take_while(|(o, _)| *o < end)
                .any(|(_, t)| is_code(elf, t));
            if !code_pointers || lookup(r, offset) == Some(this_module) {
                continue;
            }
            tables.entry(fops).or_default().insert(sink);
        }
    }
    // Where code stores through a relocation, read once for all tables.
    let mut stored: Option<BTreeSet<Target>> = None;
    for (fops, sinks) in tables {
        let Target::Local { section, offset } = fops else {
            continue;
        };
        let writable = elf
            .sections()
            .get(section)
            .is_some_and(|sh| sh.sh_flags & u64::from(SHF_WRITE) != 0);
        if writable
            && stored
                .get_or_insert_with(|| {
                    let funcs =
                        using_data.get_or_insert_with(|| program.functions_using_data(release));
                    store_dests(&program, funcs, release)
                })
                .contains(&fops)
        {
            // The owner is set at run time (6.12's kvm_vm_fops.owner = module).
            continue;
        }
        h.ownerless.push(OwnerlessTable {
            symbol: name_of(elf, symbols, &objects, section, offset),
            sinks: sinks.into_iter().collect(),
        });
    }
    h.ownerless.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    Ok(h)
}

/// Every address some code stores into (a table's owner slot, set at run time).
fn store_dests(
    program: &Program<'_, '_>,
    funcs: &[FuncId],
    release: Release<'_>,
) -> BTreeSet<Target> {
    let mut dests = BTreeSet::new();
    let mut mark = (0, 0);
    for &f in funcs {
        program.release_walked(f, &mut mark, release);
        program.walk(f, false, |e| {
            if let Event::Store { dest: Some(d), .. } = e {
                dests.insert(d);
            }
        });
    }
    dests
}

fn cached<'m>(
    cache: &'m mut HashMap<usize, Vec<(u64, Target)>>,
    elf: &Elf<'_>,
    symbols: &Symbols<'_>,
    section: usize,
) -> Result<&'m [(u64, Target)], ElfError> {
    Ok(match cache.entry(section) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(code::data_relocations(elf, symbols, section)?)
        }
    })
}

/// The byte range to look at for the table at `offset`: its variable's extent, or 40 pointer
/// slots when no symbol covers it.
fn extent(objects: &Objects, section: usize, offset: u64) -> (u64, u64) {
    objects
        .at(section, offset)
        .filter(|&(_, _, size)| size > 0)
        .map_or((offset, offset + 8 * 40), |(_, value, size)| {
            (value, value.saturating_add(size))
        })
}

fn lookup(relocs: &[(u64, Target)], offset: u64) -> Option<Target> {
    let at = relocs.partition_point(|&(o, _)| o < offset);
    relocs
        .get(at)
        .filter(|&&(o, _)| o == offset)
        .map(|&(_, t)| t)
}

fn is_code(elf: &Elf<'_>, t: &Target) -> bool {
    match *t {
        Target::Local { section, .. } => elf
            .sections()
            .get(section)
            .is_some_and(|sh| sh.sh_flags & u64::from(SHF_EXECINSTR) != 0),
        // Callbacks from the kernel (seq_read, simple_read_from_buffer, ...).
        Target::Extern(_) => true,
    }
}

/// The variable at `offset` of `section`, or `section+0xOFFSET`.
fn name_of(
    elf: &Elf<'_>,
    symbols: &Symbols<'_>,
    objects: &Objects,
    section: usize,
    offset: u64,
) -> String {
    if let Some((i, _, _)) = objects.at(section, offset)
        && let Some(sym) = symbols.get(i)
    {
        let name = lossy(symbols.name(&sym));
        return if sym.st_value == offset {
            name
        } else {
            format!("{name}+{:#x}", offset - sym.st_value)
        };
    }
    let sec = elf
        .sections()
        .get(section)
        .map(|sh| lossy(elf.section_name(sh)))
        .unwrap_or_default();
    format!("{sec}+{offset:#x}")
}

/// The NUL-terminated string at `offset` of `section`, if it is one (printable, not empty).
fn c_string(elf: &Elf<'_>, section: usize, offset: u64) -> Option<String> {
    let sh = elf.sections().get(section)?;
    let data = elf.section_data(sh).get(usize::try_from(offset).ok()?..)?;
    let end = data.iter().position(|&b| b == 0)?;
    let s = &data[..end];
    (!s.is_empty() && s.iter().all(|b| b.is_ascii_graphic())).then(|| lossy(s))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{FindingId, audit_bytes};

    fn hazards_of(file: &[u8]) -> Hazards {
        let elf = Elf::parse(file).unwrap();
        let symbols = elf.symbols(elf.symtab_index().unwrap()).unwrap();
        let this = elf
            .find_section(crate::audit::THIS_MODULE_SECTION)
            .unwrap()
            .0;
        analyse(&elf, &symbols, this, true, &|_| {}).unwrap()
    }

    #[test]
    fn the_symbol_get_name_is_read_from_the_code() {
        // rk_symget.c: symbol_get(rk_provider_value), a string the compiler loads into %rdi.
        let h = hazards_of(include_bytes!("../../../tests/fixtures/rk_symget.ko"));
        assert!(h.decoded);
        assert_eq!(h.symbol_gets, ["rk_provider_value"]);
        // rk_provider.c exports it with EXPORT_SYMBOL_GPL: no plain export.
        let p = hazards_of(include_bytes!("../../../tests/fixtures/rk_provider.ko"));
        assert!(p.plain_exports.is_empty());
    }

    #[test]
    fn a_table_with_an_owner_is_not_flagged() {
        // rk_chardev.c: rk_chardev_fops has .owner = THIS_MODULE.
        let a = audit_bytes(include_bytes!("../../../tests/fixtures/rk_chardev.ko")).unwrap();
        assert!(!a.has(FindingId::OwnerlessFops), "{:?}", a.findings);
        assert!(a.ownerless.is_empty());
    }

    #[test]
    fn plain_exports_come_from_the_ksymtab_section() {
        let mut a = audit_bytes(include_bytes!("../../../tests/fixtures/rk_symget.ko")).unwrap();
        let mut exports = crate::audit::Exports::default();
        exports.check(&mut a);
        assert!(!a.has(FindingId::SymbolGetNonGpl));
        // The same name exported without _GPL, as Module.symvers lists it.
        let bad = exports.add_symvers(
            b"0x12345678\trk_provider_value\trk_provider\tEXPORT_SYMBOL\t\nnot a line\n",
        );
        assert_eq!(bad, 1);
        exports.check(&mut a);
        let f = a
            .findings
            .iter()
            .find(|f| f.id == FindingId::SymbolGetNonGpl)
            .unwrap();
        assert_eq!(
            f.detail,
            "symbol_get of rk_provider_value (exported by rk_provider)"
        );
        // GPL-only: nothing to say.
        let mut a = audit_bytes(include_bytes!("../../../tests/fixtures/rk_symget.ko")).unwrap();
        let mut exports = crate::audit::Exports::default();
        exports.add_symvers(b"0x1\trk_provider_value\tvmlinux\tEXPORT_SYMBOL_GPL\t\n");
        exports.check(&mut a);
        assert!(!a.has(FindingId::SymbolGetNonGpl));
    }

    #[test]
    fn truncated_and_mutated_code_never_panics() {
        let good = include_bytes!("../../../tests/fixtures/rk_symget.ko");
        let elf = Elf::parse(good).unwrap();
        let (_, text) = elf.find_section(".text").unwrap();
        let (start, len) = (text.sh_offset as usize, text.sh_size as usize);
        // Flip every code byte in turn to 0x0f (a two-byte opcode escape that cuts
        // instructions), and check the analysis stays total.
        for at in start..start + len {
            let mut f = good.to_vec();
            f[at] = 0x0f;
            let _ = audit_bytes(&f);
        }
    }
}
