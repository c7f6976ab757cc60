//! GAEN export files as a phone reads them: `index.txt` (one object name a line) and the signed
//! zips it names. A zip's keys are used only after its signature verified with the region's
//! export key (`enmesh_protocol::export`); a file that fails is refused whole.
//!
//! Everything here parses outside input: names are checked against a strict pattern and bounded
//! in number and length; keys inside a verified file that break the key rules are dropped and
//! counted, never trusted. This module does no I/O.

use super::DownloadedKey;
use enmesh_protocol::export::{ExportError, ExportFile};
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use enmesh_protocol::keys::ReportType;
use enmesh_protocol::region::RegionId;
use p256::ecdsa::VerifyingKey;
use thiserror::Error;

/// Most names an index may list.
pub const MAX_INDEX_LINES: usize = 100_000;
/// Longest name in an index.
pub const MAX_NAME_BYTES: usize = 200;

/// Why an index or an export file was refused.
#[derive(Debug, Error)]
pub enum ExportsError {
    /// The index is not ASCII text.
    #[error("index.txt is not ASCII text")]
    IndexNotAscii,
    /// The index lists more names than allowed.
    #[error("index.txt lists more than {MAX_INDEX_LINES} files")]
    IndexTooLong,
    /// A line of the index is not an export object name.
    #[error(
        "index.txt line {line}: {name:?} is not an export file name (<root>/<start>-<end>-<nnnnn>.zip)"
    )]
    BadName {
        /// 1-based line number.
        line: usize,
        /// The line (cut to 80 characters).
        name: String,
    },
    /// The zip could not be read or its signature did not verify.
    #[error("export file {name}: {source}")]
    File {
        /// The file's name.
        name: String,
        /// Why.
        #[source]
        source: ExportError,
    },
}

/// The file names an index lists, in index order; an empty index lists none.
pub fn parse_index(body: &[u8]) -> Result<Vec<String>, ExportsError> {
    if !body.is_ascii() {
        return Err(ExportsError::IndexNotAscii);
    }
    let text = std::str::from_utf8(body).map_err(|_| ExportsError::IndexNotAscii)?;
    let mut names = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        if names.len() >= MAX_INDEX_LINES {
            return Err(ExportsError::IndexTooLong);
        }
        if !valid_name(line) {
            return Err(ExportsError::BadName {
                line: i + 1,
                name: line.chars().take(80).collect(),
            });
        }
        names.push(line.to_owned());
    }
    Ok(names)
}

/// `[root/…/]<digits>-<digits>-<5 digits>.zip`, path segments of `[A-Za-z0-9_-]`, no `..`.
fn valid_name(name: &str) -> bool {
    if name.len() > MAX_NAME_BYTES || name.starts_with('/') {
        return false;
    }
    let Some(file) = file_part(name).strip_suffix(".zip") else {
        return false;
    };
    let segments_ok = name.split('/').all(|s| {
        !s.is_empty()
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    });
    let parts: Vec<&str> = file.split('-').collect();
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    segments_ok
        && matches!(parts.as_slice(), [start, end, number]
            if digits(start) && digits(end) && number.len() == 5 && digits(number))
}

/// The last path segment of a name (the part fetched under `/v1/exports/`).
pub fn file_part(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// What one verified file held.
#[derive(Debug, Clone, PartialEq)]
pub struct FileKeys {
    /// Keys that passed the key rules.
    pub keys: Vec<DownloadedKey>,
    /// Keys dropped for breaking a rule (bad length, period, interval).
    pub dropped: usize,
    /// The region the file names, if any.
    pub region: Option<String>,
}

/// Reads an export zip, verifies it with `key` and returns its keys as coming from `source`.
pub fn verified_keys(
    name: &str,
    zip: &[u8],
    key: &VerifyingKey,
    source: &RegionId,
) -> Result<FileKeys, ExportsError> {
    let file_error = |source| ExportsError::File {
        name: name.to_owned(),
        source,
    };
    let verified = ExportFile::from_zip(zip)
        .and_then(|file| file.verify(key))
        .map_err(file_error)?;
    let export = verified.into_export();
    let mut out = FileKeys {
        keys: Vec::with_capacity(export.keys.len()),
        dropped: 0,
        region: export.region.clone(),
    };
    for k in export.keys.iter() {
        match key_of(k, source) {
            Some(key) => out.keys.push(key),
            None => out.dropped += 1,
        }
    }
    Ok(out)
}

fn key_of(
    k: &enmesh_protocol::export::TemporaryExposureKey,
    source: &RegionId,
) -> Option<DownloadedKey> {
    let tek = Tek::from_slice(k.key_data()).ok()?;
    let start = u32::try_from(k.rolling_start_interval_number()).ok()?;
    let period = RollingPeriod::new(u32::try_from(k.rolling_period()).ok()?).ok()?;
    IntervalNumber(start).checked_add(period.get())?;
    let report_type = k
        .report_type
        .map_or(Some(ReportType::Unknown), ReportType::from_number)?;
    let dso = k
        .days_since_onset_of_symptoms
        .filter(|d| (-14..=14).contains(d));
    Some(DownloadedKey {
        tek,
        rolling_start: IntervalNumber(start),
        rolling_period: period.get(),
        report_type,
        days_since_onset: dso,
        source: source.clone(),
    })
}
