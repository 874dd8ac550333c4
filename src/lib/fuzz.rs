//! One entry function per fuzz target. The cargo-fuzz targets (`fuzz/fuzz_targets/`) are one
//! line each, calling these, and the replay test (`tests/it/fuzz_regressions.rs`) calls the same
//! functions on every committed corpus file and finding, so a replay runs exactly what the fuzzer
//! ran, on the stable toolchain.
//!
//! None of these returns anything: the property fuzzed is "no panic, no hang, no runaway
//! allocation". Where a writer promises a format (JSON Lines), the entry also checks that its
//! output parses, and panics if it does not.
//!
//! The tool-level entries ([`loaded`], [`tool_output`]) run the tools as a user would, on files
//! they write into a fresh temporary directory that they remove before returning.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cli::{self, Io};
use crate::file::modinfo::{self, ModuleInfo, Separator};
use crate::file::{ModuleFile, signature};
use crate::insert::{self, Force};
use crate::kernel::{loaded, procmodules};
use crate::sysroot::SysRoot;

/// The whole module-file path: compression detection and bounded decompression, ELF,
/// `.modinfo`, build id, signature, parameter merge, modinfo's writers in both separators, and
/// the audit.
pub fn module_file(data: &[u8]) {
    let Ok(file) = ModuleFile::from_bytes("fuzz.ko", data.to_vec()) else {
        return;
    };
    if let Ok(info) = ModuleInfo::from_file(&file) {
        let mut out = Vec::new();
        for sep in [Separator::Newline, Separator::Nul] {
            modinfo::write_entries(&mut out, &info, sep);
            let (params, _) = modinfo::merge_params(&info.entries);
            modinfo::write_param_lines(&mut out, &params, sep);
            modinfo::write_param_field(&mut out, &params, sep);
        }
    }
    // The audit reads the code for the unload hazards too; the exports it finds are checked
    // against its own symbol_get names, as a run of modaudit does.
    if let Ok(mut audit) = crate::audit::audit(&file) {
        let mut exports = crate::audit::Exports::default();
        exports.add_module("fuzz", &audit);
        exports.check(&mut audit);
    }
}

/// `/proc/modules` lines, and the state words of `/proc/modules` and sysfs `initstate`.
pub fn proc_modules(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for m in procmodules::parse(&text) {
        let _ = (m.users.len(), m.is_permanent, m.refcnt);
    }
    let _ = procmodules::State::parse(&text);
}

/// depmod's binary indexes (`modules.*.bin`): exact, all-prefix and wildcard searches. The first
/// byte is the key's length, the key follows, the rest is the index file.
pub fn index(data: &[u8]) {
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len().saturating_sub(1));
    let (key, file) = data.get(1..).unwrap_or_default().split_at(split);
    let Ok(index) = crate::moddir::index::Index::from_bytes("fuzz.bin", file.to_vec()) else {
        return;
    };
    let _ = index.search(key);
    let _ = index.search_all(key);
    let _ = index.search_wild(key);
}

/// `modules.dep` and `modules.builtin.modinfo` text, alias patterns (fnmatch: the first line is
/// the pattern, the rest the string), alias normalisation, and depmod's text inputs:
/// `Module.symvers`, `System.map` and depmod.d.
pub fn text_files(data: &[u8]) {
    let mut log = crate::depmod::Log::default();
    let file = std::path::Path::new("fuzz");
    let _ = crate::depmod::vmlinux::parse_symvers(data, file, Some(b'_'), &mut log);
    let _ = crate::depmod::vmlinux::parse_system_map(data, file, None, &mut log);
    let mut depmod_d = crate::depmod::config::Parser::default();
    depmod_d.parse(data, file, "6.1.0-50-amd64", &mut log);
    let _ = depmod_d.finish();
    let _ = crate::moddir::parse_dep_text(data);
    let name = data.split(|&b| b == 0).next().unwrap_or_default();
    let _ = crate::moddir::builtin_entries(data, name);
    if let Some(mid) = data.iter().position(|&b| b == b'\n') {
        let _ = crate::fnmatch::fnmatch(&data[..mid], &data[mid + 1..]);
    }
    let _ = crate::names::normalize_alias(data);
    // Module.symvers for modaudit --symvers.
    let mut exports = crate::audit::Exports::default();
    let _ = exports.add_symvers(data);
}

/// modprobe's configuration: the input up to the first NUL as a modprobe.d file, the rest as
/// `/proc/cmdline`; then `modprobe -c`'s text of it, and the input as `MODPROBE_OPTIONS`.
pub fn modprobe_config(data: &[u8]) {
    let (file, cmdline) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let mut config = crate::modprobe::config::Config::new();
    config.parse_file(file, "fuzz.conf");
    config.parse_kcmdline(cmdline);
    let mut out = Vec::new();
    config.show(&mut out);
    let _ = crate::modprobe::split_env_options(data);
}

/// The appended signature: the input as a module's tail (trailer checks, then PKCS#7), and the
/// input as the PKCS#7 blob itself inside a well-formed trailer.
pub fn signature(data: &[u8]) {
    if let Some(t) = signature::find_trailer(data) {
        let _ = signature::interpret(&t);
    }
    let mut wrapped = data.to_vec();
    // struct module_signature: algo, hash, id_type = PKEY_ID_PKCS7 (2), signer_len, key_id_len,
    // three bytes of padding, then sig_len (big-endian); then the magic string.
    wrapped.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0]);
    wrapped.extend_from_slice(&(data.len() as u32).to_be_bytes());
    wrapped.extend_from_slice(signature::MAGIC);
    if let Some(t) = signature::find_trailer(&wrapped) {
        let _ = signature::interpret(&t);
    }
}

/// `insmod -f`, `--force-modversion`, `--force-vermagic`: the module read as insmod reads it,
/// its signature dropped as insmod drops it, then [`insert::strip_for_force`] on a copy for
/// each kind of force. (insmod's own steps before the `init_module` call, without the call.)
pub fn force_strip(data: &[u8]) {
    let Ok(file) = ModuleFile::from_bytes("fuzz.ko", data.to_vec()) else {
        return;
    };
    let image = file.bytes().to_vec();
    for (modversion, vermagic) in [(true, true), (true, false), (false, true)] {
        let mut copy = image.clone();
        let _ = insert::prepare_forced(
            &mut copy,
            Force {
                modversion,
                vermagic,
            },
        );
    }
}

/// The loaded-module readers as the tools use them. The input is split at NUL bytes: the first
/// part is written as `/proc/modules`; then, for each module it lists (up to 8, in order), five
/// parts become its sysfs `coresize`, `refcnt`, `taint`, `initstate` and `holders/` (one entry
/// per line); an empty part leaves the attribute out, and a module whose parts have run out has
/// no sysfs directory. Then `lsmod` (table, `-v`, `--json`) runs on that root, and rmmod's
/// checks and explanations for each module. (A module whose name is not one path component gets
/// no directory and takes no parts.)
pub fn loaded(data: &[u8]) {
    let Some(tmp) = TempDir::new() else { return };
    let root = SysRoot::at(tmp.path());
    let mut parts = data.split(|&b| b == 0);
    let proc_modules = parts.next().unwrap_or_default();
    let sys_module = root.sys_module();
    if std::fs::create_dir_all(&root.proc).is_err()
        || std::fs::create_dir_all(&sys_module).is_err()
        || std::fs::write(root.proc_modules(), proc_modules).is_err()
    {
        return;
    }
    let text = String::from_utf8_lossy(proc_modules);
    let names: Vec<String> = procmodules::parse(&text)
        .into_iter()
        .map(|m| m.name)
        .take(8)
        .collect();
    for name in &names {
        // A name that is not one path component cannot have a sysfs directory.
        if !is_file_name(name) {
            continue;
        }
        let dir = sys_module.join(name);
        let mut made = false;
        for attr in ["coresize", "refcnt", "taint", "initstate", "holders"] {
            let Some(value) = parts.next() else { break };
            if !made && std::fs::create_dir_all(&dir).is_err() {
                return;
            }
            made = true;
            if attr == "holders" {
                let holders = dir.join("holders");
                if std::fs::create_dir(&holders).is_err() {
                    return;
                }
                for h in value.split(|&b| b == b'\n').take(8) {
                    let h = String::from_utf8_lossy(h);
                    if is_file_name(&h) {
                        let _ = std::fs::write(holders.join(&*h), b"");
                    }
                }
            } else if !value.is_empty() && std::fs::write(dir.join(attr), value).is_err() {
                return;
            }
        }
    }
    let dir = tmp.path().as_os_str().to_owned();
    for flag in [None, Some("-v"), Some("--json")] {
        let mut argv: Vec<OsString> = vec!["lsmod".into(), "--root".into(), dir.clone()];
        argv.extend(flag.map(OsString::from));
        let out = run_tool(cli::lsmod::main, argv);
        if flag == Some("--json") {
            check_json_lines("lsmod --json", &out);
        }
    }
    let _ = loaded::list(&root);
    for name in &names {
        let _ = crate::remove::check(&root, false, name);
        for errno in [nix::errno::Errno::EBUSY, nix::errno::Errno::EAGAIN] {
            let _ = crate::remove::explain(&root, name, errno, false);
        }
    }
}

/// The tools' output writers on a module file, run as the tools: the input is written as
/// `fuzz.ko`, then `modinfo` shows it in full with `\n` and with `-0`, field by field (`-F`,
/// repeated, including `parm`, `filename` and the signature fields) with `-0`, and as JSON; and
/// `modaudit --json` audits it. Both JSON outputs must parse as JSON Lines.
pub fn tool_output(data: &[u8]) {
    let Some(tmp) = TempDir::new() else { return };
    let ko = tmp.path().join("fuzz.ko");
    if std::fs::write(&ko, data).is_err() {
        return;
    }
    let ko = ko.into_os_string();
    // -k: a fixed module directory, so nothing depends on the running kernel.
    let modinfo = |args: &[&str]| {
        let mut argv: Vec<OsString> = vec!["modinfo".into(), "-k".into(), "0".into()];
        argv.extend(args.iter().map(OsString::from));
        argv.push(ko.clone());
        run_tool(cli::modinfo::main, argv)
    };
    modinfo(&[]);
    modinfo(&["-0"]);
    let fields = [
        "parm",
        "filename",
        "name",
        "license",
        "signer",
        "sig_key",
        "signature",
        "depends",
    ];
    let mut args = vec!["-0"];
    for f in &fields {
        args.extend(["-F", f]);
    }
    modinfo(&args);
    check_json_lines("modinfo --json", &modinfo(&["--json"]));
    let argv: Vec<OsString> = vec![
        "modaudit".into(),
        "--json".into(),
        "-k".into(),
        "0".into(),
        ko.clone(),
    ];
    check_json_lines("modaudit --json", &run_tool(cli::modaudit::main, argv));
}

/// Runs a tool's `main` with standard output and error captured; returns standard output.
fn run_tool(
    tool: fn(Vec<OsString>, &mut Io<'_>) -> crate::exit_code::ExitCode,
    argv: Vec<OsString>,
) -> Vec<u8> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let prog = argv
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut io = Io {
        prog,
        out: &mut out,
        err: &mut err,
        syslog: false,
    };
    let _ = tool(argv, &mut io);
    out
}

/// Panics unless every line of `out` is one JSON value, as the tools document.
fn check_json_lines(what: &str, out: &[u8]) {
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(line) {
            panic!(
                "{what} wrote a line that is not JSON ({e}): {}",
                String::from_utf8_lossy(line)
            );
        }
    }
}

/// Whether `name` can be one directory entry.
fn is_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && name.len() < 256
}

/// A fresh directory under the system's temporary directory, removed on drop. Unique per process
/// and call, so parallel test threads do not share it.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Option<TempDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("rkmod-fuzz-{}-{n}", std::process::id()));
        std::fs::create_dir(&path).ok()?;
        Some(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// depmod's index writer, round trip through the reader: each input line is `KEY VALUE` (split
/// at the first space) with a priority taken from the line number; the index is built in both
/// node placements (kmod 34's and kmod 30's) and read back, and every key must give back exactly
/// its values, lowest priority first. Keys with a NUL or empty keys are left out (depmod's keys
/// come from C strings); a non-ASCII byte must be refused, never written.
pub fn index_writer(data: &[u8]) {
    use crate::moddir::index::Index;
    use crate::moddir::index_writer::{IndexBuilder, Layout};
    let mut builder = IndexBuilder::new();
    let mut want: std::collections::BTreeMap<Vec<u8>, Vec<(u32, Vec<u8>)>> = Default::default();
    for (n, line) in data.split(|&b| b == b'\n').enumerate().take(256) {
        let (key, value) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        if key.is_empty() || key.contains(&0) || value.contains(&0) {
            continue;
        }
        let priority = (n % 5) as u32;
        match builder.insert(key, value, priority) {
            Ok(_) => want
                .entry(key.to_vec())
                .or_default()
                .push((priority, value.to_vec())),
            Err(_) => assert!(
                !key.is_ascii() || !value.is_ascii(),
                "an ASCII entry was refused: {key:?} {value:?}"
            ),
        }
    }
    for layout in [Layout::PreOrder, Layout::PostOrder] {
        let Ok(bytes) = builder.build(layout) else {
            panic!("a small index could not be built ({layout:?})");
        };
        let Ok(index) = Index::from_bytes("fuzz.bin", bytes) else {
            panic!("the reader refused the writer's index ({layout:?})");
        };
        for (key, values) in &want {
            let got = index.search_all(key);
            let mut got_pairs: Vec<(u32, Vec<u8>)> =
                got.iter().map(|v| (v.priority, v.value.clone())).collect();
            assert!(
                got_pairs.windows(2).all(|w| w[0].0 <= w[1].0),
                "{layout:?}: values of {key:?} not in priority order"
            );
            let mut expected = values.clone();
            got_pairs.sort();
            expected.sort();
            assert_eq!(got_pairs, expected, "{layout:?}: values of {key:?}");
            // The exact search gives the first value stored: one of the lowest priority (the
            // list above puts ties in libkmod's add_value order, newest first, so it need not be
            // that list's first).
            let lowest = values.iter().map(|(p, _)| *p).min();
            let first = index.search(key);
            assert!(
                values
                    .iter()
                    .any(|(p, v)| Some(*p) == lowest && Some(v.as_slice()) == first.as_deref()),
                "{layout:?}: exact search of {key:?} gave {first:?}"
            );
        }
    }
}
