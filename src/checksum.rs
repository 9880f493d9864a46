//! The checksum of a migration file: SHA-256 over the normalised bytes, as lowercase hex.
//!
//! Normalisation strips one leading UTF-8 byte-order mark and turns every CRLF into LF, so a
//! Windows checkout (or an editor that adds a BOM) hashes exactly like a Linux one. This
//! definition is part of the on-disk format: it never changes between versions of the tool,
//! because a checksum recorded in a database years ago must still match the same file today.

use sha2::{Digest, Sha256};
use std::borrow::Cow;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The bytes that are hashed and executed: without a leading BOM, with CRLF turned into LF.
pub fn normalize(bytes: &[u8]) -> Cow<'_, [u8]> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    if !bytes.windows(2).any(|w| w == b"\r\n") {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        out.extend_from_slice(&rest[..i]);
        out.push(b'\n');
        rest = &rest[i + 2..];
    }
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

/// SHA-256 of the normalised file content, as 64 lowercase hex digits.
pub fn checksum(bytes: &[u8]) -> String {
    hex(&Sha256::digest(normalize(bytes)))
}

/// SHA-256 of bytes taken as they are (the sum file's total line uses it).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of everything `reader` yields, read in 1 MiB pieces (a large file never sits in memory).
#[cfg(feature = "runtime")]
pub(crate) fn sha256_stream(mut reader: impl std::io::Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(hex(&hasher.finalize())),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Bytes as lowercase hex digits.
pub(crate) fn hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(digest.len() * 2);
    for b in digest {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_value_never_changes() {
        // Pinned forever: if this fails, every recorded checksum in the world breaks.
        assert_eq!(
            checksum(b"CREATE TABLE t (id INTEGER);\n"),
            "cb7bba9473513daa6e6daf9337f9d5822cbc95cac71c944b6bf85958041038e1"
        );
        assert_eq!(checksum(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn bom_and_crlf_hash_like_lf() {
        let lf = b"SELECT 1;\nSELECT 2;\n";
        assert_eq!(checksum(b"SELECT 1;\r\nSELECT 2;\r\n"), checksum(lf));
        assert_eq!(checksum(b"\xEF\xBB\xBFSELECT 1;\nSELECT 2;\n"), checksum(lf));
        assert_eq!(checksum(b"\xEF\xBB\xBFSELECT 1;\r\nSELECT 2;\r\n"), checksum(lf));
    }

    #[test]
    fn lone_cr_and_inner_bom_are_kept() {
        assert_ne!(checksum(b"a\rb"), checksum(b"a\nb"));
        assert_ne!(checksum(b"a\xEF\xBB\xBFb"), checksum(b"ab"));
        assert_eq!(&*normalize(b"a\r\r\nb"), b"a\r\nb");
    }
}
