//! Reading x86-64 module code for the few facts the unload-hazard findings need: which address
//! is in which argument register when a call is made, and which addresses are stored where.
//!
//! A module is a relocatable object, so every address the code loads (`mov $sym,%reg`,
//! `lea sym(%rip),%reg`, `movq $sym,mem`) carries a relocation, and every call to the kernel is
//! `call rel32` with a relocation against the callee. The decoder (iced-x86) gives each
//! instruction's operands and where its displacement and immediate sit, which ties a relocation
//! to the operand it fills. Values are tracked through the 16 general registers along the
//! function's instructions in address order, forgetting caller-saved registers at every call:
//! the System V calling convention (`%rdi, %rsi, %rdx, %rcx, %r8, %r9`) then says which argument
//! holds which address. Branches inside a function are not followed; a value loaded before the
//! call in straight-line order is taken as the argument, which is how compilers emit constant
//! arguments.

use goblin::elf::section_header::{SHF_ALLOC, SHF_EXECINSTR, SHN_LORESERVE, SHN_UNDEF};
use goblin::elf::section_header::{SHT_REL, SHT_RELA};
use goblin::elf::sym::{STT_FUNC, STT_OBJECT, STT_SECTION};
use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};

use crate::audit::{RELEASE_STEP, Release, rela64_le};
use crate::error::ElfError;
use crate::file::elf::{Elf, Relocations, Symbols};

/// x86-64 relocation types (System V psABI, AMD64 supplement, table 4.9).
const R_X86_64_64: u32 = 1;
const R_X86_64_PC32: u32 = 2;
const R_X86_64_PLT32: u32 = 4;
const R_X86_64_32: u32 = 10;
const R_X86_64_32S: u32 = 11;

/// Where an address points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Into one of the module's own sections.
    Local {
        /// The section's index.
        section: usize,
        /// The byte offset inside it.
        offset: u64,
    },
    /// A symbol the module imports (by symbol index).
    Extern(usize),
}

/// A value known to be in a register or stored to memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    /// An address.
    Addr(Target),
    /// The function's own argument number `n` (0 = `%rdi`), unchanged.
    Param(u8),
    /// A value read from memory inside the object at this address (an element of a table
    /// of pointers, read in a loop).
    Loaded(Target),
}

/// What a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callee {
    /// An imported function (symbol index).
    Extern(usize),
    /// One of the module's functions.
    Local(FuncId),
}

/// A function of the module: the code section's index in [`Program`] and the function's index
/// there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncId {
    code: usize,
    func: usize,
}

/// What happens in a function, in address order.
#[derive(Debug, Clone)]
pub enum Event {
    /// A call (or a tail call) with what the argument registers held.
    Call {
        /// The callee.
        callee: Callee,
        /// `%rdi, %rsi, %rdx, %rcx, %r8, %r9`.
        args: [Option<Val>; 6],
        /// Values stored to memory since the previous call (a table put into a structure that
        /// this call then registers).
        stored: Vec<Val>,
    },
    /// A store to memory.
    Store {
        /// The address written, when a relocation gives it.
        dest: Option<Target>,
        /// The value written, when known.
        value: Option<Val>,
    },
}

#[derive(Debug, Clone, Copy)]
struct CodeReloc {
    offset: u64,
    r_type: u32,
    sym: usize,
    addend: i64,
}

#[derive(Debug, Clone, Copy)]
struct Func {
    start: u64,
    end: u64,
    sym: usize,
}

struct CodeSection<'a> {
    index: usize,
    relocs: CodeRelocs<'a>,
    funcs: Vec<Func>,
}

/// A code section's relocations, by offset. The assembler writes them in offset order, so the
/// relocation section is searched where it lies; only an unsorted or split table is copied.
enum CodeRelocs<'a> {
    /// The entries, and the section's bytes.
    InPlace(Relocations<'a>, &'a [u8]),
    Copied(Vec<CodeReloc>),
}

impl CodeRelocs<'_> {
    fn len(&self) -> usize {
        match self {
            CodeRelocs::InPlace(r, _) => r.len(),
            CodeRelocs::Copied(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> Option<CodeReloc> {
        match self {
            CodeRelocs::InPlace(r, _) => r.get(i).map(|r| CodeReloc {
                offset: r.r_offset,
                r_type: r.r_type,
                sym: r.r_sym,
                addend: r.r_addend.unwrap_or(0),
            }),
            CodeRelocs::Copied(v) => v.get(i).copied(),
        }
    }

    /// The first index whose offset is at least `offset`.
    fn lower_bound(&self, offset: u64) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).is_some_and(|r| r.offset < offset) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// The module's code, ready to be walked.
pub struct Program<'e, 'a> {
    elf: &'e Elf<'a>,
    symbols: &'e Symbols<'a>,
    code: Vec<CodeSection<'a>>,
}

/// Argument registers, as indexes into the register file (`RAX` = 0 … `R15` = 15).
const ARGS: [usize; 6] = [7, 6, 2, 1, 8, 9];
/// Registers a call may change (the System V caller-saved set).
const CALLER_SAVED: [usize; 9] = [0, 1, 2, 6, 7, 8, 9, 10, 11];

/// Whether the file's code can be read here: x86-64 only.
pub fn is_supported(elf: &Elf<'_>) -> bool {
    elf.header().e_machine == goblin::elf::header::EM_X86_64
        && elf.is_64()
        && elf.ctx().le == scroll::LE
}

impl<'e, 'a> Program<'e, 'a> {
    /// Collects the code sections' relocations and function symbols, and, in the same pass
    /// over the relocations, the functions that refer to one of `syms` (sorted symbol indexes).
    pub fn new(
        elf: &'e Elf<'a>,
        symbols: &'e Symbols<'a>,
        syms: &[usize],
        release: Release<'_>,
    ) -> Result<(Program<'e, 'a>, Vec<FuncId>), ElfError> {
        let sections = elf.sections();
        let indexes: Vec<usize> = sections
            .iter()
            .enumerate()
            .filter(|(_, sh)| {
                let f = sh.sh_flags;
                f & u64::from(SHF_ALLOC) != 0 && f & u64::from(SHF_EXECINSTR) != 0
            })
            .map(|(index, _)| index)
            .collect();
        let slot = |index: usize| indexes.binary_search(&index).ok();
        let mut tables: Vec<Vec<Relocations<'a>>> = indexes.iter().map(|_| Vec::new()).collect();
        let mut raw: Vec<Vec<&'a [u8]>> = indexes.iter().map(|_| Vec::new()).collect();
        for sh in sections {
            if (sh.sh_type == SHT_RELA || sh.sh_type == SHT_REL)
                && sh.sh_link as usize == symbols.index()
                && let Some(c) = usize::try_from(sh.sh_info).ok().and_then(slot)
            {
                tables[c].push(elf.relocations(sh)?);
                raw[c].push(if sh.sh_type == SHT_RELA {
                    elf.section_data(sh)
                } else {
                    &[]
                });
            }
        }
        let mut code: Vec<CodeSection<'a>> = Vec::with_capacity(indexes.len());
        let mut hits: Vec<(usize, u64)> = Vec::new();
        for ((index, mut found), raw) in indexes.iter().copied().zip(tables).zip(raw) {
            let c = code.len();
            let mut sorted = found.len() == 1;
            let mut last = 0;
            // x86-64 RELA entries (is_supported): r_offset, then r_info with the symbol in its
            // high half, little-endian. Read in place: this pass sees every code relocation.
            for piece in raw.iter().flat_map(|t| t.chunks(RELEASE_STEP)) {
                for entry in piece.chunks_exact(24) {
                    let (offset, info) = rela64_le(entry);
                    let sym = (info >> 32) as usize;
                    sorted &= offset >= last;
                    last = offset;
                    if syms.binary_search(&sym).is_ok() {
                        hits.push((c, offset));
                    }
                }
                // Walks read a few entries each, by binary search.
                release(piece);
            }
            sorted &= raw.iter().all(|t| !t.is_empty());
            let relocs = if sorted && let Some(only) = found.pop() {
                CodeRelocs::InPlace(only, raw.first().copied().unwrap_or_default())
            } else {
                let mut v: Vec<CodeReloc> = found
                    .iter()
                    .flat_map(|t| t.iter())
                    .map(|r| CodeReloc {
                        offset: r.r_offset,
                        r_type: r.r_type,
                        sym: r.r_sym,
                        addend: r.r_addend.unwrap_or(0),
                    })
                    .collect();
                v.sort_by_key(|r| r.offset);
                CodeRelocs::Copied(v)
            };
            code.push(CodeSection {
                index,
                relocs,
                funcs: Vec::new(),
            });
        }
        for (i, sym) in symbols.iter() {
            if sym.st_type() != STT_FUNC || sym.st_shndx >= SHN_LORESERVE as usize {
                continue;
            }
            let Some(c) = slot(sym.st_shndx) else {
                continue;
            };
            code[c].funcs.push(Func {
                start: sym.st_value,
                end: sym.st_value.saturating_add(sym.st_size),
                sym: i,
            });
        }
        for c in &mut code {
            c.funcs.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
            c.funcs.dedup_by_key(|f| f.start);
            // A function without a size runs to the next one.
            let len = sections[c.index].sh_size;
            for k in 0..c.funcs.len() {
                let next = c.funcs.get(k + 1).map_or(len, |f| f.start);
                let f = &mut c.funcs[k];
                if f.end <= f.start {
                    f.end = next;
                }
                f.end = f.end.min(len);
            }
        }
        let mut funcs: Vec<FuncId> = hits
            .into_iter()
            .filter_map(|(c, offset)| {
                func_at(&code[c].funcs, offset).map(|func| FuncId { code: c, func })
            })
            .collect();
        funcs.sort_unstable();
        funcs.dedup();
        Ok((Program { elf, symbols, code }, funcs))
    }

    /// Every function that contains a relocation against an address in a section that is not
    /// code (the functions that can load a table's address).
    pub fn functions_using_data(&self, release: Release<'_>) -> Vec<FuncId> {
        let mut out = Vec::new();
        for (ci, c) in self.code.iter().enumerate() {
            let mut last = None;
            for i in 0..c.relocs.len() {
                if let CodeRelocs::InPlace(_, raw) = &c.relocs
                    && i > 0
                    && (i * 24) % RELEASE_STEP == 0
                {
                    release(raw.get(i * 24 - RELEASE_STEP..i * 24).unwrap_or_default());
                }
                let Some(r) = c.relocs.get(i) else {
                    continue;
                };
                if !self.is_local_data(r.sym) {
                    continue;
                }
                if let Some(func) = func_at(&c.funcs, r.offset)
                    && last != Some(func)
                {
                    last = Some(func);
                    out.push(FuncId { code: ci, func });
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn is_local_data(&self, sym: usize) -> bool {
        self.symbols.get(sym).is_some_and(|s| {
            s.st_shndx != SHN_UNDEF as usize
                && self
                    .elf
                    .sections()
                    .get(s.st_shndx)
                    .is_some_and(|sh| sh.sh_flags & u64::from(SHF_EXECINSTR) == 0)
        })
    }

    /// Hands every code section to `release`: a pass over many functions has read through them.
    pub fn release_code(&self, release: Release<'_>) {
        for c in &self.code {
            if let Some(sh) = self.elf.sections().get(c.index) {
                release(self.elf.section_data(sh));
            }
            if let CodeRelocs::InPlace(_, raw) = &c.relocs {
                release(raw);
            }
        }
    }

    /// In a pass over functions in address order, hands the code before `f` to `release` once
    /// more than [`RELEASE_STEP`] bytes of it have been walked since the last time. `mark`:
    /// the code section and offset released up to.
    pub fn release_walked(&self, f: FuncId, mark: &mut (usize, u64), release: Release<'_>) {
        let start = self.code[f.code].funcs[f.func].start;
        if mark.0 != f.code {
            *mark = (f.code, 0);
        }
        if start.saturating_sub(mark.1) < RELEASE_STEP as u64 {
            return;
        }
        if let Some(sh) = self.elf.sections().get(self.code[f.code].index) {
            let data = self.elf.section_data(sh);
            let (from, to) = (mark.1 as usize, start as usize);
            release(data.get(from..to.min(data.len())).unwrap_or_default());
        }
        mark.1 = start;
    }

    /// The symbol index of a function.
    pub fn func_symbol(&self, f: FuncId) -> usize {
        self.code[f.code].funcs[f.func].sym
    }

    /// Walks a function's instructions in address order and reports calls and stores. With
    /// `params`, the argument registers start out as the function's own parameters.
    pub fn walk(&self, id: FuncId, params: bool, mut on: impl FnMut(Event)) {
        let c = &self.code[id.code];
        let f = c.funcs[id.func];
        let Some(sh) = self.elf.sections().get(c.index) else {
            return;
        };
        let data = self.elf.section_data(sh);
        let (Ok(start), Ok(end)) = (usize::try_from(f.start), usize::try_from(f.end)) else {
            return;
        };
        let Some(bytes) = data.get(start..end.min(data.len())) else {
            return;
        };
        let mut regs: [Option<Val>; 16] = [None; 16];
        if params {
            for (n, &r) in ARGS.iter().enumerate() {
                regs[r] = Some(Val::Param(n as u8));
            }
        }
        let mut stored: Vec<Val> = Vec::new();
        let mut decoder = Decoder::with_ip(64, bytes, f.start, DecoderOptions::NONE);
        let mut ins = Instruction::default();
        // The relocations of the current instruction; instructions come in address order, so
        // one cursor walks the function's relocations once.
        let mut next_reloc = c.relocs.lower_bound(f.start);
        let mut relocs: Vec<CodeReloc> = Vec::new();
        while decoder.can_decode() {
            decoder.decode_out(&mut ins);
            if ins.is_invalid() {
                // Data or padding in the middle of code: nothing after it can be trusted.
                return;
            }
            let ip = ins.ip();
            let next = ins.next_ip();
            let offsets = decoder.get_constant_offsets(&ins);
            relocs.clear();
            while let Some(r) = c.relocs.get(next_reloc).filter(|r| r.offset < next) {
                if r.offset >= ip {
                    relocs.push(r);
                }
                next_reloc += 1;
            }
            let reloc_at = |at: usize| relocs.iter().find(|r| r.offset == ip + at as u64);
            let target_at = |at: usize| reloc_at(at).and_then(|r| self.target(r, next));
            let imm = offsets
                .has_immediate()
                .then(|| target_at(offsets.immediate_offset()))
                .flatten();
            let disp = if offsets.has_displacement() {
                target_at(offsets.displacement_offset())
            } else {
                None
            };
            match ins.mnemonic() {
                Mnemonic::Call | Mnemonic::Jmp => {
                    let is_call = ins.mnemonic() == Mnemonic::Call;
                    let callee = self.callee(id.code, &ins, &relocs, next);
                    // A jump inside the function is control flow, not a call.
                    let local_jump = !is_call
                        && relocs.is_empty()
                        && matches!(ins.op0_kind(), OpKind::NearBranch64)
                        && (f.start..f.end).contains(&ins.near_branch_target());
                    if local_jump {
                        continue;
                    }
                    if !is_call && callee.is_none() {
                        // An indirect jump (a switch table): the state is unknown after it.
                        continue;
                    }
                    if let Some(callee) = callee {
                        let mut args = [None; 6];
                        for (a, &r) in args.iter_mut().zip(ARGS.iter()) {
                            *a = regs[r];
                        }
                        on(Event::Call {
                            callee,
                            args,
                            stored: std::mem::take(&mut stored),
                        });
                    }
                    stored.clear();
                    for r in CALLER_SAVED {
                        regs[r] = None;
                    }
                }
                Mnemonic::Mov if ins.op_count() == 2 => match (ins.op0_kind(), ins.op1_kind()) {
                    (OpKind::Register, OpKind::Register) => {
                        let v = gpr64(ins.op1_register()).and_then(|s| regs[s]);
                        set(&mut regs, ins.op0_register(), v);
                    }
                    (OpKind::Register, OpKind::Memory) => {
                        let base = gpr64(ins.memory_base()).and_then(|b| regs[b]);
                        let v = match (ins.memory_base(), base) {
                            (Register::RIP | Register::None, _) => disp.map(Val::Loaded),
                            (_, Some(Val::Addr(t @ Target::Local { .. }))) => Some(Val::Loaded(t)),
                            _ => None,
                        };
                        set(&mut regs, ins.op0_register(), v);
                    }
                    (OpKind::Register, _) => {
                        set(&mut regs, ins.op0_register(), imm.map(Val::Addr));
                    }
                    (OpKind::Memory, k) => {
                        let value = if k == OpKind::Register {
                            gpr64(ins.op1_register()).and_then(|s| regs[s])
                        } else {
                            imm.map(Val::Addr)
                        };
                        let dest = if matches!(ins.memory_base(), Register::RIP | Register::None)
                            && ins.memory_index() == Register::None
                        {
                            disp
                        } else {
                            None
                        };
                        if let Some(v) = value {
                            stored.push(v);
                        }
                        on(Event::Store { dest, value });
                    }
                    _ => {}
                },
                Mnemonic::Lea => {
                    let v = if matches!(ins.memory_base(), Register::RIP | Register::None)
                        && ins.memory_index() == Register::None
                    {
                        disp.map(Val::Addr)
                    } else {
                        None
                    };
                    set(&mut regs, ins.op0_register(), v);
                }
                Mnemonic::Cmp | Mnemonic::Test | Mnemonic::Push | Mnemonic::Bt => {}
                Mnemonic::Ret => {}
                _ => {
                    if ins.op_count() > 0 && ins.op0_kind() == OpKind::Register {
                        set(&mut regs, ins.op0_register(), None);
                    }
                    // String instructions and the like change registers they do not name.
                    if ins.has_rep_prefix() || ins.has_repne_prefix() {
                        regs = [None; 16];
                    }
                }
            }
        }
    }

    /// The callee of a call or jump instruction.
    fn callee(
        &self,
        code: usize,
        ins: &Instruction,
        relocs: &[CodeReloc],
        next: u64,
    ) -> Option<Callee> {
        if let Some(r) = relocs.first() {
            return match self.target(r, next)? {
                Target::Extern(s) => Some(Callee::Extern(s)),
                Target::Local { section, offset } => {
                    self.func_id(section, offset).map(Callee::Local)
                }
            };
        }
        if ins.op0_kind() == OpKind::NearBranch64 {
            let section = self.code[code].index;
            return self
                .func_id(section, ins.near_branch_target())
                .map(Callee::Local);
        }
        None
    }

    /// The function starting at `offset` of section `section`.
    fn func_id(&self, section: usize, offset: u64) -> Option<FuncId> {
        let code = self.code.binary_search_by_key(&section, |c| c.index).ok()?;
        let func = self.code[code]
            .funcs
            .binary_search_by_key(&offset, |f| f.start)
            .ok()?;
        Some(FuncId { code, func })
    }

    /// Where relocation `r` of an instruction ending at `next` points.
    fn target(&self, r: &CodeReloc, next: u64) -> Option<Target> {
        let adjust = match r.r_type {
            R_X86_64_PC32 | R_X86_64_PLT32 => next.checked_sub(r.offset)?,
            R_X86_64_32S | R_X86_64_32 | R_X86_64_64 => 0,
            _ => return None,
        };
        resolve(self.symbols, r.sym, r.addend, adjust)
    }
}

/// The address a relocation against symbol `sym` with `addend` gives, `adjust` bytes on.
pub fn resolve(symbols: &Symbols<'_>, sym: usize, addend: i64, adjust: u64) -> Option<Target> {
    let s = symbols.get(sym)?;
    if s.st_shndx == SHN_UNDEF as usize {
        return Some(Target::Extern(sym));
    }
    if s.st_shndx >= SHN_LORESERVE as usize {
        return None;
    }
    let base = if s.st_type() == STT_SECTION {
        0
    } else {
        s.st_value
    };
    let offset = base.checked_add_signed(addend)?.checked_add(adjust)?;
    Some(Target::Local {
        section: s.st_shndx,
        offset,
    })
}

/// The relocations of data section `section`, as (offset, target), from the relocation
/// sections that apply to it.
pub fn data_relocations(
    elf: &Elf<'_>,
    symbols: &Symbols<'_>,
    section: usize,
) -> Result<Vec<(u64, Target)>, ElfError> {
    let mut out = Vec::new();
    for sh in elf.sections() {
        if (sh.sh_type == SHT_RELA || sh.sh_type == SHT_REL)
            && sh.sh_info as usize == section
            && sh.sh_link as usize == symbols.index()
        {
            for r in elf.relocations(sh)?.iter() {
                if r.r_type == R_X86_64_64
                    && let Some(t) = resolve(symbols, r.r_sym, r.r_addend.unwrap_or(0), 0)
                {
                    out.push((r.r_offset, t));
                }
            }
        }
    }
    out.sort_unstable_by_key(|&(o, _)| o);
    Ok(out)
}

/// The module's variables (object symbols): (section, value, size, symbol index), in symbol
/// table order. Collected once, as a module may have many tables to look up.
pub struct Objects(Vec<(usize, u64, u64, usize)>);

impl Objects {
    /// Collects the object symbols of `symbols`.
    pub fn new(symbols: &Symbols<'_>) -> Objects {
        Objects(
            symbols
                .iter()
                .filter(|(_, s)| s.st_type() == STT_OBJECT)
                .map(|(i, s)| (s.st_shndx, s.st_value, s.st_size, i))
                .collect(),
        )
    }

    /// The first object symbol (a variable) containing `offset` of `section`: its symbol index,
    /// value and size.
    pub fn at(&self, section: usize, offset: u64) -> Option<(usize, u64, u64)> {
        self.0
            .iter()
            .find(|&&(sec, value, size, _)| {
                sec == section
                    && (value == offset || (value < offset && offset < value.saturating_add(size)))
            })
            .map(|&(_, value, size, i)| (i, value, size))
    }
}

fn func_at(funcs: &[Func], offset: u64) -> Option<usize> {
    let k = funcs
        .partition_point(|f| f.start <= offset)
        .checked_sub(1)?;
    (offset < funcs[k].end).then_some(k)
}

/// The general register (`RAX` = 0 … `R15` = 15) that `r` is part of, and whether `r` is the
/// whole 64-bit register. iced-x86 numbers them `AL CL DL BL AH CH DH BH SPL … R15L`, then the
/// 16-, 32- and 64-bit registers in `RAX` order.
fn gpr(r: Register) -> Option<(usize, bool)> {
    let n = r as usize;
    let at = |base: Register| n.checked_sub(base as usize).filter(|&i| i < 16);
    if let Some(i) = at(Register::RAX) {
        return Some((i, true));
    }
    if let Some(i) = at(Register::EAX).or_else(|| at(Register::AX)) {
        return Some((i, false));
    }
    let i = n.checked_sub(Register::AL as usize).filter(|&i| i < 20)?;
    Some((
        match i {
            0..=3 => i,
            4..=7 => i - 4,
            _ => i - 4,
        },
        false,
    ))
}

fn gpr64(r: Register) -> Option<usize> {
    gpr(r).filter(|&(_, full)| full).map(|(i, _)| i)
}

fn set(regs: &mut [Option<Val>; 16], r: Register, v: Option<Val>) {
    if let Some((i, full)) = gpr(r) {
        // A 32-bit or narrower write cannot hold a kernel address.
        regs[i] = if full { v } else { None };
    }
}
