//! The signature appended to a module file (kernel `scripts/sign-file.c`, layout in
//! `include/linux/module_signature.h`; what kmod prints from it follows libkmod-signature.c).
//!
//! ```text
//! [ module ELF ][ signer ][ key id ][ signature ][ struct module_signature ][ magic ]
//! ```
//! The struct is 12 bytes: algo, hash, id_type, signer_len, key_id_len, 3 pad bytes, then a
//! big-endian u32 sig_len. Modern kernels use id_type 2 (PKCS#7) with signer_len and key_id_len
//! zero; the signer and key id then come from the PKCS#7 SignerInfo.

use cms::cert::x509::attr::AttributeTypeAndValue;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::{Decode, oid::ObjectIdentifier};

/// The magic string that ends a signed module.
pub const MAGIC: &[u8] = b"~Module signature appended~\n";
/// Size of `struct module_signature`.
pub const STRUCT_LEN: usize = 12;

const HASH_NAMES: [&str; 9] = [
    "md4", "md5", "sha1", "rmd160", "sha256", "sha384", "sha512", "sha224", "sm3",
];
const ID_TYPES: [&str; 3] = ["PGP", "X509", "PKCS#7"];
const ID_PKCS7: u8 = 2;

/// The raw trailer, located but not yet interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer<'a> {
    /// Public-key algorithm (never printed by kmod).
    pub algo: u8,
    /// Hash algorithm index (legacy formats).
    pub hash: u8,
    /// 0 PGP, 1 X.509, 2 PKCS#7.
    pub id_type: u8,
    /// Signer name (legacy formats).
    pub signer: &'a [u8],
    /// Key identifier (legacy formats).
    pub key_id: &'a [u8],
    /// Signature bytes: for PKCS#7 a DER SignedData.
    pub signature: &'a [u8],
    /// Length of the module without its signature.
    pub module_len: usize,
}

/// What modinfo shows of a signature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignatureInfo {
    /// `PGP`, `X509` or `PKCS#7`.
    pub id_type: &'static str,
    /// The signer: issuer common name for PKCS#7.
    pub signer: String,
    /// The key identifier: issuer serial number for PKCS#7.
    #[serde(serialize_with = "ser_hex")]
    pub key_id: Vec<u8>,
    /// The hash algorithm's name.
    pub hash_algo: String,
    /// The signature value.
    #[serde(serialize_with = "ser_hex")]
    pub signature: Vec<u8>,
}

fn ser_hex<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let mut out = String::with_capacity(v.len() * 2);
    for b in v {
        out.push_str(&format!("{b:02x}"));
    }
    s.serialize_str(&out)
}

/// Finds the signature trailer at the end of `data`, applying kmod's sanity checks. A file that
/// fails them is treated as unsigned, as kmod does.
pub fn find_trailer(data: &[u8]) -> Option<Trailer<'_>> {
    let body = data.strip_suffix(MAGIC)?;
    let info_at = body.len().checked_sub(STRUCT_LEN)?;
    let info = &body[info_at..];
    let (algo, hash, id_type) = (info[0], info[1], info[2]);
    let signer_len = usize::from(info[3]);
    let key_id_len = usize::from(info[4]);
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]) as usize;
    if algo >= 2 || usize::from(hash) >= HASH_NAMES.len() || usize::from(id_type) >= ID_TYPES.len()
    {
        return None;
    }
    if sig_len == 0 {
        return None;
    }
    let total = sig_len.checked_add(signer_len)?.checked_add(key_id_len)?;
    let module_len = info_at.checked_sub(total)?;
    let signer_at = module_len;
    let key_at = signer_at + signer_len;
    let sig_at = key_at + key_id_len;
    Some(Trailer {
        algo,
        hash,
        id_type,
        signer: &body[signer_at..key_at],
        key_id: &body[key_at..sig_at],
        signature: &body[sig_at..info_at],
        module_len,
    })
}

/// Interprets a trailer. A PKCS#7 blob that cannot be decoded gives `Err` with the reason, and
/// the caller decides how to show it (kmod 34.2 shows no signature lines then).
pub fn interpret(t: &Trailer<'_>) -> Result<SignatureInfo, String> {
    let id_type = ID_TYPES[usize::from(t.id_type)];
    if t.id_type != ID_PKCS7 {
        return Ok(SignatureInfo {
            id_type,
            signer: String::from_utf8_lossy(t.signer).into_owned(),
            key_id: t.key_id.to_vec(),
            hash_algo: HASH_NAMES[usize::from(t.hash)].to_string(),
            signature: t.signature.to_vec(),
        });
    }
    let ci = ContentInfo::from_der(t.signature).map_err(|e| format!("PKCS#7 data: {e}"))?;
    if ci.content_type != const_oid::db::rfc5911::ID_SIGNED_DATA {
        return Err(format!(
            "PKCS#7 content type {} is not signedData",
            ci.content_type
        ));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| format!("PKCS#7 SignedData: {e}"))?;
    let si = sd
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| "PKCS#7 SignedData has no SignerInfo".to_string())?;
    let (signer, key_id) = match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            let serial = isn.serial_number.as_bytes();
            // OpenSSL's BN_bn2bin: unsigned, minimal length.
            let first = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
            (issuer_signer(&isn.issuer.0), serial[first..].to_vec())
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => (String::new(), ski.0.as_bytes().to_vec()),
    };
    Ok(SignatureInfo {
        id_type,
        signer,
        key_id,
        hash_algo: hash_name(&si.digest_alg.oid),
        signature: si.signature.as_bytes().to_vec(),
    })
}

/// The issuer's common name; without one, the last attribute's value (OpenSSL-backed kmod's
/// loop ends there).
fn issuer_signer(rdns: &[cms::cert::x509::name::RelativeDistinguishedName]) -> String {
    let cn = const_oid::db::rfc4519::CN;
    let mut last: Option<&AttributeTypeAndValue> = None;
    for rdn in rdns {
        for atv in rdn.0.iter() {
            last = Some(atv);
            if atv.oid == cn {
                return String::from_utf8_lossy(atv.value.value()).into_owned();
            }
        }
    }
    last.map(|atv| String::from_utf8_lossy(atv.value.value()).into_owned())
        .unwrap_or_default()
}

/// The digest name as kmod 34 prints it (OpenSSL's long names), or the dotted OID.
fn hash_name(oid: &ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.113549.2.4" => "md4",
        "1.2.840.113549.2.5" => "md5",
        "1.3.14.3.2.26" => "sha1",
        "1.3.36.3.2.1" => "ripemd160",
        "2.16.840.1.101.3.4.2.1" => "sha256",
        "2.16.840.1.101.3.4.2.2" => "sha384",
        "2.16.840.1.101.3.4.2.3" => "sha512",
        "2.16.840.1.101.3.4.2.4" => "sha224",
        "2.16.840.1.101.3.4.2.8" => "sha3-256",
        "2.16.840.1.101.3.4.2.9" => "sha3-384",
        "2.16.840.1.101.3.4.2.10" => "sha3-512",
        "1.2.156.10197.1.401" => "sm3",
        other => return other.to_string(),
    };
    name.to_string()
}

/// kmod's hex style: uppercase, `:`-separated, a `\n\t\t` continuation after every 20 bytes.
pub fn hex_colon(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(bytes.len() * 3 + bytes.len() / 20 * 2);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(b':');
            if i % 20 == 0 {
                out.extend_from_slice(b"\n\t\t");
            }
        }
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailer(id_type: u8, signer: &[u8], key: &[u8], sig: &[u8]) -> Vec<u8> {
        let mut v = b"MODULE-BODY".to_vec();
        v.extend_from_slice(signer);
        v.extend_from_slice(key);
        v.extend_from_slice(sig);
        v.extend_from_slice(&[1, 4, id_type, signer.len() as u8, key.len() as u8, 0, 0, 0]);
        v.extend_from_slice(&(sig.len() as u32).to_be_bytes());
        v.extend_from_slice(MAGIC);
        v
    }

    #[test]
    fn finds_a_legacy_trailer() {
        let data = trailer(1, b"Test Signer", &[0, 1, 2, 0xab], &[9; 45]);
        let t = find_trailer(&data).unwrap();
        assert_eq!(t.module_len, 11);
        let info = interpret(&t).unwrap();
        assert_eq!(info.id_type, "X509");
        assert_eq!(info.signer, "Test Signer");
        assert_eq!(info.hash_algo, "sha256");
        let mut hex = Vec::new();
        hex_colon(&info.key_id, &mut hex);
        assert_eq!(hex, b"00:01:02:AB");
    }

    #[test]
    fn rejects_trailers_kmod_rejects() {
        assert!(find_trailer(b"no magic here").is_none());
        assert!(find_trailer(MAGIC).is_none()); // no room for the struct
        let mut zero_len = trailer(2, b"", b"", b"");
        assert!(find_trailer(&zero_len).is_none());
        // sig_len larger than the file.
        let at = zero_len.len() - MAGIC.len() - 4;
        zero_len[at..at + 4].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        assert!(find_trailer(&zero_len).is_none());
        // id_type out of range.
        let bad = trailer(3, b"", b"", b"x");
        assert!(find_trailer(&bad).is_none());
    }

    #[test]
    fn garbage_pkcs7_is_an_error_not_a_panic() {
        let data = trailer(2, b"", b"", &[0x30, 0x82, 0xff, 0xff, 1, 2, 3]);
        let t = find_trailer(&data).unwrap();
        assert!(interpret(&t).is_err());
    }

    #[test]
    fn hex_wraps_after_twenty_bytes() {
        let bytes: Vec<u8> = (0..21).collect();
        let mut out = Vec::new();
        hex_colon(&bytes, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.ends_with(":12:13:\n\t\t14"), "{s}");
        let mut empty = Vec::new();
        hex_colon(&[], &mut empty);
        assert!(empty.is_empty());
    }
}
