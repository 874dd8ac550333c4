//! A module's information list — `.modinfo` strings, build id, signature — and kmod's ways of
//! printing it (kmod tools/modinfo.c, kmod 34 layout).

use std::borrow::Cow;

use crate::error::{ElfError, Error, Result};
use crate::file::ModuleFile;
use crate::file::elf::{self, Elf};
use crate::file::signature::{self, SignatureInfo};

/// One `key=value` item of a module's information list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The key (bytes before the first `=`).
    pub key: Cow<'a, [u8]>,
    /// The value (bytes after the first `=`; empty when there is no `=`).
    pub value: Cow<'a, [u8]>,
}

impl<'a> Entry<'a> {
    fn borrowed(key: &'a [u8], value: &'a [u8]) -> Entry<'a> {
        Entry {
            key: Cow::Borrowed(key),
            value: Cow::Borrowed(value),
        }
    }

    fn owned(key: &'static str, value: Vec<u8>) -> Entry<'a> {
        Entry {
            key: Cow::Borrowed(key.as_bytes()),
            value: Cow::Owned(value),
        }
    }
}

/// Splits a `.modinfo` section into its strings: runs of NULs separate them and are skipped,
/// so padding between entries never yields empty items (kernel `module_next_tag_pair`).
pub fn split_strings(section: &[u8]) -> impl Iterator<Item = &[u8]> {
    section.split(|&b| b == 0).filter(|s| !s.is_empty())
}

/// Splits one `.modinfo` string at its first `=`.
pub fn split_entry(s: &[u8]) -> Entry<'_> {
    match s.iter().position(|&b| b == b'=') {
        Some(eq) => Entry::borrowed(&s[..eq], &s[eq + 1..]),
        None => Entry::borrowed(s, &[]),
    }
}

/// Everything modinfo shows about one module file, in kmod's order.
#[derive(Debug, Default)]
pub struct ModuleInfo<'a> {
    /// `.modinfo` entries in section order (repeated keys kept), then the signature entries.
    pub entries: Vec<Entry<'a>>,
    /// How many of `entries` come from `.modinfo` (or `modules.builtin.modinfo`).
    pub modinfo_count: usize,
    /// The GNU build id, if the file has one. kmod 34.2 does not list it, so neither do we;
    /// `-F build-id` and `--json` show it.
    pub build_id: Option<Vec<u8>>,
    /// The build id as `-F build-id` prints it (kmod's hex, colons, wrapped like a signature).
    build_id_text: Option<Vec<u8>>,
    /// The decoded signature, if the file is signed and the signature could be decoded.
    pub signature: Option<SignatureInfo>,
    /// A signature that is present but undecodable: the reason.
    pub signature_error: Option<String>,
}

impl<'a> ModuleInfo<'a> {
    /// Reads the information list of an opened module file.
    pub fn from_file(file: &'a ModuleFile) -> Result<ModuleInfo<'a>> {
        let data = file.bytes();
        let bad = |cause| Error::BadElf {
            path: file.path().to_path_buf(),
            cause,
        };
        let elf = Elf::parse(data).map_err(bad)?;
        let modinfo = elf
            .section_by_name(".modinfo")
            .ok_or_else(|| bad(ElfError::NoModinfo))?;
        let entries: Vec<Entry<'a>> = split_strings(modinfo).map(split_entry).collect();
        let mut info = ModuleInfo {
            modinfo_count: entries.len(),
            entries,
            ..ModuleInfo::default()
        };
        if let Some(id) = build_id(&elf) {
            let mut hex = Vec::new();
            signature::hex_colon(&id, &mut hex);
            info.build_id_text = Some(hex);
            info.build_id = Some(id);
        }
        if let Some(trailer) = signature::find_trailer(data) {
            // kmod 34.2 (with OpenSSL, as Debian builds it) shows no signature lines for a PKCS#7
            // blob it cannot decode: the listing stays kmod's, and the tool warns.
            match signature::interpret(&trailer) {
                Ok(sig) => {
                    info.push_signature(&sig);
                    info.signature = Some(sig);
                }
                Err(e) => info.signature_error = Some(e),
            }
        }
        Ok(info)
    }

    /// Builds the list of a builtin module from `modules.builtin.modinfo` strings.
    pub fn from_builtin(entries: Vec<Entry<'a>>) -> ModuleInfo<'a> {
        ModuleInfo {
            modinfo_count: entries.len(),
            entries,
            ..ModuleInfo::default()
        }
    }

    fn push_signature(&mut self, sig: &SignatureInfo) {
        let hex = |b: &[u8]| {
            let mut v = Vec::new();
            signature::hex_colon(b, &mut v);
            v
        };
        self.entries
            .push(Entry::owned("sig_id", sig.id_type.as_bytes().to_vec()));
        self.entries
            .push(Entry::owned("signer", sig.signer.as_bytes().to_vec()));
        self.entries.push(Entry::owned("sig_key", hex(&sig.key_id)));
        self.entries.push(Entry::owned(
            "sig_hashalgo",
            sig.hash_algo.as_bytes().to_vec(),
        ));
        self.entries
            .push(Entry::owned("signature", hex(&sig.signature)));
    }

    /// The values of every entry called `key`, in order.
    pub fn values<'s>(&'s self, key: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        let build_id = (key == b"build-id")
            .then_some(self.build_id_text.as_deref())
            .flatten();
        self.entries
            .iter()
            .filter(move |e| e.key.as_ref() == key)
            .map(|e| e.value.as_ref())
            .chain(build_id)
    }
}

/// The descriptor of a `.note.gnu.build-id` note (type 3, owner `GNU`).
fn build_id(elf: &Elf<'_>) -> Option<Vec<u8>> {
    let note = elf.section_by_name(".note.gnu.build-id")?;
    let ctx = elf.ctx();
    let namesz = elf::read_u32(note, 0, ctx)? as usize;
    let descsz = elf::read_u32(note, 4, ctx)? as usize;
    let kind = elf::read_u32(note, 8, ctx)?;
    let name_end = 12usize.checked_add(namesz)?;
    if kind != 3 || note.get(12..name_end)? != b"GNU\0" {
        return None;
    }
    let desc_at = 12 + namesz.checked_add(3)? / 4 * 4;
    Some(note.get(desc_at..desc_at.checked_add(descsz)?)?.to_vec())
}

/// A `parm`/`parmtype` entry without a `:`: its key and value.
pub type InvalidParam<'s> = (&'s [u8], &'s [u8]);

/// A module parameter, merged from its `parm` and `parmtype` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param<'s> {
    /// The parameter's name.
    pub name: &'s [u8],
    /// From `parm=name:description`.
    pub description: Option<&'s [u8]>,
    /// From `parmtype=name:type`.
    pub kind: Option<&'s [u8]>,
}

/// Merges `parm` and `parmtype` entries as kmod does: last description and type win, and the
/// result lists parameters in the reverse order of their first appearance. Entries without `:`
/// are returned separately as `(key, value)` for a warning.
pub fn merge_params<'s>(entries: &'s [Entry<'_>]) -> (Vec<Param<'s>>, Vec<InvalidParam<'s>>) {
    let mut params: Vec<Param<'s>> = Vec::new();
    let mut invalid = Vec::new();
    for e in entries {
        let is_type = match e.key.as_ref() {
            b"parm" => false,
            b"parmtype" => true,
            _ => continue,
        };
        let value: &[u8] = e.value.as_ref();
        let Some(colon) = value.iter().position(|&b| b == b':') else {
            invalid.push((e.key.as_ref(), value));
            continue;
        };
        let (name, rest) = (&value[..colon], &value[colon + 1..]);
        let idx = match params.iter().position(|p| p.name == name) {
            Some(i) => i,
            None => {
                params.push(Param {
                    name,
                    description: None,
                    kind: None,
                });
                params.len() - 1
            }
        };
        if is_type {
            params[idx].kind = Some(rest);
        } else {
            params[idx].description = Some(rest);
        }
    }
    params.reverse();
    (params, invalid)
}

/// How lines end: `\n`, or `\0` with `-0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    /// The default.
    Newline,
    /// `-0` / `--null`.
    Nul,
}

impl Separator {
    /// The byte that ends a line: `\n`, or NUL for `-0`.
    pub fn byte(self) -> u8 {
        match self {
            Separator::Newline => b'\n',
            Separator::Nul => 0,
        }
    }
}

/// Writes `label` padded to 16 columns, then `value`, then the separator: kmod's format for
/// `name:`, `filename:` and `parm:`, used even with `-0`.
pub fn write_padded(out: &mut Vec<u8>, label: &str, value: &[u8], sep: Separator) {
    out.extend_from_slice(label.as_bytes());
    out.resize(out.len() + 16usize.saturating_sub(label.len()), b' ');
    out.extend_from_slice(value);
    out.push(sep.byte());
}

/// Writes every entry except parameters as modinfo's default output does: `key:` padded so the
/// value starts at column 16 (no padding for longer keys, as kmod 34), or `key=value\0`.
pub fn write_entries(out: &mut Vec<u8>, info: &ModuleInfo<'_>, sep: Separator) {
    for e in &info.entries {
        let key: &[u8] = e.key.as_ref();
        if key == b"parm" || key == b"parmtype" {
            continue;
        }
        out.extend_from_slice(key);
        match sep {
            Separator::Newline => {
                out.push(b':');
                out.resize(out.len() + 15usize.saturating_sub(key.len()), b' ');
            }
            Separator::Nul => out.push(b'='),
        }
        out.extend_from_slice(&e.value);
        out.push(sep.byte());
    }
}

/// Writes merged parameters as `parm:` lines (default output).
pub fn write_param_lines(out: &mut Vec<u8>, params: &[Param<'_>], sep: Separator) {
    for p in params {
        let mut line = Vec::with_capacity(64);
        line.extend_from_slice(p.name);
        line.push(b':');
        match (p.description, p.kind) {
            (Some(d), Some(t)) => {
                line.extend_from_slice(d);
                line.extend_from_slice(b" (");
                line.extend_from_slice(t);
                line.push(b')');
            }
            (Some(d), None) => line.extend_from_slice(d),
            (None, Some(t)) => line.extend_from_slice(t),
            (None, None) => {}
        }
        write_padded(out, "parm:", &line, sep);
    }
}

/// Writes merged parameters as `-F parm` / `-p` does: a type alone is shown as `name: (type)`.
pub fn write_param_field(out: &mut Vec<u8>, params: &[Param<'_>], sep: Separator) {
    for p in params {
        out.extend_from_slice(p.name);
        out.push(b':');
        if let Some(d) = p.description {
            out.extend_from_slice(d);
        }
        if let Some(t) = p.kind {
            out.extend_from_slice(b" (");
            out.extend_from_slice(t);
            out.push(b')');
        }
        out.push(sep.byte());
    }
}

/// The keys whose values come from the signature.
pub const SIGNATURE_KEYS: [&str; 5] = ["sig_id", "signer", "sig_key", "sig_hashalgo", "signature"];

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The documented JSON shape of one module (the README's "JSON output"): `name`, `filename`
/// (`(builtin)` for builtin modules), `builtin`, then the information or an `error`.
pub fn json(
    name: &[u8],
    filename: &[u8],
    builtin: bool,
    info: &Result<ModuleInfo<'_>, String>,
) -> serde_json::Value {
    use serde_json::{Value, json};
    let mut obj = json!({
        "name": lossy(name),
        "filename": lossy(filename),
        "builtin": builtin,
    });
    match info {
        Err(e) => {
            obj["error"] = Value::String(e.clone());
        }
        Ok(info) => {
            let entries: Vec<Value> = info.entries[..info.modinfo_count]
                .iter()
                .map(|e| json!({"key": lossy(&e.key), "value": lossy(&e.value)}))
                .collect();
            let (params, _) = merge_params(&info.entries);
            let params: Vec<Value> = params
                .iter()
                .map(|p| {
                    json!({
                        "name": lossy(p.name),
                        "description": p.description.map(lossy),
                        "type": p.kind.map(lossy),
                    })
                })
                .collect();
            obj["info"] = Value::Array(entries);
            obj["parameters"] = Value::Array(params);
            obj["build_id"] = info
                .build_id
                .as_ref()
                .map(|b| Value::String(b.iter().map(|x| format!("{x:02x}")).collect()))
                .unwrap_or(Value::Null);
            obj["signature"] = match (&info.signature, &info.signature_error) {
                (Some(sig), _) => serde_json::to_value(sig).unwrap_or(Value::Null),
                (None, Some(e)) => json!({"error": e}),
                (None, None) => Value::Null,
            };
        }
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::elf::testelf;

    /// A synthetic .modinfo with every odd case: keys of 15, 16 and 20 characters, an empty
    /// key, a string without `=`, parm lines without `:` and repeated parameters.
    const CUSTOM: &[u8] = b"alias=platform:pcspkr\0k\0=emptykey\0noequals\0a_fifteen_chars=15\0\
a_sixteen_chars_=16\0a_twenty_chars_key_x=20\0parm=foo:Foo desc\0parmtype=bar:int\0\
parm=nocolon\0parmtype=foo:charp\0parm=foo:second desc\0parm=baz:with:colons\0\
multi=line1\nline2\0\0\0\0license=GPL\0\0";

    fn info(section: &[u8]) -> ModuleInfo<'_> {
        ModuleInfo::from_builtin(split_strings(section).map(split_entry).collect())
    }

    #[test]
    fn prints_the_reference_custom_module_like_kmod_34() {
        let info = info(CUSTOM);
        let mut out = Vec::new();
        write_padded(&mut out, "filename:", b"/x/custom.ko", Separator::Newline);
        write_entries(&mut out, &info, Separator::Newline);
        let (params, invalid) = merge_params(&info.entries);
        write_param_lines(&mut out, &params, Separator::Newline);
        let expected = "filename:       /x/custom.ko\n\
alias:          platform:pcspkr\n\
k:              \n\
:               emptykey\n\
noequals:       \n\
a_fifteen_chars:15\n\
a_sixteen_chars_:16\n\
a_twenty_chars_key_x:20\n\
multi:          line1\nline2\n\
license:        GPL\n\
parm:           baz:with:colons\n\
parm:           bar:int\n\
parm:           foo:second desc (charp)\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert_eq!(invalid, vec![(&b"parm"[..], &b"nocolon"[..])]);
    }

    #[test]
    fn field_mode_parameters_show_a_lone_type_in_parentheses() {
        let info =
            info(b"parmtype=use_threaded_interrupts:int\0parm=a:desc\0parm=b:\0parmtype=b:int\0");
        let (params, _) = merge_params(&info.entries);
        let mut field = Vec::new();
        write_param_field(&mut field, &params, Separator::Newline);
        assert_eq!(field, b"b: (int)\na:desc\nuse_threaded_interrupts: (int)\n");
        let mut lines = Vec::new();
        write_param_lines(&mut lines, &params, Separator::Nul);
        assert_eq!(
            lines,
            b"parm:           b: (int)\0parm:           a:desc\0parm:           use_threaded_interrupts:int\0"
        );
    }

    #[test]
    fn nul_mode_uses_key_equals_value() {
        let info = info(b"license=GPL\0depends=\0");
        let mut out = Vec::new();
        write_entries(&mut out, &info, Separator::Nul);
        assert_eq!(out, b"license=GPL\0depends=\0");
    }

    #[test]
    fn reads_modinfo_and_build_id_from_an_elf() {
        let mut note = Vec::new();
        note.extend_from_slice(&4u32.to_be_bytes());
        note.extend_from_slice(&3u32.to_be_bytes());
        note.extend_from_slice(&3u32.to_be_bytes());
        note.extend_from_slice(b"GNU\0\xab\xcd\xef");
        let elf = testelf::build(
            false,
            true,
            &[
                (".modinfo", b"\0\0license=GPL\0\0name=x\0"),
                (".note.gnu.build-id", &note),
            ],
        );
        let file = ModuleFile::from_bytes("/t/x.ko", elf).unwrap();
        let info = ModuleInfo::from_file(&file).unwrap();
        let keys: Vec<_> = info.entries.iter().map(|e| e.key.as_ref()).collect();
        assert_eq!(keys, vec![&b"license"[..], b"name"]);
        assert_eq!(info.values(b"build-id").next().unwrap(), b"AB:CD:EF");
    }

    #[test]
    fn an_elf_without_modinfo_is_not_a_module() {
        let elf = testelf::build(true, false, &[(".text", b"\xc3")]);
        let file = ModuleFile::from_bytes("/t/x.ko", elf).unwrap();
        let err = ModuleInfo::from_file(&file).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/t/x.ko: not a kernel module (no .modinfo section)"
        );
    }
}
