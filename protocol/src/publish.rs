//! The Google key server publish API: the verification certificate's `tekmac` (formats.md §e).
//!
//! The verification server puts `HMAC-SHA256(hmacKey, canonical key list)` in the certificate it
//! signs; the key server recomputes it over the keys it received, which binds the certificate to
//! exactly those keys. This module computes and checks that MAC over the keys *as uploaded* (key
//! text as sent, numbers as sent, before any backfill). It never validates the keys themselves
//! (that is [`crate::keys::validate_upload`]) and never compares MACs in variable time.

use crate::keys::UploadKey;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Why a certificate's `tekmac` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TekmacError {
    /// The claim is not standard padded base64.
    #[error("tekmac claim is not standard padded base64")]
    NotBase64,
    /// The MAC matches neither accepted form of the uploaded keys.
    #[error("tekmac does not match the uploaded keys")]
    Mismatch,
    /// The HMAC implementation refused the key (HMAC accepts every length, so this means a bug).
    #[error("HMAC-SHA256 refused a key of {0} bytes")]
    HmacKey(usize),
}

/// The text the `tekmac` covers: per key `base64key.rollingStartNumber.rollingPeriod` plus
/// `.transmissionRisk` if `include_transmission_risk`, sorted by the base64 key text (ties by the
/// whole entry), joined with `,`.
pub fn tekmac_cleartext(keys: &[UploadKey], include_transmission_risk: bool) -> String {
    use std::fmt::Write as _;
    // (length of the key text, entry): the entry starts with the key text.
    let mut entries: Vec<(usize, String)> = keys
        .iter()
        .map(|k| {
            let key = k.key.to_base64();
            let mut entry = String::with_capacity(key.len() + 24);
            entry.push_str(&key);
            // Writing into a `String` cannot fail.
            let _ = write!(entry, ".{}.{}", k.rolling_start, k.rolling_period);
            if include_transmission_risk {
                let _ = write!(entry, ".{}", k.transmission_risk);
            }
            (key.len(), entry)
        })
        .collect();
    // Ties are whole equal entries, so an unstable sort gives the same text.
    entries.sort_unstable_by(|(a_len, a), (b_len, b)| {
        a.get(..*a_len).cmp(&b.get(..*b_len)).then_with(|| a.cmp(b))
    });
    entries
        .iter()
        .map(|(_, entry)| entry.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// An HMAC-SHA256 instance keyed with `key`.
fn hmac_sha256(key: &[u8]) -> Result<HmacSha256, TekmacError> {
    HmacSha256::new_from_slice(key).map_err(|_| TekmacError::HmacKey(key.len()))
}

/// `HMAC-SHA256(hmac_key, tekmac_cleartext(keys, include_transmission_risk))`.
pub fn tekmac(
    hmac_key: &[u8],
    keys: &[UploadKey],
    include_transmission_risk: bool,
) -> Result<[u8; 32], TekmacError> {
    Ok(hmac_sha256(hmac_key)?
        .chain_update(tekmac_cleartext(keys, include_transmission_risk))
        .finalize()
        .into_bytes()
        .into())
}

/// Checks a certificate's base64 `tekmac` claim against the uploaded keys in constant time. The
/// form with transmission risk is always accepted; the form without it only when every key's
/// transmission risk is 0.
pub fn verify_tekmac(
    hmac_key: &[u8],
    keys: &[UploadKey],
    expected_b64: &str,
) -> Result<(), TekmacError> {
    let expected = STANDARD
        .decode(expected_b64)
        .map_err(|_| TekmacError::NotBase64)?;
    let mac = hmac_sha256(hmac_key)?;
    let matches = |with_risk: bool| {
        mac.clone()
            .chain_update(tekmac_cleartext(keys, with_risk))
            .verify_slice(&expected)
            .is_ok()
    };
    let all_unset = keys.iter().all(|k| k.transmission_risk == 0);
    if matches(true) || (all_unset && matches(false)) {
        Ok(())
    } else {
        Err(TekmacError::Mismatch)
    }
}
