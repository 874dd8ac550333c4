//! `kmod static-nodes`: the device nodes of the running kernel's `modules.devname`, in the three
//! formats kmod prints (systemd's `kmod-static-nodes.service` asks for `tmpfiles`, to create the
//! nodes at boot so that opening one loads its module).
//!
//! The procedure is kmod 34's: read `modules.devname` first (missing: nothing to do, and no
//! output file is created), then create the output file and its parent directories, then write
//! every node.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::moddir::devname::{Node, NodeKind};
use crate::sysroot::SysRoot;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A readable listing, one block per node (the default); not meant to be parsed.
    Human,
    /// tmpfiles.d(5) lines for systemd-tmpfiles: each node, and its parent directory.
    Tmpfiles,
    /// modules.devname's own format.
    Devname,
}

impl Format {
    /// The format named `name` (`human`, `tmpfiles`, `devname`), as `--format` takes it.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "human" => Some(Format::Human),
            "tmpfiles" => Some(Format::Tmpfiles),
            "devname" => Some(Format::Devname),
            _ => None,
        }
    }
}

/// Appends `node` to `out` in `format`, byte for byte as kmod 34 prints it.
pub fn write_node(format: Format, node: &Node, out: &mut Vec<u8>) {
    let (major, minor) = (node.major, node.minor);
    match format {
        Format::Human => {
            out.extend_from_slice(b"Module: ");
            out.extend_from_slice(&node.module);
            out.extend_from_slice(b"\n\tDevice node: /dev/");
            out.extend_from_slice(&node.name);
            let kind = match node.kind {
                NodeKind::Char => "character",
                NodeKind::Block => "block",
            };
            out.extend_from_slice(
                format!("\n\t\tType: {kind} device\n\t\tMajor: {major}\n\t\tMinor: {minor}\n")
                    .as_bytes(),
            );
        }
        Format::Tmpfiles => {
            // A node in a subdirectory needs the directory first; kmod repeats it per node.
            if let Some(slash) = node.name.iter().rposition(|&b| b == b'/') {
                out.extend_from_slice(b"d /dev/");
                out.extend_from_slice(&node.name[..slash]);
                out.extend_from_slice(b" 0755 - - -\n");
            }
            out.extend_from_slice(format!("{}! /dev/", node.kind.letter()).as_bytes());
            out.extend_from_slice(&node.name);
            out.extend_from_slice(format!(" 0600 - - - {major}:{minor}\n").as_bytes());
        }
        Format::Devname => {
            out.extend_from_slice(&node.module);
            out.push(b' ');
            out.extend_from_slice(&node.name);
            out.extend_from_slice(format!(" {}{major}:{minor}\n", node.kind.letter()).as_bytes());
        }
    }
}

/// `/lib/modules/$(uname -r)/modules.devname` under `root`.
pub fn devname_path(root: &SysRoot) -> io::Result<PathBuf> {
    Ok(root
        .modules
        .join(root.kernel_release()?)
        .join("modules.devname"))
}

/// The contents of `modules.devname` at `path`; `None` when it does not exist (a kernel without
/// devname modules, which kmod only warns about). A file that opens but cannot be read (a
/// directory) is an error here; kmod reads nothing from it and says nothing.
pub fn read_devname(path: &Path) -> Result<Option<Vec<u8>>, ReadError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Open(e)),
    };
    let mut data = Vec::new();
    io::Read::read_to_end(&mut &file, &mut data).map_err(ReadError::Read)?;
    Ok(Some(data))
}

/// Why `modules.devname` could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// It exists but cannot be opened (a symlink loop, a permission): kmod fails.
    Open(io::Error),
    /// It opened but reading failed (a directory): kmod treats this as an empty file.
    Read(io::Error),
}

/// Why the output file could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// A parent directory could not be created.
    Parent(io::Error),
    /// The file itself could not be created or truncated.
    File(io::Error),
}

/// Creates (or truncates) the output file as kmod does: missing parent directories with mode
/// 0755 and the file with mode 0666, both less the umask; an existing file keeps its mode.
pub fn create_output(path: &Path) -> Result<File, CreateError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| {
                // "File exists" would be the answer for a parent that is a file; the cause is
                // that it is not a directory.
                CreateError::Parent(if e.kind() == io::ErrorKind::AlreadyExists {
                    io::Error::from_raw_os_error(libc::ENOTDIR)
                } else {
                    e
                })
            })?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o666)
        .open(path)
        .map_err(CreateError::File)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moddir::devname::{Line, parse};

    fn render(format: Format, data: &[u8]) -> String {
        let mut out = Vec::new();
        for l in parse(data) {
            if let Line::Node(n) = l {
                write_node(format, &n, &mut out);
            }
        }
        String::from_utf8(out).unwrap()
    }

    const SAMPLE: &[u8] =
        b"# header\nfuse fuse c10:229\ndm_mod mapper/control c10:236\nsd a/b/c b8:0\n";

    #[test]
    fn human() {
        assert_eq!(
            render(Format::Human, SAMPLE),
            "Module: fuse\n\tDevice node: /dev/fuse\n\t\tType: character device\n\t\tMajor: 10\n\t\tMinor: 229\n\
             Module: dm_mod\n\tDevice node: /dev/mapper/control\n\t\tType: character device\n\t\tMajor: 10\n\t\tMinor: 236\n\
             Module: sd\n\tDevice node: /dev/a/b/c\n\t\tType: block device\n\t\tMajor: 8\n\t\tMinor: 0\n"
        );
    }

    #[test]
    fn tmpfiles() {
        assert_eq!(
            render(Format::Tmpfiles, SAMPLE),
            "c! /dev/fuse 0600 - - - 10:229\n\
             d /dev/mapper 0755 - - -\nc! /dev/mapper/control 0600 - - - 10:236\n\
             d /dev/a/b 0755 - - -\nb! /dev/a/b/c 0600 - - - 8:0\n"
        );
        assert_eq!(
            render(Format::Tmpfiles, b"a /abs c1:2\n"),
            "d /dev/ 0755 - - -\nc! /dev//abs 0600 - - - 1:2\n"
        );
    }

    #[test]
    fn devname_is_normalised() {
        assert_eq!(
            render(
                Format::Devname,
                b"# h\nfuse\tfuse  c 10: 229 x\na b c-1:2\n"
            ),
            "fuse fuse c10:229\na b c4294967295:2\n"
        );
    }

    #[test]
    fn a_parent_that_is_a_file_is_not_a_directory() {
        let dir = std::env::temp_dir().join(format!("rkmod-static-nodes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("file"), b"").unwrap();
        let e = create_output(&dir.join("file/sub/out")).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        match e {
            CreateError::Parent(e) => assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn format_names() {
        for (name, f) in [
            ("human", Format::Human),
            ("tmpfiles", Format::Tmpfiles),
            ("devname", Format::Devname),
        ] {
            assert_eq!(Format::from_name(name), Some(f));
        }
        assert_eq!(Format::from_name("tmp"), None);
        assert_eq!(Format::from_name(""), None);
    }
}
