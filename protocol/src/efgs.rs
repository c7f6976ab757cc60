//! The EU Federation Gateway (EFGS): the canonical bytes a batch signature covers (formats.md
//! §g.2–g.3) and the gateway's per-key dedup hash.
//!
//! Each key becomes an ASCII record of eight base64 fields, each followed by `.`; a batch is its
//! records sorted by the base64 text of the whole record and concatenated raw. This module only
//! computes bytes: it never signs, never validates field ranges (the gateway signs what it is
//! given, so the bytes must be reproduced for any value) and never reorders fields.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::codec::hex_encode;

/// `transmissionRiskLevel` meaning "not provided".
pub const TRANSMISSION_RISK_NOT_PROVIDED: i32 = 0x7FFF_FFFF;

/// One `DiagnosisKey` of `Efgs.proto` (package `eu.interop`), field for field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EfgsKey {
    /// The 16-byte TEK.
    pub key_data: [u8; 16],
    /// ENIntervalNumber of the key's first interval (uint32 on the wire).
    pub rolling_start_interval_number: u32,
    /// Intervals the key is valid for (uint32 on the wire).
    pub rolling_period: u32,
    /// 0..8, or [`TRANSMISSION_RISK_NOT_PROVIDED`].
    pub transmission_risk_level: i32,
    /// ISO 3166 alpha-2 codes of the countries visited.
    pub visited_countries: Vec<String>,
    /// ISO 3166 alpha-2 code of the uploading country.
    pub origin: String,
    /// `ReportType` enum number; kept raw because the gateway does not validate it and signs it
    /// as is.
    pub report_type: i32,
    /// Days since onset of symptoms (sint32 on the wire).
    pub days_since_onset_of_symptoms: i32,
}

impl EfgsKey {
    /// The canonical record: `b64(f1).b64(f2)…b64(f8).` in ASCII (formats.md §g.3).
    ///
    /// Integers are 4-byte big-endian two's complement; countries are joined with `,`. Text is
    /// encoded as Java's `getBytes(US_ASCII)` does: a non-ASCII character becomes `?`.
    pub fn signing_record(&self) -> String {
        let mut record = String::with_capacity(128);
        let mut field = |bytes: &[u8]| {
            STANDARD.encode_string(bytes, &mut record);
            record.push('.');
        };
        field(&self.key_data);
        field(&self.rolling_start_interval_number.to_be_bytes());
        field(&self.rolling_period.to_be_bytes());
        field(&self.transmission_risk_level.to_be_bytes());
        field(&us_ascii(&self.visited_countries.join(",")));
        field(&us_ascii(&self.origin));
        field(&self.report_type.to_be_bytes());
        field(&self.days_since_onset_of_symptoms.to_be_bytes());
        record
    }

    /// The gateway's dedup key: lowercase hex SHA-256 of [`Self::signing_record`].
    pub fn dedup_hash(&self) -> String {
        record_dedup_hash(&self.signing_record())
    }
}

/// [`EfgsKey::dedup_hash`] from the key's record, for a caller that holds it already.
pub fn record_dedup_hash(record: &str) -> String {
    hex_encode(&Sha256::digest(record.as_bytes()))
}

/// The bytes a batch signature covers: every key's record, sorted by `base64(record)` compared
/// as ASCII (Java `String.compareTo`), concatenated raw (not their base64).
pub fn batch_signing_bytes(keys: &[EfgsKey]) -> Vec<u8> {
    let records: Vec<String> = keys.iter().map(EfgsKey::signing_record).collect();
    records_signing_bytes(&records)
}

/// [`batch_signing_bytes`] from the keys' records ([`EfgsKey::signing_record`], in any order),
/// so a caller that needs the records too (the gateway's dedup hashes) builds each once.
pub fn records_signing_bytes(records: &[String]) -> Vec<u8> {
    let mut sorted: Vec<(String, &str)> = records
        .iter()
        .map(|record| (STANDARD.encode(record), record.as_str()))
        .collect();
    sorted.sort_unstable();
    let mut out = Vec::with_capacity(records.iter().map(String::len).sum());
    for (_, record) in sorted {
        out.extend_from_slice(record.as_bytes());
    }
    out
}

/// Java's `String.getBytes(US_ASCII)`: ASCII characters as themselves, anything else as `?`.
fn us_ascii(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(c).ok().filter(u8::is_ascii).unwrap_or(b'?'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_text_becomes_question_marks() {
        assert_eq!(us_ascii("DE"), b"DE");
        assert_eq!(us_ascii("Dé€"), b"D??");
        assert_eq!(us_ascii("😀"), b"?");
    }
}
