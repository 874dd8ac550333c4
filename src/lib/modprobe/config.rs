//! modprobe's configuration: the `modprobe.d` files, the module directory's `modules.softdep` and
//! `modules.weakdep`, and `/proc/cmdline`, turned into directives as kmod 34.2 reads them
//! (libkmod-config.c `kmod_config_new`, `kmod_config_parse`, `kmod_config_parse_kcmdline`).
//!
//! The parsers take bytes and never fail: a bad line becomes a message naming the file and the
//! line, in kmod's words, and is otherwise ignored. [`load`] is the thin layer that lists and
//! reads the files.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `alias PATTERN MODULE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The pattern, matched with fnmatch against the name asked for.
    pub pattern: Vec<u8>,
    /// The module it stands for.
    pub module: Vec<u8>,
}

/// `options MODULE TEXT`, `install MODULE COMMAND` or `remove MODULE COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForModule {
    /// The module name (for install/remove commands, a pattern).
    pub module: Vec<u8>,
    /// The rest of the line.
    pub text: Vec<u8>,
}

/// `softdep MODULE pre: A B post: C D`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Softdep {
    /// The module pattern.
    pub module: Vec<u8>,
    /// Loaded before it.
    pub pre: Vec<Vec<u8>>,
    /// Loaded after it.
    pub post: Vec<Vec<u8>>,
}

/// `weakdep MODULE A B`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weakdep {
    /// The module pattern.
    pub module: Vec<u8>,
    /// Modules it may request.
    pub deps: Vec<Vec<u8>>,
}

/// Every directive, each list in parse order (files in name order, then the kernel command line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `alias` lines.
    pub aliases: Vec<Alias>,
    /// `options` lines and `MOD.PARAM=VALUE` words of the kernel command line.
    pub options: Vec<ForModule>,
    /// `install` lines.
    pub installs: Vec<ForModule>,
    /// `remove` lines.
    pub removes: Vec<ForModule>,
    /// `blacklist` lines and `modprobe.blacklist=` names.
    pub blacklist: Vec<Vec<u8>>,
    /// Where each blacklist entry came from (`FILE line N`, or the kernel command line).
    pub blacklist_origin: Vec<String>,
    /// `softdep` lines.
    pub softdeps: Vec<Softdep>,
    /// `weakdep` lines.
    pub weakdeps: Vec<Weakdep>,
    /// kmod's messages about what could not be used (printed as ERRORs).
    pub messages: Vec<String>,
}

/// kmod's `underscores`: `-` → `_` outside `[...]`; an unbalanced bracket or a missing word is
/// an error.
pub fn underscores(word: Option<&[u8]>) -> Option<Vec<u8>> {
    let word = word?;
    let mut out = word.to_vec();
    let mut i = 0;
    while i < out.len() {
        match out[i] {
            b'-' => out[i] = b'_',
            b']' => return None,
            b'[' => {
                i += out[i..].iter().position(|&b| b == b']')?;
            }
            _ => {}
        }
        i += 1;
    }
    Some(out)
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Splits the next word off `rest` as `strtok_r(.., "\t ")` does.
fn next_word<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let start = rest.iter().position(|&b| b != b' ' && b != b'\t')?;
    let s = &rest[start..];
    let end = s
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(s.len());
    // strtok_r consumes the one delimiter that ended the word.
    *rest = s.get(end + 1..).unwrap_or_default();
    Some(&s[..end])
}

/// The rest of the line after the word just taken, as `strtok_r(.., "\0")` gives it: `None` when
/// empty.
fn rest_of_line<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let r = *rest;
    *rest = &[];
    (!r.is_empty()).then_some(r)
}

/// Logical lines as kmod's `freadline_wrapped` reads them: `\`+newline joins lines, `\`+other
/// keeps the other character, a `\` at the end of the file is dropped. Each line comes with the
/// number of its last physical line, and is cut at a NUL byte (kmod handles C strings).
pub fn logical_lines(data: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    let mut linenum = 0u32;
    let mut n = 0u32;
    let mut i = 0;
    loop {
        let Some(&ch) = data.get(i) else {
            if !buf.is_empty() {
                linenum = linenum.wrapping_add(n + 1);
                lines.push((linenum, std::mem::take(&mut buf)));
            }
            return lines;
        };
        i += 1;
        match ch {
            b'\n' => {
                linenum = linenum.wrapping_add(n + 1);
                n = 0;
                lines.push((linenum, std::mem::take(&mut buf)));
            }
            b'\\' => match data.get(i) {
                Some(b'\n') => {
                    n += 1;
                    i += 1;
                }
                None => {}
                Some(&c) => {
                    buf.push(c);
                    i += 1;
                }
            },
            c => buf.push(c),
        }
    }
}

/// Words split as kmod's softdep/weakdep tokenizer splits them (`kmod_config_add_softdep`),
/// including its quirk: blanks at the start of the text stay on the first word.
fn dep_tokens(line: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut p = 0usize;
    let mut was_space = false;
    let mut s = 0usize;
    loop {
        let c = line.get(s).copied().unwrap_or(0);
        let at_end = s >= line.len();
        if !at_end {
            if !is_space(c) {
                was_space = false;
                s += 1;
                continue;
            }
            if was_space {
                p = s + 1;
                s += 1;
                continue;
            }
            was_space = true;
            if p >= s {
                s += 1;
                continue;
            }
        }
        let tok = line.get(p..s).unwrap_or_default();
        if !at_end || !was_space {
            out.push(tok);
        }
        p = s + 1;
        if at_end {
            return out;
        }
        s += 1;
    }
}

impl Config {
    /// An empty configuration.
    pub fn new() -> Config {
        Config::default()
    }

    /// Parses one configuration file's bytes; `shown` names it in messages.
    pub fn parse_file(&mut self, data: &[u8], shown: &str) {
        for (linenum, line) in logical_lines(data) {
            let line = match line.iter().position(|&b| b == 0) {
                Some(nul) => &line[..nul],
                None => &line[..],
            };
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let mut rest = line;
            let Some(cmd) = next_word(&mut rest) else {
                continue;
            };
            if !self.parse_command(cmd, &mut rest, shown, linenum) {
                let cmd = String::from_utf8_lossy(cmd);
                if cmd == "include" || cmd == "config" {
                    self.messages.push(format!(
                        "{shown}: command {cmd} is deprecated and not parsed anymore"
                    ));
                } else {
                    self.messages.push(format!(
                        "{shown} line {linenum}: ignoring bad line starting with '{cmd}'"
                    ));
                }
            }
        }
    }

    /// One command; false for a bad or unknown one.
    fn parse_command(&mut self, cmd: &[u8], rest: &mut &[u8], shown: &str, line: u32) -> bool {
        match cmd {
            b"alias" => {
                let pattern = underscores(next_word(rest));
                let module = underscores(next_word(rest));
                let (Some(pattern), Some(module)) = (pattern, module) else {
                    return false;
                };
                self.aliases.push(Alias { pattern, module });
            }
            b"blacklist" => {
                let Some(module) = underscores(next_word(rest)) else {
                    return false;
                };
                self.blacklist.push(module);
                self.blacklist_origin.push(format!("{shown} line {line}"));
            }
            b"options" | b"install" | b"remove" | b"softdep" | b"weakdep" => {
                let module = underscores(next_word(rest));
                let text = rest_of_line(rest);
                let (Some(module), Some(text)) = (module, text) else {
                    return false;
                };
                match cmd {
                    b"options" => self.options.push(ForModule {
                        module,
                        text: text
                            .iter()
                            .map(|&b| if b == b'\t' { b' ' } else { b })
                            .collect(),
                    }),
                    b"install" => self.installs.push(ForModule {
                        module,
                        text: text.to_vec(),
                    }),
                    b"remove" => self.removes.push(ForModule {
                        module,
                        text: text.to_vec(),
                    }),
                    b"softdep" => self.softdeps.push(softdep(module, text)),
                    _ => self.weakdeps.push(Weakdep {
                        module,
                        deps: dep_tokens(text).into_iter().map(<[u8]>::to_vec).collect(),
                    }),
                }
            }
            _ => return false,
        }
        true
    }

    /// Parses the kernel command line (the first 4095 bytes of `/proc/cmdline`) as kmod does:
    /// `MOD.PARAM[=VALUE]` words become options, `modprobe.blacklist=A,B` blacklist entries.
    pub fn parse_kcmdline(&mut self, data: &[u8]) {
        for word in kcmdline_words(data) {
            match word {
                Kword::Blacklist(names) => {
                    for n in names {
                        self.blacklist.push(n);
                        self.blacklist_origin
                            .push("modprobe.blacklist= on the kernel command line".into());
                    }
                }
                Kword::Option(module, param) => match underscores(Some(&module)) {
                    Some(module) => self.options.push(ForModule {
                        module,
                        text: param,
                    }),
                    None => self.messages.push(format!(
                        "Ignoring bad option on kernel command line while parsing module name: '{}'",
                        String::from_utf8_lossy(&module)
                    )),
                },
            }
        }
    }

    /// The configuration part of `modprobe -c`, kmod's `show_config` up to the index dump.
    pub fn show(&self, out: &mut Vec<u8>) {
        let line = |out: &mut Vec<u8>, kw: &str, key: &[u8], value: Option<&[u8]>| {
            out.extend_from_slice(kw.as_bytes());
            out.push(b' ');
            out.extend_from_slice(key);
            if let Some(v) = value {
                out.push(b' ');
                out.extend_from_slice(v);
            }
            out.push(b'\n');
        };
        for b in &self.blacklist {
            line(out, "blacklist", b, None);
        }
        for c in &self.installs {
            line(out, "install", &c.module, Some(&c.text));
        }
        for c in &self.removes {
            line(out, "remove", &c.module, Some(&c.text));
        }
        for a in &self.aliases {
            line(out, "alias", &a.pattern, Some(&a.module));
        }
        for o in &self.options {
            line(out, "options", &o.module, Some(&o.text));
        }
        for s in &self.softdeps {
            let mut v = Vec::new();
            if !s.pre.is_empty() {
                v.extend_from_slice(b"pre: ");
                v.extend_from_slice(&s.pre.join(&b' '));
            }
            if !s.post.is_empty() {
                v.extend_from_slice(b"post: ");
                v.extend_from_slice(&s.post.join(&b' '));
            }
            line(out, "softdep", &s.module, Some(&v));
        }
        for w in &self.weakdeps {
            line(out, "weakdep", &w.module, Some(&w.deps.join(&b' ')));
        }
    }
}

/// A softdep line's lists: words after `pre:` and `post:` (whole words only), words before the
/// first of them dropped.
fn softdep(module: Vec<u8>, text: &[u8]) -> Softdep {
    let mut d = Softdep {
        module,
        pre: Vec::new(),
        post: Vec::new(),
    };
    let mut mode = 0;
    for tok in dep_tokens(text) {
        match tok {
            b"pre:" => mode = 1,
            b"post:" => mode = 2,
            _ if mode == 1 => d.pre.push(tok.to_vec()),
            _ if mode == 2 => d.post.push(tok.to_vec()),
            _ => {}
        }
    }
    d
}

/// One useful word of the kernel command line.
#[derive(Debug, PartialEq, Eq)]
enum Kword {
    Blacklist(Vec<Vec<u8>>),
    Option(Vec<u8>, Vec<u8>),
}

/// The C string at `at` in `buf`.
fn cstr(buf: &[u8], at: usize) -> Vec<u8> {
    let s = buf.get(at..).unwrap_or_default();
    s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())].to_vec()
}

/// kmod's kernel command-line state machine, run on a copy of the text as kmod runs it on its
/// buffer (it writes NULs and moves bytes to re-quote what GRUB passes as `"mod.p=a b"`).
fn kcmdline_words(data: &[u8]) -> Vec<Kword> {
    #[derive(PartialEq, Clone, Copy)]
    enum St {
        Ignore,
        Modname,
        Param,
        Value,
        Complete,
    }
    let mut buf: Vec<u8> = data.iter().take(4095).copied().collect();
    if let Some(nul) = buf.iter().position(|&b| b == 0) {
        buf.truncate(nul);
    }
    buf.push(0);
    let mut out = Vec::new();
    let mut state = St::Modname;
    let mut quote_start: Option<usize> = None;
    let (mut modname, mut param, mut value) = (0usize, None::<usize>, 0usize);
    let mut is_quoted = false;
    let mut p = 0usize;
    while p < buf.len() {
        let c = buf[p];
        let last = c == 0;
        match c {
            b'"' => {
                is_quoted = !is_quoted;
                if is_quoted && state == St::Modname && p == modname {
                    quote_start = Some(p);
                    modname = p + 1;
                } else if state != St::Value {
                    state = St::Ignore;
                }
            }
            0 | b' ' | b'\n' | b'\t' | 0x0b | 0x0c | b'\r' => {
                if is_quoted && state == St::Value {
                } else if is_quoted {
                    state = St::Ignore;
                } else if state == St::Value || state == St::Param {
                    buf[p] = 0;
                    state = St::Complete;
                } else {
                    modname = p + 1;
                    state = St::Modname;
                    quote_start = None;
                }
            }
            b'.' => {
                if state == St::Modname {
                    buf[p] = 0;
                    param = Some(p + 1);
                    state = St::Param;
                } else if state == St::Param {
                    state = St::Ignore;
                }
            }
            b'=' => {
                if state == St::Param {
                    value = p + 1;
                    state = St::Value;
                } else if state == St::Modname {
                    state = St::Ignore;
                }
            }
            _ => {}
        }
        if state == St::Complete {
            let mut pm = param.unwrap_or(0);
            if let Some(q) = quote_start
                && q < modname
                && value > modname
            {
                buf.copy_within(modname..value, q);
                value -= 1;
                modname -= 1;
                pm -= 1;
                buf[value] = b'"';
            }
            if param.is_some() {
                let m = cstr(&buf, modname);
                let pr = cstr(&buf, pm);
                if m == b"modprobe" && pr.starts_with(b"blacklist=") {
                    let v = cstr(&buf, value);
                    out.push(Kword::Blacklist(
                        v.split(|&b| b == b',').map(<[u8]>::to_vec).collect(),
                    ));
                } else {
                    out.push(Kword::Option(m, pr));
                }
            }
            modname = p + 1;
            state = St::Modname;
            quote_start = None;
        }
        if last {
            break;
        }
        p += 1;
    }
    out
}

/// The configuration files kmod reads, in the order it parses them: `modules.softdep` and
/// `modules.weakdep` of the module directory, and every `*.conf` of `paths` (a path that is a
/// file is read itself), sorted by file name, the first path winning for equal names. Also
/// kmod's messages about directory entries it skips.
pub fn files(moddir: &Path, paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut list: Vec<(Vec<u8>, PathBuf)> = Vec::new();
    let mut messages = Vec::new();
    let mut insert = |name: Vec<u8>, path: PathBuf| match list.binary_search_by(|e| e.0.cmp(&name))
    {
        Ok(_) => {}
        Err(at) => list.insert(at, (name, path)),
    };
    insert(b"modules.softdep".to_vec(), moddir.join("modules.softdep"));
    insert(b"modules.weakdep".to_vec(), moddir.join("modules.weakdep"));
    for path in paths {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if !meta.is_dir() {
            let base = path
                .as_os_str()
                .as_bytes()
                .rsplit(|&b| b == b'/')
                .next()
                .unwrap_or_default()
                .to_vec();
            insert(base, path.clone());
            continue;
        }
        let rd = match std::fs::read_dir(path) {
            Ok(rd) => rd,
            Err(e) => {
                let cause = crate::error::io_cause(&e);
                messages.push(format!("opendir({}): {cause}", path.display()));
                continue;
            }
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let n = name.as_bytes();
            if n.first() == Some(&b'.') || n.len() < 6 || !n.ends_with(b".conf") {
                continue;
            }
            let full = path.join(&name);
            match std::fs::metadata(&full) {
                Ok(m) if m.is_dir() => messages.push(format!(
                    "Directories inside directories are not supported: {}",
                    full.display()
                )),
                Ok(_) => insert(n.to_vec(), full),
                Err(_) => messages.push(format!("Cannot stat directory entry: {}", full.display())),
            }
        }
    }
    (list.into_iter().map(|(_, p)| p).collect(), messages)
}

/// Reads the whole configuration: the files of [`files`], then the kernel command line at
/// `cmdline` (`None` to skip it). A file that cannot be read is skipped, as kmod skips it.
pub fn load(moddir: &Path, paths: &[PathBuf], cmdline: Option<&Path>) -> Config {
    let (list, messages) = files(moddir, paths);
    let mut config = Config {
        messages,
        ..Config::default()
    };
    for f in list {
        if let Ok(data) = std::fs::read(&f) {
            config.parse_file(&data, &f.to_string_lossy());
        }
    }
    if let Some(c) = cmdline
        && let Ok(data) = std::fs::read(c)
    {
        config.parse_kcmdline(&data);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        let mut c = Config::new();
        c.parse_file(text.as_bytes(), "t.conf");
        c
    }

    fn shown(c: &Config) -> String {
        let mut v = Vec::new();
        c.show(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn every_directive_with_kmods_quirks() {
        let c = parse(
            "# comment\n\
             alias my-d\td-mod\n\
             options d a=1\t b=\"x y\"  \n\
             install d echo $CMDLINE_OPTS\n\
             remove d echo bye\n\
             blacklist e-f\n\
             softdep e1000e pre: crc32 mii post: ptp\n\
             softdep foo  pre: bar\n\
             weakdep foo  a b\n\
             softdep cifs gcm\n\
             options x-[a-b]-y \\\n  continued\n\
             \x20 # indented\n\
             bogus line\n\
             alias onlyone\n\
             options nothing\n\
             include other\n",
        );
        assert_eq!(
            shown(&c),
            "blacklist e_f\n\
             install d echo $CMDLINE_OPTS\n\
             remove d echo bye\n\
             alias my_d d_mod\n\
             options d a=1  b=\"x y\"  \n\
             options x_[a-b]_y   continued\n\
             softdep e1000e pre: crc32 miipost: ptp\n\
             softdep foo \n\
             softdep cifs \n\
             weakdep foo  a b\n"
        );
        assert_eq!(
            c.messages,
            [
                "t.conf line 13: ignoring bad line starting with '#'",
                "t.conf line 14: ignoring bad line starting with 'bogus'",
                "t.conf line 15: ignoring bad line starting with 'alias'",
                "t.conf line 16: ignoring bad line starting with 'options'",
                "t.conf: command include is deprecated and not parsed anymore",
            ]
        );
    }

    #[test]
    fn files_in_name_order_first_directory_wins() {
        let t = std::env::temp_dir().join(format!("rkmod-mpconf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        for (f, text) in [
            ("etc/b.conf", "blacklist from_etc\n"),
            ("lib/b.conf", "blacklist hidden\n"),
            ("lib/a.conf", "blacklist from_lib\n"),
            ("lib/z.txt", "blacklist not_conf\n"),
            ("lib/.h.conf", "blacklist hidden_dot\n"),
            ("moddir/modules.softdep", "softdep x pre: y\n"),
            ("single.any", "blacklist single\n"),
        ] {
            let p = t.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::fs::create_dir_all(t.join("lib/dir.conf")).unwrap();
        let paths = [
            t.join("etc"),
            t.join("missing"),
            t.join("lib"),
            t.join("single.any"),
        ];
        let c = load(&t.join("moddir"), &paths, None);
        assert_eq!(c.blacklist, [&b"from_lib"[..], b"from_etc", b"single"]);
        assert_eq!(c.softdeps.len(), 1);
        assert_eq!(
            c.messages,
            [format!(
                "Directories inside directories are not supported: {}",
                t.join("lib/dir.conf").display()
            )]
        );
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn unbalanced_brackets_reject_the_line() {
        let c = parse("alias a]b x\nblacklist [ab\n");
        assert!(c.aliases.is_empty() && c.blacklist.is_empty());
        assert_eq!(c.messages.len(), 2);
    }

    #[test]
    fn backslashes_as_kmod_reads_them() {
        assert_eq!(
            logical_lines(b"a\\b\\\nc\nd\\"),
            [(2, b"abc".to_vec()), (3, b"d".to_vec())]
        );
    }

    #[test]
    fn kernel_command_line_as_the_reference_lists_it() {
        let mut c = Config::new();
        c.parse_kcmdline(
            b"BOOT_IMAGE=/vmlinuz root=UUID=x ro quiet e1000e.IntMode=2 e1000e.debug \"e1000e.copy=a b c\" \
              e1000e.q=\"x y\" nvme-core.multipath=N modprobe.blacklist=nvme,floppy module_blacklist=ext4 \
              rd.driver.pre=foo e1000e.dotted=1.5 foo..bar=1 .x=1 a.b.c=1 \"bad quote\".x=1 -- init.arg=1\n",
        );
        assert_eq!(
            shown(&c),
            "blacklist nvme\n\
             blacklist floppy\n\
             options e1000e IntMode=2\n\
             options e1000e debug\n\
             options e1000e copy=\"a b c\"\n\
             options e1000e q=\"x y\"\n\
             options nvme_core multipath=N\n\
             options e1000e dotted=1.5\n\
             options  x=1\n\
             options init arg=1\n"
        );
    }

    #[test]
    fn hostile_command_lines_do_not_panic() {
        for s in [
            &b"\"\"\"...===\""[..],
            b"\"a.b=",
            b".",
            b"=",
            b"\"",
            b"a.b=\"",
            b"\"a.b=c",
            b"",
        ] {
            let mut c = Config::new();
            c.parse_kcmdline(s);
        }
    }
}
