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
    let imports = m
        .imports
        .iter()
        .map(|s| (s, 1u8))
        .chain(m.weak_imports.iter().map(|s| (s, 2u8)));
    for (name, bind) in imports {
        let at = strtab.len() as u32;
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
        let mut sym = Vec::new();
        sym.extend_from_slice(&at.to_le_bytes());
        sym.push(bind << 4);
        sym.push(0);
        sym.extend_from_slice(&0u16.to_le_bytes());
        sym.extend_from_slice(&[0; 16]);
        symtab.extend_from_slice(&sym);
    }
    // (name, type, link, info, entsize, data)
    type Section<'n> = (&'n str, u32, u32, u32, u64, Vec<u8>);
    let sections: Vec<Section<'_>> = vec![
        (".modinfo", 1, 0, 0, 0, modinfo),
        ("__ksymtab_strings", 1, 0, 0, 0, ksymtab_strings),
        (".symtab", 2, 4, 1, 24, symtab),
        (".strtab", 3, 0, 0, 0, strtab),
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

/// A scratch directory under target/, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("depmod-synthetic-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

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

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
fn same_as_kmod(s: &Scratch, args: &[&str]) {
    let mut outs = Vec::new();
    for who in ["kmod", "ours"] {
        let outdir = s.0.join(format!("out-{who}"));
        let mut all: Vec<std::ffi::OsString> = vec!["-b".into(), s.0.join("in").into()];
        all.extend(["-o".into(), outdir.clone().into()]);
        all.extend(
            args.iter()
                .map(|a| a.replace("@", s.0.to_str().unwrap()).into()),
        );
        all.push(VERSION.into());
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
    assert_eq!(
        String::from_utf8_lossy(&r.stderr),
        String::from_utf8_lossy(&k.stderr),
        "messages ({args:?})"
    );
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&k.stdout),
        "standard output ({args:?})"
    );
    assert_eq!(r.status.code(), k.status.code(), "exit status ({args:?})");
    let names = listing(kdir);
    assert_eq!(listing(rdir), names, "files ({args:?})");
    for n in &names {
        let (kf, rf) = (kdir.join(n), rdir.join(n));
        assert!(
            std::fs::read(&kf).unwrap() == std::fs::read(&rf).unwrap(),
            "{n} differs ({args:?}):\n--- kmod\n{}\n--- ours\n{}",
            String::from_utf8_lossy(&std::fs::read(&kf).unwrap()),
            String::from_utf8_lossy(&std::fs::read(&rf).unwrap())
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&rf), mode(&kf), "{n}: mode");
    }
    let _ = std::fs::remove_dir_all(s.0.join("out-kmod"));
    let _ = std::fs::remove_dir_all(s.0.join("out-ours"));
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
    if !have_kmod34() {
        return;
    }
    let s = Scratch::new("rich");
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
    if !have_kmod34() {
        return;
    }
    let s = Scratch::new("config");
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
}

#[test]
fn a_dependency_cycle_matches_kmod() {
    if !have_kmod34() {
        return;
    }
    let s = Scratch::new("cycle");
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
    if !have_kmod34() {
        return;
    }
    let s = Scratch::new("empty");
    std::fs::create_dir_all(s.moddir()).unwrap();
    same_as_kmod(&s, &["-C", "/nonexistent"]);
}

#[test]
fn broken_modules_match_kmod() {
    if !have_kmod34() {
        return;
    }
    let s = Scratch::new("broken");
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
