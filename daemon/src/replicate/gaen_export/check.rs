//! The decisions of the GAEN export importer, without I/O: which index lines to fetch, and
//! whether a downloaded export zip is signed by the peer and holds valid keys.
//!
//! This module never accepts a file without a signature that verifies under a configured key
//! selected by the signature's own `verification_key_id` + `verification_key_version`, never
//! returns part of a file that broke a rule, and never panics on outside input.

use std::collections::BTreeSet;

use enmesh_protocol::export::{ExportError, ExportFile, decode_export_bin, decode_export_sig};
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{INTERVAL_SECONDS, IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::{DaysSinceOnset, DiagnosisKey, ReportType, TransmissionRisk};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{DerSignature, VerifyingKey};
use thiserror::Error;

/// Largest `index.txt` read (Google's hold ~14 days × 24 files, a few KB).
pub const MAX_INDEX_BYTES: usize = 1 << 20;
/// Longest accepted index line.
pub const MAX_NAME_BYTES: usize = 512;
/// Oldest key imported, counted back from now: the publish API's 15 days (formats.md §e).
pub const MAX_KEY_AGE_SECS: u64 = 15 * 86_400;

/// A configured export verification key.
#[derive(Debug, Clone)]
pub struct ExportKey {
    /// `verification_key_id`.
    pub key_id: String,
    /// `verification_key_version`.
    pub key_version: String,
    /// The public key.
    pub key: VerifyingKey,
}

/// Why an index was refused (the peer's fault).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IndexError {
    /// Larger than [`MAX_INDEX_BYTES`].
    #[error("index.txt is larger than {MAX_INDEX_BYTES} bytes")]
    TooLarge,
    /// A line that is not a safe relative `.zip` path.
    #[error("index line {line} is not a relative .zip object name")]
    BadLine {
        /// 1-based line number.
        line: usize,
    },
}

/// The object names an `index.txt` lists, validated, sorted and de-duplicated (an index that
/// lists a file twice yields it once). Empty lines are skipped.
pub fn parse_index(text: &[u8]) -> Result<BTreeSet<String>, IndexError> {
    if text.len() > MAX_INDEX_BYTES {
        return Err(IndexError::TooLarge);
    }
    let mut names = BTreeSet::new();
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = IndexError::BadLine { line: i + 1 };
        let name = std::str::from_utf8(line).map_err(|_| bad.clone())?;
        let safe = name.len() <= MAX_NAME_BYTES
            && name.ends_with(".zip")
            && !name.starts_with('/')
            && name
                .split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
        if !safe {
            return Err(bad);
        }
        names.insert(name.to_owned());
    }
    Ok(names)
}

/// The names still to import after `cursor` (the last imported name), in order. Index names
/// sort chronologically (formats.md §d.4), so a name at or before the cursor was seen.
pub fn to_import<'a>(names: &'a BTreeSet<String>, cursor: Option<&str>) -> Vec<&'a str> {
    names
        .iter()
        .map(String::as_str)
        .filter(|n| cursor.is_none_or(|c| *n > c))
        .collect()
}

/// Why an export file was refused (the peer's fault; nothing of it is stored).
#[derive(Debug, Error)]
pub enum FileError {
    /// Not a readable export zip.
    #[error("not an export: {0}")]
    Export(#[from] ExportError),
    /// No signature names a configured key.
    #[error("no signature of a configured key (key ids seen: {0:?})")]
    UnknownKey(Vec<String>),
    /// A signature of a configured key did not verify.
    #[error("signature does not verify")]
    Signature,
    /// A key breaks a rule.
    #[error("key {index}: {rule}")]
    Key {
        /// Index in `keys`.
        index: usize,
        /// What was wrong.
        rule: &'static str,
    },
}

impl FileError {
    /// A stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Export(_) => "bad_export",
            Self::UnknownKey(_) => "unknown_key",
            Self::Signature => "signature",
            Self::Key { .. } => "bad_key",
        }
    }
}

/// Checks a downloaded zip: structure, a signature that verifies under a configured key chosen
/// by its key id and version (formats.md §f.3: at least one must), and every key (16 bytes,
/// period 1..=144, risk 0..=8, not in the future, not older than [`MAX_KEY_AGE_SECS`], a known
/// report type). Report type UNKNOWN is backfilled as confirmed; REVOKED keys and
/// `revised_keys` are not imported (revisions come only from the source that issued the key).
pub fn check_file(
    zip: &[u8],
    keys: &[ExportKey],
    now: u64,
) -> Result<Vec<DiagnosisKey>, FileError> {
    let file = ExportFile::from_zip(zip)?;
    let export = decode_export_bin(&file.export_bin)?;
    let list = decode_export_sig(&file.export_sig)?;
    let mut seen = Vec::new();
    let mut verified = false;
    for signature in &list.signatures {
        let info = signature.signature_info.clone().unwrap_or_default();
        let (id, version) = (info.verification_key_id(), info.verification_key_version());
        seen.push(format!("{id}/{version}"));
        let Some(key) = keys
            .iter()
            .find(|k| k.key_id == id && k.key_version == version)
        else {
            continue;
        };
        let der =
            DerSignature::from_bytes(signature.signature()).map_err(|_| FileError::Signature)?;
        key.key
            .verify(&file.export_bin, &der)
            .map_err(|_| FileError::Signature)?;
        verified = true;
    }
    if !verified {
        return Err(FileError::UnknownKey(seen));
    }
    let now_interval = now / INTERVAL_SECONDS;
    let oldest_interval = now.saturating_sub(MAX_KEY_AGE_SECS) / INTERVAL_SECONDS;
    let mut out = Vec::with_capacity(export.keys.len());
    for (index, key) in export.keys.iter().enumerate() {
        let bad = |rule| FileError::Key { index, rule };
        let tek: [u8; 16] = key.key_data().try_into().map_err(|_| bad("key_data"))?;
        let start =
            u32::try_from(key.rolling_start_interval_number()).map_err(|_| bad("rolling_start"))?;
        let period = u32::try_from(key.rolling_period())
            .ok()
            .and_then(|p| RollingPeriod::new(p).ok())
            .ok_or_else(|| bad("rolling_period"))?;
        let risk = TransmissionRisk::new(i64::from(key.transmission_risk_level()))
            .map_err(|_| bad("transmission_risk"))?;
        if u64::from(start) > now_interval {
            return Err(bad("future_key"));
        }
        if u64::from(start) + u64::from(period.get()) < oldest_interval {
            return Err(bad("key_too_old"));
        }
        let report_type = match ReportType::from_number(key.report_type()) {
            Some(ReportType::Unknown) => ReportType::ConfirmedTest,
            Some(ReportType::Revoked) => continue,
            Some(other) => other,
            None => return Err(bad("report_type")),
        };
        let days_since_onset = match key.days_since_onset_of_symptoms {
            Some(days) => Some(DaysSinceOnset::new(days).map_err(|_| bad("days_since_onset"))?),
            None => None,
        };
        out.push(DiagnosisKey {
            key: Tek(tek),
            rolling_start: IntervalNumber(start),
            rolling_period: period,
            transmission_risk: risk,
            report_type,
            days_since_onset,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn index_is_sorted_deduplicated_and_resumes_after_the_cursor() {
        let names = parse_index(b"x/2-3-00001.zip\nx/1-2-00001.zip\nx/2-3-00001.zip\n\n").unwrap();
        assert_eq!(names.len(), 2);
        assert_eq!(
            to_import(&names, None),
            ["x/1-2-00001.zip", "x/2-3-00001.zip"]
        );
        assert_eq!(
            to_import(&names, Some("x/1-2-00001.zip")),
            ["x/2-3-00001.zip"]
        );
        assert!(to_import(&names, Some("x/2-3-00001.zip")).is_empty());
    }

    #[test]
    fn unsafe_lines_are_refused() {
        for bad in [
            "../a.zip",
            "/a.zip",
            "a//b.zip",
            "a.txt",
            "a b.zip",
            "a/./b.zip",
        ] {
            assert!(parse_index(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn index_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_index(&bytes);
        }

        #[test]
        fn file_check_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            prop_assert!(check_file(&bytes, &[], 1_700_000_000).is_err());
        }
    }
}
