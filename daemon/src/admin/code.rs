//! One-time upload codes: generation and issuing.
//!
//! A code is 16 characters of an alphabet without look-alikes (no 0, O, 1 or I), 80 random bits.
//! The store keeps only its SHA-256 with the expiry. This module never logs or keeps a code
//! after handing it to the operator.

use crate::store::{CodeHash, Store, StoreError, UploadRefusal};
use thiserror::Error;

/// The characters of a code: digits 2-9 and the capitals without I and O; exactly 32, so one
/// character is 5 random bits without bias.
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Characters in a code.
pub const LENGTH: usize = 16;

/// Why a code could not be issued.
#[derive(Debug, Error)]
pub enum CodeIssueError {
    /// The operating system gave no randomness.
    #[error("no randomness for an upload code: {0}")]
    Random(getrandom::Error),
    /// The store failed the write.
    #[error("cannot store the upload code: {0}")]
    Store(#[from] StoreError),
    /// Every fresh code collided with one already stored (never seen with 80 random bits).
    #[error("cannot store the upload code: {0}")]
    Refused(UploadRefusal),
}

/// A fresh random code.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; LENGTH];
    getrandom::fill(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect())
}

/// Generates a code and stores its hash, valid until `expires_unix_secs`; returns the code.
/// Blocking (one store write).
pub fn issue(store: &Store, expires_unix_secs: u64) -> Result<String, CodeIssueError> {
    // 80 random bits: a collision is astronomically unlikely, but retry rather than fail.
    let mut attempts = 0;
    loop {
        let code = generate().map_err(CodeIssueError::Random)?;
        match store.put_code(&CodeHash::of(&code), expires_unix_secs)? {
            Ok(()) => return Ok(code),
            Err(_exists) if attempts < 3 => attempts += 1,
            Err(exists) => return Err(CodeIssueError::Refused(exists)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_alphabet_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), LENGTH);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b);
        let mut sorted = ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), 32);
    }
}
