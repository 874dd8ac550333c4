//! depmod against kmod 34.2 on small trees of synthetic modules written here: the same files
//! (bytes and modes), the same messages and the same exit status.
//!
//! The modules are minimal x86-64 relocatable ELF files: a `.modinfo`, exports in
//! `__ksymtab_strings`, and imports as undefined (global or weak) symbols. kmod 34.2 comes from
//! `tests/debian/fetch.sh`; without it the tests print a SKIP line, or fail under `CI=true`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = "6.1.0-test";

/// One synthetic module.
#[derive(Default)]
struct Module<'a> {
    modinfo: &'a [&'a str],
    exports: &'a [&'a str],
    imports: &'a [&'a str],
    weak_imports: &'a [&'a str],
    /// Exports with a CRC: `__crc_NAME` absolute symbols (modversions).
    crc_exports: &'a [(&'a str, u64)],
    /// `__versions` entries: the CRC each import was built against.
    versions: &'a [(&'a str, u64)],
}

/// An ELF64 little-endian ET_REL file with .modinfo, __ksymtab_strings, .symtab, .strtab and
/// .shstrtab.
fn elf(m: &Module<'_>) -> Vec<u8> {
    let mut modinfo = Vec::new();
    for s in m.modinfo {
        modinfo.extend_from_slice(s.as_bytes());
        modinfo.push(0);
    }
    let mut ksymtab_strings = Vec::new();
    for s in m.exports {
        ksymtab_strings.extend_from_slice(s.as_bytes());
        ksymtab_strings.push(0);
    }
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; 24];
    let mut symbol = |name: &str, bind: u8, shndx: u16, value: u64| {
        let at = strtab.len() as u32;
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
        symtab.extend_from_slice(&at.to_le_bytes());
        symtab.push(bind << 4);
        symtab.push(0);
        symtab.extend_from_slice(&shndx.to_le_bytes());
        symtab.extend_from_slice(&value.to_le_bytes());
        symtab.extend_from_slice(&0u64.to_le_bytes());
    };
    // Local symbols first (SHN_ABS = 0xfff1), then the undefined global and weak ones.
    for (name, crc) in m.crc_exports {
        symbol(&format!("__crc_{name}"), 0, 0xfff1, *crc);
    }
    for name in m.imports {
        symbol(name, 1, 0, 0);
    }
    for name in m.weak_imports {
        symbol(name, 2, 0, 0);
    }
    let first_global = 1 + m.crc_exports.len() as u32;
    let mut versions = Vec::new();
    for (name, crc) in m.versions {
        let mut entry = [0u8; 64];
        entry[..8].copy_from_slice(&crc.to_le_bytes());
        entry[8..8 + name.len()].copy_from_slice(name.as_bytes());
        versions.extend_from_slice(&entry);
    }
    // (name, type, link, info, entsize, data)
    type Section<'n> = (&'n str, u32, u32, u32, u64, Vec<u8>);
    let sections: Vec<Section<'_>> = vec![
        (".modinfo", 1, 0, 0, 0, modinfo),
        ("__ksymtab_strings", 1, 0, 0, 0, ksymtab_strings),
        (".symtab", 2, 4, first_global, 24, symtab),
        (".strtab", 3, 0, 0, 0, strtab),
        ("__versions", 1, 0, 0, 0, versions),
    ];
    let mut shstrtab = vec![0u8];
    let mut names = Vec::new();
    for s in &sections {
        names.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(s.0.as_bytes());
        shstrtab.push(0);
    }
    let shstrtab_name = shstrtab.len() as u32;
    shstrtab.extend_from_slice(b".shstrtab\0");
    let mut body = Vec::new();
    let mut offsets = Vec::new();
    for s in &sections {
        while body.len() % 8 != 0 {
            body.push(0);
        }
        offsets.push(64 + body.len() as u64);
        body.extend_from_slice(&s.5);
    }
    let shstrtab_off = 64 + body.len() as u64;
    body.extend_from_slice(&shstrtab);
    while body.len() % 8 != 0 {
        body.push(0);
    }
    let shoff = 64 + body.len() as u64;
    let shnum = sections.len() as u16 + 2;
    let mut out = Vec::new();
    out.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    out.extend_from_slice(&1u16.to_le_bytes()); // ET_REL
    out.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&[0; 16]); // entry, phoff
    out.extend_from_slice(&shoff.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 0, 0, 64, shnum, shnum - 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&body);
    let header = |out: &mut Vec<u8>,
                  name: u32,
                  ty: u32,
                  off: u64,
                  size: u64,
                  link: u32,
                  info: u32,
                  ent: u64| {
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // flags
        out.extend_from_slice(&0u64.to_le_bytes()); // addr
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&link.to_le_bytes());
        out.extend_from_slice(&info.to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes()); // align
        out.extend_from_slice(&ent.to_le_bytes());
    };
    header(&mut out, 0, 0, 0, 0, 0, 0, 0);
    for (i, s) in sections.iter().enumerate() {
        header(
            &mut out,
            names[i],
            s.1,
            offsets[i],
            s.5.len() as u64,
            s.2,
            s.3,
            s.4,
        );
    }
    header(
        &mut out,
        shstrtab_name,
        3,
        shstrtab_off,
        shstrtab.len() as u64,
        0,
        0,
        0,
    );
    out
}

#[path = "common/kmod34.rs"]
mod kmod34_tool;
use kmod34_tool::depmod as kmod34;

fn have_kmod34() -> bool {
    if kmod34(&["-V".as_ref()]).is_some_and(|o| o.status.success()) {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("kmod 34.2 is not in target/debian/kmod34 (CI=true)");
    }
    eprintln!("SKIP depmod synthetic trees: no kmod 34.2 (run tests/debian/fetch.sh)");
    false
}

#[path = "common/scratch.rs"]
mod scratch;
use scratch::Scratch;

/// A scratch directory for test `tag`.
fn scratch(tag: &str) -> Scratch {
    Scratch::new(&format!("depmod-synthetic-{tag}"))
}

/// A scratch directory for test `tag`, when kmod 34.2 is there to compare with.
fn with_kmod34(tag: &str) -> Option<Scratch> {
    have_kmod34().then(|| scratch(tag))
}

impl Scratch {
    fn moddir(&self) -> PathBuf {
        self.0.join("in/lib/modules").join(VERSION)
    }

    fn module(&self, rel: &str, m: Module<'_>) {
        let p = self.moddir().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, elf(&m)).unwrap();
    }

    fn file(&self, rel: &str, text: &str) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(d) => d
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Runs both depmods on the scratch tree with `args` and asserts the same exit status,
/// messages, standard output and files.
fn same_as_kmod(s: &Scratch, args: &[&str]) -> (String, Vec<String>) {
    same_as_kmod_with(s, args, &[])
}

/// kmod's message with its cause left out where ours is deliberately different (kmod prints a
/// stale errno after an invalid Module.symvers CRC): the leading words must be the same.
fn leading_words(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        // libkmod's zstd decoder speaks up around a corrupt .ko.zst; rkmod says it once, in
        // "failed to load symbols".
        .filter(|l| !l.starts_with("depmod: ERROR: zstd: "))
        // libkmod's context set-up and release at -vv, with pointers in them.
        .filter(|l| !l.contains(" custom logging function ") && !l.contains(" context 0x"))
        .map(|l| match l.find(" Invalid symbol version ") {
            Some(_) => l[..l.rfind(": ").unwrap_or(l.len())].to_string(),
            // kmod names the directory by its file descriptor, rkmod by its path.
            None if l.starts_with("depmod: ERROR: fstatat(")
                || l.starts_with("depmod: ERROR: openat(") =>
            {
                let call = &l[..l.find('(').unwrap_or(0)];
                format!("{call}(DIR{}", &l[l.find(", ").unwrap_or(0)..])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`same_as_kmod`] with `after` following the version (module files). `@` in an argument
/// stands for the scratch directory. Returns kmod's messages and the names of its files, for
/// the caller to check that the case tests what it means to.
fn same_as_kmod_with(s: &Scratch, args: &[&str], after: &[&str]) -> (String, Vec<String>) {
    let (kmod, _, names) = compare(s, args, after, true);
    (kmod, names)
}

/// Runs both and compares; messages only when `messages` is set. Returns kmod's messages,
/// ours, and kmod's file names.
fn compare(
    s: &Scratch,
    args: &[&str],
    after: &[&str],
    messages: bool,
) -> (String, String, Vec<String>) {
    let at = |a: &&str| std::ffi::OsString::from(a.replace("@", s.0.to_str().unwrap()));
    let mut outs = Vec::new();
    for who in ["kmod", "ours"] {
        let outdir = s.0.join(format!("out-{who}"));
        let mut all: Vec<std::ffi::OsString> = vec!["-b".into(), s.0.join("in").into()];
        all.extend(["-o".into(), outdir.clone().into()]);
        all.extend(args.iter().map(at));
        all.push(VERSION.into());
        all.extend(after.iter().map(at));
        let out = if who == "kmod" {
            kmod34(&all.iter().map(|a| a.as_os_str()).collect::<Vec<_>>()).unwrap()
        } else {
            Command::new(env!("CARGO_BIN_EXE_depmod"))
                .args(&all)
                .env_clear()
                .output()
                .unwrap()
        };
        outs.push((out, outdir.join("lib/modules").join(VERSION)));
    }
    let ((k, kdir), (r, rdir)) = (&outs[0], &outs[1]);
    if messages {
        assert_eq!(
            leading_words(&r.stderr),
            leading_words(&k.stderr),
            "messages ({args:?} {after:?})"
        );
    }
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&k.stdout),
        "standard output ({args:?} {after:?})"
    );
    assert_eq!(
        r.status.code(),
        k.status.code(),
        "exit status ({args:?} {after:?})"
    );
    let names = listing(kdir);
    assert_eq!(listing(rdir), names, "files ({args:?} {after:?})");
    for n in &names {
        let (kf, rf) = (kdir.join(n), rdir.join(n));
        assert!(
            std::fs::read(&kf).unwrap() == std::fs::read(&rf).unwrap(),
            "{n} differs ({args:?} {after:?}):\n--- kmod\n{}\n--- ours\n{}",
            String::from_utf8_lossy(&std::fs::read(&kf).unwrap()),
            String::from_utf8_lossy(&std::fs::read(&rf).unwrap())
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&rf), mode(&kf), "{n}: mode");
    }
    let _ = std::fs::remove_dir_all(s.0.join("out-kmod"));
    let _ = std::fs::remove_dir_all(s.0.join("out-ours"));
    (
        String::from_utf8_lossy(&k.stderr).into_owned(),
        String::from_utf8_lossy(&r.stderr).into_owned(),
        names,
    )
}

/// The tree of the reference's worked example, in spirit: a symbol exported three times, a
/// module missing from modules.order and one listed twice, devnames, softdeps, weakdeps, an
/// unmatched bracket, a weak import, a same-named module in kernel/ and updates/.
fn rich_tree(s: &Scratch) {
    s.module(
        "kernel/drivers/foo/user.ko",
        Module {
            modinfo: &["alias=devname:only-devname", "license=GPL"],
            imports: &["dupsym", "printk"],
            ..Module::default()
        },
    );
    s.module(
        "kernel/lib/a.ko",
        Module {
            exports: &["sym_a"],
            imports: &["sym_b", "sym_c"],
            ..Module::default()
        },
    );
    s.module(
        "kernel/lib/b_lib.ko",
        Module {
            exports: &["sym_b"],
            imports: &["sym_c"],
            ..Module::default()
        },
    );
    s.module(
        "kernel/lib/c-lib.ko",
        Module {
            modinfo: &["alias=clib-alias"],
            exports: &["sym_c"],
            ..Module::default()
        },
    );
    s.module(
        "kernel/drivers/foo/d.ko",
        Module {
            modinfo: &[
                "alias=pci:v00008086d*sv*sd*bc*sc*i*",
                "alias=usb:v1234p[0-9]*",
                "alias=bad[bracket",
                "alias=my-dev-alias",
                "alias=devname:mydev",
                "alias=char-major-250-3",
                "softdep=pre: a post: c-lib",
                "weakdep=b_lib",
            ],
            imports: &["sym_a"],
            ..Module::default()
        },
    );
    s.module(
        "kernel/drivers/foo/dup1.ko",
        Module {
            exports: &["dupsym"],
            ..Module::default()
        },
    );
    s.module(
        "kernel/drivers/foo/dup2.ko",
        Module {
            exports: &["dupsym"],
            weak_imports: &["sym_c"],
            ..Module::default()
        },
    );
    s.module(
        "kernel/drivers/foo/over.ko",
        Module {
            modinfo: &["alias=over-kernel"],
            ..Module::default()
        },
    );
    s.module(
        "updates/over.ko",
        Module {
            modinfo: &["alias=over-updates"],
            exports: &["over_sym"],
            ..Module::default()
        },
    );
    s.module(
        "updates/dkms/mm_dkms.ko",
        Module {
            modinfo: &[
                "alias=pci:v00008086d*sv*sd*bc*sc*i*",
                "alias=block-major-8-0",
            ],
            exports: &["dupsym"],
            ..Module::default()
        },
    );
    s.module("weird/q-q.ko", Module::default());
    s.module(
        "extra/zz_extra.ko",
        Module {
            imports: &["over_sym"],
            ..Module::default()
        },
    );
    s.module(
        "extra/aa_extra.ko",
        Module {
            imports: &["sym_a"],
            ..Module::default()
        },
    );
    let dir = format!("in/lib/modules/{VERSION}");
    s.file(
        &format!("{dir}/modules.order"),
        "kernel/drivers/foo/user.ko\nkernel/drivers/foo/d.ko\nkernel/lib/a.ko\n\
         kernel/lib/b_lib.ko\nkernel/lib/c-lib.ko\nkernel/drivers/foo/dup2.ko\n\
         kernel/drivers/foo/dup1.ko\nkernel/missing.ko\nkernel/drivers/foo/over.ko\n\
         kernel/drivers/foo/d.ko\n",
    );
    s.file(
        &format!("{dir}/modules.builtin"),
        "kernel/fs/ext4/ext4.ko\nkernel/lib/x-y.ko\n\n",
    );
    s.file(
        &format!("{dir}/modules.builtin.modinfo"),
        "x_y.alias=shared-alias\0ext4.alias=shared-alias\0ext4.alias=fs-ext4\0ext4.license=GPL\0",
    );
}

#[test]
fn a_rich_tree_matches_kmod() {
    let Some(s) = with_kmod34("rich") else {
        return;
    };
    rich_tree(&s);
    same_as_kmod(&s, &["-C", "/nonexistent"]);
    same_as_kmod(&s, &["-C", "/nonexistent", "-n"]);
    same_as_kmod(&s, &["-C", "/nonexistent", "-n", "-v"]);
    // Without modules.order, modules.builtin and modules.builtin.modinfo.
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        std::fs::remove_file(s.moddir().join(f)).unwrap();
    }
    same_as_kmod(&s, &["-C", "/nonexistent"]);
    same_as_kmod(&s, &["-C", "/nonexistent", "-n"]);
}

#[test]
fn depmod_d_search_override_exclude_match_kmod() {
    let Some(s) = with_kmod34("config") else {
        return;
    };
    rich_tree(&s);
    s.file("conf/a.conf", "search extra built-in updates\n");
    same_as_kmod(&s, &["-C", "@/conf"]);
    s.file(
        "conf/a.conf",
        "search updates\noverride over * kernel/drivers/foo\nexclude weird\n",
    );
    same_as_kmod(&s, &["-C", "@/conf"]);
    s.file("conf/a.conf", "bogus line\noverride x\nsearch built-in\n");
    same_as_kmod(&s, &["-C", "@/conf"]);
    // Syntax errors of every kind, each named by file and line; the good lines still count.
    s.file(
        "conf/a.conf",
        "search\noverride over\noverride over *\nexternal 6\n  # indented\nexclude\n\
         search extra \\\n built-in\ninclude x.conf\nmake_map_files\n\tsearch updates\n\
         \u{7f}\u{1}binary\nexclude weird\n",
    );
    s.file("conf/b.conf", "search");
    std::fs::create_dir_all(s.0.join("conf/dir.conf")).unwrap();
    let (messages, _) = same_as_kmod(&s, &["-C", "@/conf"]);
    assert!(messages.contains("a.conf:2: ignoring bad line starting with 'override'"));
    same_as_kmod(&s, &["-C", "@/conf", "-vv", "-n"]);
    // Kernel versions as POSIX extended regular expressions, matched anywhere in the version;
    // one that does not compile matches nothing.
    std::fs::remove_dir_all(s.0.join("conf")).unwrap();
    let ext = s.0.join("ext");
    std::fs::create_dir_all(&ext).unwrap();
    std::fs::write(
        ext.join("over.ko"),
        elf(&Module {
            modinfo: &["alias=over-external"],
            ..Module::default()
        }),
    )
    .unwrap();
    for (lines, wins) in [
        (
            "override over ^6\\.1\\. kernel/drivers/foo\n",
            "kernel/drivers/foo/over.ko",
        ),
        ("override over ^7 kernel/drivers/foo\n", "updates/over.ko"),
        (
            "override over (6|7)[.][[:digit:]]+[.]0-te?st$ kernel/drivers/foo\n",
            "kernel/drivers/foo/over.ko",
        ),
        ("override over ( kernel/drivers/foo\n", "updates/over.ko"),
        (
            "override over 1\\.0 kernel/drivers/foo\n",
            "kernel/drivers/foo/over.ko",
        ),
        (
            "search external updates built-in\nexternal [0-9]{1,2}\\.1 @/ext\n",
            "@/ext/over.ko",
        ),
        (
            "search external updates built-in\nexternal ^5 @/ext\n",
            "updates/over.ko",
        ),
    ] {
        let root = s.0.to_str().unwrap();
        s.file("conf/a.conf", &lines.replace('@', root));
        same_as_kmod(&s, &["-C", "@/conf", "-vv"]);
        same_as_kmod(&s, &["-C", "@/conf", "-n"]);
        let out = Command::new(env!("CARGO_BIN_EXE_depmod"))
            .args([
                "-C",
                &format!("{root}/conf"),
                "-b",
                &format!("{root}/in"),
                "-n",
                VERSION,
            ])
            .env_clear()
            .output()
            .unwrap();
        let dep = String::from_utf8_lossy(&out.stdout);
        let wins = wins.replace('@', root);
        assert!(
            dep.lines().any(|l| l.starts_with(&format!("{wins}:"))),
            "{lines}: {dep}"
        );
    }
}

#[test]
fn a_dependency_cycle_matches_kmod() {
    let Some(s) = with_kmod34("cycle") else {
        return;
    };
    let m = |e: &'static [&'static str], i: &'static [&'static str]| Module {
        exports: e,
        imports: i,
        ..Module::default()
    };
    s.module("kernel/m1.ko", m(&["s1"], &["s2"]));
    s.module("kernel/m2.ko", m(&["s2"], &["s1"]));
    s.module("kernel/m3.ko", m(&["s3"], &["s4"]));
    s.module("kernel/m4.ko", m(&["s4"], &["s5"]));
    s.module("kernel/m5.ko", m(&["s5"], &["s3"]));
    s.module("kernel/top.ko", m(&[], &["s1", "s3"]));
    s.file(
        &format!("in/lib/modules/{VERSION}/modules.order"),
        "kernel/top.ko\nkernel/m1.ko\nkernel/m2.ko\nkernel/m3.ko\nkernel/m4.ko\nkernel/m5.ko\n",
    );
    same_as_kmod(&s, &["-C", "/nonexistent"]);
}

#[test]
fn an_empty_tree_matches_kmod() {
    let Some(s) = with_kmod34("empty") else {
        return;
    };
    std::fs::create_dir_all(s.moddir()).unwrap();
    same_as_kmod(&s, &["-C", "/nonexistent"]);
}

#[test]
fn broken_modules_match_kmod() {
    let Some(s) = with_kmod34("broken") else {
        return;
    };
    s.module(
        "kernel/good.ko",
        Module {
            exports: &["g"],
            ..Module::default()
        },
    );
    s.file(
        &format!("in/lib/modules/{VERSION}/kernel/junk.ko"),
        "this is not an ELF file at all, just text long enough",
    );
    let mut cut = elf(&Module {
        imports: &["g"],
        ..Module::default()
    });
    cut.truncate(100);
    std::fs::write(s.moddir().join("kernel/cut.ko"), cut).unwrap();
    // Compressed: a good .ko.xz, and one cut in the middle of its stream.
    let xz = |m: Module<'_>| {
        use std::io::Write;
        let mut enc = xz2::write::XzEncoder::new(Vec::new(), 6);
        enc.write_all(&elf(&m)).unwrap();
        enc.finish().unwrap()
    };
    let good_xz = xz(Module {
        modinfo: &["alias=xz-alias"],
        imports: &["g"],
        ..Module::default()
    });
    std::fs::write(s.moddir().join("kernel/zgood.ko.xz"), &good_xz).unwrap();
    std::fs::write(
        s.moddir().join("kernel/zcut.ko.xz"),
        &good_xz[..good_xz.len() / 2],
    )
    .unwrap();
    same_as_kmod(&s, &["-C", "/nonexistent"]);
}

/// A tree for -e: a module built against other CRCs than vmlinux's and its provider's, an
/// unknown symbol, a weak unknown one, a `__versions` entry with no symbol (module_layout).
fn symbols_tree(s: &Scratch) {
    s.module(
        "kernel/prov.ko",
        Module {
            crc_exports: &[("prov_fn", 0x1111), ("prov_ok", 0x2222)],
            imports: &["printk"],
            versions: &[("printk", 0xabcd), ("module_layout", 0x99)],
            ..Module::default()
        },
    );
    s.module(
        "kernel/user.ko",
        Module {
            imports: &[
                "prov_fn",
                "prov_ok",
                "printk",
                "kfree",
                "no_such_symbol",
                ".dot_fn",
            ],
            weak_imports: &["weak_missing"],
            versions: &[
                ("prov_fn", 0x1112),
                ("prov_ok", 0x2222),
                ("printk", 0xabce),
                ("module_layout", 0x99),
            ],
            ..Module::default()
        },
    );
    s.module(
        "kernel/pfx.ko",
        Module {
            exports: &["_pfx_export"],
            imports: &["_printk", "_prov_ok", "_pfx_missing"],
            ..Module::default()
        },
    );
    s.file(
        &format!("in/lib/modules/{VERSION}/modules.order"),
        "kernel/prov.ko\nkernel/user.ko\nkernel/pfx.ko\n",
    );
    s.file(
        "Module.symvers",
        "0x0000abcd\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n         0x00000001\tkfree\tvmlinux\tEXPORT_SYMBOL_GPL\t\n         0x00000002\tdot_fn\tvmlinux\tEXPORT_SYMBOL\t\n         0x00000003\tthree_words\tvmlinux\n         zz\tbad_crc\tvmlinux\tEXPORT_SYMBOL\t\n         0x00000004\tin_module\tdrivers/x\tEXPORT_SYMBOL\t\n         0x00000099\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\t\n",
    );
    s.file(
        "System.map",
        "ffffffff81000000 T _stext\n         ffffffff82000000 r __ksymtab_printk\n         ffffffff82000010 r __ksymtab_kfree\n         not-a-symbol-line\n         ffffffff82000020 r __ksymtab_module_layout\n         ffffffff82000030 r ___ksymtab_dot_fn\n",
    );
}

#[test]
fn unknown_symbols_and_crc_mismatches_match_kmod() {
    let Some(s) = with_kmod34("symbols") else {
        return;
    };
    symbols_tree(&s);
    let none = ["-C", "/nonexistent"];
    let (messages, _) = same_as_kmod(&s, &[&none[..], &["-e", "-E", "@/Module.symvers"]].concat());
    for expected in [
        "user.ko disagrees about version of symbol prov_fn\n",
        "user.ko disagrees about version of symbol printk\n",
        "user.ko needs unknown symbol no_such_symbol\n",
        "Invalid symbol version zz",
    ] {
        assert!(
            messages.contains(expected),
            "{expected:?} not in {messages}"
        );
    }
    assert!(!messages.contains("weak_missing") && !messages.contains("version of symbol prov_ok"));
    for extra in [
        &["-e", "-E", "@/Module.symvers"][..],
        &["-e", "-F", "@/System.map"],
        &["-e", "-E", "@/Module.symvers", "-F", "@/System.map"],
        &["-E", "@/Module.symvers"],
        &["-e"],
        &["-e", "-E", "@/missing.symvers"],
        &["-e", "-F", "@/missing.map"],
        &["-e", "-E", "@/Module.symvers", "-P", "_"],
        &["-e", "-F", "@/System.map", "-P", "_"],
        &["-P", "_", "-n", "-v"],
        &["-P", "ab"],
        &["-e", "-E", "@/Module.symvers", "-n", "-v"],
    ] {
        same_as_kmod(&s, &[&none[..], extra].concat());
    }
}

#[test]
fn quick_matches_kmod() {
    let Some(s) = with_kmod34("quick") else {
        return;
    };
    rich_tree(&s);
    let none = ["-C", "/nonexistent"];
    let set_mtime = |p: &Path, secs: i64| {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    };
    // No modules.dep in the input directory: an error, then a full run.
    same_as_kmod(&s, &[&none[..], &["-A"]].concat());
    // Every module older than modules.dep, one in the same second: nothing is done.
    let dep = s.moddir().join("modules.dep");
    std::fs::write(&dep, "old\n").unwrap();
    let mut modules = Vec::new();
    collect_modules(&s.moddir(), &mut modules);
    for m in &modules {
        set_mtime(m, 1_600_000_000);
    }
    set_mtime(&modules[0], 1_700_000_000);
    set_mtime(&dep, 1_700_000_000);
    let (_, files) = same_as_kmod(&s, &[&none[..], &["-A"]].concat());
    assert!(
        files.is_empty(),
        "an up-to-date tree was indexed: {files:?}"
    );
    same_as_kmod(&s, &[&none[..], &["-A", "-n"]].concat());
    // One module touched after modules.dep: a full run (module files as arguments ignored).
    set_mtime(&modules[modules.len() / 2], 1_700_000_001);
    let (_, files) = same_as_kmod(&s, &[&none[..], &["-A"]].concat());
    assert_eq!(files.len(), 11, "an out-of-date tree was not indexed");
    let user = s.moddir().join("kernel/drivers/foo/user.ko");
    same_as_kmod_with(
        &s,
        &[&none[..], &["-A"]].concat(),
        &[user.to_str().unwrap()],
    );
    same_as_kmod(&s, &[&none[..], &["-A", "-n"]].concat());
}

fn collect_modules(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_modules(&p, out);
        } else if p.extension().is_some_and(|e| e == "ko") {
            out.push(p);
        }
    }
}

#[test]
fn module_files_as_arguments_match_kmod() {
    let Some(s) = with_kmod34("files") else {
        return;
    };
    rich_tree(&s);
    std::fs::create_dir_all(s.0.join("elsewhere")).unwrap();
    std::fs::write(
        s.0.join("elsewhere/far-away.ko"),
        elf(&Module {
            modinfo: &["alias=far"],
            imports: &["sym_a"],
            ..Module::default()
        }),
    )
    .unwrap();
    let m = |rel: &str| format!("@/in/lib/modules/{VERSION}/{rel}");
    let (a, b, c, d) = (
        m("kernel/lib/a.ko"),
        m("kernel/lib/b_lib.ko"),
        m("kernel/lib/c-lib.ko"),
        m("kernel/drivers/foo/d.ko"),
    );
    let none = ["-C", "/nonexistent"];
    for files in [
        vec![d.as_str(), a.as_str(), c.as_str()],
        vec![
            c.as_str(),
            b.as_str(),
            a.as_str(),
            d.as_str(),
            "@/elsewhere/far-away.ko",
        ],
        vec![a.as_str(), "relative/x.ko"],
        vec![a.as_str(), "@/missing.ko"],
        vec![a.as_str(), a.as_str()],
        vec![
            a.as_str(),
            "@/in/../in/lib/modules/6.1.0-test/kernel/lib/a.ko",
        ],
        vec![a.as_str(), "@/elsewhere"],
        vec!["@/elsewhere/"],
    ] {
        same_as_kmod_with(&s, &none, &files);
        same_as_kmod_with(&s, &[&none[..], &["-n"]].concat(), &files);
    }
    // -a: the arguments are ignored and the whole tree is indexed.
    same_as_kmod_with(&s, &[&none[..], &["-a"]].concat(), &[a.as_str()]);
}

/// Hostile modules among good ones (the committed ones of tests/fixtures/bad, but the .ko.gz
/// that Debian's kmod does not read and the zstd bomb it cannot size), FIFOs, dangling and
/// looping symbolic links: each named once, the rest indexed as kmod indexes it.
#[test]
fn bad_modules_and_odd_files_in_the_tree_match_kmod() {
    let Some(s) = with_kmod34("hostile") else {
        return;
    };
    symbols_tree(&s);
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    for entry in std::fs::read_dir(&bad).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.contains(".ko") || name.ends_with(".gz") || name == "bomb.ko.zst" {
            continue;
        }
        // One module name per file: bomb.ko.xz and bomb.ko.zst would be duplicates.
        let unique = name.replacen(".ko", "", 1).replace('.', "_")
            + ".ko"
            + &name[name.find(".ko").unwrap() + 3..];
        std::fs::copy(bad.join(&name), s.moddir().join("kernel").join(unique)).unwrap();
    }
    let k = s.moddir().join("kernel");
    std::os::unix::fs::symlink("nowhere", k.join("dangling.ko")).unwrap();
    std::os::unix::fs::symlink("self.ko", k.join("self.ko")).unwrap();
    Command::new("mkfifo")
        .arg(k.join("fifo.ko"))
        .status()
        .unwrap();
    std::fs::create_dir_all(k.join("dir.ko")).unwrap();
    let (messages, _) = same_as_kmod(&s, &["-C", "/nonexistent"]);
    for expected in [
        "Exec format error",
        "Invalid argument",
        "unsupported file type",
        "dangling.ko",
    ] {
        assert!(
            messages.contains(expected),
            "{expected:?} not in {messages}"
        );
    }
    same_as_kmod(&s, &["-C", "/nonexistent", "-n"]);
}

/// A directory symbolic link back to an ancestor: kmod walks it lap after lap until it runs
/// out of file descriptors, repeating its messages, and may even index a module under a path
/// through the loop; rkmod walks it once, says so once, and indexes each module by its own
/// path. The exit status is kmod's.
#[test]
fn a_symlink_loop_in_the_tree_is_walked_once() {
    let Some(s) = with_kmod34("loop") else {
        return;
    };
    symbols_tree(&s);
    let sub = s.moddir().join("kernel/sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::os::unix::fs::symlink("..", sub.join("up")).unwrap();
    let input = s.0.join("in");
    let args = [
        "-C",
        "/nonexistent",
        "-b",
        input.to_str().unwrap(),
        "-n",
        VERSION,
    ];
    let kmod = kmod34(&args.map(std::ffi::OsStr::new)).unwrap();
    let ours = Command::new(env!("CARGO_BIN_EXE_depmod"))
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(ours.status.code(), kmod.status.code());
    let stderr = String::from_utf8_lossy(&ours.stderr);
    let loops: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("kernel/sub/up"))
        .collect();
    assert_eq!(loops.len(), 1, "{stderr}");
    assert!(loops[0].starts_with("depmod: ERROR: ") && loops[0].contains("symbolic links"));
    let stdout = String::from_utf8_lossy(&ours.stdout);
    assert!(
        stdout.starts_with("kernel/prov.ko:\nkernel/user.ko: kernel/prov.ko\nkernel/pfx.ko:\n"),
        "{stdout}"
    );
}

/// A module file and a subdirectory that depmod may not read (run as nobody): each named
/// once, the rest indexed as kmod indexes it.
#[test]
fn unreadable_files_match_kmod() {
    if !have_kmod34() {
        return;
    }
    if !Path::new("/usr/bin/setpriv").exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("no setpriv (util-linux) under CI=true");
        }
        eprintln!("SKIP unreadable files: no setpriv");
        return;
    }
    let s = scratch("unreadable");
    symbols_tree(&s);
    s.module("kernel/locked/inside.ko", Module::default());
    let mode = |p: PathBuf, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(s.moddir().join("kernel/user.ko"), 0o000);
    mode(s.moddir().join("kernel/locked"), 0o000);
    let input = s.0.join("in");
    let args = [
        "-C",
        "/nonexistent",
        "-b",
        input.to_str().unwrap(),
        "-n",
        VERSION,
    ];
    let as_nobody = |c: Command| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(c.get_program())
            .args(c.get_args())
            .args(args)
            .env_clear()
            .output()
            .unwrap()
    };
    let kmod = as_nobody(kmod34_tool::depmod_command().unwrap());
    let ours = as_nobody(Command::new(env!("CARGO_BIN_EXE_depmod")));
    assert_eq!(leading_words(&ours.stderr), leading_words(&kmod.stderr));
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&kmod.stdout)
    );
    assert_eq!(ours.status.code(), kmod.status.code());
    let messages = String::from_utf8_lossy(&kmod.stderr);
    assert!(
        messages.contains("user.ko: Permission denied"),
        "{messages}"
    );
    assert!(
        messages.contains("locked, O_RDONLY): Permission denied"),
        "{messages}"
    );
    mode(s.moddir().join("kernel/locked"), 0o755);
}
