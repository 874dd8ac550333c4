//! What ships besides the tools' behaviour: the generated man pages and completions, `make
//! install`'s layout, and the Debian package. The multicall binary is in multicall.rs.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

#[path = "../../examples/gendocs.rs"]
mod gendocs;

fn rkmod_bin() -> PathBuf {
    PathBuf::from(bin("rkmod"))
}

// ---------------------------------------------------------------------------------------------
// Generated files

/// Files under `dir` (relative paths), recursively.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                walk(base, &p, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn generated_docs_are_current() {
    let fresh = TempDir::new("gendocs");
    gendocs::write_all(&fresh.0).unwrap();
    let hint = "run `cargo run --example gendocs` and commit the result";
    for sub in ["man", "completions"] {
        let want = tree(&fresh.0.join(sub));
        let have = tree(&root().join(sub));
        assert!(!want.is_empty(), "gendocs wrote nothing under {sub}/");
        assert_eq!(want, have, "files under {sub}/ differ: {hint}");
        for f in &want {
            let generated = std::fs::read(fresh.0.join(sub).join(f)).unwrap();
            let committed = std::fs::read(root().join(sub).join(f)).unwrap();
            if generated != committed {
                eprintln!("{sub}/{} is stale: {hint}", f.display());
            }
            assert_same(&format!("{sub}/{}", f.display()), &generated, &committed);
        }
    }
}

#[test]
fn man_pages_pass_mandoc_lint() {
    if !require("mandoc", "mandoc", "man page lint") {
        return;
    }
    let pages: Vec<PathBuf> = tree(&root().join("man"))
        .into_iter()
        .map(|p| root().join("man").join(p))
        .collect();
    // The tools', rkmod.8 and kmod.8.
    assert_eq!(pages.len(), TOOLS.len() + 2, "{pages:?}");
    let out = run(
        program("mandoc"),
        ["-T", "lint"].map(PathBuf::from).iter().chain(&pages),
    );
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "mandoc -T lint:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn man_pages_document_status_files_and_differences() {
    let page = |name: &str| std::fs::read_to_string(root().join("man").join(name)).unwrap();
    for tool in TOOLS {
        let p = page(&format!("{tool}.8"));
        for section in [
            ".SH \"EXIT STATUS\"",
            ".SH FILES",
            ".SH \"DIFFERENCES FROM KMOD\"",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(p.contains(section), "{tool}.8 lacks {section}");
        }
    }
    // The differences the README and the help texts promise, each on its tool's page.
    for (tool, needle) in [
        ("lsmod", "[permanent]"),
        ("lsmod", "/sys/module/NAME/coresize"),
        ("lsmod", "/sys/module/NAME/taint"),
        (
            "rmmod",
            "new users can still take the module while rmmod waits",
        ),
        ("rmmod", "only \\-\\-force can remove it"),
        ("rmmod", "/sys/module/NAME/refcnt"),
        ("insmod", "/sys/module/compression"),
        ("insmod", "names the system call used"),
        ("modinfo", "build\\-id:"),
        ("modinfo", "\\-\\-json"),
        ("modinfo", "Several \\-F options print every field"),
        ("modinfo", "modules.builtin.modinfo"),
        ("modinfo", "modules.dep.bin"),
        ("modaudit", "exists only in rkmod"),
        ("rkmod", ".SH TOOLS"),
        ("rkmod", "rkmod static\\-nodes"),
        ("kmod", ".SH STATIC-NODES"),
        ("kmod", "\\-\\-format"),
        ("kmod", "modules.devname"),
        ("kmod", ".SH \"DIFFERENCES FROM KMOD\""),
        ("kmod", ".SH \"EXIT STATUS\""),
    ] {
        let p = page(&format!("{tool}.8"));
        assert!(p.contains(needle), "{tool}.8 lacks {needle:?}");
    }
}

#[test]
fn completions_parse() {
    for (shell, dir, check) in [
        ("bash", "bash", true),
        ("zsh", "zsh", false),
        ("fish", "fish", false),
    ] {
        // bash is everywhere; zsh and fish are extras that prereqs.sh installs (and CI needs).
        if check {
            assert!(require(shell, shell, "completions"), "{shell} is missing");
        } else if !require(shell, shell, &format!("{shell} completions' syntax")) {
            continue;
        }
        for f in tree(&root().join("completions").join(dir)) {
            let path = root().join("completions").join(dir).join(&f);
            let out = run(program(shell), [OsStr::new("-n"), path.as_os_str()]);
            assert_status(&out, 0, &format!("{shell} -n {}", path.display()));
        }
    }
}

#[test]
fn bash_completion_offers_tools_and_wraps_clap() {
    // Subcommands come from clap's script; the module-name wrapper must be what is registered.
    let script = format!(
        r#"source {}
           COMP_WORDS=(rkmod mod); COMP_CWORD=1; __rkmod_rkmod rkmod mod rkmod
           echo "${{COMPREPLY[*]}}"
           complete -p rkmod"#,
        root().join("completions/bash/rkmod").display()
    );
    let out = run(program("bash"), ["-c", &script]);
    assert_status(&out, 0, "bash completion");
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("modinfo modprobe modaudit"));
    assert!(
        lines
            .next()
            .unwrap_or_default()
            .contains("-F __rkmod_rkmod"),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------------------------
// make install, and the Debian package

fn make(args: &[&str]) -> Output {
    let out = program("make")
        .arg("--no-print-directory")
        .arg("-C")
        .arg(root())
        .args(args)
        .arg(format!("RKMOD_BIN={}", rkmod_bin().display()))
        .output();
    assert_status(&out, 0, &format!("make {args:?}"));
    out
}

fn set(items: &[&str]) -> BTreeSet<PathBuf> {
    items.iter().map(PathBuf::from).collect()
}

#[test]
fn make_install_layout() {
    let stage = TempDir::new("install");
    let destdir = format!("DESTDIR={}", stage.0.display());
    let args = [&destdir, "PREFIX=/usr", "SBINDIR=/usr/sbin"];
    make(&[&["install"][..], &args].concat());
    let mut want = vec![
        "usr/sbin/rkmod".to_string(),
        "usr/share/man/man8/rkmod.8".to_string(),
    ];
    // kmod, depmod and modprobe are links too, but never in SBINDIR: rkmod's depmod lacks options kernel
    // packages use, and an initramfs builder links modprobe to the kmod it finds. They go to
    // the private directory, with rkmod- man pages and no completions, in every layout.
    const PARTIAL: [&str; 3] = ["kmod", "depmod", "modprobe"];
    for t in PARTIAL {
        want.push(format!("usr/lib/rkmod/{t}"));
        want.push(format!("usr/share/man/man8/rkmod-{t}.8"));
    }
    for t in std::iter::once("rkmod").chain(TOOLS.into_iter().filter(|t| !PARTIAL.contains(t))) {
        if t != "rkmod" {
            want.push(format!("usr/sbin/{t}"));
            want.push(format!("usr/share/man/man8/{t}.8"));
        }
        want.push(format!("usr/share/bash-completion/completions/{t}"));
        want.push(format!("usr/share/zsh/site-functions/_{t}"));
        want.push(format!("usr/share/fish/vendor_completions.d/{t}.fish"));
    }
    let want: BTreeSet<PathBuf> = want.iter().map(PathBuf::from).collect();
    assert_eq!(tree(&stage.0), want);
    for t in TOOLS.into_iter().filter(|t| !PARTIAL.contains(t)) {
        let link = stage.0.join("usr/sbin").join(t);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("rkmod"),
            "{t}"
        );
    }
    for t in PARTIAL {
        let link = stage.0.join("usr/lib/rkmod").join(t);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("../../sbin/rkmod"),
            "{t}"
        );
    }
    let out = run(
        program(stage.0.join("usr/sbin/modinfo")),
        [
            OsStr::new("-F"),
            OsStr::new("license"),
            fixture("rk_basic.ko").as_os_str(),
        ],
    );
    assert_eq!(text(&out.stdout), "GPL\n");
    assert_eq!(
        std::fs::read(stage.0.join("usr/share/man/man8/rmmod.8")).unwrap(),
        std::fs::read(root().join("man/rmmod.8")).unwrap()
    );

    make(&[&["uninstall"][..], &args].concat());
    assert_eq!(tree(&stage.0), BTreeSet::new(), "left after uninstall");
}

#[test]
fn make_install_beside_kmod() {
    let stage = TempDir::new("install-private");
    let destdir = format!("DESTDIR={}", stage.0.display());
    let args = [
        &destdir,
        "PREFIX=/usr",
        "SBINDIR=/usr/sbin",
        "KMOD_NAMES=private",
    ];
    make(&[&["install"][..], &args].concat());
    assert_eq!(
        tree(&stage.0),
        set(&[
            "usr/lib/rkmod/depmod",
            "usr/lib/rkmod/insmod",
            "usr/lib/rkmod/kmod",
            "usr/lib/rkmod/lsmod",
            "usr/lib/rkmod/modinfo",
            "usr/lib/rkmod/modprobe",
            "usr/lib/rkmod/rmmod",
            "usr/sbin/modaudit",
            "usr/sbin/rkmod",
            "usr/share/bash-completion/completions/modaudit",
            "usr/share/bash-completion/completions/rkmod",
            "usr/share/fish/vendor_completions.d/modaudit.fish",
            "usr/share/fish/vendor_completions.d/rkmod.fish",
            "usr/share/man/man8/modaudit.8",
            "usr/share/man/man8/rkmod-depmod.8",
            "usr/share/man/man8/rkmod-insmod.8",
            "usr/share/man/man8/rkmod-kmod.8",
            "usr/share/man/man8/rkmod-lsmod.8",
            "usr/share/man/man8/rkmod-modinfo.8",
            "usr/share/man/man8/rkmod-modprobe.8",
            "usr/share/man/man8/rkmod-rmmod.8",
            "usr/share/man/man8/rkmod.8",
            "usr/share/zsh/site-functions/_modaudit",
            "usr/share/zsh/site-functions/_rkmod",
        ])
    );
    assert_eq!(
        std::fs::read_link(stage.0.join("usr/lib/rkmod/rmmod")).unwrap(),
        Path::new("../../sbin/rkmod")
    );
    make(&[&["uninstall"][..], &args].concat());
    assert_eq!(tree(&stage.0), BTreeSet::new(), "left after uninstall");
}

/// Every file that installed Debian packages own, from dpkg's database.
fn files_of_installed_packages() -> BTreeSet<PathBuf> {
    let mut owned = BTreeSet::new();
    for e in std::fs::read_dir("/var/lib/dpkg/info").unwrap() {
        let p = e.unwrap().path();
        if p.extension() == Some(OsStr::new("list")) {
            for line in std::fs::read_to_string(&p).unwrap_or_default().lines() {
                owned.insert(PathBuf::from(line));
            }
        }
    }
    owned
}

#[test]
fn deb_package_installs_beside_kmod() {
    if !require("dpkg-deb", "dpkg", "the Debian package")
        || !require("dpkg-shlibdeps", "dpkg-dev", "the Debian package")
    {
        return;
    }
    let out_dir = TempDir::new("deb");
    let out = program(root().join("packaging/deb/build.sh"))
        .arg(&out_dir.0)
        .env("RKMOD_BIN", rkmod_bin())
        .output();
    assert_status(&out, 0, "packaging/deb/build.sh");
    let arch = text(&program("dpkg").arg("--print-architecture").output().stdout);
    let deb = out_dir.0.join(format!(
        "rkmod_{}_{}.deb",
        env!("CARGO_PKG_VERSION"),
        arch.trim()
    ));
    assert_eq!(text(&out.stdout).trim(), deb.to_string_lossy());

    let field = |name: &str| {
        let out = run(
            program("dpkg-deb"),
            [OsStr::new("-f"), deb.as_os_str(), OsStr::new(name)],
        );
        text(&out.stdout).trim().to_string()
    };
    assert_eq!(field("Package"), "rkmod");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(field("Architecture"), arch.trim());
    assert!(field("Depends").contains("libc6"), "{}", field("Depends"));
    assert_eq!(field("Recommends"), "kmod");
    for f in ["Conflicts", "Replaces", "Provides", "Breaks"] {
        assert_eq!(field(f), "", "{f}: rkmod must co-exist with kmod");
    }

    // Unpack into a scratch root and use it from there.
    let root_dir = TempDir::new("deb-root");
    let out = run(
        program("dpkg-deb"),
        [OsStr::new("-x"), deb.as_os_str(), root_dir.0.as_os_str()],
    );
    assert_status(&out, 0, "dpkg-deb -x");
    let files = tree(&root_dir.0);
    for f in [
        "usr/sbin/rkmod",
        "usr/sbin/modaudit",
        "usr/lib/rkmod/insmod",
        "usr/lib/rkmod/kmod",
        "usr/lib/rkmod/rmmod",
        "usr/lib/rkmod/lsmod",
        "usr/lib/rkmod/modinfo",
        "usr/share/man/man8/rkmod.8.gz",
        "usr/share/man/man8/rkmod-modinfo.8.gz",
        "usr/share/man/man8/rkmod-kmod.8.gz",
        "usr/share/man/man8/modaudit.8.gz",
        "usr/share/bash-completion/completions/rkmod",
        "usr/share/zsh/site-functions/_rkmod",
        "usr/share/fish/vendor_completions.d/rkmod.fish",
        "usr/share/doc/rkmod/copyright",
        "usr/share/doc/rkmod/changelog.gz",
    ] {
        assert!(
            files.contains(Path::new(f)),
            "{f} not in the package: {files:?}"
        );
    }
    for prog in ["usr/sbin/rkmod", "usr/lib/rkmod/modinfo"] {
        let mut c = program(root_dir.0.join(prog));
        if prog.ends_with("rkmod") {
            c = c.arg("modinfo");
        }
        let out = run(
            c,
            [
                OsStr::new("-F"),
                OsStr::new("license"),
                fixture("rk_basic.ko").as_os_str(),
            ],
        );
        assert_status(&out, 0, prog);
        assert_eq!(text(&out.stdout), "GPL\n", "{prog}");
    }
    let out = run(
        program(root_dir.0.join("usr/sbin/modaudit")),
        [fixture("rk_basic.ko")],
    );
    assert_status(&out, 0, "modaudit from the package");

    // No file of the package belongs to an installed package (kmod's insmod, its man pages,
    // bash-completion's rmmod ...): dpkg would refuse to install it.
    let owned = files_of_installed_packages();
    let clashes: Vec<_> = files
        .iter()
        .map(|f| Path::new("/").join(f))
        .filter(|f| owned.contains(f))
        .collect();
    assert!(
        clashes.is_empty(),
        "files owned by installed packages: {clashes:?}"
    );
}
