//! TCN Coalition protocol: report keys, the TCK/TCN ratchet, reports and signed reports
//! (formats.md §b).
//!
//! A device holds a [`ReportAuthorizationKey`] (`rak`, an Ed25519 seed) and ratchets
//! [`TemporaryContactKey`]s from it; each key yields the [`Tcn`] it broadcasts. A positive user
//! publishes a [`Report`] (`rvk`, `tck_{j1−1}`, `j1`, `j2`, memo) signed by `rak`; receivers
//! recompute the covered TCNs `tcn_{j1} ..= tcn_{j2}` (repository HEAD semantics, §b.4).
//!
//! This module never treats a report as authentic unless [`SignedReport::verify`] returned a
//! [`VerifiedReport`]; signature-stripped reports only ever decode as [`Report`]. Decoders are
//! strict (no missing or trailing bytes), the ratchet never wraps past index 65535, and the
//! secret seed is never printed.

use crate::codec::{CodecError, Reader};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

/// A Temporary Contact Number, broadcast over BLE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tcn(pub [u8; 16]);

/// The index `i` of a temporary contact key / number in the ratchet (`tck_i`, `tcn_i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TcnIndex(pub u16);

/// Why a TCN key, report or signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TcnError {
    /// The report bytes were truncated or had trailing bytes (the message names the field).
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The report's first index `j1` is 0; reports start at index 1 or later.
    #[error("TCN report j1 is 0; it must be at least 1")]
    ZeroFirstIndex,
    /// The memo data is longer than its one-byte length field allows.
    #[error("TCN memo data is {len} bytes; the limit is 255")]
    MemoTooLong {
        /// The length that was offered.
        len: usize,
    },
    /// The report's `rvk` is not a valid Ed25519 public key.
    #[error("TCN report rvk is not a valid Ed25519 public key")]
    BadPublicKey,
    /// The Ed25519 signature does not verify with the report's `rvk` over the report bytes.
    #[error("TCN report signature does not verify with its rvk")]
    BadSignature,
    /// A report was given to a `rak` whose public key is not the report's `rvk`.
    #[error("the signing rak does not match the report's rvk")]
    KeyMismatch,
}

/// Domain separator of `H_tck`.
const H_TCK: &[u8; 5] = b"H_TCK";
/// Domain separator of `H_tcn`.
const H_TCN: &[u8; 5] = b"H_TCN";
/// Bytes of an unsigned report before the memo data: rvk, tck, j1, j2, memo type, memo length.
const REPORT_HEADER_LEN: usize = 70;
/// Length of an Ed25519 signature.
const SIGNATURE_LEN: usize = 64;

/// `H_tck(parts...) = SHA-256("H_TCK" ‖ parts...)`.
fn h_tck(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new_with_prefix(H_TCK);
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The report authorization key `rak`: an Ed25519 signing key kept as its 32-byte seed.
///
/// `Debug` shows only the public `rvk`, never the seed.
pub struct ReportAuthorizationKey {
    signing: SigningKey,
}

impl ReportAuthorizationKey {
    /// The key whose Ed25519 seed is `seed` (randomness is the caller's job).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The report verification key `rvk` (the Ed25519 public key).
    pub fn verification_key(&self) -> ReportVerificationKey {
        ReportVerificationKey(self.signing.verifying_key().to_bytes())
    }

    /// `tck_0 = H_tck(rak_seed)`: the start of the ratchet, which never yields a broadcast TCN.
    pub fn initial_temporary_contact_key(&self) -> TemporaryContactKey {
        TemporaryContactKey {
            index: TcnIndex(0),
            rvk: self.verification_key(),
            bytes: h_tck(&[self.signing.as_bytes()]),
        }
    }

    /// An unsigned report disclosing `j1 ..= j2` of this key's ratchet, with `tck_{j1−1}`
    /// computed by ratcheting from `tck_0`. Sign it with [`SignedReport::sign`].
    pub fn create_report(
        &self,
        j1: TcnIndex,
        j2: TcnIndex,
        memo: Memo,
    ) -> Result<Report, TcnError> {
        let mut tck = self.initial_temporary_contact_key();
        let before_first = j1.0.checked_sub(1).ok_or(TcnError::ZeroFirstIndex)?;
        while tck.index.0 < before_first {
            // `before_first` ≤ 65534, so the ratchet always has a next key here.
            match tck.ratchet() {
                Some(next) => tck = next,
                None => break,
            }
        }
        Report::new(tck.rvk, tck.bytes, j1, j2, memo)
    }
}

impl fmt::Debug for ReportAuthorizationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportAuthorizationKey")
            .field("rvk", &self.verification_key())
            .finish_non_exhaustive()
    }
}

/// The report verification key `rvk`: 32 bytes of an Ed25519 public key, as carried in reports.
///
/// Any 32 bytes can be held; whether they are a valid point is checked when verifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportVerificationKey(pub [u8; 32]);

/// A temporary contact key `tck_i` of one `rvk`'s ratchet.
///
/// `Debug` hides the key bytes: until reported, they link every later TCN of the device.
#[derive(Clone, PartialEq, Eq)]
pub struct TemporaryContactKey {
    index: TcnIndex,
    rvk: ReportVerificationKey,
    bytes: [u8; 32],
}

impl TemporaryContactKey {
    /// Its index `i`.
    pub fn index(&self) -> TcnIndex {
        self.index
    }

    /// The 32 key bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// `tck_{i+1} = H_tck(rvk ‖ tck_i)`, or `None` at index 65535 (rotate `rak` instead).
    pub fn ratchet(&self) -> Option<TemporaryContactKey> {
        Some(TemporaryContactKey {
            index: TcnIndex(self.index.0.checked_add(1)?),
            rvk: self.rvk,
            bytes: h_tck(&[&self.rvk.0, &self.bytes]),
        })
    }

    /// `tcn_i = H_tcn(u16_LE(i) ‖ tck_i)`, or `None` for `tck_0`, which never makes a TCN.
    pub fn tcn(&self) -> Option<Tcn> {
        if self.index.0 == 0 {
            return None;
        }
        let digest: [u8; 32] = Sha256::new_with_prefix(H_TCN)
            .chain_update(self.index.0.to_le_bytes())
            .chain_update(self.bytes)
            .finalize()
            .into();
        let mut tcn = [0u8; 16];
        tcn.copy_from_slice(&digest[..16]);
        Some(Tcn(tcn))
    }
}

impl fmt::Debug for TemporaryContactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemporaryContactKey")
            .field("index", &self.index)
            .field("rvk", &self.rvk)
            .finish_non_exhaustive()
    }
}

/// A report's memo type. Every value is kept: unknown ones as [`MemoType::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoType {
    /// `0x00`: CoEpi symptom report v1.
    CoEpi,
    /// `0x01`: Covid Watch test result v1.
    CovidWatch,
    /// `0x02`: ito report v1.
    Ito,
    /// `0x03`: HutchTrace.
    HutchTrace,
    /// `0xff`: reserved for extending beyond 256 types.
    Reserved,
    /// Any other value (`0x04..=0xfe`, allocated to applications); never a known value when
    /// produced by `From<u8>`.
    Other(u8),
}

impl MemoType {
    /// A short stable name: `coepi`, `covid-watch`, `ito`, `hutch-trace`, `reserved` or `other`.
    pub fn name(self) -> &'static str {
        match self {
            MemoType::CoEpi => "coepi",
            MemoType::CovidWatch => "covid-watch",
            MemoType::Ito => "ito",
            MemoType::HutchTrace => "hutch-trace",
            MemoType::Reserved => "reserved",
            MemoType::Other(_) => "other",
        }
    }
}

impl From<u8> for MemoType {
    fn from(code: u8) -> Self {
        match code {
            0x00 => MemoType::CoEpi,
            0x01 => MemoType::CovidWatch,
            0x02 => MemoType::Ito,
            0x03 => MemoType::HutchTrace,
            0xff => MemoType::Reserved,
            other => MemoType::Other(other),
        }
    }
}

impl From<MemoType> for u8 {
    fn from(memo_type: MemoType) -> u8 {
        match memo_type {
            MemoType::CoEpi => 0x00,
            MemoType::CovidWatch => 0x01,
            MemoType::Ito => 0x02,
            MemoType::HutchTrace => 0x03,
            MemoType::Reserved => 0xff,
            MemoType::Other(code) => code,
        }
    }
}

/// A report memo: a type and 0..=255 bytes of data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memo {
    memo_type: MemoType,
    data: Vec<u8>,
}

impl Memo {
    /// A memo, or [`TcnError::MemoTooLong`] when `data` exceeds 255 bytes.
    pub fn new(memo_type: MemoType, data: Vec<u8>) -> Result<Self, TcnError> {
        if u8::try_from(data.len()).is_err() {
            return Err(TcnError::MemoTooLong { len: data.len() });
        }
        Ok(Self { memo_type, data })
    }

    /// The memo type.
    pub fn memo_type(&self) -> MemoType {
        self.memo_type
    }

    /// The memo data (at most 255 bytes).
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

/// An unsigned TCN report (layout §b.2). Holding one proves nothing about who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    rvk: ReportVerificationKey,
    tck_before_first: [u8; 32],
    j1: TcnIndex,
    j2: TcnIndex,
    memo: Memo,
}

impl Report {
    /// A report from its fields; `tck_before_first` is `tck_{j1−1}`. Fails if `j1` is 0.
    pub fn new(
        rvk: ReportVerificationKey,
        tck_before_first: [u8; 32],
        j1: TcnIndex,
        j2: TcnIndex,
        memo: Memo,
    ) -> Result<Self, TcnError> {
        if j1.0 == 0 {
            return Err(TcnError::ZeroFirstIndex);
        }
        Ok(Self {
            rvk,
            tck_before_first,
            j1,
            j2,
            memo,
        })
    }

    /// Decodes exactly one unsigned report (`70 + L` bytes, e.g. signature-stripped).
    pub fn decode(bytes: &[u8]) -> Result<Self, TcnError> {
        let mut reader = Reader::new(bytes);
        let report = Self::read(&mut reader)?;
        reader.expect_end("TCN report")?;
        Ok(report)
    }

    /// Reads the report fields, leaving anything after the memo data unread.
    fn read(reader: &mut Reader<'_>) -> Result<Self, TcnError> {
        let rvk = ReportVerificationKey(reader.array("rvk")?);
        let tck_before_first = reader.array("tck_{j1-1}")?;
        let j1 = TcnIndex(reader.u16_le("j1")?);
        let j2 = TcnIndex(reader.u16_le("j2")?);
        let memo_type = MemoType::from(reader.u8("memo type")?);
        let len = reader.u8("memo length")?;
        let data = reader.take(usize::from(len), "memo data")?.to_vec();
        Self::new(rvk, tck_before_first, j1, j2, Memo { memo_type, data })
    }

    /// The unsigned report bytes (`70 + L`), exactly what the signature covers.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(REPORT_HEADER_LEN + self.memo.data.len());
        out.extend_from_slice(&self.rvk.0);
        out.extend_from_slice(&self.tck_before_first);
        out.extend_from_slice(&self.j1.0.to_le_bytes());
        out.extend_from_slice(&self.j2.0.to_le_bytes());
        out.push(u8::from(self.memo.memo_type));
        // `Memo` guarantees at most 255 bytes.
        out.push(u8::try_from(self.memo.data.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.memo.data);
        out
    }

    /// The report verification key `rvk`.
    pub fn rvk(&self) -> ReportVerificationKey {
        self.rvk
    }

    /// `tck_{j1−1}`, the key before the first disclosed one.
    pub fn tck_before_first(&self) -> &[u8; 32] {
        &self.tck_before_first
    }

    /// The first covered index (at least 1).
    pub fn j1(&self) -> TcnIndex {
        self.j1
    }

    /// The last covered index (inclusive).
    pub fn j2(&self) -> TcnIndex {
        self.j2
    }

    /// The memo.
    pub fn memo(&self) -> &Memo {
        &self.memo
    }

    /// The TCNs this report covers, `tcn_{j1} ..= tcn_{j2}` (empty if `j2 < j1`), recomputed
    /// lazily from `tck_{j1−1}`. `tcn_{j1−1}` is not covered.
    pub fn covered_tcns(&self) -> CoveredTcns {
        CoveredTcns {
            current: TemporaryContactKey {
                index: TcnIndex(self.j1.0.saturating_sub(1)),
                rvk: self.rvk,
                bytes: self.tck_before_first,
            },
            last: self.j2,
        }
    }
}

/// Iterator over the `(index, tcn)` pairs a report covers; see [`Report::covered_tcns`].
#[derive(Debug, Clone)]
pub struct CoveredTcns {
    current: TemporaryContactKey,
    last: TcnIndex,
}

impl Iterator for CoveredTcns {
    type Item = (TcnIndex, Tcn);

    fn next(&mut self) -> Option<Self::Item> {
        if self.current.index >= self.last {
            return None;
        }
        self.current = self.current.ratchet()?;
        Some((self.current.index, self.current.tcn()?))
    }
}

/// A report with its 64-byte Ed25519 signature, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReport {
    report: Report,
    signature: [u8; 64],
}

impl SignedReport {
    /// Signs `report` with `rak` (deterministic RFC 8032). Fails if `rak` is not the key of the
    /// report's `rvk`.
    pub fn sign(rak: &ReportAuthorizationKey, report: Report) -> Result<Self, TcnError> {
        if rak.verification_key() != report.rvk {
            return Err(TcnError::KeyMismatch);
        }
        let signature = rak.signing.sign(&report.to_bytes()).to_bytes();
        Ok(Self { report, signature })
    }

    /// Decodes exactly one signed report: `70 + L + 64` bytes, nothing missing or trailing.
    pub fn decode(bytes: &[u8]) -> Result<Self, TcnError> {
        let mut reader = Reader::new(bytes);
        let report = Report::read(&mut reader)?;
        let signature = reader.array::<SIGNATURE_LEN>("signature")?;
        reader.expect_end("signed TCN report")?;
        Ok(Self { report, signature })
    }

    /// The signed report bytes: the unsigned report followed by the signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.report.to_bytes();
        out.extend_from_slice(&self.signature);
        out
    }

    /// The report as claimed, unverified.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The 64 signature bytes.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// Verifies the signature with the embedded `rvk` over exactly the unsigned report bytes
    /// (strict Ed25519: small-order keys and non-canonical signatures are rejected).
    pub fn verify(self) -> Result<VerifiedReport, TcnError> {
        let key =
            VerifyingKey::from_bytes(&self.report.rvk.0).map_err(|_| TcnError::BadPublicKey)?;
        key.verify_strict(
            &self.report.to_bytes(),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| TcnError::BadSignature)?;
        Ok(VerifiedReport(self))
    }
}

/// A signed report whose signature verified; only [`SignedReport::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReport(SignedReport);

impl VerifiedReport {
    /// The verified report.
    pub fn report(&self) -> &Report {
        &self.0.report
    }

    /// The signed report, e.g. to forward its bytes.
    pub fn signed(&self) -> &SignedReport {
        &self.0
    }
}
