//! The bad-input catalogue: malformed and hostile inputs for every tool, each with the exit
//! status and the class of message it must get. Inputs are the committed ones in
//! tests/fixtures/bad/ plus files derived here from rk_basic.ko (truncations at every section
//! boundary, which all cut the section header table at the end of the file; cuts inside every
//! section of a copy whose header table comes first; symbol, relocation and name tables cut or
//! mislinked; offsets past the end, overlapping and huge sections; non-UTF-8, unterminated and
//! mid-string .modinfo), special files, and hostile names. Each failure is one stderr line with
//! the file and its cause, for modinfo and modaudit alike. Insertion and removal of hostile inputs against a
//! live kernel, with /proc/modules compared before and after, is in
//! tests/vm/scenarios/rk-insmod.sh and rk-rmmod.sh.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::harness::*;

/// Our tool `name` on `args`, stdin /dev/null. A run that blocks (on a FIFO, say) is killed
/// after ten seconds and fails the test.
///
/// insmod and rmmod get `--root` at an empty directory (no /proc/modules, no /sys/module, no
/// /sys/module/compression): every case here must be refused before any system call, and on a
/// host whose kernel decompresses xz itself a hostile .ko.xz would otherwise go to the real
/// finit_module. Under `--root` even a regression only reaches the fake kernel.
fn tool(name: &str, args: &[&str]) -> Output {
    let mut run = ours(name);
    if matches!(name, "insmod" | "rmmod") {
        let empty = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-root");
        std::fs::create_dir_all(&empty).unwrap();
        run = run.arg("--root").arg(empty);
    }
    run.args(args).timeout(Duration::from_secs(10)).output()
}

/// One catalogue entry: run, then check status, stderr class, and that there is no panic.
#[track_caller]
fn expect(what: &str, out: &Output, status: i32, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{what}: panic: {err}");
    assert_eq!(
        out.status.code(),
        Some(status),
        "{what}: status; stderr: {err}"
    );
    if status != 0 {
        // One input per run: one line saying why.
        assert_one_stderr_line(out, what);
        for l in err.lines() {
            assert!(
                l.contains(": ERROR: ") || l.contains(": DENIED: "),
                "{what}: stray stderr line {l:?}"
            );
        }
    }
    for n in needles {
        assert!(
            err.contains(n),
            "{what}: stderr {err:?} should contain {n:?}"
        );
    }
}

/// Keeps a copy of a derived input that the kernel must refuse too, when RKMOD_BAD_INPUTS_OUT
/// names a directory: `make test` sets it, and the VM scenario rk-insmod then loads each copy
/// with our insmod and checks that /proc/modules did not change.
fn export_for_vm(path: &Path) {
    if let Some(dir) = std::env::var_os("RKMOD_BAD_INPUTS_OUT") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(path, dir.join(path.file_name().unwrap())).unwrap();
    }
}

/// rk_basic.ko with a patch applied, written to `dir/name`.
fn derived(dir: &Path, name: &str, patch: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut data = std::fs::read(fixture("rk_basic.ko")).unwrap();
    patch(&mut data);
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// (offset, size) of every section with contents, and where the section headers are.
fn layout() -> (Vec<(String, u64, u64)>, usize, usize) {
    let data = std::fs::read(fixture("rk_basic.ko")).unwrap();
    let elf = rkmod::file::elf::Elf::parse(&data).unwrap();
    let sections = elf
        .sections()
        .iter()
        .filter(|sh| sh.sh_type != goblin::elf::section_header::SHT_NOBITS && sh.sh_size > 0)
        .map(|sh| {
            (
                String::from_utf8_lossy(elf.section_name(sh)).into_owned(),
                sh.sh_offset,
                sh.sh_size,
            )
        })
        .collect();
    (
        sections,
        elf.header().e_shoff as usize,
        usize::from(elf.header().e_shentsize),
    )
}

fn section_header_at(name: &str) -> usize {
    let data = std::fs::read(fixture("rk_basic.ko")).unwrap();
    let elf = rkmod::file::elf::Elf::parse(&data).unwrap();
    let (i, _) = elf.find_section(name).unwrap();
    elf.header().e_shoff as usize + i * usize::from(elf.header().e_shentsize)
}

#[test]
fn truncated_at_every_section_boundary() {
    let t = TempDir::new("trunc");
    let (sections, _, _) = layout();
    let mut cuts: Vec<u64> = sections
        .iter()
        .flat_map(|(_, off, size)| [*off, off + size])
        .collect();
    cuts.sort();
    cuts.dedup();
    let len = std::fs::metadata(fixture("rk_basic.ko")).unwrap().len();
    let mut n = 0;
    for cut in cuts.into_iter().filter(|&c| c < len) {
        let f = derived(&t.0, &format!("cut{cut}.ko"), |d| d.truncate(cut as usize));
        export_for_vm(&f);
        let shown = f.display().to_string();
        let class = if cut < 6 {
            "too short"
        } else if cut <= 16 {
            "not an ELF file"
        } else if cut < 64 {
            "truncated ELF header"
        } else {
            "section header table extends past the end"
        };
        expect(
            &format!("modinfo cut at {cut}"),
            &tool("modinfo", &[&shown]),
            1,
            &[&shown, class],
        );
        expect(
            &format!("modaudit cut at {cut}"),
            &tool("modaudit", &[&shown]),
            1,
            &[&shown, class],
        );
        n += 1;
    }
    assert!(n >= 20, "only {n} boundaries");
}

#[test]
fn section_offsets_and_sizes_out_of_bounds() {
    let t = TempDir::new("oob");
    let at = section_header_at(".modinfo");
    let past = derived(&t.0, "offset_past_eof.ko", |d| {
        let len = d.len() as u64;
        d[at + 24..at + 32].copy_from_slice(&(len + 4096).to_le_bytes());
    });
    let huge = derived(&t.0, "huge_size.ko", |d| {
        d[at + 32..at + 40].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    });
    let wrap = derived(&t.0, "wrapping.ko", |d| {
        d[at + 24..at + 32].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
        d[at + 32..at + 40].copy_from_slice(&16u64.to_le_bytes());
    });
    let shoff_past = derived(&t.0, "shoff_past_eof.ko", |d| {
        d[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
    });
    let shnum_huge = derived(&t.0, "shnum_huge.ko", |d| {
        d[60..62].copy_from_slice(&u16::MAX.to_le_bytes());
    });
    let strndx_bad = derived(&t.0, "shstrndx_bad.ko", |d| {
        d[62..64].copy_from_slice(&u16::MAX.to_le_bytes());
    });
    for (f, class) in [
        (&past, "extends past the end"),
        (&huge, "extends past the end"),
        (&wrap, "extends past the end"),
        (&shoff_past, "section header table extends past the end"),
        (&shnum_huge, "section header table extends past the end"),
        (&strndx_bad, "invalid ELF section name table"),
    ] {
        export_for_vm(f);
        let s = f.display().to_string();
        expect(
            &format!("modinfo {s}"),
            &tool("modinfo", &[&s]),
            1,
            &[&s, class],
        );
        expect(
            &format!("modaudit {s}"),
            &tool("modaudit", &[&s]),
            1,
            &[&s, class],
        );
    }
}

#[test]
fn odd_but_valid_modinfo_is_shown_as_kmod_shows_it() {
    let t = TempDir::new("odd");
    let data = std::fs::read(fixture("rk_basic.ko")).unwrap();
    let (sections, _, _) = layout();
    // Point .modinfo at the code instead: kmod reads whatever strings it finds there.
    let (_, text_off, _) = sections
        .iter()
        .find(|(n, _, _)| n.ends_with("text"))
        .cloned()
        .unwrap();
    let (_, mi_off, mi_size) = sections
        .iter()
        .find(|(n, _, _)| n == ".modinfo")
        .cloned()
        .unwrap();
    let at = section_header_at(".modinfo");
    let non_utf8 = derived(&t.0, "non_utf8.ko", |d| {
        let m = &mut d[mi_off as usize..(mi_off + mi_size) as usize];
        let pos = m.windows(8).position(|w| w == b"license=").unwrap() + 8;
        m[pos] = 0xff;
    });
    let unterminated = derived(&t.0, "unterminated.ko", |d| {
        d[at + 32..at + 40].copy_from_slice(&(mi_size - 1).to_le_bytes());
    });
    let overlapping = derived(&t.0, "overlapping.ko", |d| {
        d[at + 24..at + 32].copy_from_slice(&text_off.to_le_bytes());
    });
    // .modinfo ends four bytes into "license=GPL": a key "lice" with no value, for kmod too.
    let modinfo = &data[mi_off as usize..(mi_off + mi_size) as usize];
    let license = modinfo.windows(8).position(|w| w == b"license=").unwrap();
    let mid_string = derived(&t.0, "modinfo_mid_string.ko", |d| {
        d[at + 32..at + 40].copy_from_slice(&(license as u64 + 4).to_le_bytes());
    });
    let o = tool("modinfo", &[&mid_string.display().to_string()]);
    let shown = text(&o.stdout);
    assert!(shown.contains("\nlice:           \n"), "{shown}");
    assert!(!shown.contains("license"), "{shown}");
    drop(data);
    for f in [&non_utf8, &unterminated, &overlapping, &mid_string] {
        let s = f.display().to_string();
        let o = tool("modinfo", &[&s]);
        expect(&format!("modinfo {s}"), &o, 0, &[]);
        // Code read as .modinfo yields keys over 15 characters, where kmod 30 pads and kmod 34
        // (and we) do not: kmod 30 is no oracle for that one.
        if let (Some(k), false) = (kmod("modinfo"), f == &overlapping) {
            let k = run(k, [&s]);
            assert_same(&format!("kmod vs ours on {s}"), &k.stdout, &o.stdout);
        }
        expect(&format!("modaudit {s}"), &tool("modaudit", &[&s]), 0, &[]);
    }
}

#[test]
fn committed_hostile_fixtures_for_every_reading_tool() {
    let cases: &[(&str, i32, &str)] = &[
        ("bad/empty.ko", 1, "too short"),
        ("bad/short.ko", 1, "too short"),
        ("bad/truncated.ko", 1, "section header table"),
        ("bad/notelf.ko", 1, "not an ELF file"),
        ("bad/notmodule.ko", 1, "no .modinfo section"),
        ("bad/corrupt.ko.xz", 1, "corrupt xz data"),
        ("bad/corrupt.ko.zst", 1, "corrupt zstd data"),
        ("bad/corrupt.ko.gz", 1, "corrupt gzip data"),
        ("bad/bomb.ko.xz", 1, "decompression bomb"),
        ("bad/bomb.ko.zst", 1, "decompression bomb"),
        ("bad/bomb.ko.gz", 1, "decompression bomb"),
        ("bad/garbage_sig.ko", 0, "bad module signature"),
        ("bad/huge_sig_len.ko", 0, ""),
        ("bad/elf32.ko", 0, ""),
    ];
    for (name, status, class) in cases {
        let f = fixture(name).display().to_string();
        let needles: Vec<&str> = if class.is_empty() {
            vec![]
        } else {
            vec![&f, class]
        };
        expect(
            &format!("modinfo {name}"),
            &tool("modinfo", &[&f]),
            *status,
            &needles,
        );
        // insmod refuses before any system call what it must read itself: files too short to
        // hold a magic number, and compressed files (the empty root's kernel decompresses
        // nothing).
        // A plain ELF goes to finit_module as it is, as with kmod: the kernel judges it.
        if ["empty", "short", "corrupt", "bomb"]
            .iter()
            .any(|k| name.contains(k))
        {
            let o = tool("insmod", &[&f]);
            expect(
                &format!("insmod {name}"),
                &o,
                1,
                &[&format!("could not load module {f}"), class],
            );
        }
    }
    // A huge signature length means "not signed", as for kmod: no sig lines.
    let o = tool(
        "modinfo",
        &[&fixture("bad/huge_sig_len.ko").display().to_string()],
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("sig_id"));
}

#[test]
fn special_files_and_paths() {
    let t = TempDir::new("special");
    let fifo = t.0.join("fifo.ko");
    assert_status(&program("mkfifo").arg(&fifo).output(), 0, "mkfifo");
    let dir = t.0.join("dir.ko");
    std::fs::create_dir(&dir).unwrap();
    let loop1 = t.0.join("loop1.ko");
    std::os::unix::fs::symlink(t.0.join("loop2.ko"), &loop1).unwrap();
    std::os::unix::fs::symlink(&loop1, t.0.join("loop2.ko")).unwrap();
    let (fifo, dir, loop1) = (
        fifo.display().to_string(),
        dir.display().to_string(),
        loop1.display().to_string(),
    );
    let missing = t.0.join("missing.ko").display().to_string();
    // modinfo takes only regular files as files: the rest are explained as not found.
    expect(
        "modinfo fifo",
        &tool("modinfo", &[&fifo]),
        1,
        &["not a regular file"],
    );
    expect(
        "modinfo dir",
        &tool("modinfo", &[&dir]),
        1,
        &["is a directory"],
    );
    expect(
        "modinfo loop",
        &tool("modinfo", &[&loop1]),
        1,
        &["Too many levels of symbolic links"],
    );
    expect(
        "modinfo /dev/zero",
        &tool("modinfo", &["/dev/zero"]),
        1,
        &["not a regular file"],
    );
    expect(
        "modinfo missing",
        &tool("modinfo", &[&missing]),
        1,
        &["not found"],
    );
    expect("modaudit fifo", &tool("modaudit", &[&fifo]), 1, &["FIFO"]);
    expect(
        "modaudit /dev/zero",
        &tool("modaudit", &["/dev/zero"]),
        1,
        &["character device"],
    );
    expect(
        "insmod fifo",
        &tool("insmod", &[&fifo]),
        1,
        &["FIFO, not a regular file"],
    );
    expect(
        "insmod dir",
        &tool("insmod", &[&dir]),
        1,
        &["is a directory"],
    );
    expect(
        "insmod loop",
        &tool("insmod", &[&loop1]),
        1,
        &["Too many levels of symbolic links"],
    );
    expect(
        "insmod /dev/zero",
        &tool("insmod", &["/dev/zero"]),
        1,
        &["character device"],
    );
    expect(
        "insmod missing",
        &tool("insmod", &[&missing]),
        1,
        &["No such file or directory"],
    );
    expect(
        "insmod stdin",
        &tool("insmod", &["-"]),
        1,
        &["does not support loading from stdin"],
    );
    // Even with a module waiting on stdin.
    expect(
        "insmod stdin with a module on it",
        &ours("insmod")
            .arg("-")
            .stdin(std::fs::read(fixture("rk_basic.ko")).unwrap())
            .output(),
        1,
        &["does not support loading from stdin"],
    );
    expect(
        "insmod nothing",
        &tool("insmod", &[]),
        1,
        &["missing filename."],
    );
}

#[test]
fn hostile_module_names() {
    let long = "a".repeat(100);
    let cases: &[(&str, &str)] = &[
        ("a/b", "cannot contain '/'"),
        ("../x", "cannot contain '/'"),
        ("/nonexistent/x.ko", "cannot contain '/'"),
        (&long, "longer than the kernel's 55 characters"),
    ];
    for (name, class) in cases {
        expect(
            &format!("rmmod {name}"),
            &tool("rmmod", &[name]),
            1,
            &[class],
        );
        expect(
            &format!("rmmod -f {name}"),
            &tool("rmmod", &["-f", name]),
            1,
            &[class],
        );
    }
    expect(
        "modinfo a/b",
        &tool("modinfo", &["a/b"]),
        1,
        &["cannot contain '/'"],
    );
    expect(
        "modinfo -m ..",
        &tool("modinfo", &["-m", ".."]),
        1,
        &["not found"],
    );
    // A NUL cannot reach argv; the library refuses it anyway.
    assert!(rkmod::remove::kernel_name("a\0b").is_err());
    expect(
        "rmmod nothing",
        &tool("rmmod", &[]),
        1,
        &["missing module name."],
    );
}

#[test]
fn full_disk_and_closed_stdout() {
    let f = fixture("rk_basic.ko").display().to_string();
    for (t, args) in [
        ("modinfo", vec![f.as_str()]),
        ("modaudit", vec![f.as_str()]),
    ] {
        let full = ours(t)
            .args(&args)
            .stdout_to(std::fs::File::create("/dev/full").unwrap())
            .output();
        expect(
            &format!("{t} > /dev/full"),
            &full,
            1,
            &["could not write output: No space left on device"],
        );
        let script = format!("{} {} | head -c 0", bin(t), args.join(" "));
        let closed = shell(&script).output();
        assert!(
            closed.stderr.is_empty(),
            "{t} | head -c 0: {}",
            String::from_utf8_lossy(&closed.stderr)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Cuts that reach past the section header table check: the table intact, contents cut.

/// Section header fields (ELF64): offsets inside one 64-byte header.
const SH_OFFSET: usize = 24;
const SH_SIZE: usize = 32;
const SH_LINK: usize = 40;

/// Where section header `i` of 64-bit little-endian `d` starts.
fn header_of(d: &[u8], i: usize) -> usize {
    u64::from_le_bytes(d[40..48].try_into().unwrap()) as usize + i * 64
}

fn put_u64(d: &mut [u8], at: usize, v: u64) {
    d[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Sets field `field` of section header `i`: 4 bytes for sh_link, 8 for the others used here.
fn set_sh(d: &mut [u8], i: usize, field: usize, v: u64) {
    let at = header_of(d, i) + field;
    if field == SH_LINK {
        d[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
    } else {
        put_u64(d, at, v);
    }
}

fn get_u64(d: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(d[at..at + 8].try_into().unwrap())
}

/// The index of rk_basic.ko's section `name`.
fn index_of(name: &str) -> usize {
    let data = std::fs::read(fixture("rk_basic.ko")).unwrap();
    let elf = rkmod::file::elf::Elf::parse(&data).unwrap();
    elf.find_section(name).unwrap().0
}

/// rk_basic.ko with its section header table moved from the end of the file to just after the
/// ELF header (every section's offset shifted to match): the same module, but a cut now removes
/// section contents and leaves the header table whole.
fn table_first() -> Vec<u8> {
    let src = std::fs::read(fixture("rk_basic.ko")).unwrap();
    let shoff = get_u64(&src, 40) as usize;
    let shnum = usize::from(u16::from_le_bytes([src[60], src[61]]));
    let table_len = shnum * 64;
    assert_eq!(
        shoff + table_len,
        src.len(),
        "rk_basic.ko's table is at its end"
    );
    let mut d = Vec::with_capacity(src.len());
    d.extend_from_slice(&src[..64]);
    d.extend_from_slice(&src[shoff..]);
    d.extend_from_slice(&src[64..shoff]);
    put_u64(&mut d, 40, 64);
    for i in 1..shnum {
        let off = get_u64(&d, header_of(&d, i) + SH_OFFSET);
        set_sh(&mut d, i, SH_OFFSET, off + table_len as u64);
    }
    d
}

#[test]
fn cuts_inside_sections_with_the_header_table_intact() {
    let t = TempDir::new("cut-contents");
    let whole = table_first();
    let moved = t.0.join("table_first.ko");
    std::fs::write(&moved, &whole).unwrap();
    // The moved copy is the same module: what the cuts test is the cut, nothing else.
    let body = |o: &Output| {
        let s = text(&o.stdout);
        s[s.find('\n').unwrap()..].to_string()
    };
    let original = tool("modinfo", &[&fixture("rk_basic.ko").display().to_string()]);
    let copy = tool("modinfo", &[&moved.display().to_string()]);
    expect("modinfo table_first.ko", &copy, 0, &[]);
    assert_eq!(body(&copy), body(&original));
    let audit = |f: &Path| {
        let o = tool("modaudit", &["--json", &f.display().to_string()]);
        expect(&format!("modaudit {}", f.display()), &o, 0, &[]);
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["filename"] = serde_json::Value::Null;
        v
    };
    assert_eq!(audit(&moved), audit(&fixture("rk_basic.ko")));

    let elf = rkmod::file::elf::Elf::parse(&whole).unwrap();
    let sections: Vec<(usize, u32, u64, u64)> = elf
        .sections()
        .iter()
        .enumerate()
        .map(|(i, sh)| (i, sh.sh_type, sh.sh_offset, sh.sh_size))
        .collect();
    let nobits = goblin::elf::section_header::SHT_NOBITS;
    let mut cuts: Vec<u64> = sections
        .iter()
        .filter(|&&(_, typ, _, size)| typ != nobits && size > 0)
        .flat_map(|&(_, _, off, size)| [off + size / 2, off + size - 1])
        .collect();
    cuts.sort();
    cuts.dedup();
    let mut n = 0;
    for cut in cuts {
        // The first section, in header order, that the cut leaves incomplete.
        let (first, ..) = *sections
            .iter()
            .find(|&&(_, typ, off, size)| typ != nobits && off + size > cut)
            .unwrap();
        let f = t.0.join(format!("contents_cut{cut}.ko"));
        std::fs::write(&f, &whole[..cut as usize]).unwrap();
        export_for_vm(&f);
        let shown = f.display().to_string();
        let cause = format!("ELF section #{first} extends past the end of the file");
        for reader in ["modinfo", "modaudit"] {
            expect(
                &format!("{reader} cut at {cut}"),
                &tool(reader, &[&shown]),
                1,
                &[&shown, &cause],
            );
        }
        if let Some(k) = kmod("modinfo") {
            assert_eq!(k.arg(&f).output().status.code(), Some(1), "kmod, cut {cut}");
        }
        n += 1;
    }
    assert!(n >= 50, "only {n} cuts");
}

#[test]
fn symbol_relocation_and_name_tables_cut_or_broken() {
    let t = TempDir::new("tables");
    let symtab = index_of(".symtab");
    let rela_init = index_of(".rela.init.text");
    let modinfo = index_of(".modinfo");
    let shstrtab = index_of(".shstrtab");
    let size_of = |i: usize| {
        let d = std::fs::read(fixture("rk_basic.ko")).unwrap();
        get_u64(&d, header_of(&d, i) + SH_SIZE)
    };
    let (symtab_size, rela_size) = (size_of(symtab), size_of(rela_init));
    let first_rela_info = {
        let d = std::fs::read(fixture("rk_basic.ko")).unwrap();
        get_u64(&d, header_of(&d, rela_init) + SH_OFFSET) as usize + 8
    };
    type Patch = Box<dyn Fn(&mut Vec<u8>)>;
    // (file, patch, modaudit's cause or "" for success, exported for the VM's kernel).
    let cases: Vec<(&str, Patch, &str, bool)> = vec![
        (
            "symtab_two_and_a_half_entries.ko",
            Box::new(move |d| set_sh(d, symtab, SH_SIZE, 60)),
            "relocation section .rela.init.text refers to symbol #50, but the symbol table has 2",
            false,
        ),
        (
            "symtab_cut_mid_entry.ko",
            Box::new(move |d| set_sh(d, symtab, SH_SIZE, symtab_size - 12)),
            "relocation section .rela__param refers to symbol #55, but the symbol table has 55",
            false,
        ),
        (
            "symtab_links_itself.ko",
            Box::new(move |d| set_sh(d, symtab, SH_LINK, symtab as u64)),
            "symbol table (section #34): invalid string table link",
            false,
        ),
        (
            "rela_links_to_modinfo.ko",
            Box::new(move |d| set_sh(d, rela_init, SH_LINK, modinfo as u64)),
            "relocation section .rela.init.text links to section #12, which is not a symbol table",
            false,
        ),
        (
            "rela_symbol_out_of_range.ko",
            Box::new(move |d| {
                let info = get_u64(d, first_rela_info);
                put_u64(d, first_rela_info, (9999 << 32) | (info & 0xffff_ffff));
            }),
            "relocation section .rela.init.text refers to symbol #9999, but the symbol table has 56",
            false,
        ),
        (
            // Whole entries are read, as the kernel's apply_relocate_add reads them.
            "rela_cut_mid_entry.ko",
            Box::new(move |d| set_sh(d, rela_init, SH_SIZE, rela_size - 5)),
            "",
            false,
        ),
        (
            "shstrtab_unterminated.ko",
            Box::new(move |d| {
                let size = get_u64(d, header_of(d, shstrtab) + SH_SIZE);
                set_sh(d, shstrtab, SH_SIZE, size - 1);
            }),
            "invalid ELF section name table",
            true,
        ),
        (
            "shentsize_63.ko",
            Box::new(|d| d[58..60].copy_from_slice(&63u16.to_le_bytes())),
            "invalid ELF section header size 63",
            true,
        ),
        (
            "shnum_zero.ko",
            Box::new(|d| d[60..62].copy_from_slice(&0u16.to_le_bytes())),
            "ELF file has no sections",
            false,
        ),
    ];
    assert_eq!(
        symtab, 34,
        "the causes above name rk_basic.ko's section numbers"
    );
    assert_eq!(modinfo, 12);
    for (name, patch, cause, for_vm) in cases {
        let f = derived(&t.0, name, |d| patch(d));
        if for_vm {
            export_for_vm(&f);
        }
        let s = f.display().to_string();
        let header_level = name.starts_with("sh");
        let info = tool("modinfo", &[&s]);
        let audit = tool("modaudit", &["--json", &s]);
        if cause.is_empty() {
            expect(&format!("modaudit {name}"), &audit, 0, &[]);
            let v: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
            assert_eq!(v["verdict"], "removable", "{name}");
            assert_eq!(v["init"]["section"], ".init.text", "{name}");
        } else {
            expect(&format!("modaudit {name}"), &audit, 1, &[&s, cause]);
        }
        if header_level {
            // Every reader needs the section names and the header table.
            expect(&format!("modinfo {name}"), &info, 1, &[&s, cause]);
            continue;
        }
        // modinfo reads neither symbols nor relocations: it shows the module, as kmod does.
        expect(&format!("modinfo {name}"), &info, 0, &[]);
        if let Some(k) = kmod("modinfo") {
            let k = k.arg(&f).output();
            assert_same(&format!("kmod vs ours on {name}"), &k.stdout, &info.stdout);
        }
    }
}

/// A bug this test found: modaudit read a symbol whose name lies past the end of a cut string
/// table as a symbol with no name, so it found no init function in rk_permanent.ko and called
/// a permanent module removable. A cut string table is an
/// error, like a cut symbol table.
#[test]
fn a_cut_string_table_is_an_error_not_a_removable_verdict() {
    let t = TempDir::new("strtab");
    let mut d = std::fs::read(fixture("rk_permanent.ko")).unwrap();
    let strtab = {
        let elf = rkmod::file::elf::Elf::parse(&d).unwrap();
        elf.find_section(".strtab").unwrap().0
    };
    set_sh(&mut d, strtab, SH_SIZE, 16);
    let f = t.0.join("permanent_strtab_cut.ko");
    std::fs::write(&f, d).unwrap();
    let s = f.display().to_string();
    let o = tool("modaudit", &[&s]);
    expect(
        "modaudit permanent_strtab_cut.ko",
        &o,
        1,
        &[&s, "string table"],
    );
}

/// modprobe gets names from unprivileged users through the kernel (`request_module` runs
/// `modprobe -q -- NAME`). None of these resolves to a file (a name is only ever a key of
/// depmod's indexes or of modprobe.d), none reaches a shell or the kernel: each is one FATAL
/// line, as in kmod, and exit status 1. With -r, likewise. Operands starting with `/` or `./`
/// are files by kmod's rule (only root runs modprobe with its own operands).
#[test]
fn hostile_modprobe_names() {
    let root = FakeRoot::empty();
    let dir = "lib/modules/9.9.9-rkfake";
    root.write(
        &format!("{dir}/extra/rk_basic.ko"),
        std::fs::read(fixture("rk_basic.ko")).unwrap(),
    );
    let out = ours("depmod")
        .args([
            "-b".as_ref(),
            root.path().as_os_str(),
            "9.9.9-rkfake".as_ref(),
        ])
        .output();
    assert_status(&out, 0, "depmod");
    let pwned = root.path().join("pwned");
    root.write(
        "etc/modprobe.d/x.conf",
        "install rk_basic echo $CMDLINE_OPTS >/dev/null\n",
    );
    let long = "a".repeat(4096);
    let longer = "b".repeat(70000);
    let shell = format!("$(touch {})", pwned.display());
    let names: Vec<&str> = vec![
        "../x",
        "a/b",
        "..",
        "../../../../etc/passwd",
        "extra/rk_basic.ko",
        "rk_basic/../rk_basic",
        &shell,
        "`touch pwned`",
        "a;touch pwned",
        "a\ntouch pwned",
        &long,
        &longer,
        "*",
        "[",
        "a]",
        "symbol:*",
        "",
        " ",
    ];
    for name in &names {
        for mode in [&["-q"][..], &[], &["-r"], &["-D"], &["-R"]] {
            let out = root
                .tool("modprobe")
                .args(mode)
                .arg("--")
                .arg(name)
                .timeout(Duration::from_secs(10))
                .output();
            let what = format!("modprobe {mode:?} {:.60}", name);
            let err = text(&out.stderr);
            assert!(!err.contains("panicked"), "{what}: {err}");
            assert_eq!(out.status.code(), Some(1), "{what}: {err}");
            assert!(out.stdout.is_empty(), "{what}");
            if mode == ["-q"] || (mode == ["-r"] && name.contains(['[', ']'])) {
                assert!(err.is_empty(), "{what}: {err}");
            } else {
                assert!(
                    err.starts_with("modprobe: FATAL: Module ") && err.lines().count() == 1
                        || name.contains('\n') && err.lines().count() == 2,
                    "{what}: {err}"
                );
            }
        }
    }
    assert!(!pwned.exists() && !root.path().join("pwned").exists());
    assert!(root.calls().is_empty(), "{:?}", root.calls());
    // A directory given as a path is refused by the kernel's rules, not read as a module.
    let out = root.ours("modprobe", &["-n", "/"]);
    assert_status(&out, 1, "modprobe /");
    assert_eq!(
        text(&out.stderr),
        "modprobe: FATAL: Failed to get module from path /: No such file or directory\n"
    );
}

// ---------------------------------------------------------------------------------------------
// depmod: bad modules in a tree, bad arguments, bad configuration. kmod's own words are
// compared in tests/depmod_synthetic.rs; here every committed hostile file (the .ko.gz and the
// zstd bomb included, which kmod 34.2 cannot read) gets one message naming it and the rest of
// the tree is indexed; a refused command is one line and exit 1.

/// A tree of rk_provider and rk_consumer plus every file of tests/fixtures/bad.
fn depmod_tree(t: &TempDir) -> (PathBuf, PathBuf) {
    let dir = t.0.join("lib/modules/6.1.0-bad");
    let kernel = dir.join("kernel");
    std::fs::create_dir_all(&kernel).unwrap();
    for m in ["rk_provider.ko", "rk_consumer.ko"] {
        std::fs::copy(fixture(m), kernel.join(m)).unwrap();
    }
    for entry in std::fs::read_dir(fixture("bad")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(at) = name.find(".ko") {
            // One module name per file: bomb.ko.xz and bomb.ko.zst would be duplicates.
            let unique = format!("bad_{}{}", name.replace('.', "_"), &name[at..]);
            std::fs::copy(fixture("bad").join(&name), kernel.join(unique)).unwrap();
        }
    }
    (dir, kernel)
}

#[test]
fn depmod_names_each_bad_module_once_and_indexes_the_rest() {
    let t = TempDir::new("depmod-bad");
    let (dir, kernel) = depmod_tree(&t);
    let root = t.0.to_str().unwrap();
    let out = tool("depmod", &["-C", "/nonexistent", "-b", root, "6.1.0-bad"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    let bad: Vec<String> = std::fs::read_dir(&kernel)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("bad_") && !n.contains("garbage_sig") && !n.contains("huge_sig"))
        .filter(|n| !n.contains("notmodule") && !n.contains("elf32"))
        .collect();
    for name in &bad {
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.contains(&format!("/{name}:")))
            .collect();
        assert_eq!(lines.len(), 1, "{name}: {err}");
        assert!(
            lines[0].starts_with("depmod: ERROR: failed to load symbols from "),
            "{err}"
        );
    }
    for l in err.lines() {
        assert!(
            l.starts_with("depmod: ERROR: ") || l.starts_with("depmod: WARNING: could not open "),
            "stray line {l:?}"
        );
    }
    let dep = std::fs::read_to_string(dir.join("modules.dep")).unwrap();
    assert!(
        dep.contains("kernel/rk_consumer.ko: kernel/rk_provider.ko\n"),
        "{dep}"
    );
    for name in &bad {
        assert!(
            dep.contains(&format!("kernel/{name}:\n")),
            "{name} not indexed: {dep}"
        );
    }
}

#[test]
fn depmod_refuses_bad_arguments_in_one_line() {
    let t = TempDir::new("depmod-args");
    let (dir, kernel) = depmod_tree(&t);
    for entry in std::fs::read_dir(&kernel).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("bad_") {
            std::fs::remove_file(p).unwrap();
        }
    }
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        std::fs::write(dir.join(f), "").unwrap();
    }
    let root = t.0.to_str().unwrap();
    let module = dir.join("kernel/rk_provider.ko");
    let module = module.to_str().unwrap();
    let blocked = t.0.join("blocked");
    std::fs::write(&blocked, "a file where a directory should be").unwrap();
    let blocked = blocked.to_str().unwrap();
    let base = ["-C", "/nonexistent", "-b", root];
    for (what, args, words) in [
        (
            "a -E file that is missing",
            vec!["-E", "/nonexistent/Module.symvers", "6.1.0-bad"],
            "FATAL: could not load /nonexistent/Module.symvers: No such file or directory",
        ),
        (
            "a -F file that is missing",
            vec!["-F", "/nonexistent/System.map", "6.1.0-bad"],
            "FATAL: could not load /nonexistent/System.map: No such file or directory",
        ),
        (
            "a relative module file",
            vec!["6.1.0-bad", "kernel/rk_provider.ko"],
            "FATAL: kernel/rk_provider.ko: not absolute path.",
        ),
        (
            "a module file that is missing",
            vec!["6.1.0-bad", "/nonexistent/x.ko"],
            "FATAL: could not create module /nonexistent/x.ko: No such file or directory",
        ),
        (
            "a module file twice",
            vec!["6.1.0-bad", module, module],
            "could not add module",
        ),
        (
            "-P with two characters",
            vec!["-P", "ab", "6.1.0-bad"],
            "FATAL: -P only takes a single char",
        ),
        (
            "a version that is not one",
            vec!["bad"],
            "ERROR: Bad version passed bad",
        ),
        (
            "a module directory that is missing",
            vec!["6.1.0-none"],
            "FATAL: could not search modules: No such file or directory",
        ),
        (
            "an output directory under a file",
            vec!["-o", blocked, "6.1.0-bad"],
            "FATAL: could not create directory",
        ),
    ] {
        let all: Vec<&str> = base.iter().copied().chain(args).collect();
        let out = tool("depmod", &all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(words), "{what}: {err:?} lacks {words:?}");
        // The message that stops the run is the last line; one ERROR may explain it.
        assert!(err.lines().count() <= 2, "{what}: {err}");
    }
}

#[test]
fn depmod_names_the_file_and_line_of_a_bad_configuration_line() {
    let t = TempDir::new("depmod-conf");
    let _ = depmod_tree(&t);
    let conf = t.0.join("bad.conf");
    std::fs::write(
        &conf,
        "search updates\noverride only-two words\nfrobnicate\n",
    )
    .unwrap();
    let root = t.0.to_str().unwrap();
    let out = tool(
        "depmod",
        &["-C", conf.to_str().unwrap(), "-b", root, "6.1.0-bad"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let conf = conf.display();
    for line in [
        format!("depmod: ERROR: {conf}:2: ignoring bad line starting with 'override'"),
        format!("depmod: ERROR: {conf}:3: ignoring bad line starting with 'frobnicate'"),
    ] {
        assert!(err.lines().any(|l| l == line), "{line:?} not in {err}");
    }
}
/// The paths that read code and data for the unload hazards, on rk_misc_noowner.ko (its init
/// calls misc_register with a miscdevice whose fops has no owner): a relocation past the end
/// of its section, a symbol in a section that does not exist, code cut in the middle of the
/// call, and code that is not code. One line naming the file and the cause, or a verdict with
/// no invented finding; never a panic.
#[test]
fn hazard_paths_on_hostile_code_and_relocations() {
    let t = TempDir::new("hazards");
    let good = std::fs::read(fixture("rk_misc_noowner.ko")).unwrap();
    let (init, rela_init, symtab, nsections) = {
        let elf = rkmod::file::elf::Elf::parse(&good).unwrap();
        (
            elf.find_section(".init.text").unwrap().0,
            elf.find_section(".rela.init.text").unwrap().0,
            elf.find_section(".symtab").unwrap().0,
            elf.sections().len(),
        )
    };
    let init_size = get_u64(&good, header_of(&good, init) + SH_SIZE);
    let rela_at = get_u64(&good, header_of(&good, rela_init) + SH_OFFSET) as usize;
    let symtab_at = get_u64(&good, header_of(&good, symtab) + SH_OFFSET) as usize;
    // The last relocation of .rela.init.text is at the highest offset: the call's.
    let rela_len = get_u64(&good, header_of(&good, rela_init) + SH_SIZE) as usize;
    let last_rela = rela_at + rela_len - 24;
    let last_offset = get_u64(&good, last_rela);
    let write = |name: &str, d: &[u8]| {
        let p = t.0.join(name);
        std::fs::write(&p, d).unwrap();
        p
    };
    let audit = |p: &Path| tool("modaudit", &["--json", p.to_str().unwrap()]);

    // The unpatched file is flagged: the cases below change what it says.
    let o = audit(&fixture("rk_misc_noowner.ko"));
    expect("modaudit rk_misc_noowner.ko", &o, 0, &[]);
    assert!(text(&o.stdout).contains("rk_misc_fops (misc)"));

    // A relocation at an offset past the end of .init.text.
    let mut d = good.clone();
    put_u64(&mut d, last_rela, init_size + 0x1000);
    let p = write("reloc_past_section.ko", &d);
    let o = audit(&p);
    expect(
        "modaudit reloc_past_section.ko",
        &o,
        1,
        &[
            p.to_str().unwrap(),
            "relocation section .rela.init.text has an entry at offset",
            "past the end of .init.text",
        ],
    );

    // Code cut in the middle: .init.text ends inside the call, so its relocation lies past the
    // end (the loader would patch bytes that are not there).
    let mut d = good.clone();
    set_sh(&mut d, init, SH_SIZE, last_offset + 2);
    let p = write("code_cut_mid_call.ko", &d);
    let o = audit(&p);
    expect(
        "modaudit code_cut_mid_call.ko",
        &o,
        1,
        &[p.to_str().unwrap(), "past the end of .init.text"],
    );

    // A symbol defined in section #9999.
    let mut d = good.clone();
    let sym1_shndx = symtab_at + 24 + 6;
    d[sym1_shndx..sym1_shndx + 2].copy_from_slice(&9999u16.to_le_bytes());
    let p = write("symbol_in_missing_section.ko", &d);
    let o = audit(&p);
    expect(
        "modaudit symbol_in_missing_section.ko",
        &o,
        1,
        &[
            p.to_str().unwrap(),
            &format!("is defined in section #9999, but the file has {nsections} sections"),
        ],
    );

    // Code that does not decode (0x06 is invalid in 64-bit mode): the verdict stands, and no
    // table is claimed from code that cannot be read.
    let mut d = good.clone();
    let init_at = get_u64(&d, header_of(&d, init) + SH_OFFSET) as usize;
    for b in &mut d[init_at..init_at + init_size as usize] {
        *b = 0x06;
    }
    let p = write("code_not_code.ko", &d);
    let o = audit(&p);
    expect("modaudit code_not_code.ko", &o, 0, &[]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "removable");
    assert!(
        !text(&o.stdout).contains("ownerless-fops"),
        "{}",
        text(&o.stdout)
    );

    // Every cut of the file: an answer or one error line, never a panic.
    for cut in (64..good.len()).step_by(97) {
        let p = write("cut.ko", &good[..cut]);
        let o = audit(&p);
        let err = text(&o.stderr);
        assert!(!err.contains("panicked"), "cut at {cut}: {err}");
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "cut at {cut}: {err}"
        );
    }
}
