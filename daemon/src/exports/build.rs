//! Building one export window's files: read its keys from the store, pad, split, sign, zip.
//!
//! This module never writes to the store and never includes a key outside its release window
//! (see [`super::window`]); it reads the store one page at a time and keeps only the window's keys.

use enmesh_protocol::export::{
    ExportFile, ExportSigner, SignatureInfo, TemporaryExposureKey, TemporaryExposureKeyExport,
    export_file_name, pad_keys, split_into_files,
};
use enmesh_protocol::keys::{DiagnosisKey, ReportType};
use p256::ecdsa::SigningKey;

use super::window::ExportWindow;
use super::{ExportSettings, ExportsError};
use crate::embargo::MAX_EMBARGO_SECS;
use crate::store::Store;

/// Keys read from the store per page.
const PAGE_KEYS: usize = 10_000;

/// One built export file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltFile {
    /// Its object name, `<root>/<start>-<end>-<nnnnn>.zip`.
    pub name: String,
    /// The zip (`export.bin`, `export.sig`).
    pub zip: Vec<u8>,
}

/// The files of one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltWindow {
    /// Its files, in file-number order (none when the window has no keys).
    pub files: Vec<BuiltFile>,
    /// Real keys in them.
    pub keys: usize,
    /// Random padding keys in them.
    pub padding: usize,
}

/// The keys whose release window is `window`, in arrival order.
pub fn window_keys(
    store: &Store,
    settings: &ExportSettings,
    window: ExportWindow,
) -> Result<Vec<DiagnosisKey>, ExportsError> {
    let from = window.start.saturating_sub(MAX_EMBARGO_SECS);
    let mut keys = Vec::new();
    let mut after = None;
    loop {
        let page = store.keys_arrived(from, window.end, after, PAGE_KEYS)?;
        keys.extend(
            page.entries
                .into_iter()
                .filter(|e| settings.period.release_window(&e.key, e.at.unix_secs) == window)
                .map(|e| e.key),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(keys),
        }
    }
}

/// A key as the Google server writes it into an export: report type only when known, days since
/// onset only when it is a known day (−14..=14; the EFGS range encodings are not GAEN values).
pub fn export_key(key: &DiagnosisKey) -> TemporaryExposureKey {
    TemporaryExposureKey::new(
        key.key.0,
        i32::from(key.transmission_risk.get()),
        key.rolling_start,
        key.rolling_period,
        (key.report_type != ReportType::Unknown).then_some(key.report_type),
        key.days_since_onset.and_then(|d| d.known_days()),
    )
}

/// Builds the export files of `window` from `keys` (formats.md §d.4): padded with random keys
/// when there are fewer than 1000, sorted, split at `max_keys_per_file`, signed and zipped. No
/// keys → no files.
pub fn build_files(
    keys: &[DiagnosisKey],
    settings: &ExportSettings,
    signing_key: &SigningKey,
    window: ExportWindow,
) -> Result<BuiltWindow, ExportsError> {
    let mut export_keys: Vec<TemporaryExposureKey> = keys.iter().map(export_key).collect();
    let mut random_failure = None;
    let padding = pad_keys(&mut export_keys, &mut |buf: &mut [u8]| {
        if let Err(e) = getrandom::fill(buf) {
            random_failure = Some(e);
        }
    });
    if let Some(reason) = random_failure {
        return Err(ExportsError::Random(reason));
    }
    let template = TemporaryExposureKeyExport {
        start_timestamp: Some(window.start),
        end_timestamp: Some(window.end),
        region: Some(settings.region_code.clone()),
        keys: export_keys,
        ..Default::default()
    };
    let signer = ExportSigner {
        key: signing_key,
        info: SignatureInfo::ecdsa_sha256(&settings.key_id, &settings.key_version),
    };
    let mut built = Vec::new();
    for (file_number, export) in
        (1u32..).zip(split_into_files(template, settings.max_keys_per_file))
    {
        let file = ExportFile::sign(export, std::slice::from_ref(&signer))?;
        built.push(BuiltFile {
            name: export_file_name(&settings.root, window.start, window.end, file_number),
            zip: file.to_zip()?,
        });
    }
    Ok(BuiltWindow {
        files: built,
        keys: keys.len(),
        padding,
    })
}
