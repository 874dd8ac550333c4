//! modaudit: whether a module can ever be unloaded, decided from its ELF alone.
//!
//! The kernel's rule (kernel/module/main.c: `delete_module`, and `m_show` in procfs.c) is
//! *permanent ⇔ `mod->init != NULL && mod->exit == NULL`*, evaluated on the relocated
//! `struct module __this_module`. modpost (`scripts/mod/modpost.c: add_header`) fills `.init`
//! and `.exit` only when the module defines `init_module` / `cleanup_module`, and in the file
//! those two pointer fields are zero: their values come from relocations against
//! `.gnu.linkonce.this_module`. So the verdict here comes from those relocations and from the
//! symbol table, never from section names (a `cleanup_module` in `.text` is common).
//!
//! On top of the verdict, [`Finding`]s point out what can keep a removable module loaded at run
//! time (references taken with `symbol_get` or `try_module_get`, `THIS_MODULE` owners), and
//! the 2002-era `__initfn` / `__exitfn` / `__force_exitfn` symbols of Rusty Russell's
//! `module_fini()` proposal for Linux 2.5 (never merged; a few modules still define them).

pub mod code;
pub mod hazards;
pub mod report;
pub mod targets;

use std::fmt;
use std::str::FromStr;

use goblin::elf::section_header::{SHF_ALLOC, SHF_EXECINSTR, SHN_LORESERVE, SHN_UNDEF};
use goblin::elf::section_header::{SHT_REL, SHT_RELA};
use goblin::elf::sym::{STT_SECTION, Sym};
use serde::{Serialize, Serializer};

use crate::error::{ElfError, Error, Result};
use crate::file::ModuleFile;
use crate::file::elf::{Elf, Symbols};
use crate::file::modinfo::{split_entry, split_strings};

/// The section modpost puts `struct module __this_module` in.
pub const THIS_MODULE_SECTION: &str = ".gnu.linkonce.this_module";

/// Whether and how a module can be unloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// `rmmod` can remove it (it has an exit function, or no init function at all).
    Removable,
    /// It has an init function and no exit function: once loaded, only a forced unload
    /// (`rmmod -f` on a `CONFIG_MODULE_FORCE_UNLOAD` kernel) removes it.
    Permanent,
    /// Permanent today, and its only exit hook is a 2002-style `__force_exitfn` (the deprecated
    /// `module_exit` of the `module_fini()` proposal): removable only by forced unload.
    ForceOnly,
    /// Built for a kernel without `CONFIG_MODULE_UNLOAD` (no `mod_unload` in vermagic): no module
    /// can be unloaded there.
    KernelCannotUnload,
}

impl Verdict {
    /// Every verdict, in display order.
    pub const ALL: [Verdict; 4] = [
        Verdict::Removable,
        Verdict::Permanent,
        Verdict::ForceOnly,
        Verdict::KernelCannotUnload,
    ];

    /// The stable name used in output and by `--deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Removable => "removable",
            Verdict::Permanent => "permanent",
            Verdict::ForceOnly => "force-only",
            Verdict::KernelCannotUnload => "kernel-cannot-unload",
        }
    }

    /// One plain-English sentence.
    pub fn meaning(self) -> &'static str {
        match self {
            Verdict::Removable => {
                "rmmod can remove it once nothing uses it (it has an exit function, or no init function)"
            }
            Verdict::Permanent => {
                "it has an init function but no exit function, so once loaded only a forced unload removes it"
            }
            Verdict::ForceOnly => {
                "it has no exit function but a legacy __force_exitfn, so only a forced unload (rmmod -f) removes it"
            }
            Verdict::KernelCannotUnload => {
                "it was built for a kernel without CONFIG_MODULE_UNLOAD (no mod_unload in vermagic), which never unloads modules"
            }
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verdict {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Verdict, ()> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s).ok_or(())
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The kinds of [`Finding`], each with a stable id for `--deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingId {
    /// A `file_operations` table reaches a registration that relies on its owner, and has none.
    OwnerlessFops,
    /// Imports a registration function and none of the functions that undo it.
    UnpairedRegister,
    /// `symbol_get()` of a symbol its provider exports without `_GPL`: always NULL.
    SymbolGetNonGpl,
    /// Calls `__symbol_get` and never `__symbol_put` / `symbol_put_addr`.
    SymbolGetWithoutPut,
    /// Calls both `__symbol_get` and `__symbol_put` (or `symbol_put_addr`).
    SymbolGetPut,
    /// Calls `try_module_get`, `__module_get` or `module_put` on another module.
    TakesModuleRefs,
    /// Calls `try_module_get`, `__module_get` or `module_put` on itself (`THIS_MODULE`).
    SelfPin,
    /// Code passes `THIS_MODULE` to the kernel.
    ThisModuleInCode,
    /// Data (other than `__this_module` itself and module parameters) points at `THIS_MODULE`.
    OwnerThisModule,
    /// Defines 2002-era `__initfn`, `__exitfn` or `__force_exitfn`.
    LegacySymbols,
    /// `cleanup_module` lives outside `.exit.text`.
    ExitInText,
    /// Defines `init_module` but `__this_module.init` is not set.
    InitNotWired,
    /// Defines `cleanup_module` but `__this_module.exit` is not set.
    ExitNotWired,
    /// `.modinfo` has no `vermagic=`.
    NoVermagic,
    /// The checks that read code were skipped: the architecture is not x86-64.
    CodeNotRead,
}

impl FindingId {
    /// Every finding kind, in display order.
    pub const ALL: [FindingId; 15] = [
        FindingId::OwnerlessFops,
        FindingId::UnpairedRegister,
        FindingId::SymbolGetNonGpl,
        FindingId::SymbolGetWithoutPut,
        FindingId::SymbolGetPut,
        FindingId::TakesModuleRefs,
        FindingId::SelfPin,
        FindingId::ThisModuleInCode,
        FindingId::OwnerThisModule,
        FindingId::LegacySymbols,
        FindingId::ExitInText,
        FindingId::InitNotWired,
        FindingId::ExitNotWired,
        FindingId::NoVermagic,
        FindingId::CodeNotRead,
    ];

    /// The stable id used in output and by `--deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingId::OwnerlessFops => "ownerless-fops",
            FindingId::UnpairedRegister => "unpaired-register",
            FindingId::SymbolGetNonGpl => "symbol-get-non-gpl",
            FindingId::SymbolGetWithoutPut => "symbol-get-without-put",
            FindingId::SymbolGetPut => "symbol-get-put",
            FindingId::TakesModuleRefs => "takes-module-refs",
            FindingId::SelfPin => "self-pin",
            FindingId::ThisModuleInCode => "this-module-in-code",
            FindingId::OwnerThisModule => "owner-this-module",
            FindingId::LegacySymbols => "legacy-symbols",
            FindingId::ExitInText => "exit-in-text",
            FindingId::InitNotWired => "init-not-wired",
            FindingId::ExitNotWired => "exit-not-wired",
            FindingId::NoVermagic => "no-vermagic",
            FindingId::CodeNotRead => "code-not-read",
        }
    }

    /// One plain-English sentence.
    pub fn meaning(self) -> &'static str {
        match self {
            FindingId::OwnerlessFops => {
                "it registers file operations without .owner = THIS_MODULE, so opening the file pins nothing: rmmod succeeds while it is open and the next read, ioctl or close runs freed code (debugfs files: root only, lower severity)"
            }
            FindingId::UnpairedRegister => {
                "it registers callbacks with the kernel and never unregisters them, so after rmmod the next event calls freed code"
            }
            FindingId::SymbolGetNonGpl => {
                "it calls symbol_get() on a symbol exported without _GPL, which the kernel refuses since 2023 (\"failing symbol_get of non-GPLONLY symbol\"): the call always returns NULL"
            }
            FindingId::SymbolGetWithoutPut => {
                "it takes references on other modules with symbol_get() and never releases them with symbol_put(), so those modules stay pinned"
            }
            FindingId::SymbolGetPut => {
                "it pins other modules with symbol_get() until it calls symbol_put(); they cannot be removed in between"
            }
            FindingId::TakesModuleRefs => {
                "it takes references on other modules at run time (try_module_get/__module_get/module_put); while one is held, that module cannot be removed"
            }
            FindingId::SelfPin => {
                "a hint: it takes or drops references on itself (try_module_get(THIS_MODULE)); while one is held rmmod fails with EBUSY, and the reference only protects if something else pins the module while it is taken"
            }
            FindingId::ThisModuleInCode => {
                "its code hands THIS_MODULE to the kernel (driver or filesystem registration, try_module_get), which may hold references while it is in use"
            }
            FindingId::OwnerThisModule => {
                "it stores THIS_MODULE in a data structure (such as .owner of file_operations), so while such an object is in use rmmod fails with EBUSY"
            }
            FindingId::LegacySymbols => {
                "it defines 2002-era __initfn/__exitfn/__force_exitfn symbols, which today's kernels ignore"
            }
            FindingId::ExitInText => {
                "its exit function is ordinary code outside .exit.text (often shared with init's error path), which section-based checks misjudge"
            }
            FindingId::InitNotWired => {
                "it defines init_module but __this_module.init is not set, so the kernel never calls it"
            }
            FindingId::ExitNotWired => {
                "it defines cleanup_module but __this_module.exit is not set, so the kernel never calls it"
            }
            FindingId::NoVermagic => {
                "it has no vermagic, so the kernel refuses to load it unless forced"
            }
            FindingId::CodeNotRead => {
                "the checks that read machine code (ownerless-fops, symbol-get-non-gpl, notifier chain heads) were skipped: only x86-64 code is read"
            }
        }
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FindingId {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<FindingId, ()> {
        FindingId::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or(())
    }
}

impl Serialize for FindingId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Calls freed code, or never works, on a path any user of the module can reach.
    Hazard,
    /// The same, reachable by root only (debugfs files).
    Low,
    /// Worth a look; not wrong by itself.
    Hint,
    /// A fact about how the module can be unloaded.
    Info,
}

impl Severity {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Hazard => "hazard",
            Severity::Low => "low",
            Severity::Hint => "hint",
            Severity::Info => "info",
        }
    }
}

/// Something worth knowing about a module's unloadability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind.
    pub id: FindingId,
    /// The evidence, e.g. "2 calls to __symbol_get, none to __symbol_put".
    pub detail: String,
    /// How much it matters.
    pub severity: Severity,
}

impl Serialize for Finding {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Finding", 4)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("meaning", self.id.meaning())?;
        st.serialize_field("detail", &self.detail)?;
        st.serialize_field("severity", self.severity.as_str())?;
        st.end()
    }
}

/// An init or exit function wired into `__this_module` by a relocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hook {
    /// The symbol the relocation targets (`init_module` or `cleanup_module`).
    pub symbol: String,
    /// The section the function lives in (`.init.text`, `.exit.text`, `.text`, ...), when it is
    /// an ordinary section.
    pub section: Option<String>,
    /// `r_offset` of the relocation: `offsetof(struct module, init)` or `(…, exit)` for the
    /// kernel the module was built for.
    pub relocation_offset: u64,
}

/// A defined init/exit symbol, current or legacy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefinedSymbol {
    /// Its name as spelled in the file (`init_module`, `__force_exitfn`, `_init_module`, ...).
    pub name: String,
    /// Its section, when it is an ordinary section.
    pub section: Option<String>,
}

/// What [`audit`] found out about one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// `name=` from `.modinfo`, if present.
    pub name: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// The init function the kernel will call, if any.
    pub init: Option<Hook>,
    /// The exit function the kernel will call, if any.
    pub exit: Option<Hook>,
    /// Defined `init_module`, `cleanup_module`, `__initfn`, `__exitfn`, `__force_exitfn`
    /// (also with a `_` prefix), in symbol-table order.
    pub symbols: Vec<DefinedSymbol>,
    /// `vermagic=` from `.modinfo`.
    pub vermagic: Option<String>,
    /// Everything else worth knowing, in [`FindingId::ALL`] order.
    pub findings: Vec<Finding>,
    /// The ownerless `file_operations` tables behind an `ownerless-fops` finding.
    #[serde(skip)]
    pub ownerless: Vec<hazards::OwnerlessTable>,
    /// Names the module passes to `symbol_get`, for [`Exports`].
    #[serde(skip)]
    pub symbol_gets: Vec<String>,
    /// Symbols the module exports without `_GPL`, for [`Exports`].
    #[serde(skip)]
    pub plain_exports: Vec<String>,
}

impl Audit {
    /// Whether a finding of kind `id` is present.
    pub fn has(&self, id: FindingId) -> bool {
        self.findings.iter().any(|f| f.id == id)
    }
}

/// Audits an opened module file.
pub fn audit(file: &ModuleFile) -> Result<Audit> {
    audit_with(file.bytes(), &|part| file.release(part)).map_err(|cause| Error::BadElf {
        path: file.path().to_path_buf(),
        cause,
    })
}

/// Symbols whose relocations matter, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    ThisModule,
    SymbolGet,
    SymbolPut,
    TryModuleGet,
    ModuleGet,
    ModulePut,
}

impl Role {
    fn from_name(name: &[u8]) -> Option<Role> {
        Some(match name {
            b"__this_module" => Role::ThisModule,
            b"__symbol_get" => Role::SymbolGet,
            b"__symbol_put" | b"symbol_put_addr" => Role::SymbolPut,
            b"try_module_get" => Role::TryModuleGet,
            b"__module_get" => Role::ModuleGet,
            b"module_put" => Role::ModulePut,
            _ => return None,
        })
    }

    const COUNT: usize = 6;

    fn slot(self) -> usize {
        self as usize
    }
}

/// Init/exit symbols, current and 2002-era.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HookName {
    InitModule,
    CleanupModule,
    InitFn,
    ExitFn,
    ForceExitFn,
}

impl HookName {
    fn from_name(name: &[u8]) -> Option<HookName> {
        Some(match name {
            b"init_module" => HookName::InitModule,
            b"cleanup_module" => HookName::CleanupModule,
            b"__initfn" => HookName::InitFn,
            b"__exitfn" => HookName::ExitFn,
            b"__force_exitfn" => HookName::ForceExitFn,
            _ => return None,
        })
    }
}

/// What the symbol table says, for both spellings: plain, and with the `_` prefix that
/// `MODULE_SYMBOL_PREFIX` architectures (h8300, blackfin, metag) put on every C symbol.
#[derive(Default)]
struct SymbolScan {
    /// (symbol index, role), plain and prefixed.
    roles: [Vec<(usize, Role)>; 2],
    /// (symbol index, hook), defined only; plain and prefixed.
    hooks: [Vec<(usize, HookName)>; 2],
    /// Whether `__this_module` / `___this_module` is defined: tells the spelling in use.
    this_module: [bool; 2],
}

/// Audits an uncompressed module image.
pub fn audit_bytes(data: &[u8]) -> Result<Audit, ElfError> {
    audit_with(data, &|_| {})
}

/// Lets go of a part of the image that has been read (see [`ModuleFile::release`]).
pub type Release<'r> = &'r dyn Fn(&[u8]);

/// [`audit_bytes`], handing every big table to `release` once read through.
fn audit_with(data: &[u8], release: Release<'_>) -> Result<Audit, ElfError> {
    let elf = Elf::parse(data)?;
    let this_module = this_module_index(&elf)?;
    let symtab_index = elf
        .symtab_index()
        .ok_or_else(|| ElfError::Other("module has no symbol table (stripped?)".to_string()))?;
    let symbols = elf.symbols(symtab_index)?;
    let scan = scan_symbols(&symbols, this_module, elf.sections().len())?;
    // The spelling in use: prefixed only when the plain `__this_module` is absent and the
    // prefixed one present.
    let spelling = usize::from(!scan.this_module[0] && scan.this_module[1]);
    let relocs = scan_relocations(
        &elf,
        &symbols,
        this_module,
        &scan.roles[spelling],
        spelling,
        release,
    )?;
    let (name, vermagic) = name_and_vermagic(&elf);

    let defined: Vec<(HookName, DefinedSymbol)> = scan.hooks[spelling]
        .iter()
        .filter_map(|&(i, hook)| {
            let sym = symbols.get(i)?;
            let d = DefinedSymbol {
                name: lossy(symbols.name(&sym)),
                section: section_of(&elf, &sym),
            };
            Some((hook, d))
        })
        .collect();
    let has = |h: HookName| defined.iter().any(|(d, _)| *d == h);
    let can_unload = vermagic
        .as_deref()
        .is_none_or(|v| v.split_ascii_whitespace().any(|w| w == "mod_unload"));
    let verdict = if !can_unload {
        Verdict::KernelCannotUnload
    } else if relocs.init.is_some() && relocs.exit.is_none() {
        // Under the 2002 rules a module with __exitfn was normally removable, one with only
        // __force_exitfn removable by force. Today's kernels ignore both names, so the module
        // is permanent either way; __force_exitfn alone refines that into "force only".
        if has(HookName::ForceExitFn) && !has(HookName::ExitFn) {
            Verdict::ForceOnly
        } else {
            Verdict::Permanent
        }
    } else {
        Verdict::Removable
    };

    let hazards = hazards::analyse(
        &elf,
        &symbols,
        this_module,
        verdict == Verdict::Removable,
        release,
    )?;
    let findings = findings(&relocs, &defined, vermagic.is_some(), &hazards);
    Ok(Audit {
        name,
        verdict,
        init: relocs.init,
        exit: relocs.exit,
        symbols: defined.into_iter().map(|(_, d)| d).collect(),
        vermagic,
        findings,
        ownerless: hazards.ownerless,
        symbol_gets: hazards.symbol_gets,
        plain_exports: hazards.plain_exports,
    })
}

/// What the relocations say.
#[derive(Default)]
struct RelocScan {
    init: Option<Hook>,
    exit: Option<Hook>,
    /// How often each role's symbol is referenced from code and from data.
    code: [usize; Role::COUNT],
    data: [usize; Role::COUNT],
}

impl RelocScan {
    fn refs(&self, role: Role) -> usize {
        self.code[role.slot()] + self.data[role.slot()]
    }
}

/// Reads every relocation section that applies to a loaded section: those against
/// `__this_module` give the init and exit hooks, the others are counted by role.
fn scan_relocations(
    elf: &Elf<'_>,
    symbols: &Symbols<'_>,
    this_module: usize,
    roles: &[(usize, Role)],
    spelling: usize,
    release: Release<'_>,
) -> Result<RelocScan, ElfError> {
    let mut scan = RelocScan::default();
    for sh in elf.sections() {
        if sh.sh_type != SHT_RELA && sh.sh_type != SHT_REL {
            continue;
        }
        // The loader skips relocations for sections it does not load (apply_relocations).
        let Some((target, target_sh)) = usize::try_from(sh.sh_info)
            .ok()
            .and_then(|t| elf.sections().get(t).map(|tsh| (t, tsh)))
        else {
            continue;
        };
        if target_sh.sh_flags & u64::from(SHF_ALLOC) == 0 {
            continue;
        }
        let relocs = elf.relocations(sh)?;
        let link = sh.sh_link as usize;
        let is_x86_64 = elf.header().e_machine == goblin::elf::header::EM_X86_64;
        // How many bytes a relocation writes, where known (x86-64's psABI); else at least one.
        let width = |r_type: u32| -> u64 {
            match r_type {
                1 | 24 if is_x86_64 => 8,
                2 | 4 | 9 | 10 | 11 | 41 | 42 if is_x86_64 => 4,
                _ => 1,
            }
        };
        // Modules have one symbol table; another one (never seen in practice) costs nothing to
        // open, since symbols are decoded lazily.
        let other;
        let table: &Symbols<'_> = if link == symbols.index() {
            symbols
        } else {
            other = elf.symbols(link).map_err(|_| {
                ElfError::Other(format!(
                    "relocation section {} links to section #{link}, which is not a symbol table",
                    lossy(elf.section_name(sh))
                ))
            })?;
            &other
        };
        let nsyms = table.len();
        let out_of_range = |r_sym: usize| {
            ElfError::Other(format!(
                "relocation section {} refers to symbol #{r_sym}, but the symbol table has {nsyms}",
                lossy(elf.section_name(sh))
            ))
        };
        if target == this_module {
            for r in relocs.iter() {
                let sym = table.get(r.r_sym).ok_or_else(|| out_of_range(r.r_sym))?;
                if sym.st_shndx == SHN_UNDEF as usize {
                    // 2.6.0–2.6.8 resolved these to do-nothing stubs in the kernel; today an
                    // undefined reference would not even load.
                    continue;
                }
                let name = table.name(&sym);
                let plain = name
                    .strip_prefix(b"_")
                    .filter(|_| spelling == 1)
                    .unwrap_or(name);
                let slot = match plain {
                    b"init_module" => &mut scan.init,
                    b"cleanup_module" => &mut scan.exit,
                    _ => continue,
                };
                if slot.is_none() {
                    *slot = Some(Hook {
                        symbol: lossy(name),
                        section: section_of(elf, &sym),
                        relocation_offset: r.r_offset,
                    });
                }
            }
            continue;
        }
        // kernel_param.mod only serialises sysfs access to the parameter; it takes no reference.
        let is_param = elf.section_name(target_sh) == b"__param";
        let counts = if target_sh.sh_flags & u64::from(SHF_EXECINSTR) != 0 {
            &mut scan.code
        } else {
            &mut scan.data
        };
        let roles = if link == symbols.index() { roles } else { &[] };
        each_reloc(elf, sh, &relocs, release, |r_offset, r_type, r_sym| {
            if r_sym >= nsyms {
                return Err(out_of_range(r_sym));
            }
            // The loader writes at section + r_offset (apply_relocate_add) without a check.
            if r_offset.saturating_add(width(r_type)) > target_sh.sh_size {
                return Err(ElfError::Other(format!(
                    "relocation section {} has an entry at offset {:#x}, past the end of {} ({} bytes)",
                    lossy(elf.section_name(sh)),
                    r_offset,
                    lossy(elf.section_name(target_sh)),
                    target_sh.sh_size
                )));
            }
            // `roles` is in symbol order (and a hostile file may make it long): binary search.
            if let Ok(at) = roles.binary_search_by_key(&r_sym, |&(i, _)| i) {
                let role = roles[at].1;
                if !(role == Role::ThisModule && is_param) {
                    counts[role.slot()] += 1;
                }
            }
            Ok(())
        })?;
    }
    Ok(scan)
}

/// Calls `f(r_offset, r_type, r_sym)` for every entry of relocation section `sh`. The common
/// case, 64-bit little-endian RELA outside MIPS, is read in place: this pass sees every
/// relocation of the module.
fn each_reloc(
    elf: &Elf<'_>,
    sh: &goblin::elf::SectionHeader,
    relocs: &crate::file::elf::Relocations<'_>,
    release: Release<'_>,
    mut f: impl FnMut(u64, u32, usize) -> Result<(), ElfError>,
) -> Result<(), ElfError> {
    let in_place = elf.is_64()
        && elf.ctx().le == scroll::LE
        && sh.sh_type == SHT_RELA
        && elf.header().e_machine != goblin::elf::header::EM_MIPS;
    if !in_place {
        for r in relocs.iter() {
            f(r.r_offset, r.r_type, r.r_sym)?;
        }
        return Ok(());
    }
    for piece in elf.section_data(sh).chunks(RELEASE_STEP) {
        for entry in piece.chunks_exact(24) {
            let (offset, info) = rela64_le(entry);
            f(offset, info as u32, (info >> 32) as usize)?;
        }
        release(piece);
    }
    Ok(())
}

/// `r_offset` and `r_info` of a little-endian `Elf64_Rela` entry.
pub fn rela64_le(entry: &[u8]) -> (u64, u64) {
    let word = |at: usize| {
        entry
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    };
    (word(0), word(8))
}

/// How much of a big relocation table is read before it is released: 16384 RELA entries.
pub const RELEASE_STEP: usize = 24 << 14;

/// `name=` and `vermagic=` from `.modinfo`.
fn name_and_vermagic(elf: &Elf<'_>) -> (Option<String>, Option<String>) {
    let modinfo = elf.section_by_name(".modinfo").unwrap_or_default();
    let mut name = None;
    let mut vermagic = None;
    for entry in split_strings(modinfo).map(split_entry) {
        match &*entry.key {
            b"name" if name.is_none() => name = Some(lossy(&entry.value)),
            b"vermagic" if vermagic.is_none() => vermagic = Some(lossy(&entry.value)),
            _ => {}
        }
    }
    (name, vermagic)
}

/// The findings, in [`FindingId::ALL`] order.
fn findings(
    relocs: &RelocScan,
    defined: &[(HookName, DefinedSymbol)],
    has_vermagic: bool,
    hazards: &hazards::Hazards,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add_as = |id: FindingId, detail: String, severity: Severity| {
        findings.push(Finding {
            id,
            detail,
            severity,
        })
    };
    if !hazards.ownerless.is_empty() {
        let detail: Vec<String> = hazards
            .ownerless
            .iter()
            .map(|t| {
                let sinks: Vec<&str> = t.sinks.iter().map(|s| s.as_str()).collect();
                format!("{} ({})", t.symbol, sinks.join(", "))
            })
            .collect();
        let severity = if hazards.ownerless.iter().any(|t| t.is_user_reachable()) {
            Severity::Hazard
        } else {
            Severity::Low
        };
        add_as(FindingId::OwnerlessFops, detail.join(", "), severity);
    }
    if !hazards.unpaired.is_empty() {
        let detail: Vec<String> = hazards
            .unpaired
            .iter()
            .map(|u| format!("{} without {}", u.register, u.unregister.join(" or ")))
            .collect();
        add_as(
            FindingId::UnpairedRegister,
            detail.join(", "),
            Severity::Hazard,
        );
    }
    let mut add = |id: FindingId, detail: String| add_as(id, detail, Severity::Info);
    let gets = relocs.refs(Role::SymbolGet);
    let puts = relocs.refs(Role::SymbolPut);
    if gets > 0 && puts == 0 {
        add(
            FindingId::SymbolGetWithoutPut,
            format!(
                "{} to __symbol_get, none to __symbol_put",
                plural(gets, "reference")
            ),
        );
    } else if gets > 0 {
        add(
            FindingId::SymbolGetPut,
            format!(
                "{} to __symbol_get, {} to __symbol_put/symbol_put_addr",
                plural(gets, "reference"),
                puts
            ),
        );
    }
    let mut ref_calls = Vec::new();
    let mut self_calls = Vec::new();
    for (r, n) in [
        (Role::TryModuleGet, "try_module_get"),
        (Role::ModuleGet, "__module_get"),
        (Role::ModulePut, "module_put"),
    ] {
        let on_self = hazards.self_refs.get(n).copied().unwrap_or(0);
        let others = relocs.refs(r).saturating_sub(on_self);
        if others > 0 {
            ref_calls.push(format!("{n}: {others}"));
        }
        if on_self > 0 {
            self_calls.push(format!("{n}(THIS_MODULE): {on_self}"));
        }
    }
    if !ref_calls.is_empty() {
        add(
            FindingId::TakesModuleRefs,
            format!("references to {}", ref_calls.join(", ")),
        );
    }
    let mut late = Vec::new();
    if !self_calls.is_empty() {
        late.push(Finding {
            id: FindingId::SelfPin,
            detail: format!("calls {}", self_calls.join(", ")),
            severity: Severity::Hint,
        });
    }
    if !hazards.skipped.is_empty() {
        late.push(Finding {
            id: FindingId::CodeNotRead,
            detail: format!(
                "only 64-bit little-endian x86-64 code is read; skipped: {}",
                hazards.skipped.join(", ")
            ),
            severity: Severity::Info,
        });
    }
    let this_module = Role::ThisModule.slot();
    if relocs.code[this_module] > 0 {
        add(
            FindingId::ThisModuleInCode,
            format!(
                "{} to __this_module from code",
                plural(relocs.code[this_module], "reference")
            ),
        );
    }
    if relocs.data[this_module] > 0 {
        add(
            FindingId::OwnerThisModule,
            format!(
                "{} to __this_module from data",
                plural(relocs.data[this_module], "reference")
            ),
        );
    }
    let mut legacy: Vec<&str> = defined
        .iter()
        .filter(|(h, _)| {
            matches!(
                h,
                HookName::InitFn | HookName::ExitFn | HookName::ForceExitFn
            )
        })
        .map(|(_, d)| d.name.as_str())
        .collect();
    legacy.sort_unstable();
    legacy.dedup();
    if !legacy.is_empty() {
        add(FindingId::LegacySymbols, legacy.join(", "));
    }
    if let Some(exit) = &relocs.exit
        && let Some(section) = exit.section.as_deref()
        && section != ".exit.text"
    {
        add(
            FindingId::ExitInText,
            format!("{} is in {section}", exit.symbol),
        );
    }
    let has = |h: HookName| defined.iter().any(|(d, _)| *d == h);
    if relocs.init.is_none() && has(HookName::InitModule) {
        add(
            FindingId::InitNotWired,
            "no relocation sets __this_module.init".to_string(),
        );
    }
    if relocs.exit.is_none() && has(HookName::CleanupModule) {
        add(
            FindingId::ExitNotWired,
            "no relocation sets __this_module.exit".to_string(),
        );
    }
    if !has_vermagic {
        add(
            FindingId::NoVermagic,
            "no vermagic= in .modinfo".to_string(),
        );
    }
    findings.extend(late);
    // Stable: a kind's findings keep their order.
    findings.sort_by_key(|f| f.id);
    findings
}

/// Where `symbol_get` names are looked up: exports of the modules audited together, and
/// optionally a `Module.symvers`.
#[derive(Debug, Default)]
pub struct Exports {
    /// Symbol → (provider, whether GPL-only); a tree has tens of thousands.
    map: std::collections::HashMap<Box<str>, (u32, bool)>,
    /// The providers, by number.
    providers: Vec<Box<str>>,
}

impl Exports {
    /// The number of `provider`: the last one added is reused, as symbols come by provider.
    fn provider(&mut self, provider: &str) -> u32 {
        if self.providers.last().is_none_or(|p| **p != *provider) {
            self.providers.push(provider.into());
        }
        u32::try_from(self.providers.len() - 1).unwrap_or(u32::MAX)
    }

    /// Adds a module's plain exports.
    pub fn add_module(&mut self, provider: &str, audit: &Audit) {
        if audit.plain_exports.is_empty() {
            return;
        }
        let p = self.provider(provider);
        for s in &audit.plain_exports {
            if !self.map.contains_key(s.as_str()) {
                self.map.insert(s.as_str().into(), (p, false));
            }
        }
    }

    /// Adds the exports a `Module.symvers` lists (`CRC\tNAME\tMODULE\tEXPORT_TYPE[\tNS]`, as
    /// scripts/mod/modpost.c writes it). Lines that do not parse are skipped and counted.
    pub fn add_symvers(&mut self, text: &[u8]) -> usize {
        let mut bad = 0;
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let mut f = line.split(|&b| b == b'\t');
            let (_crc, Some(name), Some(module), Some(kind)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                bad += 1;
                continue;
            };
            let gpl = match kind {
                b"EXPORT_SYMBOL" => false,
                b"EXPORT_SYMBOL_GPL" => true,
                _ => {
                    bad += 1;
                    continue;
                }
            };
            let provider = String::from_utf8_lossy(module);
            let p = self.provider(provider.rsplit('/').next().unwrap_or_default());
            self.map
                .insert(String::from_utf8_lossy(name).into(), (p, gpl));
        }
        bad
    }

    /// Adds `symbol-get-non-gpl` to `audit` when one of its `symbol_get` names is exported
    /// without `_GPL`.
    pub fn check(&self, audit: &mut Audit) {
        let plain: Vec<String> = audit
            .symbol_gets
            .iter()
            .filter_map(|name| match self.map.get(name.as_str()) {
                Some(&(p, false)) => {
                    let provider = self.providers.get(p as usize).map_or("", |p| p);
                    Some(format!("{name} (exported by {provider})"))
                }
                _ => None,
            })
            .collect();
        if plain.is_empty() || audit.has(FindingId::SymbolGetNonGpl) {
            return;
        }
        audit.findings.push(Finding {
            id: FindingId::SymbolGetNonGpl,
            detail: format!("symbol_get of {}", plain.join(", ")),
            severity: Severity::Hazard,
        });
        audit.findings.sort_by_key(|f| f.id);
    }
}

/// The index of the unique `.gnu.linkonce.this_module` section; the kernel refuses a file
/// without one (`setup_load_info`: "No module found in object", ENOEXEC).
fn this_module_index(elf: &Elf<'_>) -> Result<usize, ElfError> {
    let mut found = elf
        .sections()
        .iter()
        .enumerate()
        .filter(|(_, sh)| elf.section_name(sh) == THIS_MODULE_SECTION.as_bytes())
        .map(|(i, _)| i);
    match (found.next(), found.next()) {
        (Some(i), None) => Ok(i),
        (None, _) => Err(ElfError::Other(format!(
            "not a loadable module (no {THIS_MODULE_SECTION} section)"
        ))),
        (Some(_), Some(_)) => Err(ElfError::Other(format!(
            "not a loadable module (more than one {THIS_MODULE_SECTION} section)"
        ))),
    }
}

fn scan_symbols(
    symbols: &Symbols<'_>,
    this_module: usize,
    sections: usize,
) -> Result<SymbolScan, ElfError> {
    let mut scan = SymbolScan::default();
    for (i, sym) in symbols.iter() {
        let defined = sym.st_shndx != SHN_UNDEF as usize;
        // The loader takes a defined symbol's address from its section header
        // (simplify_symbols); a section that does not exist has none.
        if defined && sym.st_shndx < SHN_LORESERVE as usize && sym.st_shndx >= sections {
            return Err(ElfError::Other(format!(
                "symbol #{i} ({}) is defined in section #{}, but the file has {sections} sections",
                lossy(symbols.name(&sym)),
                sym.st_shndx
            )));
        }
        if sym.st_type() == STT_SECTION {
            // A section-relative reference to __this_module's section counts as one to it.
            if sym.st_shndx == this_module {
                scan.roles[0].push((i, Role::ThisModule));
                scan.roles[1].push((i, Role::ThisModule));
            }
            continue;
        }
        let name = symbols.name(&sym);
        // Cheap filter: every name of interest starts with one of these bytes.
        if !matches!(name.first(), Some(b'_' | b'i' | b'c' | b's' | b't' | b'm')) {
            continue;
        }
        let prefixed = name.strip_prefix(b"_");
        for (spelling, n) in [(0, Some(name)), (1, prefixed)] {
            let Some(n) = n else { continue };
            if let Some(role) = Role::from_name(n) {
                // __this_module must be our own definition; the others are the kernel's exports.
                if role != Role::ThisModule || defined {
                    scan.roles[spelling].push((i, role));
                }
                if role == Role::ThisModule && defined {
                    scan.this_module[spelling] = true;
                }
            }
            if defined && let Some(h) = HookName::from_name(n) {
                scan.hooks[spelling].push((i, h));
            }
        }
    }
    Ok(scan)
}

/// The name of the section a symbol is defined in, for ordinary section indexes.
fn section_of(elf: &Elf<'_>, sym: &Sym) -> Option<String> {
    if sym.st_shndx == SHN_UNDEF as usize || sym.st_shndx >= SHN_LORESERVE as usize {
        return None;
    }
    elf.sections()
        .get(sym.st_shndx)
        .map(|sh| lossy(elf.section_name(sh)))
        .filter(|n| !n.is_empty())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A section for [`build`]: name, type, flags, link, info, entry size, contents.
    struct Sec {
        name: &'static str,
        typ: u32,
        flags: u64,
        link: u32,
        info: u32,
        entsize: u64,
        data: Vec<u8>,
    }

    fn sec(name: &'static str, typ: u32, flags: u64, data: Vec<u8>) -> Sec {
        Sec {
            name,
            typ,
            flags,
            link: 0,
            info: 0,
            entsize: 0,
            data,
        }
    }

    /// Byte order and word size.
    #[derive(Clone, Copy)]
    struct Layout {
        is_64: bool,
        be: bool,
    }

    const LAYOUTS: [Layout; 4] = [
        Layout {
            is_64: true,
            be: false,
        },
        Layout {
            is_64: true,
            be: true,
        },
        Layout {
            is_64: false,
            be: false,
        },
        Layout {
            is_64: false,
            be: true,
        },
    ];

    impl Layout {
        fn u16(self, out: &mut Vec<u8>, v: u16) {
            out.extend_from_slice(&if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            });
        }
        fn u32(self, out: &mut Vec<u8>, v: u32) {
            out.extend_from_slice(&if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            });
        }
        fn u64(self, out: &mut Vec<u8>, v: u64) {
            out.extend_from_slice(&if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            });
        }
        fn word(self, out: &mut Vec<u8>, v: u64) {
            if self.is_64 {
                self.u64(out, v)
            } else {
                self.u32(out, v as u32)
            }
        }

        /// One symbol: name offset, info, section index.
        fn sym(self, out: &mut Vec<u8>, name: u32, info: u8, shndx: u16) {
            self.u32(out, name);
            if self.is_64 {
                out.push(info);
                out.push(0);
                self.u16(out, shndx);
                self.u64(out, 0);
                self.u64(out, 8);
            } else {
                self.u32(out, 0);
                self.u32(out, 8);
                out.push(info);
                out.push(0);
                self.u16(out, shndx);
            }
        }

        /// One relocation of type 1 against symbol `sym` at `offset`.
        fn reloc(self, out: &mut Vec<u8>, rela: bool, offset: u64, sym: u32) {
            self.word(out, offset);
            if self.is_64 {
                self.u64(out, (u64::from(sym) << 32) | 1);
            } else {
                self.u32(out, (sym << 8) | 1);
            }
            if rela {
                self.word(out, 0);
            }
        }

        fn build(self, secs: &[Sec]) -> Vec<u8> {
            let mut names = vec![0u8];
            let mut name_at = Vec::new();
            for s in secs {
                name_at.push(names.len() as u32);
                names.extend_from_slice(s.name.as_bytes());
                names.push(0);
            }
            let shstr_name = names.len() as u32;
            names.extend_from_slice(b".shstrtab\0");
            let ehsize = if self.is_64 { 64 } else { 52 };
            let mut body = Vec::new();
            let mut placed = Vec::new();
            for s in secs {
                placed.push(ehsize + body.len());
                body.extend_from_slice(&s.data);
            }
            let names_off = ehsize + body.len();
            body.extend_from_slice(&names);
            let shoff = ehsize + body.len();
            let shnum = secs.len() + 2;

            let mut out = b"\x7fELF".to_vec();
            out.push(if self.is_64 { 2 } else { 1 });
            out.push(if self.be { 2 } else { 1 });
            out.push(1);
            out.extend_from_slice(&[0; 9]);
            self.u16(&mut out, 1);
            self.u16(&mut out, 62);
            self.u32(&mut out, 1);
            self.word(&mut out, 0);
            self.word(&mut out, 0);
            self.word(&mut out, shoff as u64);
            self.u32(&mut out, 0);
            self.u16(&mut out, ehsize as u16);
            self.u16(&mut out, 0);
            self.u16(&mut out, 0);
            self.u16(&mut out, if self.is_64 { 64 } else { 40 });
            self.u16(&mut out, shnum as u16);
            self.u16(&mut out, (shnum - 1) as u16);
            out.extend_from_slice(&body);
            let shdr = |out: &mut Vec<u8>, name: u32, s: &Sec, off: usize| {
                self.u32(out, name);
                self.u32(out, s.typ);
                self.word(out, s.flags);
                self.word(out, 0);
                self.word(out, off as u64);
                self.word(out, s.data.len() as u64);
                self.u32(out, s.link);
                self.u32(out, s.info);
                self.word(out, 1);
                self.word(out, s.entsize);
            };
            out.extend(std::iter::repeat_n(0, if self.is_64 { 64 } else { 40 }));
            for (i, s) in secs.iter().enumerate() {
                shdr(&mut out, name_at[i], s, placed[i]);
            }
            let shstr = sec(".shstrtab", 3, 0, names);
            shdr(&mut out, shstr_name, &shstr, names_off);
            out
        }
    }

    const ALLOC: u64 = SHF_ALLOC as u64;
    const EXEC: u64 = (SHF_ALLOC | SHF_EXECINSTR) as u64;
    const GLOBAL_FUNC: u8 = 0x12;
    const GLOBAL_NOTYPE: u8 = 0x10;
    const GLOBAL_OBJECT: u8 = 0x11;

    // Section indexes in `Spec::build` (0 is the null section).
    const TEXT: u16 = 1;
    const INIT_TEXT: u16 = 2;
    const EXIT_TEXT: u16 = 3;
    const THIS_MODULE: u16 = 4;
    const PARAM: u16 = 11;

    /// A small module: which symbols it defines or references, and who refers to them.
    struct Spec {
        layout: Layout,
        rela: bool,
        /// (name, section index or 0 for undefined, type-and-binding)
        symbols: Vec<(&'static str, u16, u8)>,
        /// Symbols named by relocations against `__this_module`'s section, with offsets.
        this_module_relocs: Vec<(&'static str, u64)>,
        /// Symbols named by relocations in .text, .rodata and __param.
        text_relocs: Vec<&'static str>,
        rodata_relocs: Vec<&'static str>,
        param_relocs: Vec<&'static str>,
        vermagic: Option<&'static str>,
    }

    impl Spec {
        fn new(layout: Layout, rela: bool) -> Spec {
            Spec {
                layout,
                rela,
                symbols: vec![("__this_module", THIS_MODULE, GLOBAL_OBJECT)],
                this_module_relocs: Vec::new(),
                text_relocs: Vec::new(),
                rodata_relocs: Vec::new(),
                param_relocs: Vec::new(),
                vermagic: Some("6.1.0 SMP preempt mod_unload modversions "),
            }
        }

        fn init(mut self) -> Spec {
            self.symbols.push(("init_module", INIT_TEXT, GLOBAL_FUNC));
            self.this_module_relocs.push(("init_module", 0x138));
            self
        }

        fn exit_in(mut self, section: u16) -> Spec {
            self.symbols.push(("cleanup_module", section, GLOBAL_FUNC));
            self.this_module_relocs.push(("cleanup_module", 0x350));
            self
        }

        fn symbol(mut self, name: &'static str, shndx: u16) -> Spec {
            self.symbols.push((name, shndx, GLOBAL_NOTYPE));
            self
        }

        fn index_of(&self, name: &str) -> u32 {
            1 + self.symbols.iter().position(|s| s.0 == name).unwrap() as u32
        }

        fn build(&self) -> Vec<u8> {
            let l = self.layout;
            let mut strtab = vec![0u8];
            let mut symtab = Vec::new();
            l.sym(&mut symtab, 0, 0, 0);
            for (name, shndx, info) in &self.symbols {
                let at = strtab.len() as u32;
                strtab.extend_from_slice(name.as_bytes());
                strtab.push(0);
                l.sym(&mut symtab, at, *info, *shndx);
            }
            let relocs = |list: &[(&str, u64)]| {
                let mut v = Vec::new();
                for (name, off) in list {
                    l.reloc(&mut v, self.rela, *off, self.index_of(name));
                }
                v
            };
            let at_zero =
                |list: &[&'static str]| relocs(&list.iter().map(|n| (*n, 0)).collect::<Vec<_>>());
            let mut modinfo = b"name=test\0".to_vec();
            if let Some(v) = self.vermagic {
                modinfo.extend_from_slice(format!("vermagic={v}\0").as_bytes());
            }
            let (rtype, rprefix, entsize) = match (self.rela, l.is_64) {
                (true, true) => (4, "rela", 24),
                (true, false) => (4, "rela", 12),
                (false, true) => (9, "rel", 16),
                (false, false) => (9, "rel", 8),
            };
            let rel = |name: &'static str, info: u32, data: Vec<u8>| Sec {
                name,
                typ: rtype,
                flags: 0x40,
                link: 6,
                info,
                entsize,
                data,
            };
            let name = |s: &'static str| -> &'static str {
                if rprefix == "rela" {
                    s
                } else {
                    Box::leak(s.replacen(".rela", ".rel", 1).into_boxed_str())
                }
            };
            l.build(&[
                sec(".text", 1, EXEC, vec![0xc3; 16]),
                sec(".init.text", 1, EXEC, vec![0xc3; 16]),
                sec(".exit.text", 1, EXEC, vec![0xc3; 16]),
                sec(THIS_MODULE_SECTION, 1, ALLOC | 1, vec![0; 0x380]),
                sec(".modinfo", 1, ALLOC, modinfo),
                Sec {
                    link: 7,
                    info: 1,
                    entsize: if l.is_64 { 24 } else { 16 },
                    ..sec(".symtab", 2, 0, symtab)
                },
                sec(".strtab", 3, 0, strtab),
                rel(
                    name(".rela.gnu.linkonce.this_module"),
                    u32::from(THIS_MODULE),
                    relocs(&self.this_module_relocs),
                ),
                rel(
                    name(".rela.text"),
                    u32::from(TEXT),
                    at_zero(&self.text_relocs),
                ),
                sec(".rodata", 1, ALLOC, vec![0; 64]),
                sec("__param", 1, ALLOC, vec![0; 64]),
                rel(name(".rela.rodata"), 10, at_zero(&self.rodata_relocs)),
                rel(
                    name(".rela__param"),
                    u32::from(PARAM),
                    at_zero(&self.param_relocs),
                ),
            ])
        }
    }

    fn every_layout(mut check: impl FnMut(Layout, bool)) {
        for layout in LAYOUTS {
            for rela in [true, false] {
                check(layout, rela);
            }
        }
    }

    fn ids(a: &Audit) -> Vec<&'static str> {
        a.findings.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn verdicts_in_every_layout() {
        every_layout(|l, rela| {
            let what = format!("64={} be={} rela={rela}", l.is_64, l.be);
            let a = audit_bytes(&Spec::new(l, rela).init().exit_in(EXIT_TEXT).build()).unwrap();
            assert_eq!(a.verdict, Verdict::Removable, "{what}");
            let init = a.init.as_ref().unwrap();
            assert_eq!(
                (
                    init.symbol.as_str(),
                    init.section.as_deref(),
                    init.relocation_offset
                ),
                ("init_module", Some(".init.text"), 0x138),
                "{what}"
            );
            assert_eq!(a.exit.as_ref().unwrap().relocation_offset, 0x350, "{what}");
            assert_eq!(a.name.as_deref(), Some("test"));
            assert!(a.findings.is_empty(), "{what}: {:?}", a.findings);

            let a = audit_bytes(&Spec::new(l, rela).init().build()).unwrap();
            assert_eq!(a.verdict, Verdict::Permanent, "{what}");
            assert!(a.exit.is_none());

            let a = audit_bytes(&Spec::new(l, rela).build()).unwrap();
            assert_eq!(a.verdict, Verdict::Removable, "{what}: neither");

            let a = audit_bytes(&Spec::new(l, rela).exit_in(EXIT_TEXT).build()).unwrap();
            assert_eq!(a.verdict, Verdict::Removable, "{what}: exit only");
        });
    }

    #[test]
    fn symbols_without_relocations_do_not_decide() {
        // A defined cleanup_module that __this_module does not point at is never called.
        let mut s = Spec::new(LAYOUTS[0], true).init();
        s.symbols.push(("cleanup_module", EXIT_TEXT, GLOBAL_FUNC));
        let a = audit_bytes(&s.build()).unwrap();
        assert_eq!(a.verdict, Verdict::Permanent);
        assert_eq!(ids(&a), ["exit-not-wired"]);

        // An undefined init_module (2.6.0–2.6.8 stubs) does not count as an init function.
        let mut s = Spec::new(LAYOUTS[0], true);
        s.symbols.push(("init_module", 0, GLOBAL_FUNC));
        s.this_module_relocs.push(("init_module", 0x138));
        assert_eq!(audit_bytes(&s.build()).unwrap().verdict, Verdict::Removable);
    }

    #[test]
    fn exit_outside_exit_text_is_still_an_exit() {
        let a = audit_bytes(&Spec::new(LAYOUTS[0], true).init().exit_in(TEXT).build()).unwrap();
        assert_eq!(a.verdict, Verdict::Removable);
        assert_eq!(ids(&a), ["exit-in-text"]);
        assert_eq!(a.findings[0].detail, "cleanup_module is in .text");
    }

    #[test]
    fn legacy_symbols() {
        let force = Spec::new(LAYOUTS[2], false)
            .init()
            .symbol("__force_exitfn", TEXT);
        let a = audit_bytes(&force.build()).unwrap();
        assert_eq!(a.verdict, Verdict::ForceOnly);
        assert_eq!(ids(&a), ["legacy-symbols"]);
        // With __exitfn too, the 2002 rules had a normal exit; today's kernel still has none.
        let both = Spec::new(LAYOUTS[2], false)
            .init()
            .symbol("__force_exitfn", TEXT)
            .symbol("__exitfn", TEXT);
        assert_eq!(
            audit_bytes(&both.build()).unwrap().verdict,
            Verdict::Permanent
        );
        let safe = Spec::new(LAYOUTS[1], true)
            .init()
            .exit_in(EXIT_TEXT)
            .symbol("__exitfn", EXIT_TEXT);
        let a = audit_bytes(&safe.build()).unwrap();
        assert_eq!(a.verdict, Verdict::Removable);
        assert_eq!(a.findings[0].detail, "__exitfn");
        // An undefined __force_exitfn is no definition.
        let undef = Spec::new(LAYOUTS[0], true)
            .init()
            .symbol("__force_exitfn", 0);
        assert_eq!(
            audit_bytes(&undef.build()).unwrap().verdict,
            Verdict::Permanent
        );
    }

    #[test]
    fn prefixed_symbols_on_module_symbol_prefix_arches() {
        let mut s = Spec::new(LAYOUTS[3], false);
        s.symbols = vec![
            ("___this_module", THIS_MODULE, GLOBAL_OBJECT),
            ("_init_module", INIT_TEXT, GLOBAL_FUNC),
            ("___force_exitfn", TEXT, GLOBAL_FUNC),
            ("___symbol_get", 0, GLOBAL_NOTYPE),
        ];
        s.this_module_relocs.push(("_init_module", 0x100));
        s.text_relocs.push("___symbol_get");
        let a = audit_bytes(&s.build()).unwrap();
        assert_eq!(a.verdict, Verdict::ForceOnly);
        assert_eq!(ids(&a), ["symbol-get-without-put", "legacy-symbols"]);
        assert_eq!(a.init.unwrap().symbol, "_init_module");
    }

    #[test]
    fn vermagic_without_mod_unload() {
        let mut s = Spec::new(LAYOUTS[0], true).init();
        s.vermagic = Some("6.1.0 SMP preempt modversions ");
        assert_eq!(
            audit_bytes(&s.build()).unwrap().verdict,
            Verdict::KernelCannotUnload
        );
        // "mod_unload" must be a whole word.
        s.vermagic = Some("6.1.0 SMP xmod_unload ");
        assert_eq!(
            audit_bytes(&s.build()).unwrap().verdict,
            Verdict::KernelCannotUnload
        );
        s.vermagic = None;
        let a = audit_bytes(&s.build()).unwrap();
        assert_eq!(a.verdict, Verdict::Permanent);
        assert_eq!(ids(&a), ["no-vermagic"]);
    }

    #[test]
    fn reference_findings() {
        every_layout(|l, rela| {
            let mut s = Spec::new(l, rela)
                .init()
                .exit_in(EXIT_TEXT)
                .symbol("__symbol_get", 0)
                .symbol("try_module_get", 0)
                .symbol("module_put", 0);
            s.text_relocs = vec![
                "__symbol_get",
                "__symbol_get",
                "try_module_get",
                "module_put",
                "__this_module",
            ];
            s.rodata_relocs = vec!["__this_module"];
            // kernel_param.mod takes no reference: not an owner.
            s.param_relocs = vec!["__this_module"];
            let a = audit_bytes(&s.build()).unwrap();
            let mut want = vec![
                "symbol-get-without-put",
                "takes-module-refs",
                "this-module-in-code",
                "owner-this-module",
            ];
            // Only 64-bit little-endian x86-64 code is read; the others say so.
            let is_read = l.is_64 && !l.be;
            if !is_read {
                want.push("code-not-read");
                assert_eq!(
                    a.findings[4].detail,
                    "only 64-bit little-endian x86-64 code is read; skipped: symbol-get-non-gpl"
                );
            }
            assert_eq!(ids(&a), want);
            assert_eq!(
                a.findings[0].detail,
                "2 references to __symbol_get, none to __symbol_put"
            );
            assert_eq!(
                a.findings[1].detail,
                "references to try_module_get: 1, module_put: 1"
            );
            assert_eq!(a.verdict, Verdict::Removable);

            let mut s = Spec::new(l, rela)
                .symbol("__symbol_get", 0)
                .symbol("__symbol_put", 0);
            s.text_relocs = vec!["__symbol_get", "__symbol_put"];
            s.param_relocs = vec!["__this_module"];
            let want: &[&str] = if is_read {
                &["symbol-get-put"]
            } else {
                &["symbol-get-put", "code-not-read"]
            };
            assert_eq!(ids(&audit_bytes(&s.build()).unwrap()), want);
        });
    }

    #[test]
    fn not_a_loadable_module() {
        let f = crate::file::elf::testelf::build(true, false, &[(".modinfo", b"license=GPL\0")]);
        let e = audit_bytes(&f).unwrap_err().to_string();
        assert!(e.contains("no .gnu.linkonce.this_module"), "{e}");
        let f = crate::file::elf::testelf::build(
            true,
            false,
            &[(THIS_MODULE_SECTION, b"x"), (THIS_MODULE_SECTION, b"y")],
        );
        let e = audit_bytes(&f).unwrap_err().to_string();
        assert!(e.contains("more than one"), "{e}");
        let f = crate::file::elf::testelf::build(true, false, &[(THIS_MODULE_SECTION, b"x")]);
        let e = audit_bytes(&f).unwrap_err().to_string();
        assert!(e.contains("no symbol table"), "{e}");
    }

    /// Offset of section header `i`'s field at `field` (64-bit little-endian files).
    fn shdr_field(f: &[u8], i: usize, field: usize) -> usize {
        let shoff = u64::from_le_bytes(f[40..48].try_into().unwrap()) as usize;
        shoff + i * 64 + field
    }

    #[test]
    fn hostile_links_and_indexes_are_errors() {
        let good = Spec::new(LAYOUTS[0], true).init().build();
        // .rela.gnu.linkonce.this_module (section 8) links to .strtab instead of .symtab.
        let mut f = good.clone();
        let at = shdr_field(&f, 8, 40);
        f[at..at + 4].copy_from_slice(&7u32.to_le_bytes());
        let e = audit_bytes(&f).unwrap_err().to_string();
        assert!(e.contains("not a symbol table"), "{e}");
        // ... or to a section that does not exist.
        f[at..at + 4].copy_from_slice(&9999u32.to_le_bytes());
        assert!(audit_bytes(&f).is_err());
        // The symbol table's string table link is out of range.
        let mut f = good.clone();
        let at = shdr_field(&f, 6, 40);
        f[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = audit_bytes(&f).unwrap_err().to_string();
        assert!(e.contains("string table"), "{e}");
        // A relocation names symbol 2^32-1.
        let mut s = Spec::new(LAYOUTS[0], true).init();
        s.text_relocs.push("init_module");
        let mut f = s.build();
        let needle = (u64::from(s.index_of("init_module")) << 32 | 1).to_le_bytes();
        let shoff = u64::from_le_bytes(f[40..48].try_into().unwrap()) as usize;
        let pos = f[..shoff]
            .windows(8)
            .rposition(|w| w == needle)
            .expect("the .rela.text entry");
        f[pos..pos + 8].copy_from_slice(&(u64::from(u32::MAX) << 32 | 1).to_le_bytes());
        let e = audit_bytes(&f).unwrap_err().to_string();
        assert!(e.contains("refers to symbol #4294967295"), "{e}");
        // A relocation section aimed at a section that does not exist is skipped, as the
        // kernel does.
        let mut f = good.clone();
        let at = shdr_field(&f, 9, 44);
        f[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(audit_bytes(&f).unwrap().verdict, Verdict::Permanent);
    }

    #[test]
    fn the_real_fixture_survives_mutation_and_truncation() {
        let good = include_bytes!("../../../tests/fixtures/rk_basic.ko");
        assert_eq!(audit_bytes(good).unwrap().verdict, Verdict::Removable);
        for cut in (0..good.len()).step_by(61) {
            let _ = audit_bytes(&good[..cut]);
        }
        // Deterministic xorshift: flip bytes, mostly in the section headers and tables.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..3000 {
            let mut f = good.to_vec();
            for _ in 0..1 + next() % 8 {
                let at = (next() as usize) % f.len();
                f[at] = next() as u8;
            }
            let _ = audit_bytes(&f);
        }
    }
}
