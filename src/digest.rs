//! The digest of a history: one value that stands for every applied `(version, checksum)`, in
//! version order, so that an up-to-date check compares one value instead of reading the history.
//!
//! It is a chain, `d_0 = 32 zero bytes`, `d_i = SHA-256(d_{i-1} ‖ version_i as 8 bytes big-endian
//! ‖ checksum_i)`, written as 64 lowercase hex digits: appending a row updates it in O(1). The
//! build script embeds the digest of the code's migrations; each database keeps the digest of
//! its history in `envdb_meta` (key [`META_KEY`]). PostgreSQL computes the same chain in SQL
//! (`sha256(d || int8send(version) || convert_to(checksum, 'UTF8'))`): this definition is part of
//! the stored format and never changes.

use crate::checksum::hex;
use sha2::{Digest as _, Sha256};

/// The `envdb_meta` key that holds a database's history digest.
pub const META_KEY: &str = "history_digest";

/// The digest of an empty history.
pub const EMPTY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One step of the chain: `prev` (hex) followed by `(version, checksum)`. `None` when `prev` is
/// not a digest (64 hex digits).
pub fn step(prev: &str, version: u64, checksum: &str) -> Option<String> {
    Some(hex(&next(&parse(prev)?, version, checksum)))
}

/// The digest of `rows`, `(version, checksum)` in version order.
pub fn of<'a>(rows: impl IntoIterator<Item = (u64, &'a str)>) -> String {
    hex(&rows.into_iter().fold([0; 32], |d, (version, checksum)| next(&d, version, checksum)))
}

fn next(prev: &[u8; 32], version: u64, checksum: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(version.to_be_bytes());
    h.update(checksum.as_bytes());
    h.finalize().into()
}

fn parse(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks(2)) {
        *o = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
    const B: &str = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfa0a1a2a3a4a5a6a7a8a9aaabacadaeaf";

    #[test]
    fn the_empty_history_has_the_zero_digest() {
        assert_eq!(of([]), EMPTY);
        assert_eq!(parse(EMPTY), Some([0; 32]));
    }

    #[test]
    fn appending_one_row_is_one_step_of_the_fold() {
        let two = of([(1, A), (2, B)]);
        assert_eq!(step(&of([(1, A)]), 2, B).as_deref(), Some(two.as_str()));
        assert_eq!(step(EMPTY, 1, A), Some(of([(1, A)])));
        assert_eq!(two.len(), 64);
        assert!(two.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
    }

    #[test]
    fn the_digest_changes_with_any_version_checksum_order_or_row() {
        let base = of([(1, A), (2, B)]);
        for other in [
            of([(1, A), (3, B)]),
            of([(1, A), (2, A)]),
            of([(2, B), (1, A)]),
            of([(1, A)]),
            of([(1, A), (2, B), (3, B)]),
            of([(0, A), (1, A), (2, B)]),
        ] {
            assert_ne!(other, base);
        }
    }

    #[test]
    fn a_known_value_keeps_the_stored_format() {
        // SHA-256 of 32 zero bytes, 0x0000000000000001 and "abc": what PostgreSQL's
        // sha256('\x00…'::bytea || int8send(1) || convert_to('abc', 'UTF8')) gives too.
        let mut input = vec![0u8; 32];
        input.extend_from_slice(&1u64.to_be_bytes());
        input.extend_from_slice(b"abc");
        assert_eq!(of([(1, "abc")]), crate::checksum::sha256_hex(&input));
    }

    #[test]
    fn a_stored_value_that_is_not_a_digest_does_not_chain() {
        assert_eq!(step("", 1, A), None);
        assert_eq!(step(&"g".repeat(64), 1, A), None);
        assert_eq!(step(&A.to_uppercase(), 1, A), None);
        assert_eq!(step(&EMPTY[..63], 1, A), None);
        assert_eq!(step(&format!("{EMPTY}0"), 1, A), None);
    }
}
