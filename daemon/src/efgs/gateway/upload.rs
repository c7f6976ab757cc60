//! The gateway's upload decision (formats.md §g.5): a pure function from the request's parts to
//! accepted keys or the EFGS status that refuses them, in the gateway's order.
//!
//! 0. content negotiation (400 bad type, 406 version) and key validation (400, one invalid key
//!    rejects the batch); 1. more than 5000 keys → 413; 2. batchTag seen → 409; 4.–9. the CMS:
//!    parsed over the canonical bytes, its one signer's certificate found, within validity, a
//!    configured member signing certificate (or a CA-tree node), every key's origin = that
//!    certificate's C, the signature verifies (all 400 "Invalid signature"); 10. every origin =
//!    the mTLS caller's C → 400; 11. (at insert, [`duplicates`]) keys whose canonical record is
//!    stored already → 207 with the indices EFGS gives, nothing stored.
//!
//! This function never stores, logs or counts anything (the handler does), and never reads a
//! clock: `now_secs` is a parameter.

use crate::efgs::cms::{CmsError, Detached};
use crate::efgs::dsos::{TranslateError, key_from_efgs};
use crate::efgs::wire::{self, Media, WireError};
use crate::pki::efgs::{MemberCertKind, MemberIdentity, MemberRejection, Members};
use enmesh_protocol::efgs::{EfgsKey, TRANSMISSION_RISK_NOT_PROVIDED, records_signing_bytes};
use enmesh_protocol::keys::DiagnosisKey;
use rustls_pki_types::CertificateDer;
use thiserror::Error;

/// Most keys in one upload.
pub const MAX_UPLOAD_KEYS: usize = 5000;
/// Longest batchTag.
pub const MAX_TAG_LEN: usize = 64;
/// Seconds per ENIN interval.
const INTERVAL_SECS: u64 = 600;

/// The parts of an upload request the decision looks at.
#[derive(Debug, Clone, Copy)]
pub struct UploadRequest<'a> {
    /// The mTLS caller.
    pub caller: &'a MemberIdentity,
    /// `batchTag` header.
    pub batch_tag: Option<&'a str>,
    /// `batchSignature` header.
    pub signature: Option<&'a str>,
    /// `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// An accepted upload.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Its batchTag.
    pub tag: String,
    /// The keys as sent (for the audit and the visited lists).
    pub keys: Vec<EfgsKey>,
    /// The same keys in enmesh's model, in the same order.
    pub translated: Vec<DiagnosisKey>,
    /// Their canonical records ([`EfgsKey::signing_record`]), in the same order: built once
    /// for the signature and reused for the dedup hashes.
    pub records: Vec<String>,
    /// Who signed the batch.
    pub signer: MemberIdentity,
}

/// Why an upload was refused; [`UploadError::status`] is the EFGS status code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UploadError {
    /// The content type is missing or not protobuf/JSON.
    #[error("{0}")]
    ContentType(WireError),
    /// The media type version is not 1.0.
    #[error("{0}")]
    Version(WireError),
    /// The body or a key is invalid.
    #[error("{0}")]
    Body(WireError),
    /// A key's field is outside the gateway's ranges.
    #[error("keys[{index}]: {reason}")]
    Key {
        /// Index in the batch.
        index: usize,
        /// The rule it breaks.
        reason: String,
    },
    /// More than 5000 keys.
    #[error("{0} keys (at most 5000)")]
    TooManyKeys(usize),
    /// `batchTag` missing, empty or too long.
    #[error("batchTag header missing, empty or longer than 64 characters")]
    BadTag,
    /// `batchTag` used before.
    #[error("batchTag {0:?} already exists")]
    TagExists(String),
    /// The CMS is missing or fails one of steps 4–9.
    #[error("Invalid signature: {0}")]
    InvalidSignature(String),
    /// A key's origin is not the caller's country.
    #[error("keys[{index}]: origin {origin:?} is not the uploader country {country}")]
    OriginNotCaller {
        /// Index in the batch.
        index: usize,
        /// Its origin.
        origin: String,
        /// The caller's country.
        country: String,
    },
    /// Some keys are stored already (the same canonical record, from this or an earlier
    /// upload): 207, and nothing of the upload is stored (EFGS rolls its transaction back; the
    /// uploader sends the `created` keys again in a new batch).
    #[error("{} of the keys exist already", conflicts.len())]
    KeysExist {
        /// Indices of keys that would have been stored (EFGS's "201").
        created: Vec<usize>,
        /// Indices of keys that exist (EFGS's "409").
        conflicts: Vec<usize>,
    },
    /// The tag lookup failed.
    #[error("store: {0}")]
    Store(String),
}

impl UploadError {
    /// The EFGS status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::Version(_) => 406,
            Self::KeysExist { .. } => 207,
            Self::TooManyKeys(_) => 413,
            Self::TagExists(_) => 409,
            Self::Store(_) => 500,
            _ => 400,
        }
    }

    /// A closed label for metrics (the `rule` of the uploads-refused counter).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ContentType(_) => "efgs_content_type",
            Self::Version(_) => "efgs_version",
            Self::Body(_) => "efgs_body",
            Self::Key { .. } => "efgs_key",
            Self::TooManyKeys(_) => "efgs_too_many_keys",
            Self::BadTag => "efgs_bad_tag",
            Self::TagExists(_) => "efgs_tag_exists",
            Self::InvalidSignature(_) => "efgs_invalid_signature",
            Self::OriginNotCaller { .. } => "efgs_origin",
            Self::KeysExist { .. } => "efgs_keys_exist",
            Self::Store(_) => "efgs_store",
        }
    }
}

/// Checks a key against the gateway's rules (§g.2) and translates it.
fn validate_key(index: usize, key: &EfgsKey, now_secs: u64) -> Result<DiagnosisKey, UploadError> {
    let err = |reason: String| UploadError::Key { index, reason };
    let midnight = now_secs - now_secs % 86_400;
    let lowest = midnight.saturating_sub(15 * 86_400) / INTERVAL_SECS;
    let highest = now_secs / INTERVAL_SECS + 1;
    // The gateway reads the uint32 as a Java signed int.
    let start = i64::from(key.rolling_start_interval_number as i32);
    if start < i64::try_from(lowest).unwrap_or(i64::MAX)
        || start > i64::try_from(highest).unwrap_or(i64::MAX)
    {
        return Err(err(format!(
            "rollingStartIntervalNumber {} is outside {lowest}..={highest}",
            key.rolling_start_interval_number
        )));
    }
    if !(1..=144).contains(&key.rolling_period) {
        return Err(err(format!(
            "rollingPeriod {} is outside 1..=144",
            key.rolling_period
        )));
    }
    let risk = key.transmission_risk_level;
    if !(0..=8).contains(&risk) && risk != TRANSMISSION_RISK_NOT_PROVIDED {
        return Err(err(format!(
            "transmissionRiskLevel {risk} is outside 0..=8"
        )));
    }
    key_from_efgs(key).map_err(|e: TranslateError| err(e.to_string()))
}

/// Decides an upload. `tag_seen` answers whether a batchTag was accepted before.
pub fn check_upload(
    request: &UploadRequest<'_>,
    members: &Members,
    now_secs: u64,
    tag_seen: impl FnOnce(&str) -> Result<bool, String>,
) -> Result<Accepted, UploadError> {
    // 0. Content negotiation, then the body and its keys.
    let media: Media =
        wire::parse_media(request.content_type.unwrap_or_default()).map_err(|e| match e {
            WireError::Version(_) => UploadError::Version(e),
            other => UploadError::ContentType(other),
        })?;
    let keys = wire::decode(media, request.body).map_err(UploadError::Body)?;
    let translated = keys
        .iter()
        .enumerate()
        .map(|(i, k)| validate_key(i, k, now_secs))
        .collect::<Result<Vec<_>, _>>()?;
    // 1. Size.
    if keys.len() > MAX_UPLOAD_KEYS {
        return Err(UploadError::TooManyKeys(keys.len()));
    }
    // 2. The tag.
    let tag = request
        .batch_tag
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= MAX_TAG_LEN)
        .ok_or(UploadError::BadTag)?;
    if tag_seen(tag).map_err(UploadError::Store)? {
        return Err(UploadError::TagExists(tag.to_owned()));
    }
    // 4.–9. The signature.
    let invalid = |e: &dyn std::fmt::Display| UploadError::InvalidSignature(e.to_string());
    let signature = request
        .signature
        .ok_or_else(|| UploadError::InvalidSignature("batchSignature header missing".into()))?;
    let cms = Detached::parse_base64(signature).map_err(|e: CmsError| invalid(&e))?;
    let cert = CertificateDer::from(cms.signer_cert_der().to_vec());
    let signer = members
        .check(&[cert], MemberCertKind::Signing, now_secs)
        .map_err(|e: MemberRejection| invalid(&e))?;
    if let Some(bad) = keys.iter().find(|k| k.origin != signer.country.alpha2()) {
        return Err(UploadError::InvalidSignature(format!(
            "origin {:?} is not the signing certificate's country {}",
            bad.origin,
            signer.country.alpha2()
        )));
    }
    let records: Vec<String> = keys.iter().map(EfgsKey::signing_record).collect();
    cms.verify(&records_signing_bytes(&records))
        .map_err(|e| invalid(&e))?;
    // 10. The caller.
    let country = request.caller.country.alpha2();
    if let Some((index, bad)) = keys.iter().enumerate().find(|(_, k)| k.origin != country) {
        return Err(UploadError::OriginNotCaller {
            index,
            origin: bad.origin.clone(),
            country: country.to_owned(),
        });
    }
    Ok(Accepted {
        tag: tag.to_owned(),
        keys,
        translated,
        records,
        signer,
    })
}

/// The insert step's dedup (formats.md §g.3: the gateway's unique constraint on a key's record
/// hash): given each key's dedup code and whether the store holds it, `None` when every key is
/// new, else [`UploadError::KeysExist`] with the indices EFGS reports. A record repeated inside
/// the upload is new the first time and a conflict after.
pub fn duplicates<C: Eq + std::hash::Hash>(codes: &[C], stored: &[bool]) -> Option<UploadError> {
    let mut seen = std::collections::HashSet::new();
    let (mut created, mut conflicts) = (Vec::new(), Vec::new());
    for (index, (code, stored)) in codes.iter().zip(stored).enumerate() {
        let first = seen.insert(code);
        if *stored || !first {
            conflicts.push(index);
        } else {
            created.push(index);
        }
    }
    (!conflicts.is_empty()).then_some(UploadError::KeysExist { created, conflicts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_and_repeated_records_are_conflicts_and_the_rest_created() {
        assert_eq!(duplicates(&[1, 2, 3], &[false, false, false]), None);
        assert_eq!(
            duplicates(&[1, 2, 3, 2], &[false, true, false, false]),
            Some(UploadError::KeysExist {
                created: vec![0, 2],
                conflicts: vec![1, 3],
            })
        );
        assert_eq!(
            duplicates(&[7, 7], &[false, false]),
            Some(UploadError::KeysExist {
                created: vec![0],
                conflicts: vec![1],
            })
        );
        assert_eq!(
            UploadError::KeysExist {
                created: vec![],
                conflicts: vec![0]
            }
            .status(),
            207
        );
    }
}
