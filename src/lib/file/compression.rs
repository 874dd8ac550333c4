//! Module compression: detection by magic bytes, and bounded in-memory decompression.
//!
//! kmod knows `.ko.gz`, `.ko.xz` and `.ko.zst`; like kmod (libkmod-file.c) we look at the magic
//! bytes, never at the extension, so a mis-named file is still read correctly.

use std::fmt;
use std::io::Read;

/// Magic numbers, in the order kmod tests them.
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

/// Bytes needed to recognise every supported compression (kmod rejects shorter files).
pub const MAGIC_LEN: usize = 6;

/// The most a compressed module may expand to. The largest module in Debian's trees is
/// about 20 MiB; anything beyond this is a decompression bomb or not a module at all.
pub const MAX_DECOMPRESSED: u64 = 256 << 20;

/// How a module file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A plain ELF file.
    None,
    /// gzip (`.ko.gz`).
    Gzip,
    /// xz (`.ko.xz`).
    Xz,
    /// zstd (`.ko.zst`).
    Zstd,
}

impl Compression {
    /// Detects the compression from the first bytes of a file.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(ZSTD_MAGIC) {
            Compression::Zstd
        } else if head.starts_with(XZ_MAGIC) {
            Compression::Xz
        } else if head.starts_with(GZIP_MAGIC) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }

    /// The name the kernel uses in `/sys/module/compression`.
    pub fn kernel_name(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Xz => Some("xz"),
            Compression::Zstd => Some("zstd"),
        }
    }

    /// Parses the contents of `/sys/module/compression`.
    pub fn from_kernel_name(s: &str) -> Option<Compression> {
        match s.trim_end_matches('\n') {
            "gzip" => Some(Compression::Gzip),
            "xz" => Some(Compression::Xz),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kernel_name().unwrap_or("uncompressed"))
    }
}

/// Why decompression failed.
#[derive(Debug, PartialEq, Eq)]
pub enum DecompressError {
    /// The stream is corrupt or truncated; the decoder's words.
    Corrupt(String),
    /// The output would exceed the limit.
    TooLarge,
}

/// Decompresses `data` in memory, refusing to produce more than `limit` bytes.
///
/// `Compression::None` returns the input unchanged.
pub fn decompress(
    compression: Compression,
    data: &[u8],
    limit: u64,
) -> Result<Vec<u8>, DecompressError> {
    if compression == Compression::None {
        return Ok(data.to_vec());
    }
    let hint = size_hint(compression, data, data);
    decompress_reader(compression, data, hint, limit)
}

/// Decompresses a stream, refusing to produce more than `limit` bytes. `hint` (from
/// [`size_hint`]) sizes the output buffer up front so it is never reallocated.
pub fn decompress_reader(
    compression: Compression,
    input: impl Read,
    hint: Option<u64>,
    limit: u64,
) -> Result<Vec<u8>, DecompressError> {
    match compression {
        Compression::None => read_bounded(input, hint, limit),
        Compression::Xz => {
            // Concatenated streams and any integrity check, as kmod's decoder accepts.
            let stream = liblzma::stream::Stream::new_stream_decoder(
                u64::MAX,
                liblzma::stream::CONCATENATED,
            )
            .map_err(|e| DecompressError::Corrupt(e.to_string()))?;
            let reader =
                liblzma::read::XzDecoder::new_stream(std::io::BufReader::new(input), stream);
            read_bounded(reader, hint, limit)
        }
        Compression::Zstd => {
            let reader =
                zstd::Decoder::new(input).map_err(|e| DecompressError::Corrupt(e.to_string()))?;
            read_bounded(reader, hint, limit)
        }
        Compression::Gzip => read_bounded(
            flate2::read::MultiGzDecoder::new(std::io::BufReader::new(input)),
            hint,
            limit,
        ),
    }
}

/// The uncompressed size a container announces, from its first bytes (`head`, at least 18)
/// and last bytes (`tail`, a few KiB: the xz index lives there). Only a hint: it may lie.
pub fn size_hint(compression: Compression, head: &[u8], tail: &[u8]) -> Option<u64> {
    match compression {
        Compression::None => None,
        Compression::Xz => xz_size_hint(tail),
        Compression::Zstd => zstd::zstd_safe::get_frame_content_size(head).ok().flatten(),
        // The trailer's ISIZE is the length modulo 2^32.
        Compression::Gzip => {
            let at = tail.len().checked_sub(4)?;
            Some(u64::from(u32::from_le_bytes(tail[at..].try_into().ok()?)))
        }
    }
}

/// Reads a decoder to the end, stopping with `TooLarge` one byte past `limit`.
fn read_bounded(
    reader: impl Read,
    hint: Option<u64>,
    limit: u64,
) -> Result<Vec<u8>, DecompressError> {
    // Trust the size the container announces only as far as the limit: it may lie.
    let capacity = hint.unwrap_or(0).min(limit) as usize;
    let mut out = Vec::with_capacity(capacity.saturating_add(1));
    let mut bounded = reader.take(limit + 1);
    bounded
        .read_to_end(&mut out)
        .map_err(|e| DecompressError::Corrupt(decoder_message(&e)))?;
    if out.len() as u64 > limit {
        return Err(DecompressError::TooLarge);
    }
    Ok(out)
}

fn decoder_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "unexpected end of input".to_string(),
        _ => {
            let s = e.to_string();
            if s.is_empty() {
                format!("{:?}", e.kind())
            } else {
                s
            }
        }
    }
}

/// The uncompressed size recorded in an xz stream's index, if it can be read cheaply.
///
/// The stream footer (last 12 bytes) gives the index size; the index lists each block's
/// uncompressed size. Only single-stream files with a sane index are understood; anything
/// else gives `None` and the buffer simply grows.
fn xz_size_hint(data: &[u8]) -> Option<u64> {
    let footer = data.get(data.len().checked_sub(12)?..)?;
    if &footer[10..12] != b"YZ" {
        return None;
    }
    let backward = u32::from_le_bytes(footer[4..8].try_into().ok()?) as usize;
    let index_size = (backward + 1) * 4;
    let index_start = data.len().checked_sub(12 + index_size)?;
    let index = data.get(index_start..data.len() - 12)?;
    let mut pos = 1; // index indicator byte 0x00
    if index.first() != Some(&0) {
        return None;
    }
    let records = read_vli(index, &mut pos)?;
    let mut total: u64 = 0;
    for _ in 0..records.min(1 << 16) {
        let _unpadded = read_vli(index, &mut pos)?;
        total = total.checked_add(read_vli(index, &mut pos)?)?;
    }
    Some(total)
}

fn read_vli(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for i in 0..9 {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_by_magic_not_extension() {
        assert_eq!(
            Compression::detect(b"\x28\xb5\x2f\xfd\0\0"),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"\xfd7zXZ\0"), Compression::Xz);
        assert_eq!(
            Compression::detect(b"\x1f\x8b\x08\0\0\0"),
            Compression::Gzip
        );
        assert_eq!(Compression::detect(b"\x7fELF\x02\x01"), Compression::None);
        // xz magic needs all six bytes.
        assert_eq!(Compression::detect(b"\xfd7zXZ\x01"), Compression::None);
    }

    #[test]
    fn kernel_names_round_trip() {
        for c in [Compression::Gzip, Compression::Xz, Compression::Zstd] {
            let name = format!("{}\n", c.kernel_name().unwrap());
            assert_eq!(Compression::from_kernel_name(&name), Some(c));
        }
        assert_eq!(Compression::from_kernel_name("lz4\n"), None);
    }

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn round_trips_every_format() {
        let plain: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(&plain[..], 3).unwrap();
        let x = xz(&plain);
        assert_eq!(xz_size_hint(&x), Some(plain.len() as u64));
        for (c, data) in [
            (Compression::Gzip, gz),
            (Compression::Zstd, zst),
            (Compression::Xz, x),
        ] {
            assert_eq!(Compression::detect(&data), c);
            assert_eq!(decompress(c, &data, MAX_DECOMPRESSED).unwrap(), plain);
        }
    }

    #[test]
    fn stops_a_bomb_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        let x = xz(&zeros);
        assert_eq!(
            decompress(Compression::Xz, &x, 1000),
            Err(DecompressError::TooLarge)
        );
        assert_eq!(
            decompress(Compression::Xz, &x, 1 << 20).unwrap().len(),
            1 << 20
        );
    }

    #[test]
    fn corrupt_and_truncated_streams_are_errors() {
        let x = xz(b"hello world, hello world, hello world");
        let truncated = &x[..x.len() / 2];
        assert!(matches!(
            decompress(Compression::Xz, truncated, 1 << 20),
            Err(DecompressError::Corrupt(_))
        ));
        let mut flipped = x.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        assert!(matches!(
            decompress(Compression::Xz, &flipped, 1 << 20),
            Err(DecompressError::Corrupt(_))
        ));
        assert!(decompress(Compression::Zstd, b"\x28\xb5\x2f\xfd garbage", 1 << 20).is_err());
        assert!(decompress(Compression::Gzip, b"\x1f\x8b\x08 garbage", 1 << 20).is_err());
    }
}
