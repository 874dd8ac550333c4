//! A bounds-checked view of a module's ELF sections, 32- or 64-bit, either byte order.
//!
//! Validation follows kmod's libkmod-elf.c (kmod 34 also checks every section's extent) and the
//! kernel's `elf_validity_cache_copy`, so a file we accept is one the tools would accept too.
//! Only the section header table is decoded up front: modinfo needs nothing else, and modules
//! are parsed by the thousand.

use goblin::container::{Container, Ctx};
use goblin::elf::header::{self, Header};
use goblin::elf::reloc::{Reloc, RelocSection, reloc64};
use goblin::elf::section_header::{
    SHT_DYNSYM, SHT_NOBITS, SHT_REL, SHT_RELA, SHT_SYMTAB, SectionHeader,
};
use goblin::elf::sym::{Sym, Symtab};
use scroll::Pread;

use crate::error::ElfError;

/// A parsed ELF file: its header and section headers, borrowing the bytes.
pub struct Elf<'a> {
    data: &'a [u8],
    ctx: Ctx,
    header: Header,
    sections: Vec<SectionHeader>,
    names: &'a [u8],
}

impl<'a> Elf<'a> {
    /// Checks the ELF header and section table of `data`.
    pub fn parse(data: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        if data.len() <= 16 || &data[..4] != header::ELFMAG {
            return Err(ElfError::BadMagic);
        }
        let container = match data[header::EI_CLASS] {
            header::ELFCLASS32 => Container::Little,
            header::ELFCLASS64 => Container::Big,
            c => return Err(ElfError::BadClass(c)),
        };
        let endian = match data[header::EI_DATA] {
            header::ELFDATA2LSB => scroll::LE,
            header::ELFDATA2MSB => scroll::BE,
            d => return Err(ElfError::BadEndianness(d)),
        };
        let ctx = Ctx::new(container, endian);
        let header: Header = data
            .pread_with(0, endian)
            .map_err(|_| ElfError::TruncatedHeader)?;
        let entry_size = SectionHeader::size(ctx);
        if usize::from(header.e_shentsize) != entry_size {
            return Err(ElfError::BadSectionEntrySize(header.e_shentsize));
        }
        // Extended section numbering (e_shnum == 0 with the count in section 0) is not used by
        // modules; kmod does not support it either.
        if header.e_shoff == 0 || header.e_shnum == 0 {
            return Err(ElfError::NoSections);
        }
        let table_len = usize::from(header.e_shnum) * entry_size;
        let table_end = usize::try_from(header.e_shoff)
            .ok()
            .and_then(|off| off.checked_add(table_len));
        if table_end.is_none_or(|end| end > data.len()) {
            return Err(ElfError::SectionTableOutOfBounds);
        }
        let sections = SectionHeader::parse(
            data,
            header.e_shoff as usize,
            usize::from(header.e_shnum),
            ctx,
        )
        .map_err(|_| ElfError::SectionTableOutOfBounds)?;
        for (i, sh) in sections.iter().enumerate() {
            if sh.sh_type != SHT_NOBITS && extent(sh, data.len()).is_none() {
                return Err(ElfError::SectionOutOfBounds(format!("#{i}")));
            }
        }
        let names = sections
            .get(usize::from(header.e_shstrndx))
            .filter(|sh| sh.sh_type != SHT_NOBITS && sh.sh_size > 0)
            .and_then(|sh| extent(sh, data.len()))
            .map(|range| &data[range])
            .filter(|names| names.last() == Some(&0))
            .ok_or(ElfError::BadSectionNames)?;
        Ok(Elf {
            data,
            ctx,
            header,
            sections,
            names,
        })
    }

    /// The whole file.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Word size and byte order.
    pub fn ctx(&self) -> Ctx {
        self.ctx
    }

    /// Whether the file is 64-bit.
    pub fn is_64(&self) -> bool {
        self.ctx.container.is_big()
    }

    /// The ELF header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// All section headers, index 0 included.
    pub fn sections(&self) -> &[SectionHeader] {
        &self.sections
    }

    /// The name of a section, or an empty slice when its name offset is out of range.
    pub fn section_name(&self, sh: &SectionHeader) -> &'a [u8] {
        self.names
            .get(sh.sh_name..)
            .map(|s| &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())])
            .unwrap_or_default()
    }

    /// The first section called `name`, with its index.
    pub fn find_section(&self, name: &str) -> Option<(usize, &SectionHeader)> {
        self.sections
            .iter()
            .enumerate()
            .find(|(_, sh)| self.section_name(sh) == name.as_bytes())
    }

    /// The contents of a section (empty for NOBITS). Bounds were checked in [`Elf::parse`].
    pub fn section_data(&self, sh: &SectionHeader) -> &'a [u8] {
        if sh.sh_type == SHT_NOBITS {
            return &[];
        }
        extent(sh, self.data.len())
            .map(|r| &self.data[r])
            .unwrap_or_default()
    }

    /// The contents of the first section called `name`.
    pub fn section_by_name(&self, name: &str) -> Option<&'a [u8]> {
        self.find_section(name).map(|(_, sh)| self.section_data(sh))
    }

    /// The symbol table in section `index` (SHT_SYMTAB or SHT_DYNSYM) with the string table its
    /// `sh_link` names. Symbols are decoded lazily, so a hostile count costs nothing: the count
    /// is the section's size divided by the entry size, and the section lies inside the file.
    pub fn symbols(&self, index: usize) -> Result<Symbols<'a>, ElfError> {
        let bad = |why: &str| ElfError::Other(format!("symbol table (section #{index}): {why}"));
        let sh = self
            .sections
            .get(index)
            .ok_or_else(|| bad("no such section"))?;
        if sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM {
            return Err(bad("not a symbol table"));
        }
        let data = self.section_data(sh);
        let count = data.len() / Sym::size(self.ctx.container);
        let table = Symtab::parse(data, 0, count, self.ctx).map_err(|e| bad(&e.to_string()))?;
        let strtab = usize::try_from(sh.sh_link)
            .ok()
            .filter(|&link| link != index)
            .and_then(|link| self.sections.get(link))
            .filter(|st| st.sh_type != SHT_NOBITS)
            .map(|st| self.section_data(st))
            .ok_or_else(|| bad("invalid string table link"))?;
        // As the kernel requires (elf_validity_cache_strtab): a string table ends in NUL, and
        // every name starts inside it. A cut table would otherwise turn names into "".
        if strtab.last() != Some(&0) {
            return Err(bad(
                "its string table is empty or not NUL-terminated (cut?)",
            ));
        }
        if let Some((i, _)) = table
            .iter()
            .enumerate()
            .find(|(_, sym)| sym.st_name >= strtab.len())
        {
            return Err(bad(&format!(
                "symbol #{i}'s name lies past the end of its string table ({} bytes)",
                strtab.len()
            )));
        }
        Ok(Symbols {
            table,
            strtab,
            index,
        })
    }

    /// The first SHT_SYMTAB section's index (modules have exactly one: the loader needs it).
    pub fn symtab_index(&self) -> Option<usize> {
        self.sections.iter().position(|sh| sh.sh_type == SHT_SYMTAB)
    }

    /// The entries of a SHT_REL or SHT_RELA section, decoded lazily; MIPS64 little-endian's
    /// split `r_info` is put back into the standard layout.
    pub fn relocations(&self, sh: &SectionHeader) -> Result<Relocations<'a>, ElfError> {
        let is_rela = match sh.sh_type {
            SHT_RELA => true,
            SHT_REL => false,
            _ => return Err(ElfError::Other("not a relocation section".to_string())),
        };
        let data = self.section_data(sh);
        let section = RelocSection::parse(data, 0, data.len(), is_rela, self.ctx)
            .map_err(|e| ElfError::Other(format!("relocation section: {e}")))?;
        let is_mips64el =
            self.is_64() && self.ctx.le == scroll::LE && self.header.e_machine == header::EM_MIPS;
        Ok(Relocations {
            section,
            is_mips64el,
        })
    }
}

/// A symbol table and its string table.
pub struct Symbols<'a> {
    table: Symtab<'a>,
    strtab: &'a [u8],
    index: usize,
}

impl<'a> Symbols<'a> {
    /// The section index of the table (what relocation sections name in `sh_link`).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of symbols, the null symbol 0 included.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the table has no entries at all.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Symbol `i`, if in range.
    pub fn get(&self, i: usize) -> Option<Sym> {
        self.table.get(i)
    }

    /// Every symbol with its index.
    pub fn iter(&self) -> impl Iterator<Item = (usize, Sym)> + 'a {
        self.table.iter().enumerate()
    }

    /// The name of `sym`: empty when its name offset is out of range, cut at the end of the
    /// string table when it is not terminated.
    pub fn name(&self, sym: &Sym) -> &'a [u8] {
        let s = self.strtab.get(sym.st_name..).unwrap_or_default();
        &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
    }
}

/// The entries of one relocation section.
pub struct Relocations<'a> {
    section: RelocSection<'a>,
    is_mips64el: bool,
}

impl<'a> Relocations<'a> {
    /// The number of entries.
    pub fn len(&self) -> usize {
        self.section.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.section.is_empty()
    }

    /// Entry `i`, if in range.
    pub fn get(&self, i: usize) -> Option<Reloc> {
        let mut r = self.section.get(i)?;
        if self.is_mips64el {
            let info = reloc64::mips64el_r_info(((r.r_sym as u64) << 32) | u64::from(r.r_type));
            r.r_sym = reloc64::r_sym(info) as usize;
            r.r_type = reloc64::r_type(info);
        }
        Some(r)
    }

    /// Every entry, in order.
    pub fn iter(&self) -> impl Iterator<Item = Reloc> + 'a {
        let fix = self.is_mips64el;
        self.section.iter().map(move |mut r| {
            if fix {
                // goblin split r_info as (sym << 32 | type); rebuild it and reinterpret it with
                // MIPS64's little-endian layout.
                let info = reloc64::mips64el_r_info(((r.r_sym as u64) << 32) | u64::from(r.r_type));
                r.r_sym = reloc64::r_sym(info) as usize;
                r.r_type = reloc64::r_type(info);
            }
            r
        })
    }
}

/// The byte range a section occupies, if it lies inside a file of `len` bytes.
fn extent(sh: &SectionHeader, len: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(sh.sh_offset).ok()?;
    let end = start.checked_add(usize::try_from(sh.sh_size).ok()?)?;
    (end <= len).then_some(start..end)
}

/// Reads a 4-byte word in the file's byte order.
pub(crate) fn read_u32(data: &[u8], offset: usize, ctx: Ctx) -> Option<u32> {
    data.pread_with::<u32>(offset, ctx.le).ok()
}

#[cfg(test)]
pub(crate) mod testelf {
    //! A tiny ELF writer for unit tests: a relocatable file with the given sections.

    /// Builds an ELF relocatable file with the given (name, contents) sections.
    pub fn build(is_64: bool, big_endian: bool, sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut names = vec![0u8];
        let mut name_offsets = Vec::new();
        for (name, _) in sections {
            name_offsets.push(names.len() as u32);
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        let shstrtab_name = names.len() as u32;
        names.extend_from_slice(b".shstrtab\0");

        let ehsize = if is_64 { 64 } else { 52 };
        let shentsize = if is_64 { 64 } else { 40 };
        let mut body = Vec::new();
        let mut placed = Vec::new();
        let mut offset = ehsize;
        for (_, data) in sections {
            placed.push((offset, data.len()));
            body.extend_from_slice(data);
            offset += data.len();
        }
        let names_off = offset;
        body.extend_from_slice(&names);
        offset += names.len();
        let shoff = offset;
        let shnum = sections.len() + 2;

        let w16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w64 = |v: u64| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let word = |v: u64| -> Vec<u8> {
            if is_64 {
                w64(v).to_vec()
            } else {
                w32(v as u32).to_vec()
            }
        };

        let mut out = Vec::new();
        out.extend_from_slice(b"\x7fELF");
        out.push(if is_64 { 2 } else { 1 });
        out.push(if big_endian { 2 } else { 1 });
        out.push(1);
        out.extend_from_slice(&[0; 9]);
        out.extend_from_slice(&w16(1)); // ET_REL
        out.extend_from_slice(&w16(62));
        out.extend_from_slice(&w32(1));
        out.extend(word(0)); // entry
        out.extend(word(0)); // phoff
        out.extend(word(shoff as u64));
        out.extend_from_slice(&w32(0)); // flags
        out.extend_from_slice(&w16(ehsize as u16));
        out.extend_from_slice(&w16(0));
        out.extend_from_slice(&w16(0));
        out.extend_from_slice(&w16(shentsize as u16));
        out.extend_from_slice(&w16(shnum as u16));
        out.extend_from_slice(&w16((shnum - 1) as u16));
        assert_eq!(out.len(), ehsize);
        out.extend_from_slice(&body);

        let mut shdr = |name: u32, typ: u32, off: usize, size: usize| {
            out.extend_from_slice(&w32(name));
            out.extend_from_slice(&w32(typ));
            out.extend(word(0)); // flags
            out.extend(word(0)); // addr
            out.extend(word(off as u64));
            out.extend(word(size as u64));
            out.extend_from_slice(&w32(0)); // link
            out.extend_from_slice(&w32(0)); // info
            out.extend(word(1)); // align
            out.extend(word(0)); // entsize
        };
        shdr(0, 0, 0, 0);
        for (i, (off, len)) in placed.iter().enumerate() {
            let typ = if sections[i].0.starts_with(".note") {
                7
            } else {
                1
            };
            shdr(name_offsets[i], typ, *off, *len);
        }
        shdr(shstrtab_name, 3, names_off, names.len());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_four_layouts() {
        for is_64 in [false, true] {
            for be in [false, true] {
                let f = testelf::build(is_64, be, &[(".modinfo", b"license=GPL\0")]);
                let elf = Elf::parse(&f).unwrap();
                assert_eq!(elf.is_64(), is_64);
                assert_eq!(elf.section_by_name(".modinfo").unwrap(), b"license=GPL\0");
                assert!(elf.section_by_name(".nope").is_none());
            }
        }
    }

    #[test]
    fn rejects_malformed_headers() {
        let good = testelf::build(true, false, &[(".modinfo", b"a=b\0")]);
        assert_eq!(
            Elf::parse(b"hello world, not elf").err(),
            Some(ElfError::BadMagic)
        );
        assert_eq!(Elf::parse(&good[..16]).err(), Some(ElfError::BadMagic));
        let mut bad = good.clone();
        bad[4] = 3;
        assert_eq!(Elf::parse(&bad).err(), Some(ElfError::BadClass(3)));
        let mut bad = good.clone();
        bad[5] = 0;
        assert_eq!(Elf::parse(&bad).err(), Some(ElfError::BadEndianness(0)));
        assert_eq!(
            Elf::parse(&good[..40]).err(),
            Some(ElfError::TruncatedHeader)
        );
        // Cut inside the section table.
        assert_eq!(
            Elf::parse(&good[..good.len() - 10]).err(),
            Some(ElfError::SectionTableOutOfBounds)
        );
        // e_shentsize wrong.
        let mut bad = good.clone();
        bad[58] = 10;
        assert_eq!(
            Elf::parse(&bad).err(),
            Some(ElfError::BadSectionEntrySize(10))
        );
    }

    #[test]
    fn rejects_a_section_past_the_end() {
        let mut f = testelf::build(true, false, &[(".modinfo", b"a=b\0")]);
        // Section 1's sh_size field: shoff + 64 + 32.
        let shoff = u64::from_le_bytes(f[40..48].try_into().unwrap()) as usize;
        let at = shoff + 64 + 32;
        f[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            Elf::parse(&f),
            Err(ElfError::SectionOutOfBounds(_))
        ));
    }
}
