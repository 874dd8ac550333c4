//! Conformance of our `modinfo` against kmod 34.2 on two real Debian kernel module trees.
//!
//! The trees and kmod 34.2 come from `tests/debian/fetch.sh` (6.1: plain `.ko`; 6.12: `.ko.xz`;
//! kmod 34.2 is Debian 13's, run through Debian 13's own loader from `<debian>/kmod34/bin`). For
//! every module of both trees, and for every name, builtin name, literal alias and a sample of
//! wildcard aliases and symbols from their indexes, both tools are run with the same arguments
//! and must give the same stdout, byte for byte, and the same exit code, and agree on whether
//! stderr is empty (the text may differ: ours is meant to be clearer).
//!
//! Nothing is adjusted: every mode compares raw output. Our `-F build-id` (which kmod 34.2 does
//! not know, and answers with nothing) is checked instead against the `.note.gnu.build-id` that
//! binutils' `readelf -n` reports for the same (decompressed) file.
//!
//! Debian 12's kmod 30 is a second reference, on a smaller set of modes (`v30 ...`): there kmod
//! 30 is compared with kmod 34.2 (ours takes no part), and the only differences allowed are the
//! ones between the two releases that real modules can show: the padding after keys longer
//! than 15 characters, and a builtin module without `.modinfo` strings (v30: "Function not
//! implemented", exit 1; 34: its name and `(builtin)`, exit 0). Each is counted in the summary.
//!
//! Speed: arguments are passed in batches of [`BATCH`] per invocation, and only a batch that
//! differs is rerun one argument at a time to find and show the culprits. Batches run on
//! [`WORKERS`] threads.
//!
//! Environment:
//! * `RKMOD_MODINFO`: our binary (default: this crate's `modinfo` bin target);
//! * `KMOD_MODINFO`: the reference, kmod 34.2 (default `<debian>/kmod34/bin/modinfo`; its `-V`
//!   must say `kmod version 34.2`). Pointing `RKMOD_MODINFO` at it too checks the harness itself:
//!   kmod against kmod must be 100% (build-ids are then not checked: kmod has none);
//! * `KMOD30_MODINFO`: the second reference, Debian 12's kmod 30 (default `/sbin/modinfo`);
//! * `RKMOD_DEBIAN_DIR`: where fetch.sh put the trees (default `<crate>/target/debian`);
//! * `CI=true`: missing trees or tools (kmod 34.2 included) fail the test instead of skipping it.
//!
//! Run with `cargo test --test conformance -- --nocapture` to see the per-mode summary.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// Arguments per invocation. Large enough that process start-up is noise, small enough that a
/// failing batch is cheap to rerun one argument at a time.
const BATCH: usize = 200;
/// Two threads: CI machines often have two cores, and each job runs both tools in turn.
const WORKERS: usize = 2;
/// A single invocation taking this long is a hang, not slowness (a batch takes ~1 s).
const TIMEOUT: Duration = Duration::from_secs(300);
/// Diffs shown per failing mode.
const SHOWN_DIFFS: usize = 3;

/// The two trees fetch.sh produces, by the directory name it gives each.
const TREES: [&str; 2] = ["6.1", "6.12"];

/// Device strings that must match wildcard patterns in modules.alias, written the way the kernel
/// formats them in uevents (file2alias.c), so the wildcard matcher is tested on realistic input
/// and not only on strings derived from the patterns themselves. Each must resolve in kmod
/// (checked), so a tree update cannot silently turn them into "not found" cases.
const DEVICE_ALIASES: &[&str] = &[
    // e1000e, Intel 82571EB quad port
    "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00",
    // ahci, by class (any vendor)
    "pci:v00001B4Bd00009172sv00001B4Bsd00009172bc01sc06i01",
    // nvme, by class
    "pci:v0000144Dd0000A808sv0000144Dsd0000A801bc01sc08i02",
    // xhci_pci, by class
    "pci:v00001022d000015E0sv00001022sd000015E0bc0Csc03i30",
    // usb_storage and uas, bulk-only mass storage interface
    "usb:v0781p5581d0100dc00dsc00dp00ic08isc06ip50in00",
    // usbhid, HID interface
    "usb:v046DpC077d7200dc00dsc00dp00ic03isc01ip02in00",
    // virtio_net
    "virtio:d00000001v00001AF4",
    // x86 cpu model aliases: intel_uncore, intel_cstate, rapl and more, in modules.order order
    "cpu:type:x86,ven0000fam0006mod009E:feature:,0000,0001,0019,0079,00E1",
    // wmi, ACPI
    "acpi:PNP0C14:",
    // vmw_balloon, a DMI pattern with several `*`
    "dmi:bvnPhoenixTechnologiesLTD:bvr6.00:bd11/12/2020:br4.6:svnVMware,Inc.:pnVMwareVirtualPlatform:pvrNone:rvnIntelCorporation:rn440BXDesktopReferencePlatform:rvrNone:cvnNoEnclosure:ct1:cvrN/A:sku:",
    // evdev. Its pattern reads `...e*-e*...` in modules.alias but `e*_e*` in modules.alias.bin
    // (depmod normalises), and kmod turns this argument's `-` into `_` before matching.
    "input:b0019v0000p0000e0000-e0,1,k74,ramlsfw",
    // hid_generic, sd_mod (`-` again), psmouse and serio_raw, gpio_keys (`(null)` and `-`)
    "hid:b0003g0001v0000046Dp0000C077",
    "scsi:t-0x00",
    "serio:ty01pr00id00ex00",
    "of:NfooT(null)Cgpio-keys",
];

/// Module names used in the hand-written multi-argument cases; all exist in both trees.
const CASE_MODULES: [&str; 3] = ["e1000e", "ext4", "nvme"];
const CASE_BUILTIN: &str = "iosf_mbi";

#[test]
fn modinfo_matches_debian_kmod() {
    let Some(env) = Env::discover() else { return };
    let started = Instant::now();
    let mut summary: Vec<Summary> = Vec::new();
    for label in TREES {
        let tree = Tree::load(&env, label);
        for mode in modes(&env, &tree) {
            let s = run_mode(&env, &tree, &mode);
            eprintln!("{}", s.line());
            for (what, diff) in s.failures.iter().take(SHOWN_DIFFS) {
                eprintln!("  --- differs: {what}\n{}", indent(diff));
            }
            summary.push(s);
        }
    }
    let _ = fs::remove_dir_all(&env.tmp);

    eprintln!(
        "\nconformance summary: ours = {}, kmod 34.2 = {}, kmod 30 = {}",
        env.ours.display(),
        env.kmod.display(),
        env.kmod30.display()
    );
    for s in &summary {
        eprintln!("  {}", s.line());
    }
    eprintln!("  total time {:.1}s", started.elapsed().as_secs_f64());

    let failed: Vec<String> = summary
        .iter()
        .filter(|s| !s.passed())
        .map(Summary::line)
        .collect();
    assert!(
        failed.is_empty(),
        "modinfo differs from kmod in:\n  {}",
        failed.join("\n  ")
    );
}

// --- environment ------------------------------------------------------------------------------

/// What the test needs from the machine, found once.
struct Env {
    ours: PathBuf,
    /// kmod 34.2's modinfo: the reference.
    kmod: PathBuf,
    /// Debian 12's kmod 30: the second reference, compared with kmod 34.2 only.
    kmod30: PathBuf,
    debian: PathBuf,
    /// Scratch space for decompressed modules.
    tmp: PathBuf,
    /// `RKMOD_MODINFO` names kmod itself: the self-check, in which there is no build-id line.
    is_self_check: bool,
}

impl Env {
    /// Finds the binaries and trees, or explains loudly why the test cannot run: a skip outside CI
    /// (so `cargo test` works on a laptop without 180 MB of kernel packages), a failure under
    /// `CI=true` (so CI cannot pass by silently testing nothing).
    fn discover() -> Option<Env> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let debian = match std::env::var_os("RKMOD_DEBIAN_DIR") {
            Some(d) => absolute(Path::new(&d)),
            None => manifest.join("target/debian"),
        };
        let kmod = std::env::var_os("KMOD_MODINFO")
            .map_or_else(|| debian.join("kmod34/bin/modinfo"), PathBuf::from);
        let kmod30 = std::env::var_os("KMOD30_MODINFO")
            .map_or_else(|| "/sbin/modinfo".into(), PathBuf::from);
        // option_env!, not env!: the test must still compile while the crate has no modinfo bin
        // (or while someone is renaming it); the override then supplies one.
        let ours = std::env::var_os("RKMOD_MODINFO")
            .map(PathBuf::from)
            .or_else(|| option_env!("CARGO_BIN_EXE_modinfo").map(PathBuf::from));

        let mut problems = Vec::new();
        if !debian.join("stamp").is_file() {
            problems.push(format!(
                "Debian module trees not found in {} (no stamp file); run tests/debian/fetch.sh",
                debian.display()
            ));
        }
        match &ours {
            None => problems.push("no modinfo binary: the crate has no `modinfo` bin target and RKMOD_MODINFO is unset".into()),
            Some(p) if !p.is_file() => problems.push(format!("our modinfo {} does not exist", p.display())),
            Some(_) => {}
        }
        for (bin, version, how) in [
            (&kmod, "34.2", "run tests/debian/fetch.sh"),
            (&kmod30, "30", "apt-get install kmod"),
        ] {
            if let Err(e) = check_kmod_version(bin, version) {
                problems.push(format!("kmod {version}: {e} ({how})"));
            }
        }
        for tool in ["readelf", "xz"] {
            if !on_path(tool) {
                problems.push(format!(
                    "`{tool}` is not on PATH (apt-get install binutils xz-utils)"
                ));
            }
        }
        if !problems.is_empty() {
            let ci = matches!(std::env::var("CI").as_deref(), Ok("true" | "1"));
            let msg = problems.join("\n  ");
            assert!(!ci, "conformance test cannot run under CI=true:\n  {msg}");
            let bar = "!".repeat(78);
            // Straight to the stderr handle: libtest captures eprintln! from passing tests, and a
            // skip nobody sees is the thing to avoid.
            let _ = writeln!(
                std::io::stderr(),
                "\n{bar}\nSKIPPING modinfo conformance test against Debian kmod:\n  {msg}\n{bar}\n"
            );
            return None;
        }

        let ours = absolute(&ours.unwrap());
        let kmod = absolute(&kmod);
        let kmod30 = absolute(&kmod30);
        let is_self_check = fs::canonicalize(&ours).ok() == fs::canonicalize(&kmod).ok();
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("conformance-{}", std::process::id()));
        fs::create_dir_all(&tmp).unwrap();
        Some(Env {
            ours,
            kmod,
            kmod30,
            debian,
            tmp,
            is_self_check,
        })
    }
}

/// `bin -V` must start with `kmod version <version>`: a reference of another version would make
/// every comparison quietly test something else.
fn check_kmod_version(bin: &Path, version: &str) -> Result<(), String> {
    if !bin.is_file() {
        return Err(format!("{} does not exist", bin.display()));
    }
    let out = Command::new(bin)
        .arg("-V")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    if first == format!("kmod version {version}") {
        Ok(())
    } else {
        Err(format!(
            "{} -V says {first:?}, not \"kmod version {version}\"",
            bin.display()
        ))
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        std::env::current_dir().unwrap().join(p)
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(tool).is_file()))
}

// --- trees ------------------------------------------------------------------------------------

/// One extracted and depmod-indexed Debian tree.
struct Tree {
    label: &'static str,
    /// What `-b` gets: the directory holding `lib/modules/<kver>`.
    root: String,
    kver: String,
    moddir: PathBuf,
    /// Absolute path of every module file, sorted.
    files: Vec<String>,
    /// Module path -> build-id as lowercase hex, according to readelf.
    build_ids: HashMap<String, String>,
}

impl Tree {
    fn load(env: &Env, label: &'static str) -> Tree {
        let root = env.debian.join(label);
        let modules = root.join("lib/modules");
        // The kernel version is not repeated here: fetch.sh owns it, and each tree has one.
        let kvers: Vec<String> = read_dir_names(&modules);
        assert_eq!(
            kvers.len(),
            1,
            "{} should hold exactly one kernel version",
            modules.display()
        );
        let kver = kvers.into_iter().next().unwrap();
        let moddir = modules.join(&kver);
        assert!(
            moddir.join("modules.dep.bin").is_file(),
            "{} is not indexed; rerun tests/debian/fetch.sh",
            moddir.display()
        );

        let mut files = Vec::new();
        walk_modules(&moddir, &mut files);
        files.sort();
        assert!(
            files.len() > 1000,
            "only {} modules under {}",
            files.len(),
            moddir.display()
        );

        let started = Instant::now();
        let build_ids = readelf_build_ids(env, &files);
        // Every module of these kernels is linked with a build-id; fewer means readelf's output
        // was misparsed, and the build-id checks below would pass vacuously.
        assert_eq!(
            build_ids.len(),
            files.len(),
            "readelf found a build-id in only {} of {} modules of {label}",
            build_ids.len(),
            files.len()
        );
        eprintln!(
            "{label}: {} modules in {}, build-ids of all read with readelf in {:.1}s",
            files.len(),
            moddir.display(),
            started.elapsed().as_secs_f64()
        );
        Tree {
            label,
            root: utf8(&root),
            kver,
            moddir,
            files,
            build_ids,
        }
    }

    /// Names of every module in modules.dep, normalised as kmod does (`-` and `_` equal).
    fn dep_names(&self) -> Vec<String> {
        self.read_index("modules.dep")
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(path, _)| modname(path))
            .collect()
    }

    /// Names in modules.builtin (paths like `kernel/mm/zbud.ko`).
    fn builtin_names(&self) -> Vec<String> {
        self.read_index("modules.builtin")
            .lines()
            .filter(|l| !l.is_empty())
            .map(modname)
            .collect()
    }

    /// `(pattern, module)` for each line of modules.alias or modules.symbols.
    fn alias_lines(&self, index: &str) -> Vec<(String, String)> {
        self.read_index(index)
            .lines()
            .filter_map(|l| l.strip_prefix("alias "))
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(a, m)| (a.to_owned(), m.to_owned()))
            .collect()
    }

    /// Values of `<module>.alias=` strings in modules.builtin.modinfo. There is no text version
    /// of modules.builtin.alias.bin, but depmod builds it from exactly these.
    fn builtin_aliases(&self) -> Vec<String> {
        let raw = fs::read(self.moddir.join("modules.builtin.modinfo")).unwrap();
        raw.split(|&b| b == 0)
            .filter_map(|s| std::str::from_utf8(s).ok())
            .filter_map(|s| s.split_once('='))
            .filter(|(key, _)| key.ends_with(".alias"))
            .map(|(_, v)| v.to_owned())
            .collect()
    }

    fn read_index(&self, name: &str) -> String {
        let p = self.moddir.join(name);
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// `-b ROOT -k KVER`, so lookups use this tree and never the host's /lib/modules.
    fn lookup_opts(&self) -> Vec<String> {
        vec![
            "-b".into(),
            self.root.clone(),
            "-k".into(),
            self.kver.clone(),
        ]
    }
}

fn read_dir_names(dir: &Path) -> Vec<String> {
    let rd = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    rd.map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn walk_modules(dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            walk_modules(&path, out);
        } else if ty.is_file() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".ko") || name.ends_with(".ko.xz") {
                out.push(utf8(&path));
            }
        }
    }
}

fn utf8(p: &Path) -> String {
    p.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
        .to_owned()
}

/// kmod's `modname_normalize` of a path's basename: up to the first `.`, `-` becomes `_`.
fn modname(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap();
    base.split('.').next().unwrap().replace('-', "_")
}

/// A string that the fnmatch pattern `pat` matches: `*` matches the empty string, `?` any
/// character, a bracket class its first member. None for a negated class, which none of these
/// trees has, rather than guessing a character outside it.
fn concrete(pat: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = pat.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => {}
            '?' => out.push('0'),
            '[' => {
                let first = chars.next()?;
                if first == '!' || first == '^' {
                    return None;
                }
                out.push(first);
                // `]` right after `[` is a member, not the end of the class.
                let mut seen_first = true;
                loop {
                    match chars.next()? {
                        ']' if seen_first => break,
                        _ => seen_first = true,
                    }
                }
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

/// The first alias of each module and, `with_last`, its last one too, in first-seen order.
fn per_module<'a>(
    lines: impl Iterator<Item = &'a (String, String)>,
    with_last: bool,
) -> impl Iterator<Item = &'a str> {
    let mut order: Vec<&str> = Vec::new();
    let mut ends: HashMap<&str, (&str, &str)> = HashMap::new();
    for (alias, module) in lines {
        ends.entry(module)
            .and_modify(|e| e.1 = alias)
            .or_insert_with(|| {
                order.push(module);
                (alias, alias)
            });
    }
    order.into_iter().flat_map(move |m| {
        let (first, last) = ends[m];
        std::iter::once(first).chain((with_last && last != first).then_some(last))
    })
}

fn is_wildcard(pat: &str) -> bool {
    pat.contains(['*', '?', '['])
}

/// Order-preserving dedup, plus dropping strings getopt would take for options.
fn dedup(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|s| !s.starts_with('-') && !s.is_empty() && seen.insert(s.clone()))
        .collect()
}

// --- build-ids via readelf ----------------------------------------------------------------------

/// Build-ids of `files`, read with `readelf -n` (after `xz -d` for `.ko.xz`), so the check does not
/// share an ELF parser with the code under test.
fn readelf_build_ids(env: &Env, files: &[String]) -> HashMap<String, String> {
    let batches: Vec<&[String]> = files.chunks(BATCH).collect();
    let results = parallel(batches.len(), |i, worker| {
        let batch = batches[i];
        let scratch = env.tmp.join(format!("readelf-{worker}"));
        let plain: Vec<String> = if batch[0].ends_with(".xz") {
            // One `xz -d` per batch on copies named by index, so the decompressed files map back
            // to their originals without caring about duplicate basenames.
            let _ = fs::remove_dir_all(&scratch);
            fs::create_dir_all(&scratch).unwrap();
            let copies: Vec<String> = batch
                .iter()
                .enumerate()
                .map(|(n, f)| {
                    let dst = scratch.join(format!("{n}.ko.xz"));
                    fs::copy(f, &dst).unwrap();
                    utf8(&dst)
                })
                .collect();
            let st = Command::new("xz")
                .args(["-d", "-q", "-f"])
                .args(&copies)
                .status()
                .unwrap();
            assert!(
                st.success(),
                "xz -d failed on a batch starting with {}",
                batch[0]
            );
            copies
                .iter()
                .map(|c| c.trim_end_matches(".xz").to_owned())
                .collect()
        } else {
            batch.to_vec()
        };
        let out = Command::new("readelf")
            .env("LC_ALL", "C")
            .arg("-n")
            .args(&plain)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "readelf -n failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let by_plain: HashMap<&str, &String> =
            plain.iter().map(String::as_str).zip(batch).collect();
        // readelf prefixes each file's notes with "File: <name>" only when given several files.
        let mut current = (plain.len() == 1).then(|| batch[0].clone());
        let mut ids = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(name) = line.strip_prefix("File: ") {
                current = Some(by_plain[name].clone());
            } else if let Some(hex) = line.trim_start().strip_prefix("Build ID: ") {
                let file = current
                    .clone()
                    .expect("readelf printed a Build ID before any File: line");
                ids.push((file, hex.trim().to_ascii_lowercase()));
            }
        }
        ids
    });
    results.into_iter().flatten().collect()
}

/// A build-id as kmod HEAD prints it: uppercase hex bytes joined by `:`, and `:\n\t\t` after every
/// 20th byte when more follow.
fn format_hex(hex: &str) -> String {
    let bytes: Vec<&str> = (0..hex.len()).step_by(2).map(|i| &hex[i..i + 2]).collect();
    let mut out = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push_str(if i % 20 == 0 { ":\n\t\t" } else { ":" });
        }
        out.push_str(&b.to_ascii_uppercase());
    }
    out
}

// --- modes ------------------------------------------------------------------------------------

/// Whether the arguments ask for a whole listing (not a field): the mode in which kmod 30 pads
/// long keys.
fn is_listing(args: &[String]) -> bool {
    !args
        .iter()
        .any(|a| ["-F", "-p", "-n", "-a", "-d", "-l", "-0"].contains(&a.as_str()))
}

/// One way of calling modinfo, applied to a list of items.
struct Mode {
    name: String,
    /// Options before the items.
    opts: Vec<String>,
    /// Each item is one or more arguments; a batch concatenates the arguments of its items.
    items: Vec<Vec<String>>,
    /// Items per invocation.
    batch: usize,
    /// What is compared with kmod 34.2.
    subject: Subject,
}

/// Who runs a mode's invocations, and what they are compared with.
#[derive(Clone, Copy, PartialEq)]
enum Subject {
    /// Ours against kmod 34.2.
    Ours,
    /// Ours against readelf, for `-F build-id`, which kmod 34.2 does not know.
    OursVsReadelf,
    /// kmod 30 against kmod 34.2, allowing only the known differences between the releases.
    Kmod30,
}

impl Mode {
    fn new(name: &str, opts: &[&str], items: Vec<String>) -> Mode {
        Mode {
            name: name.into(),
            opts: opts.iter().map(|s| s.to_string()).collect(),
            items: items.into_iter().map(|i| vec![i]).collect(),
            batch: BATCH,
            subject: Subject::Ours,
        }
    }

    fn v30(mut self) -> Mode {
        self.name = format!("v30 {}", self.name);
        self.subject = Subject::Kmod30;
        self
    }

    fn with_lookup(mut self, tree: &Tree) -> Mode {
        self.opts.splice(0..0, tree.lookup_opts());
        self
    }
}

fn modes(env: &Env, tree: &Tree) -> Vec<Mode> {
    let files = tree.files.clone();
    let mut modes = vec![
        Mode::new("by-path", &[], files.clone()),
        Mode::new("by-path -0", &["-0"], files.clone()),
    ];
    for field in [
        "license", "alias", "depends", "signer", "sig_key", "parmtype", "filename",
    ] {
        modes.push(Mode::new(
            &format!("by-path -F {field}"),
            &["-F", field],
            files.clone(),
        ));
    }
    modes.push(Mode::new("by-path -p", &["-p"], files.clone()));
    if !env.is_self_check {
        let mut m = Mode::new("by-path -F build-id vs readelf", &["-F", "build-id"], files);
        m.subject = Subject::OursVsReadelf;
        modes.push(m);
    }

    modes.push(Mode::new("by-name", &[], tree.dep_names()).with_lookup(tree));

    let builtin = tree.builtin_names();
    modes.push(Mode::new("builtin", &[], builtin.clone()).with_lookup(tree));
    modes.push(Mode::new("builtin -0", &["-0"], builtin).with_lookup(tree));

    let aliases = tree.alias_lines("modules.alias");
    let literal = dedup(
        aliases
            .iter()
            .filter(|(a, _)| !is_wildcard(a))
            .map(|(a, _)| a.clone()),
    );
    modes.push(Mode::new("alias literal (all)", &[], literal).with_lookup(tree));
    // Every module's first and last wildcard pattern, made concrete. Not all ~25k patterns, nor
    // every Nth: each lookup decompresses every module it matches, and the big GPU drivers own
    // thousands of patterns, so either would spend a minute decompressing amdgpu.
    let from_patterns = dedup(
        per_module(aliases.iter().filter(|(a, _)| is_wildcard(a)), true).filter_map(concrete),
    );
    modes.push(Mode::new("alias patterns (2/module)", &[], from_patterns).with_lookup(tree));
    let devices = DEVICE_ALIASES.iter().map(|s| s.to_string()).collect();
    modes.push(Mode::new("alias device strings", &[], devices).with_lookup(tree));
    check_device_aliases_resolve(env, tree);
    let builtin_aliases = dedup(tree.builtin_aliases().iter().filter_map(|a| concrete(a)));
    modes.push(Mode::new("builtin aliases", &[], builtin_aliases).with_lookup(tree));
    // One symbol per exporting module, for the same reason.
    let symbols = tree.alias_lines("modules.symbols");
    let symbols = dedup(per_module(symbols.iter(), false).map(str::to_owned));
    modes.push(Mode::new("symbol: (1/module)", &[], symbols).with_lookup(tree));

    modes.push(multi_arg_cases(tree));

    // The second reference: kmod 30 against kmod 34.2 where their documented differences show.
    modes.push(Mode::new("by-path", &[], tree.files.clone()).v30());
    // Every 8th file: `-0` shares everything with the listing but the separators.
    let sample: Vec<String> = tree.files.iter().step_by(8).cloned().collect();
    modes.push(Mode::new("by-path -0 (1/8)", &["-0"], sample).v30());
    let builtin = tree.builtin_names();
    modes.push(
        Mode::new("builtin", &[], builtin.clone())
            .with_lookup(tree)
            .v30(),
    );
    modes.push(
        Mode::new("builtin -0", &["-0"], builtin)
            .with_lookup(tree)
            .v30(),
    );
    modes
}

/// Hand-written invocations mixing found and missing arguments, option spellings and lookup
/// kinds; each is one invocation (one item), so exit code 1 is compared per case.
fn multi_arg_cases(tree: &Tree) -> Mode {
    let [a, b, c] = CASE_MODULES;
    let path = |name: &str| -> String {
        tree.files
            .iter()
            .find(|f| modname(f) == name)
            .unwrap_or_else(|| panic!("no {name} in {}", tree.label))
            .clone()
    };
    let symbol = tree.alias_lines("modules.symbols")[0].0.clone();
    let look = tree.lookup_opts();
    let with = |opts: &[&str], args: &[&str]| -> Vec<String> {
        look.iter()
            .cloned()
            .chain(opts.iter().chain(args).map(|s| s.to_string()))
            .collect()
    };
    let cases: Vec<Vec<String>> = vec![
        with(&[], &[a, "no_such_module", b]),
        with(&[], &["no_such_module"]),
        with(&[], &["no_such_module", "also-missing"]),
        with(&[], &[a, CASE_BUILTIN, &symbol, "fs-ext4", c]),
        with(&["-0"], &[a, "no_such_module", CASE_BUILTIN]),
        with(&["-F", "depends"], &[a, "no_such_module", b, CASE_BUILTIN]),
        with(&["-F", "name"], &[CASE_BUILTIN, a]),
        with(&["-F", "filename"], &[CASE_BUILTIN, "no_such_module", a]),
        with(&["-p"], &[c, a]),
        with(&["-n"], &[a, b]),
        with(&["-a"], &[a]),
        with(&["-d"], &[b]),
        with(&["-l"], &[c]),
        with(&["-a", "-d"], &[a]),      // only the last field option counts
        with(&["-F", "License"], &[a]), // -F is case-sensitive: prints nothing, exit 0
        with(&["-F", "no_such_field"], &[a]),
        with(&["-m"], &[a, "no_such_module"]),
        with(&["-m"], &["fs-ext4"]), // -m takes names only: an alias is not found
        with(&["-m"], &[CASE_BUILTIN]),
        with(&[], &["foo[bar"]),               // alias normalisation error
        with(&[], &["/nonexistent/dir/x.ko"]), // module extension but no file: alias lookup
        with(&[], &[]),                        // no operand
        vec![path(a), "no_such_module".into(), path(b)], // no -b/-k: names look in the host dir
        vec![path(c), path(a)],
        vec!["-0".into(), path(a), path(c)],
        vec![path(a), "-F".into(), "license".into(), path(b)], // options after operands
        // A trailing slash on -b is kept verbatim (`root//lib/modules/...` in filenames).
        vec![
            "-b".into(),
            format!("{}/", tree.root),
            "-k".into(),
            tree.kver.clone(),
            a.into(),
            CASE_BUILTIN.into(),
        ],
    ];
    Mode {
        name: "multi-argument cases".into(),
        opts: vec![],
        items: cases,
        batch: 1,
        subject: Subject::Ours,
    }
}

/// Device strings that match nothing would make "alias device strings" test only the not-found
/// path; catch that when a tree changes.
fn check_device_aliases_resolve(env: &Env, tree: &Tree) {
    for alias in DEVICE_ALIASES {
        let mut args = tree.lookup_opts();
        args.extend(["-F".into(), "name".into(), alias.to_string()]);
        let r = run(&env.kmod, &args);
        assert_eq!(
            r.code,
            Some(0),
            "kmod finds no module for {alias} in {}; update DEVICE_ALIASES",
            tree.label
        );
    }
}

// --- running and comparing ----------------------------------------------------------------------

struct Summary {
    label: String,
    mode: String,
    total: usize,
    identical: usize,
    counts: Counts,
    secs: f64,
    /// (what was run, why it differs)
    failures: Vec<(String, String)>,
}

impl Summary {
    fn passed(&self) -> bool {
        self.identical == self.total && self.failures.is_empty()
    }

    fn line(&self) -> String {
        let mut ids = String::new();
        for (n, what) in [
            (self.counts.build_ids, "build-ids checked"),
            (self.counts.padded, "v30-padded lines"),
            (self.counts.builtin_enosys, "v30 builtin ENOSYS"),
        ] {
            if n > 0 {
                ids.push_str(&format!(", {n} {what}"));
            }
        }
        format!(
            "conformance {:<4} {:<32} {:>5}/{:<5} identical{}  ({:.1}s){}",
            self.label,
            self.mode,
            self.identical,
            self.total,
            if self.passed() { "" } else { "  FAIL" },
            self.secs,
            ids
        )
    }
}

fn run_mode(env: &Env, tree: &Tree, mode: &Mode) -> Summary {
    let started = Instant::now();
    let batches: Vec<&[Vec<String>]> = mode.items.chunks(mode.batch).collect();
    let failures = Mutex::new(Vec::new());
    let counts = parallel(batches.len(), |i, _| {
        let batch = batches[i];
        match compare(env, tree, mode, batch) {
            Ok(c) => (batch.len(), c),
            Err(diff) if batch.len() == 1 => {
                failures
                    .lock()
                    .unwrap()
                    .push((describe(mode, &batch[0]), diff));
                (0, Counts::default())
            }
            // Only now pay for one invocation per item, to find which ones differ.
            Err(_) => batch
                .iter()
                .fold((0, Counts::default()), |(same, c), item| {
                    match compare(env, tree, mode, std::slice::from_ref(item)) {
                        Ok(n) => (same + 1, c + n),
                        Err(diff) => {
                            failures.lock().unwrap().push((describe(mode, item), diff));
                            (same, c)
                        }
                    }
                }),
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    if mode.items.is_empty() {
        failures.push((
            "(nothing)".into(),
            "the mode has no items; the tree's index is probably empty".into(),
        ));
    }
    Summary {
        label: tree.label.into(),
        mode: mode.name.clone(),
        total: mode.items.len(),
        identical: counts.iter().map(|c| c.0).sum(),
        counts: counts.iter().fold(Counts::default(), |a, c| a + c.1),
        secs: started.elapsed().as_secs_f64(),
        failures,
    }
}

fn describe(mode: &Mode, item: &[String]) -> String {
    let args: Vec<&str> = mode.opts.iter().chain(item).map(String::as_str).collect();
    format!("modinfo {}", shell_words(&args))
}

/// What a passing comparison verified besides identical output.
#[derive(Clone, Copy, Default)]
struct Counts {
    /// Our build-id records checked against readelf.
    build_ids: usize,
    /// kmod 34.2 lines whose key is longer than 15 characters, which v30 pads (§13).
    padded: usize,
    /// Builtin modules without `.modinfo` strings, an error in v30 only (§13).
    builtin_enosys: usize,
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            build_ids: self.build_ids + o.build_ids,
            padded: self.padded + o.padded,
            builtin_enosys: self.builtin_enosys + o.builtin_enosys,
        }
    }
}

/// Runs one invocation of both tools; Ok(what was verified) or Err(explanation).
fn compare(env: &Env, tree: &Tree, mode: &Mode, items: &[Vec<String>]) -> Result<Counts, String> {
    let args: Vec<String> = mode
        .opts
        .iter()
        .chain(items.iter().flatten())
        .cloned()
        .collect();
    if mode.subject == Subject::Kmod30 {
        return compare_v30(env, &args);
    }
    let ours = run(&env.ours, &args);
    let mut problems = Vec::new();

    if mode.subject == Subject::OursVsReadelf {
        let want: String = items
            .iter()
            .flatten()
            .map(|f| format_hex(&tree.build_ids[f]) + "\n")
            .collect();
        if ours.code != Some(0) {
            problems.push(format!("exit code {}, expected 0", code(ours.code)));
        }
        if ours.stdout != want.as_bytes() {
            problems.push(line_diff(
                "readelf",
                want.as_bytes(),
                "ours",
                &ours.stdout,
                b'\n',
            ));
        }
        return if problems.is_empty() {
            Ok(Counts {
                build_ids: items.len(),
                ..Counts::default()
            })
        } else {
            Err(problems.join("\n"))
        };
    }

    let kmod = run(&env.kmod, &args);
    let stdout = ours.stdout.clone();
    if kmod.code != ours.code {
        problems.push(format!(
            "exit code: kmod {}, ours {}",
            code(kmod.code),
            code(ours.code)
        ));
    }
    if kmod.stdout != stdout {
        let diff_sep = if args.iter().any(|a| a == "-0") {
            0
        } else {
            b'\n'
        };
        problems.push(line_diff("kmod", &kmod.stdout, "ours", &stdout, diff_sep));
    }
    // Texts differ on purpose; silence versus a message must not.
    if kmod.stderr.is_empty() != ours.stderr.is_empty()
        || (ours.code == Some(1) && ours.stderr.is_empty())
    {
        problems.push(format!(
            "stderr: kmod {:?}, ours {:?}",
            String::from_utf8_lossy(&kmod.stderr),
            String::from_utf8_lossy(&ours.stderr)
        ));
    }
    if problems.is_empty() {
        Ok(Counts::default())
    } else {
        Err(problems.join("\n"))
    }
}

/// kmod 30 against kmod 34.2 on the same arguments. Identical, or different only as known
/// between the releases: keys longer than 15 characters get `len - 15` spaces after the colon in
/// v30 and none in 34; a builtin module without `.modinfo` strings is an ENOSYS error in v30 only
/// (recognised one module at a time, so a batch holding one is rerun item by item).
fn compare_v30(env: &Env, args: &[String]) -> Result<Counts, String> {
    let new = run(&env.kmod, args);
    let old = run(&env.kmod30, args);
    let mut counts = Counts::default();
    let listing = is_listing(args);
    let stdout = if listing {
        let (padded, n) = pad_long_keys_like_v30(&new.stdout);
        counts.padded = n;
        padded
    } else {
        new.stdout.clone()
    };
    if old.code == new.code
        && old.stdout == stdout
        && old.stderr.is_empty() == new.stderr.is_empty()
    {
        return Ok(counts);
    }
    let is_builtin_enosys = old.code == Some(1)
        && new.code == Some(0)
        && old.stdout.is_empty()
        && new.stderr.is_empty()
        && String::from_utf8_lossy(&old.stderr).contains("Function not implemented")
        && new.stdout.windows(9).any(|w| w == b"(builtin)");
    if is_builtin_enosys {
        return Ok(Counts {
            builtin_enosys: 1,
            ..Counts::default()
        });
    }
    let sep = if args.iter().any(|a| a == "-0") {
        0
    } else {
        b'\n'
    };
    Err(format!(
        "exit code: v30 {}, 34.2 {}\nstderr: v30 {:?}, 34.2 {:?}\n{}",
        code(old.code),
        code(new.code),
        String::from_utf8_lossy(&old.stderr),
        String::from_utf8_lossy(&new.stderr),
        line_diff(
            "v30",
            &old.stdout,
            "34.2 (long keys padded as v30 does)",
            &stdout,
            sep
        )
    ))
}

/// kmod 34's listing with v30's padding: `key:` plus `len - 15` spaces where the key is longer
/// than 15 characters (v30 pads with a negative printf width). Returns it and the lines changed.
fn pad_long_keys_like_v30(out: &[u8]) -> (Vec<u8>, usize) {
    let mut res = Vec::with_capacity(out.len());
    let mut n = 0;
    for line in out.split_inclusive(|&b| b == b'\n') {
        let key_len = line.iter().position(|&b| b == b':');
        match key_len {
            // Continuation lines start with a tab; keys hold no blanks.
            Some(k) if k > 15 && !line[..k].iter().any(|b| b.is_ascii_whitespace()) => {
                res.extend_from_slice(&line[..=k]);
                res.extend(std::iter::repeat_n(b' ', k - 15));
                res.extend_from_slice(&line[k + 1..]);
                n += 1;
            }
            _ => res.extend_from_slice(line),
        }
    }
    (res, n)
}

// --- processes ----------------------------------------------------------------------------------

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn code(c: Option<i32>) -> String {
    c.map_or_else(
        || "none (killed by a signal or timeout)".into(),
        |c| c.to_string(),
    )
}

/// Runs `bin` with a clean environment (both tools get the same one) and a time limit.
fn run(bin: &Path, args: &[String]) -> Run {
    let child = Command::new(bin)
        .args(args)
        .env_clear()
        .env("LC_ALL", "C")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let pid = child.id();
    let (done, timer) = mpsc::channel::<()>();
    let out = thread::scope(|s| {
        // A watchdog rather than polling: wait_with_output already drains both pipes. The child
        // is not reaped before `done` is dropped, so its pid cannot have been reused when killed.
        s.spawn(move || {
            if timer.recv_timeout(TIMEOUT) == Err(mpsc::RecvTimeoutError::Timeout) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        });
        let out = child.wait_with_output();
        drop(done);
        out
    })
    .unwrap_or_else(|e| panic!("waiting for {}: {e}", bin.display()));
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// Runs `job(index, worker)` for every index in `0..n` on [`WORKERS`] threads; results in index
/// order.
fn parallel<T: Send>(n: usize, job: impl Fn(usize, usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, T)> = thread::scope(|s| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|worker| {
                let (next, job) = (&next, &job);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return mine;
                        }
                        mine.push((i, job(i, worker)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    results.sort_by_key(|r| r.0);
    results.into_iter().map(|r| r.1).collect()
}

// --- reporting ----------------------------------------------------------------------------------

/// A line diff with 2 lines of context, capped at 40 lines: enough to see a misplaced or altered
/// line in one module's output. The common head and tail are cut first; what remains is diffed
/// by longest common subsequence, or shown whole when too big for a quadratic table (amdgpu alone
/// prints thousands of alias lines).
fn line_diff(a_name: &str, a: &[u8], b_name: &str, b: &[u8], sep: u8) -> String {
    let a: Vec<&[u8]> = a.split_inclusive(|&c| c == sep).collect();
    let b: Vec<&[u8]> = b.split_inclusive(|&c| c == sep).collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a_mid, b_mid) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);

    let mut ops: Vec<(char, &[u8])> = a[..head].iter().map(|l| (' ', *l)).collect();
    let (n, m) = (a_mid.len(), b_mid.len());
    if n * m > 4_000_000 {
        ops.extend(a_mid.iter().map(|l| ('-', *l)));
        ops.extend(b_mid.iter().map(|l| ('+', *l)));
    } else {
        // lcs[i][j] = length of the LCS of a_mid[i..] and b_mid[j..].
        let mut lcs = vec![vec![0u32; m + 1]; n + 1];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i][j] = if a_mid[i] == b_mid[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && a_mid[i] == b_mid[j] {
                ops.push((' ', a_mid[i]));
                (i, j) = (i + 1, j + 1);
            } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
                ops.push(('+', b_mid[j]));
                j += 1;
            } else {
                ops.push(('-', a_mid[i]));
                i += 1;
            }
        }
    }
    ops.extend(a[a.len() - tail..].iter().map(|l| (' ', *l)));

    let near_change = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|o| o.0 != ' ')
    };
    let mut out = vec![format!("--- {a_name}\n+++ {b_name}")];
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if !near_change(k) {
            skipped = true;
            continue;
        }
        if skipped {
            out.push("@@".into());
            skipped = false;
        }
        if out.len() > 40 {
            out.push("... (diff truncated)".into());
            break;
        }
        out.push(format!(
            "{op}{}",
            String::from_utf8_lossy(line).escape_debug()
        ));
    }
    if ops.iter().all(|o| o.0 == ' ') {
        out.push("(no line differs)".into());
    }
    out.join("\n")
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

fn shell_words(args: &[&str]) -> String {
    let quote = |a: &&str| {
        if !a.is_empty()
            && a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-_./:=+,@".contains(&c))
        {
            a.to_string()
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    args.iter().map(quote).collect::<Vec<_>>().join(" ")
}

#[test]
fn v30_padding_of_long_keys() {
    let new = b"license:        GPL\nimport_ns_long_key:x\n\t\tcontinued: y\nabcdefghijklmno:z\n";
    let (old, n) = pad_long_keys_like_v30(new);
    assert_eq!(
        String::from_utf8(old).unwrap(),
        "license:        GPL\nimport_ns_long_key:   x\n\t\tcontinued: y\nabcdefghijklmno:z\n"
    );
    assert_eq!(n, 1);
}
