//! The bad-input catalogue: malformed and hostile inputs for every tool, each with the exit
//! status and the class of message it must get. Inputs are the committed ones in
//! tests/fixtures/bad/ plus files derived here from rk_basic.ko (truncations at every section
//! boundary, offsets past the end, overlapping and huge sections, non-UTF-8 and unterminated
//! .modinfo), special files, and hostile names. Insertion and removal of hostile inputs against a
//! live kernel, with /proc/modules compared before and after, is in
//! tests/vm/scenarios/rk-insmod.sh and rk-rmmod.sh.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::harness::*;

fn bin(tool: &str) -> &'static str {
    match tool {
        "modinfo" => env!("CARGO_BIN_EXE_modinfo"),
        "modaudit" => env!("CARGO_BIN_EXE_modaudit"),
        "insmod" => env!("CARGO_BIN_EXE_insmod"),
        "rmmod" => env!("CARGO_BIN_EXE_rmmod"),
        "lsmod" => env!("CARGO_BIN_EXE_lsmod"),
        other => panic!("{other}"),
    }
}

/// Runs a tool on the catalogue's input. insmod and rmmod get `--root` at an empty directory:
/// every case here must be refused before any system call, and with the host's real
/// /sys/module/compression a compressed hostile file would go to finit_module on a host whose
/// kernel decompresses (loading is tested in the VM, never on the host).
fn tool(name: &str, args: &[&str]) -> Output {
    let mut c = Command::new(bin(name));
    if matches!(name, "insmod" | "rmmod") {
        c.arg("--root").arg(empty_root());
    }
    c.args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// An empty directory: a system root with no /proc/modules, no /sys/module, no compression.
fn empty_root() -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-root");
    std::fs::create_dir_all(&p).unwrap();
    p
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
        assert!(err.lines().count() >= 1, "{what}: a failure must say why");
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
            &[&shown],
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
        expect(&format!("modaudit {s}"), &tool("modaudit", &[&s]), 1, &[&s]);
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
    drop(data);
    for f in [&non_utf8, &unterminated, &overlapping] {
        let s = f.display().to_string();
        let o = tool("modinfo", &[&s]);
        expect(&format!("modinfo {s}"), &o, 0, &[]);
        // Code read as .modinfo yields keys over 15 characters, where kmod 30 pads and kmod 34
        // (and we) do not: kmod 30 is no oracle for that one.
        if let (Some(k), false) = (kmod("modinfo"), f == &overlapping) {
            let k = run(k, [&s]);
            assert_same(
                &format!("kmod vs ours on {s}"),
                &k.stdout,
                &without_build_id(&o.stdout),
            );
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
        ("bad/garbage_sig.ko", 1, "bad module signature"),
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
        // hold a magic number, and compressed files (this host's kernel decompresses nothing).
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
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
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
        let full = Command::new(bin(t))
            .args(&args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        expect(
            &format!("{t} > /dev/full"),
            &full,
            1,
            &["could not write output: No space left on device"],
        );
        let script = format!("{} {} | head -c 0", bin(t), args.join(" "));
        let closed = Command::new("sh").arg("-c").arg(script).output().unwrap();
        assert!(
            closed.stderr.is_empty(),
            "{t} | head -c 0: {}",
            String::from_utf8_lossy(&closed.stderr)
        );
    }
}
