//! GAEN (Apple/Google Exposure Notification) key schedule, metadata and matching window
//! (formats.md §a.1–a.5).
//!
//! TEK → RPIK/AEMK (HKDF-SHA256) → RPI (AES-128 of PaddedData) and AEM (AES-128-CTR over the
//! metadata). The 144 RPIs of a key are derived with one AES key schedule and batched blocks, so
//! matching millions of downloaded keys stays cheap. This module never generates keys (TEKs arrive
//! as bytes), never reads a clock, and never prints or `Debug`-formats derived key material.

use std::fmt;

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use hkdf::Hkdf;
use sha2::Sha256;
use thiserror::Error;

use crate::interval::{IntervalNumber, RollingPeriod, TEK_ROLLING_PERIOD};

/// A Temporary Exposure Key: 16 random bytes, valid for one rolling period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tek(pub [u8; 16]);

/// A Rolling Proximity Identifier, broadcast for one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rpi(pub [u8; 16]);

/// Associated Encrypted Metadata: the 4 metadata bytes encrypted under the AEMK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aem(pub [u8; 4]);

/// Number of RPIs derived per key: one per interval of a full rolling period.
pub const RPIS_PER_KEY: usize = TEK_ROLLING_PERIOD as usize;

/// Clock drift tolerated when matching: a sighting may be this many intervals (2 h) before or
/// after the interval its RPI belongs to.
pub const MATCH_TOLERANCE_INTERVALS: u32 = 12;

/// The major version of the metadata format this module understands (bits 7..6 = `01`).
pub const METADATA_MAJOR_VERSION: u8 = 1;

const RPIK_INFO: &[u8] = b"EN-RPIK";
const AEMK_INFO: &[u8] = b"EN-AEMK";
/// `"EN-RPI"` and ten zero bytes, read as a little-endian u128.
const PADDED_DATA_PREFIX: u128 = u128::from_le_bytes(*b"EN-RPI\0\0\0\0\0\0\0\0\0\0");

/// Why GAEN bytes or parameters were rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum GaenError {
    /// A TEK, RPI, AEM or metadata given as bytes had the wrong length.
    #[error("{what} must be {expected} bytes, got {actual}")]
    Length {
        /// Which value.
        what: &'static str,
        /// The required length.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// The 144 intervals from this rolling start do not fit in a u32 ENIntervalNumber.
    #[error("rolling start {0} is too late: its 144 intervals pass the u32 interval range")]
    IntervalOverflow(u32),
    /// Metadata whose version byte has a major version other than 1.
    #[error("metadata major version {0} is not supported (only major version 1)")]
    UnsupportedMajorVersion(u8),
    /// A minor version that does not fit its 2 bits.
    #[error("metadata minor version {0} does not fit in 2 bits (max 3)")]
    MinorVersionTooLarge(u8),
}

fn fixed<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N], GaenError> {
    bytes.try_into().map_err(|_| GaenError::Length {
        what,
        expected: N,
        actual: bytes.len(),
    })
}

impl Tek {
    /// A TEK from exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, GaenError> {
        fixed(bytes, "TEK").map(Self)
    }
}

impl Rpi {
    /// An RPI from exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, GaenError> {
        fixed(bytes, "RPI").map(Self)
    }
}

impl Aem {
    /// An AEM from exactly 4 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, GaenError> {
        fixed(bytes, "AEM").map(Self)
    }
}

/// HKDF-SHA256 with an empty salt, 16 bytes of output (formats.md a.2 steps 1–2).
fn hkdf16(tek: &Tek, info: &[u8]) -> [u8; 16] {
    let mut okm = [0u8; 16];
    let expanded = Hkdf::<Sha256>::new(None, &tek.0).expand(info, &mut okm);
    // HKDF-Expand refuses only outputs longer than 255 × 32 bytes; 16 bytes always succeed.
    debug_assert!(expanded.is_ok());
    okm
}

/// The Rolling Proximity Identifier Key of a TEK, with its AES-128 key schedule expanded.
#[derive(Clone)]
pub struct RpiKey {
    bytes: [u8; 16],
    cipher: Aes128,
}

impl RpiKey {
    /// `RPIK = HKDF-SHA256(TEK, salt = none, info = "EN-RPIK", 16)`.
    pub fn derive(tek: &Tek) -> Self {
        Self::from_bytes(hkdf16(tek, RPIK_INFO))
    }

    /// An RPIK from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self {
            bytes,
            cipher: Aes128::new(&bytes.into()),
        }
    }

    /// The 16 key bytes.
    pub fn to_bytes(&self) -> [u8; 16] {
        self.bytes
    }

    /// The RPI of one interval: `AES-128(RPIK, PaddedData_j)`.
    pub fn rpi(&self, interval: IntervalNumber) -> Rpi {
        let mut block = aes::Block::from(padded_data(interval));
        self.cipher.encrypt_block(&mut block);
        Rpi(block.into())
    }

    /// The 144 RPIs from `rolling_start`, in a new [`DayRpis`] (on the stack, no allocation).
    pub fn day_rpis(&self, rolling_start: IntervalNumber) -> Result<DayRpis, GaenError> {
        let mut day = DayRpis::default();
        self.fill_day_rpis(rolling_start, &mut day)?;
        Ok(day)
    }

    /// The fast path: overwrites `out` with the 144 RPIs from `rolling_start`, encrypting all
    /// blocks in one batched call so AES-NI pipelines them. Fails if the last interval would
    /// pass `u32::MAX`; `out` is then unchanged.
    pub fn fill_day_rpis(
        &self,
        rolling_start: IntervalNumber,
        out: &mut DayRpis,
    ) -> Result<(), GaenError> {
        if rolling_start.checked_add(TEK_ROLLING_PERIOD - 1).is_none() {
            return Err(GaenError::IntervalOverflow(rolling_start.0));
        }
        let mut interval = rolling_start.0;
        for block in &mut out.blocks {
            *block = padded_data(IntervalNumber(interval)).into();
            interval = interval.wrapping_add(1);
        }
        self.cipher.encrypt_blocks(&mut out.blocks);
        out.rolling_start = rolling_start;
        Ok(())
    }
}

impl fmt::Debug for RpiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RpiKey(..)")
    }
}

/// `PaddedData_j`: `"EN-RPI"` ‖ six zero bytes ‖ `j` as u32 LE (formats.md a.2 step 3).
pub fn padded_data(interval: IntervalNumber) -> [u8; 16] {
    // Built as one little-endian u128 (bytes 12..16 = bits 96..128): whole-register stores keep
    // the 144-block fill of `fill_day_rpis` from stalling on byte-sized writes.
    (PADDED_DATA_PREFIX | u128::from(interval.0) << 96).to_le_bytes()
}

/// The 144 RPIs of one key, one per interval from its rolling start; a reusable buffer.
#[derive(Clone)]
pub struct DayRpis {
    rolling_start: IntervalNumber,
    blocks: [aes::Block; RPIS_PER_KEY],
}

impl Default for DayRpis {
    /// An all-zero buffer for [`RpiKey::fill_day_rpis`] to overwrite.
    fn default() -> Self {
        Self {
            rolling_start: IntervalNumber(0),
            blocks: [aes::Block::default(); RPIS_PER_KEY],
        }
    }
}

impl DayRpis {
    /// The interval of the first RPI.
    pub fn rolling_start(&self) -> IntervalNumber {
        self.rolling_start
    }

    /// The RPI of the `index`-th interval after the rolling start (0..144).
    pub fn get(&self, index: usize) -> Option<Rpi> {
        self.blocks.get(index).map(|block| Rpi((*block).into()))
    }

    /// Each interval with its RPI, in interval order.
    pub fn iter(&self) -> impl Iterator<Item = (IntervalNumber, Rpi)> + '_ {
        // `fill_day_rpis` checked that the last interval fits in a u32.
        (0u32..).zip(&self.blocks).map(|(offset, block)| {
            let interval = IntervalNumber(self.rolling_start.0.wrapping_add(offset));
            (interval, Rpi((*block).into()))
        })
    }
}

impl fmt::Debug for DayRpis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DayRpis")
            .field("rolling_start", &self.rolling_start)
            .finish_non_exhaustive()
    }
}

/// The Associated Encrypted Metadata Key of a TEK, with its AES-128 key schedule expanded.
#[derive(Clone)]
pub struct AemKey {
    bytes: [u8; 16],
    cipher: Aes128,
}

impl AemKey {
    /// `AEMK = HKDF-SHA256(TEK, salt = none, info = "EN-AEMK", 16)`.
    pub fn derive(tek: &Tek) -> Self {
        Self::from_bytes(hkdf16(tek, AEMK_INFO))
    }

    /// An AEMK from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self {
            bytes,
            cipher: Aes128::new(&bytes.into()),
        }
    }

    /// The 16 key bytes.
    pub fn to_bytes(&self) -> [u8; 16] {
        self.bytes
    }

    /// AES-128-CTR with the whole RPI as the initial counter block. Four bytes use only the
    /// first keystream block, `AES(AEMK, RPI)`, so this is one block encryption and an XOR.
    fn keystream_xor(&self, rpi: &Rpi, data: [u8; 4]) -> [u8; 4] {
        let mut keystream = aes::Block::from(rpi.0);
        self.cipher.encrypt_block(&mut keystream);
        let mut out = data;
        for (byte, key) in out.iter_mut().zip(keystream.iter()) {
            *byte ^= key;
        }
        out
    }

    /// Encrypts `metadata` for the interval whose RPI is `rpi`.
    pub fn encrypt(&self, rpi: &Rpi, metadata: &Metadata) -> Aem {
        Aem(self.keystream_xor(rpi, metadata.to_bytes()))
    }

    /// Decrypts a sighting's AEM with the RPI it was sent with, then decodes the metadata.
    pub fn decrypt(&self, rpi: &Rpi, aem: &Aem) -> Result<Metadata, GaenError> {
        Metadata::from_bytes(self.keystream_xor(rpi, aem.0))
    }
}

impl fmt::Debug for AemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AemKey(..)")
    }
}

/// How well a device's transmit power is calibrated (metadata bits 3..2, v1.1 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CalibrationConfidence {
    /// `0`: lowest (also every v1.0 sender).
    Lowest,
    /// `1`: low.
    Low,
    /// `2`: medium.
    Medium,
    /// `3`: high.
    High,
}

impl CalibrationConfidence {
    fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => Self::Lowest,
            1 => Self::Low,
            2 => Self::Medium,
            _ => Self::High,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Self::Lowest => 0,
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
        }
    }
}

/// The 4 metadata bytes an AEM carries (formats.md a.3): a version byte, the signed transmit
/// power in dBm and two reserved bytes. Reserved bits and bytes are kept as received so that
/// decoding and re-encoding gives back the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Metadata {
    version: u8,
    tx_power_dbm: i8,
    reserved: [u8; 2],
}

impl Metadata {
    /// Metadata of major version 1 with reserved bits and bytes zero; `minor_version` is 0..=3
    /// (0 = v1.0, 1 = v1.1, as Android sends).
    pub fn new(
        minor_version: u8,
        confidence: CalibrationConfidence,
        tx_power_dbm: i8,
    ) -> Result<Self, GaenError> {
        if minor_version > 3 {
            return Err(GaenError::MinorVersionTooLarge(minor_version));
        }
        Ok(Self {
            version: METADATA_MAJOR_VERSION << 6 | minor_version << 4 | confidence.bits() << 2,
            tx_power_dbm,
            reserved: [0, 0],
        })
    }

    /// Decodes 4 bytes. Any minor version and any reserved bits are accepted; a major version
    /// other than 1 is not.
    pub fn from_bytes(bytes: [u8; 4]) -> Result<Self, GaenError> {
        let [version, tx_power, reserved0, reserved1] = bytes;
        let major = version >> 6;
        if major != METADATA_MAJOR_VERSION {
            return Err(GaenError::UnsupportedMajorVersion(major));
        }
        Ok(Self {
            version,
            tx_power_dbm: i8::from_le_bytes([tx_power]),
            reserved: [reserved0, reserved1],
        })
    }

    /// Decodes a slice that must be exactly 4 bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, GaenError> {
        Self::from_bytes(fixed(bytes, "metadata")?)
    }

    /// The 4 bytes.
    pub fn to_bytes(&self) -> [u8; 4] {
        let [tx_power] = self.tx_power_dbm.to_le_bytes();
        let [reserved0, reserved1] = self.reserved;
        [self.version, tx_power, reserved0, reserved1]
    }

    /// The major version (bits 7..6); always 1 for decoded metadata.
    pub fn major_version(&self) -> u8 {
        self.version >> 6
    }

    /// The minor version (bits 5..4).
    pub fn minor_version(&self) -> u8 {
        self.version >> 4 & 0b11
    }

    /// The transmit-power calibration confidence (bits 3..2).
    pub fn calibration_confidence(&self) -> CalibrationConfidence {
        CalibrationConfidence::from_bits(self.version >> 2)
    }

    /// The transmit power, dBm.
    pub fn tx_power_dbm(&self) -> i8 {
        self.tx_power_dbm
    }
}

/// Whether a sighting at interval `seen` may be the RPI of interval `rpi_interval`:
/// `rpi_interval − 12 ≤ seen ≤ rpi_interval + 12` (formats.md a.5 step 3, no upper clamp).
pub fn sighting_matches(rpi_interval: IntervalNumber, seen: IntervalNumber) -> bool {
    rpi_interval.0.abs_diff(seen.0) <= MATCH_TOLERANCE_INTERVALS
}

/// Attenuation in dB as Android computes it: `max(tx_power − rssi, 0)`.
pub fn attenuation_db(tx_power_dbm: i8, rssi_dbm: i8) -> u8 {
    let difference = i16::from(tx_power_dbm) - i16::from(rssi_dbm);
    // `difference` is at most 127 − (−128) = 255, so only negative values fail the conversion.
    u8::try_from(difference).unwrap_or(0)
}

/// Whether a key with this rolling start and period is valid at `interval`:
/// `rolling_start ≤ interval < rolling_start + rolling_period`.
pub fn key_valid_at(
    rolling_start: IntervalNumber,
    rolling_period: RollingPeriod,
    interval: IntervalNumber,
) -> bool {
    let end = u64::from(rolling_start.0) + u64::from(rolling_period.get());
    rolling_start <= interval && u64::from(interval.0) < end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_data_matches_formats_md() {
        assert_eq!(
            crate::codec::hex_encode(&padded_data(IntervalNumber(2_642_976))),
            "454e2d52504900000000000020542800"
        );
    }

    #[test]
    fn rolling_start_overflow_is_an_error() {
        let key = RpiKey::from_bytes([7; 16]);
        let last_ok = IntervalNumber(u32::MAX - 143);
        assert!(key.day_rpis(last_ok).is_ok());
        assert_eq!(
            key.day_rpis(IntervalNumber(u32::MAX - 142)).err(),
            Some(GaenError::IntervalOverflow(u32::MAX - 142))
        );
    }

    #[test]
    fn wrong_lengths_are_errors() {
        assert_eq!(
            Tek::from_slice(&[0; 15]),
            Err(GaenError::Length {
                what: "TEK",
                expected: 16,
                actual: 15
            })
        );
        assert!(Tek::from_slice(&[0; 17]).is_err());
        assert!(Rpi::from_slice(&[0; 0]).is_err());
        assert!(Aem::from_slice(&[0; 5]).is_err());
        assert!(Metadata::decode(&[0x40, 8, 0]).is_err());
    }

    #[test]
    fn metadata_fields() {
        let m = Metadata::decode(&[0x5b, 0xf6, 0xaa, 0x55]).unwrap();
        assert_eq!(m.major_version(), 1);
        assert_eq!(m.minor_version(), 1);
        assert_eq!(m.calibration_confidence(), CalibrationConfidence::Medium);
        assert_eq!(m.tx_power_dbm(), -10);
        assert_eq!(m.to_bytes(), [0x5b, 0xf6, 0xaa, 0x55]);
        assert_eq!(
            Metadata::decode(&[0x80, 0, 0, 0]),
            Err(GaenError::UnsupportedMajorVersion(2))
        );
        assert_eq!(
            Metadata::new(4, CalibrationConfidence::Low, 0),
            Err(GaenError::MinorVersionTooLarge(4))
        );
    }

    #[test]
    fn key_validity_bounds() {
        let start = IntervalNumber(1000);
        let period = RollingPeriod::new(10).unwrap();
        assert!(!key_valid_at(start, period, IntervalNumber(999)));
        assert!(key_valid_at(start, period, IntervalNumber(1000)));
        assert!(key_valid_at(start, period, IntervalNumber(1009)));
        assert!(!key_valid_at(start, period, IntervalNumber(1010)));
        let late = IntervalNumber(u32::MAX - 1);
        assert!(key_valid_at(
            late,
            RollingPeriod::FULL_DAY,
            IntervalNumber(u32::MAX)
        ));
    }

    #[test]
    fn attenuation_examples() {
        assert_eq!(attenuation_db(8, -60), 68);
        assert_eq!(attenuation_db(-10, 0), 0);
        assert_eq!(attenuation_db(127, -128), 255);
        assert_eq!(attenuation_db(-128, 127), 0);
    }
}
