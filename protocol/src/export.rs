//! GAEN export files: what phones download (formats.md §d).
//!
//! An export is a zip holding exactly `export.bin` (a 16-byte header and a protobuf
//! `TemporaryExposureKeyExport`) and `export.sig` (a `TEKSignatureList` of ECDSA P-256 / SHA-256
//! signatures over the whole `export.bin`). This module encodes and decodes both files, signs and
//! verifies them, builds and reads the zip in memory, splits large key sets into several files,
//! pads small ones, and formats file names and `index.txt`.
//!
//! It never touches a file system, a clock or a global RNG: archives are byte slices, time is the
//! caller's timestamps and padding randomness comes from the caller. It never inflates a zip entry
//! before checking its name, its position and its declared size, and never reads more than the cap.

use std::io::{Cursor, Read, Write};
use std::num::NonZeroUsize;

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use prost::Message;
use thiserror::Error;

use crate::interval::{IntervalNumber, RollingPeriod, TEK_ROLLING_PERIOD};
use crate::keys::ReportType;

/// The 16 bytes every `export.bin` starts with: `EK Export v1` and four spaces.
pub const EXPORT_BIN_HEADER: &[u8; 16] = b"EK Export v1    ";
/// Name of the first zip entry.
pub const EXPORT_BIN_NAME: &str = "export.bin";
/// Name of the second zip entry.
pub const EXPORT_SIG_NAME: &str = "export.sig";
/// `signature_algorithm` of ECDSA with SHA-256, the one servers write.
pub const ECDSA_SHA256_OID: &str = "1.2.840.10045.4.3.2";
/// Most keys (primary plus revised) one file may hold (`EXPORT_FILE_MAX_RECORDS`).
pub const MAX_KEYS_PER_FILE: usize = 500_000;
/// Batches with fewer primary keys than this (and more than none) are padded.
pub const MIN_KEYS_PER_FILE: usize = 1000;
/// Padding goes up to `MIN_KEYS_PER_FILE + r` with `r` uniform in `0..=PADDING_RANGE`.
pub const PADDING_RANGE: u64 = 100;
/// Largest `export.bin` the zip reader inflates (declared or actual size).
pub const MAX_EXPORT_BIN_BYTES: u64 = 64 << 20;
/// Largest `export.sig` the zip reader inflates (declared or actual size).
pub const MAX_EXPORT_SIG_BYTES: u64 = 64 << 10;

/// `TemporaryExposureKeyExport`, the body of `export.bin` (proto2).
#[derive(Clone, PartialEq, Message)]
pub struct TemporaryExposureKeyExport {
    /// Start of the server-arrival window, UTC seconds.
    #[prost(fixed64, optional, tag = "1")]
    pub start_timestamp: Option<u64>,
    /// End of the window, UTC seconds (offset by the file number in split batches).
    #[prost(fixed64, optional, tag = "2")]
    pub end_timestamp: Option<u64>,
    /// Region code chosen by the operator, e.g. "US".
    #[prost(string, optional, tag = "3")]
    pub region: Option<String>,
    /// 1-based number of this file in its batch (always written as 1).
    #[prost(int32, optional, tag = "4")]
    pub batch_num: Option<i32>,
    /// Number of files in the batch (always written as 1).
    #[prost(int32, optional, tag = "5")]
    pub batch_size: Option<i32>,
    /// One per signing key, newest key first.
    #[prost(message, repeated, tag = "6")]
    pub signature_infos: Vec<SignatureInfo>,
    /// First releases of keys, sorted by key bytes.
    #[prost(message, repeated, tag = "7")]
    pub keys: Vec<TemporaryExposureKey>,
    /// Keys whose status changed (e.g. revoked), sorted by key bytes.
    #[prost(message, repeated, tag = "8")]
    pub revised_keys: Vec<TemporaryExposureKey>,
}

/// `SignatureInfo`: which key signed the file. Tags 1 and 2 are reserved; old files still
/// carry tag 2 (`android_package`), which decoding skips.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct SignatureInfo {
    /// Key version, `[a-zA-Z0-9_]`, e.g. "v1".
    #[prost(string, optional, tag = "3")]
    pub verification_key_version: Option<String>,
    /// Key id, `[a-zA-Z0-9_]`; Apple's convention is the MCC, e.g. "310".
    #[prost(string, optional, tag = "4")]
    pub verification_key_id: Option<String>,
    /// OID text of the algorithm, normally [`ECDSA_SHA256_OID`].
    #[prost(string, optional, tag = "5")]
    pub signature_algorithm: Option<String>,
}

/// `TemporaryExposureKey`: one diagnosis key in an export.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct TemporaryExposureKey {
    /// The 16-byte TEK.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub key_data: Option<Vec<u8>>,
    /// Deprecated but still written.
    #[prost(int32, optional, tag = "2")]
    pub transmission_risk_level: Option<i32>,
    /// ENIntervalNumber of the key's first interval.
    #[prost(int32, optional, tag = "3")]
    pub rolling_start_interval_number: Option<i32>,
    /// Intervals the key is valid for; 144 when absent.
    #[prost(int32, optional, tag = "4", default = "144")]
    pub rolling_period: Option<i32>,
    /// `ReportType` number (UNKNOWN 0 … REVOKED 5).
    #[prost(int32, optional, tag = "5")]
    pub report_type: Option<i32>,
    /// Days since onset of symptoms (zig-zag varint).
    #[prost(sint32, optional, tag = "6")]
    pub days_since_onset_of_symptoms: Option<i32>,
    /// `VariantOfConcern` number (VARIANT_TYPE_UNKNOWN 0, VARIANT_TYPE_1..4 = 1..4).
    #[prost(int32, optional, tag = "8")]
    pub variant_of_concern: Option<i32>,
}

/// `TEKSignatureList`: the whole of `export.sig`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct TekSignatureList {
    /// One per signing key, in the order of the export's `signature_infos`.
    #[prost(message, repeated, tag = "1")]
    pub signatures: Vec<TekSignature>,
}

/// `TEKSignature`: one signature over `export.bin`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct TekSignature {
    /// The same info as the matching entry of the export's `signature_infos`.
    #[prost(message, optional, tag = "1")]
    pub signature_info: Option<SignatureInfo>,
    /// Equal to the export's `batch_num`.
    #[prost(int32, optional, tag = "2")]
    pub batch_num: Option<i32>,
    /// Equal to the export's `batch_size`.
    #[prost(int32, optional, tag = "3")]
    pub batch_size: Option<i32>,
    /// DER-encoded ECDSA signature.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub signature: Option<Vec<u8>>,
}

impl TemporaryExposureKey {
    /// A key as the Google server writes it: transmission risk always present, rolling start
    /// omitted when 0, rolling period omitted when 144, report type and onset only when known.
    pub fn new(
        key_data: [u8; 16],
        transmission_risk_level: i32,
        rolling_start: IntervalNumber,
        rolling_period: RollingPeriod,
        report_type: Option<ReportType>,
        days_since_onset_of_symptoms: Option<i32>,
    ) -> Self {
        Self {
            key_data: Some(key_data.to_vec()),
            transmission_risk_level: Some(transmission_risk_level),
            // ENINs fit in i32 until the year 42,800; the wire field is an int32 bit pattern.
            rolling_start_interval_number: (rolling_start.0 != 0)
                .then_some(rolling_start.0.cast_signed()),
            rolling_period: (rolling_period.get() != TEK_ROLLING_PERIOD)
                .then_some(rolling_period.get().cast_signed()),
            report_type: report_type.map(ReportType::number),
            days_since_onset_of_symptoms,
            variant_of_concern: None,
        }
    }
}

impl SignatureInfo {
    /// An ECDSA P-256 / SHA-256 signature info; empty id or version are left out, as the Google
    /// server does.
    pub fn ecdsa_sha256(verification_key_id: &str, verification_key_version: &str) -> Self {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Self {
            verification_key_version: non_empty(verification_key_version),
            verification_key_id: non_empty(verification_key_id),
            signature_algorithm: Some(ECDSA_SHA256_OID.to_owned()),
        }
    }
}

/// Why an export could not be read, verified or built.
#[derive(Debug, Error)]
pub enum ExportError {
    /// `export.bin` does not start with [`EXPORT_BIN_HEADER`].
    #[error("export.bin starts with {found:02x?}, expected the header \"EK Export v1    \"")]
    BadHeader {
        /// The first (up to 16) bytes found.
        found: Vec<u8>,
    },
    /// The bytes after the header are not a `TemporaryExposureKeyExport`.
    #[error("export.bin body is not a valid TemporaryExposureKeyExport: {0}")]
    BadExportProtobuf(#[source] prost::DecodeError),
    /// `export.sig` is not a `TEKSignatureList`.
    #[error("export.sig is not a valid TEKSignatureList: {0}")]
    BadSignatureProtobuf(#[source] prost::DecodeError),
    /// The archive is not a zip the reader accepts (no central directory, encrypted,
    /// unsupported compression, corrupt entry headers).
    #[error("not a readable zip archive: {0}")]
    BadZip(#[source] zip::result::ZipError),
    /// The archive does not hold exactly two entries.
    #[error("zip has {found} entries, expected exactly 2 (export.bin, export.sig)")]
    ZipEntryCount {
        /// Entries in the central directory.
        found: usize,
    },
    /// Two entries of the archive have the same name.
    #[error("zip has two entries with the same name")]
    ZipDuplicateEntry,
    /// An entry has the wrong name for its position.
    #[error("zip entry {index} is named {found:?}, expected {expected:?}")]
    ZipEntryName {
        /// Position in the archive (0-based).
        index: usize,
        /// The name required at that position.
        expected: &'static str,
        /// The name found (lossy UTF-8).
        found: String,
    },
    /// An entry declares, or inflates to, more bytes than allowed.
    #[error("zip entry {name} has {size} bytes, more than the limit of {limit}")]
    ZipEntryTooLarge {
        /// Entry name.
        name: &'static str,
        /// Declared size, or the bytes read before giving up.
        size: u64,
        /// The cap for this entry.
        limit: u64,
    },
    /// An entry inflates to another size than its header declares.
    #[error("zip entry {name} declares {declared} bytes but holds {actual}")]
    ZipEntrySizeMismatch {
        /// Entry name.
        name: &'static str,
        /// Uncompressed size from the central directory.
        declared: u64,
        /// Bytes actually inflated.
        actual: u64,
    },
    /// Inflating an entry failed (corrupt deflate stream or CRC mismatch).
    #[error("reading zip entry {name}: {source}")]
    ZipEntryRead {
        /// Entry name.
        name: &'static str,
        /// The inflater's error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the zip archive failed.
    #[error("writing the zip archive: {0}")]
    ZipWrite(#[source] zip::result::ZipError),
    /// `export.sig` does not carry one signature per `signature_infos` entry of `export.bin`.
    #[error(
        "export.sig has {signatures} signatures but export.bin lists {signature_infos} signature infos"
    )]
    SignatureCountMismatch {
        /// Signatures in `export.sig`.
        signatures: usize,
        /// `signature_infos` in `export.bin`.
        signature_infos: usize,
    },
    /// No signature in `export.sig` verifies with the configured key.
    #[error("none of the {signatures} signatures verifies with the configured key")]
    SignatureInvalid {
        /// Signatures tried.
        signatures: usize,
    },
    /// More keys than one file may hold.
    #[error("{count} keys in one export file, limit is {limit}")]
    TooManyKeys {
        /// Primary plus revised keys.
        count: usize,
        /// [`MAX_KEYS_PER_FILE`].
        limit: usize,
    },
}

/// Serializes `export.bin`: the header followed by the protobuf, fields in tag order.
pub fn encode_export_bin(export: &TemporaryExposureKeyExport) -> Vec<u8> {
    let mut out = Vec::with_capacity(EXPORT_BIN_HEADER.len() + export.encoded_len());
    out.extend_from_slice(EXPORT_BIN_HEADER);
    export.encode_raw(&mut out);
    out
}

/// Parses `export.bin`, rejecting any prefix other than [`EXPORT_BIN_HEADER`].
pub fn decode_export_bin(bytes: &[u8]) -> Result<TemporaryExposureKeyExport, ExportError> {
    let body = bytes
        .strip_prefix(EXPORT_BIN_HEADER.as_slice())
        .ok_or_else(|| ExportError::BadHeader {
            found: bytes
                .iter()
                .take(EXPORT_BIN_HEADER.len())
                .copied()
                .collect(),
        })?;
    TemporaryExposureKeyExport::decode(body).map_err(ExportError::BadExportProtobuf)
}

/// Parses `export.sig`.
pub fn decode_export_sig(bytes: &[u8]) -> Result<TekSignatureList, ExportError> {
    TekSignatureList::decode(bytes).map_err(ExportError::BadSignatureProtobuf)
}

/// A signing key and the info that names it in the export.
#[derive(Debug, Clone)]
pub struct ExportSigner<'a> {
    /// The ECDSA P-256 private key.
    pub key: &'a SigningKey,
    /// Written both into `export.bin` and next to the signature in `export.sig`.
    pub info: SignatureInfo,
}

/// The two files of one export, as bytes: what goes into (and comes out of) the zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    /// Header and `TemporaryExposureKeyExport`.
    pub export_bin: Vec<u8>,
    /// `TEKSignatureList`.
    pub export_sig: Vec<u8>,
}

/// An export whose signature was checked: only [`ExportFile::verify`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedExport {
    export: TemporaryExposureKeyExport,
}

impl VerifiedExport {
    /// The verified contents.
    pub fn export(&self) -> &TemporaryExposureKeyExport {
        &self.export
    }

    /// Takes the verified contents.
    pub fn into_export(self) -> TemporaryExposureKeyExport {
        self.export
    }
}

impl ExportFile {
    /// Signs `export` with every signer (deterministic RFC 6979 ECDSA, so no randomness).
    ///
    /// Keys and revised keys are sorted by key bytes, `signature_infos` is replaced by the
    /// signers' infos in order, and each `TEKSignature` repeats the export's batch number and size.
    /// Fails with [`ExportError::TooManyKeys`] above [`MAX_KEYS_PER_FILE`].
    pub fn sign(
        mut export: TemporaryExposureKeyExport,
        signers: &[ExportSigner<'_>],
    ) -> Result<Self, ExportError> {
        let count = export.keys.len() + export.revised_keys.len();
        if count > MAX_KEYS_PER_FILE {
            return Err(ExportError::TooManyKeys {
                count,
                limit: MAX_KEYS_PER_FILE,
            });
        }
        sort_by_key_data(&mut export.keys);
        sort_by_key_data(&mut export.revised_keys);
        export.signature_infos = signers.iter().map(|s| s.info.clone()).collect();
        let export_bin = encode_export_bin(&export);
        let signatures = signers
            .iter()
            .map(|signer| {
                let signature: DerSignature = signer.key.sign(&export_bin);
                TekSignature {
                    signature_info: Some(signer.info.clone()),
                    batch_num: export.batch_num,
                    batch_size: export.batch_size,
                    signature: Some(signature.as_bytes().to_vec()),
                }
            })
            .collect();
        let export_sig = TekSignatureList { signatures }.encode_to_vec();
        Ok(Self {
            export_bin,
            export_sig,
        })
    }

    /// Decodes both files and checks the signatures the way Android does: as many signatures as
    /// `signature_infos`, and at least one of them verifies with `key` over the whole
    /// `export.bin` (header included).
    pub fn verify(&self, key: &VerifyingKey) -> Result<VerifiedExport, ExportError> {
        let export = decode_export_bin(&self.export_bin)?;
        let list = decode_export_sig(&self.export_sig)?;
        if list.signatures.len() != export.signature_infos.len() {
            return Err(ExportError::SignatureCountMismatch {
                signatures: list.signatures.len(),
                signature_infos: export.signature_infos.len(),
            });
        }
        let verifies = |sig: &TekSignature| {
            DerSignature::from_bytes(sig.signature())
                .is_ok_and(|der| key.verify(&self.export_bin, &der).is_ok())
        };
        if list.signatures.iter().any(verifies) {
            Ok(VerifiedExport { export })
        } else {
            Err(ExportError::SignatureInvalid {
                signatures: list.signatures.len(),
            })
        }
    }

    /// Builds the zip: `export.bin` then `export.sig`, both deflated, timestamps fixed at the
    /// zip epoch (1980-01-01) so the same files always give the same archive.
    pub fn to_zip(&self) -> Result<Vec<u8>, ExportError> {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default());
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in [
            (EXPORT_BIN_NAME, &self.export_bin),
            (EXPORT_SIG_NAME, &self.export_sig),
        ] {
            writer
                .start_file(name, options)
                .map_err(ExportError::ZipWrite)?;
            writer
                .write_all(bytes)
                .map_err(|e| ExportError::ZipWrite(e.into()))?;
        }
        let cursor = writer.finish().map_err(ExportError::ZipWrite)?;
        Ok(cursor.into_inner())
    }

    /// Reads an export zip from memory. The archive must hold exactly `export.bin` then
    /// `export.sig`; declared sizes are checked against [`MAX_EXPORT_BIN_BYTES`] and
    /// [`MAX_EXPORT_SIG_BYTES`] before inflating, and inflating stops one byte past the cap.
    pub fn from_zip(zip_bytes: &[u8]) -> Result<Self, ExportError> {
        let mut archive =
            zip::ZipArchive::new(Cursor::new(zip_bytes)).map_err(ExportError::BadZip)?;
        if archive.has_duplicate_names() {
            return Err(ExportError::ZipDuplicateEntry);
        }
        if archive.len() != 2 {
            return Err(ExportError::ZipEntryCount {
                found: archive.len(),
            });
        }
        let export_bin = read_entry(&mut archive, 0, EXPORT_BIN_NAME, MAX_EXPORT_BIN_BYTES)?;
        let export_sig = read_entry(&mut archive, 1, EXPORT_SIG_NAME, MAX_EXPORT_SIG_BYTES)?;
        Ok(Self {
            export_bin,
            export_sig,
        })
    }
}

/// Reads entry `index`, which must be called `name`, inflating at most `limit` bytes.
fn read_entry(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    index: usize,
    name: &'static str,
    limit: u64,
) -> Result<Vec<u8>, ExportError> {
    let file = archive.by_index(index).map_err(ExportError::BadZip)?;
    if file.name_raw() != name.as_bytes() {
        return Err(ExportError::ZipEntryName {
            index,
            expected: name,
            found: String::from_utf8_lossy(file.name_raw()).into_owned(),
        });
    }
    let declared = file.size();
    if declared > limit {
        return Err(ExportError::ZipEntryTooLarge {
            name,
            size: declared,
            limit,
        });
    }
    // No capacity from the header: a lying size must not reserve memory.
    let mut out = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| ExportError::ZipEntryRead { name, source })?;
    let actual = u64::try_from(out.len()).unwrap_or(u64::MAX);
    if actual > limit {
        return Err(ExportError::ZipEntryTooLarge {
            name,
            size: actual,
            limit,
        });
    }
    if actual != declared {
        return Err(ExportError::ZipEntrySizeMismatch {
            name,
            declared,
            actual,
        });
    }
    Ok(out)
}

fn sort_by_key_data(keys: &mut [TemporaryExposureKey]) {
    keys.sort_by(|a, b| a.key_data().cmp(b.key_data()));
}

/// Splits one window's keys into files of at most `max_keys_per_file` keys (primary keys first,
/// then revised keys, each sorted by key bytes), as the Google server does.
///
/// `template` carries the window's fields and all its keys. Every file is batch 1 of 1; when
/// there is more than one file, file `n` (1-based) has `end_timestamp` increased by `n` so
/// Android's (start, end, batch) de-duplication keeps them apart. No keys → no files.
pub fn split_into_files(
    mut template: TemporaryExposureKeyExport,
    max_keys_per_file: NonZeroUsize,
) -> Vec<TemporaryExposureKeyExport> {
    let max = max_keys_per_file.get();
    sort_by_key_data(&mut template.keys);
    sort_by_key_data(&mut template.revised_keys);
    let keys = std::mem::take(&mut template.keys);
    let revised = std::mem::take(&mut template.revised_keys);
    template.batch_num = Some(1);
    template.batch_size = Some(1);

    let mut files: Vec<TemporaryExposureKeyExport> = Vec::new();
    let tagged = keys
        .into_iter()
        .map(|k| (false, k))
        .chain(revised.into_iter().map(|k| (true, k)));
    for (index, (is_revised, key)) in tagged.enumerate() {
        if index.is_multiple_of(max) {
            files.push(template.clone());
        }
        if let Some(file) = files.last_mut() {
            if is_revised {
                file.revised_keys.push(key);
            } else {
                file.keys.push(key);
            }
        }
    }
    if files.len() > 1 {
        let end = template.end_timestamp();
        for (number, file) in (1u64..).zip(files.iter_mut()) {
            file.end_timestamp = Some(end.saturating_add(number));
        }
    }
    files
}

/// Pads a batch's primary keys with random fake keys (formats.md §d.4).
///
/// If `keys` holds between 1 and [`MIN_KEYS_PER_FILE`] − 1 keys, fake keys are appended until
/// there are `MIN_KEYS_PER_FILE + r` (`r` uniform in `0..=PADDING_RANGE`). Fake key `i` has 16
/// random bytes and copies every other field of real key `i mod real_count`. Empty batches and
/// revised keys are never padded. `fill_random` supplies all randomness; the fakes are the
/// returned number of keys at the end of `keys`, so the caller can persist them.
pub fn pad_keys(
    keys: &mut Vec<TemporaryExposureKey>,
    fill_random: &mut impl FnMut(&mut [u8]),
) -> usize {
    let real = keys.len();
    if real == 0 || real >= MIN_KEYS_PER_FILE {
        return 0;
    }
    let mut draw = [0u8; 8];
    fill_random(&mut draw);
    // u64 modulo 101: the bias is below 2^-57, far under anything observable.
    let extra = u64::from_le_bytes(draw) % (PADDING_RANGE + 1);
    let target = MIN_KEYS_PER_FILE + usize::try_from(extra).unwrap_or(0);
    let fakes = target - real;
    keys.reserve(fakes);
    for i in 0..fakes {
        let Some(source) = keys.get(i % real) else {
            break;
        };
        let mut fake = source.clone();
        let mut key_data = vec![0u8; 16];
        fill_random(&mut key_data);
        fake.key_data = Some(key_data);
        keys.push(fake);
    }
    keys.len() - real
}

/// The object name of export file `file_number` (1-based) of a window:
/// `<root>/<start>-<end>-<file_number as %05d>.zip`. Add any regeneration counter to the
/// timestamps before calling.
pub fn export_file_name(
    root: &str,
    start_timestamp: u64,
    end_timestamp: u64,
    file_number: u32,
) -> String {
    format!("{root}/{start_timestamp}-{end_timestamp}-{file_number:05}.zip")
}

/// The contents of `<root>/index.txt`: the object names, de-duplicated, sorted as strings and
/// joined with `\n`, with no trailing newline.
pub fn index_txt<S: AsRef<str>>(object_names: &[S]) -> String {
    let mut names: Vec<&str> = object_names.iter().map(AsRef::as_ref).collect();
    names.sort_unstable();
    names.dedup();
    names.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(first: u8) -> TemporaryExposureKey {
        let mut data = [0u8; 16];
        data[0] = first;
        TemporaryExposureKey::new(
            data,
            2,
            IntervalNumber(2_650_000),
            RollingPeriod::FULL_DAY,
            Some(ReportType::ConfirmedTest),
            None,
        )
    }

    #[test]
    fn new_key_follows_google_habits() {
        let k = TemporaryExposureKey::new(
            [7; 16],
            0,
            IntervalNumber(0),
            RollingPeriod::FULL_DAY,
            None,
            Some(-3),
        );
        assert_eq!(k.transmission_risk_level, Some(0));
        assert_eq!(k.rolling_start_interval_number, None);
        assert_eq!(k.rolling_period, None);
        assert_eq!(k.rolling_period(), 144);
        assert_eq!(k.report_type, None);
        assert_eq!(k.days_since_onset_of_symptoms, Some(-3));
    }

    #[test]
    fn split_offsets_end_by_file_number_and_sorts() {
        let template = TemporaryExposureKeyExport {
            start_timestamp: Some(100),
            end_timestamp: Some(200),
            keys: vec![key(5), key(1), key(3)],
            revised_keys: vec![key(9), key(0)],
            ..Default::default()
        };
        let max = NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN);
        let files = split_into_files(template, max);
        assert_eq!(files.len(), 3);
        let ends: Vec<u64> = files.iter().map(|f| f.end_timestamp()).collect();
        assert_eq!(ends, [201, 202, 203]);
        let firsts: Vec<Vec<u8>> = files
            .iter()
            .flat_map(|f| f.keys.iter().chain(&f.revised_keys))
            .map(|k| k.key_data().to_vec())
            .map(|d| vec![d[0]])
            .collect();
        assert_eq!(firsts, [vec![1], vec![3], vec![5], vec![0], vec![9]]);
        assert!(
            files
                .iter()
                .all(|f| f.batch_num == Some(1) && f.batch_size == Some(1))
        );
        assert_eq!(files[1].keys.len(), 1);
        assert_eq!(files[1].revised_keys.len(), 1);
    }

    #[test]
    fn split_single_file_keeps_end() {
        let template = TemporaryExposureKeyExport {
            end_timestamp: Some(200),
            keys: vec![key(1)],
            ..Default::default()
        };
        let files = split_into_files(template, NonZeroUsize::MIN);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].end_timestamp, Some(200));
        let empty = split_into_files(TemporaryExposureKeyExport::default(), NonZeroUsize::MIN);
        assert!(empty.is_empty());
    }

    #[test]
    fn padding_reaches_target_and_copies_metadata() {
        let mut counter = 0u8;
        let mut fill = |buf: &mut [u8]| {
            for b in buf {
                counter = counter.wrapping_add(1);
                *b = counter;
            }
        };
        let mut keys = vec![key(1), key(2)];
        let added = pad_keys(&mut keys, &mut fill);
        // First draw is bytes 1..=8 little-endian: 0x0807060504030201 % 101.
        let extra = 0x0807_0605_0403_0201_u64 % 101;
        assert_eq!(keys.len() as u64, 1000 + extra);
        assert_eq!(added, keys.len() - 2);
        assert_eq!(
            keys[2].key_data(),
            (9u8..25).collect::<Vec<u8>>().as_slice()
        );
        assert_eq!(
            keys[3].rolling_start_interval_number,
            keys[1].rolling_start_interval_number
        );
        assert!(keys[2..].iter().all(|k| k.report_type == Some(1)));

        let mut none: Vec<TemporaryExposureKey> = Vec::new();
        assert_eq!(pad_keys(&mut none, &mut fill), 0);
        let mut full: Vec<TemporaryExposureKey> = (0..1000).map(|_| key(1)).collect();
        assert_eq!(pad_keys(&mut full, &mut fill), 0);
        assert_eq!(full.len(), 1000);
    }

    #[test]
    fn names_and_index() {
        assert_eq!(
            export_file_name("us/ca", 1_590_159_600, 1_590_246_000, 1),
            "us/ca/1590159600-1590246000-00001.zip"
        );
        let index = index_txt(&[
            "r/2-3-00001.zip",
            "r/1-2-00002.zip",
            "r/1-2-00001.zip",
            "r/2-3-00001.zip",
        ]);
        assert_eq!(index, "r/1-2-00001.zip\nr/1-2-00002.zip\nr/2-3-00001.zip");
        assert_eq!(index_txt::<&str>(&[]), "");
    }
}
