//! The diagnosis key model and the upload (publish) validation rules of formats.md §e.
//!
//! A [`DiagnosisKey`] is one TEK with what every format enmesh speaks (GAEN export, Google
//! federation, EFGS) says about it. [`validate_upload`] turns the raw keys of one publish request
//! into diagnosis keys, or names every rule they break with the index of the offending key.
//!
//! This module never reads a clock (`now` is an argument), and under the default strict policy it
//! never hands back a single key from an upload that broke any rule.

use crate::gaen::Tek;
use crate::interval::{INTERVAL_SECONDS, IntervalNumber, RollingPeriod, TEK_ROLLING_PERIOD};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::Range;
use std::time::Duration;
use thiserror::Error;

/// How a diagnosis was established (GAEN export, EFGS and Google federation share these numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReportType {
    /// Not known.
    Unknown = 0,
    /// A positive test.
    ConfirmedTest = 1,
    /// A clinical diagnosis without a test.
    ConfirmedClinicalDiagnosis = 2,
    /// Reported by the user.
    SelfReport = 3,
    /// Recursive (contact of a case).
    Recursive = 4,
    /// The key was revoked.
    Revoked = 5,
}

impl ReportType {
    /// The wire number.
    pub fn number(self) -> i32 {
        self as i32
    }

    /// From a wire number; `None` for numbers no format defines.
    pub fn from_number(n: i32) -> Option<Self> {
        Some(match n {
            0 => Self::Unknown,
            1 => Self::ConfirmedTest,
            2 => Self::ConfirmedClinicalDiagnosis,
            3 => Self::SelfReport,
            4 => Self::Recursive,
            5 => Self::Revoked,
            _ => return None,
        })
    }
}

/// The report type a verification certificate claims (`reportType`), the only source of a publish
/// request's report type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerifiedReportType {
    /// `confirmed`: a positive test.
    Confirmed,
    /// `likely`: a clinical diagnosis.
    Likely,
    /// `negative`: a negative test; only ever a revision, never new keys.
    Negative,
    /// `user-report`: self-reported.
    UserReport,
}

impl VerifiedReportType {
    /// The claim text.
    pub fn claim(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Likely => "likely",
            Self::Negative => "negative",
            Self::UserReport => "user-report",
        }
    }

    /// From the claim text (exact, lower case); `None` for anything else.
    pub fn from_claim(claim: &str) -> Option<Self> {
        Some(match claim {
            "confirmed" => Self::Confirmed,
            "likely" => Self::Likely,
            "negative" => Self::Negative,
            "user-report" => Self::UserReport,
            _ => return None,
        })
    }

    /// The report type stored and exported for keys with this claim.
    pub fn report_type(self) -> ReportType {
        match self {
            Self::Confirmed => ReportType::ConfirmedTest,
            Self::Likely => ReportType::ConfirmedClinicalDiagnosis,
            Self::Negative => ReportType::Revoked,
            Self::UserReport => ReportType::SelfReport,
        }
    }

    /// The transmission risk an unset (0) key gets: confirmed 2, likely 4, negative 6.
    /// User reports keep 0 (the Google server defines 5 for them but never applies it).
    pub fn backfill_transmission_risk(self) -> TransmissionRisk {
        TransmissionRisk(match self {
            Self::Confirmed => 2,
            Self::Likely => 4,
            Self::Negative => 6,
            Self::UserReport => 0,
        })
    }
}

/// A transmission risk level, 0..=8. In the publish API 0 means "not set".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransmissionRisk(u8);

impl TransmissionRisk {
    /// "Not set".
    pub const UNSET: Self = Self(0);
    /// The highest level.
    pub const MAX: u8 = 8;
    /// EFGS's `transmissionRiskLevel` for "not provided".
    pub const EFGS_NOT_PROVIDED: i32 = 0x7FFF_FFFF;

    /// Checks `0 ≤ value ≤ 8`.
    pub fn new(value: i64) -> Result<Self, TransmissionRiskError> {
        u8::try_from(value)
            .ok()
            .filter(|v| *v <= Self::MAX)
            .map(Self)
            .ok_or(TransmissionRiskError(value))
    }

    /// From an EFGS level: 0..=8, or [`Self::EFGS_NOT_PROVIDED`], which becomes [`Self::UNSET`].
    pub fn from_efgs(level: i32) -> Result<Self, TransmissionRiskError> {
        if level == Self::EFGS_NOT_PROVIDED {
            Ok(Self::UNSET)
        } else {
            Self::new(i64::from(level))
        }
    }

    /// The level.
    pub fn get(self) -> u8 {
        self.0
    }

    /// This level, or the report type's backfill value if this one is unset.
    pub fn backfilled(self, report: VerifiedReportType) -> Self {
        if self == Self::UNSET {
            report.backfill_transmission_risk()
        } else {
            self
        }
    }
}

/// A transmission risk outside 0..=8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("transmission risk {0} is outside 0..=8")]
pub struct TransmissionRiskError(pub i64);

/// Days from symptom onset to the key's day, as the formats carry it.
///
/// −14..=14 is a known onset day. EFGS also encodes, each ±14 around a centre (formats.md §g.2,
/// unverified): `n·100` (n = 1..=19) an onset range of n days, 2000 unknown onset, 3000
/// asymptomatic, 4000 symptom status unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DaysSinceOnset(i32);

impl DaysSinceOnset {
    /// The largest |days| of a known onset.
    pub const MAX_KNOWN: i32 = 14;

    /// Checks that `value` lies within ±14 of 0, `n·100` (n = 1..=19), 2000, 3000 or 4000.
    pub fn new(value: i32) -> Result<Self, DaysSinceOnsetError> {
        let v = i64::from(value);
        let rem = v.rem_euclid(100);
        let centre = if rem <= 14 {
            v - rem
        } else if rem >= 86 {
            v - rem + 100
        } else {
            return Err(DaysSinceOnsetError(value));
        };
        if (0..=2000).contains(&centre) || centre == 3000 || centre == 4000 {
            Ok(Self(value))
        } else {
            Err(DaysSinceOnsetError(value))
        }
    }

    /// A known onset `days` ago (−14..=14); `None` outside that range.
    pub fn known(days: i64) -> Option<Self> {
        i32::try_from(days)
            .ok()
            .filter(|d| d.abs() <= Self::MAX_KNOWN)
            .map(Self)
    }

    /// The wire value.
    pub fn get(self) -> i32 {
        self.0
    }

    /// The day offset when the onset day is known (−14..=14), `None` for the EFGS encodings.
    pub fn known_days(self) -> Option<i32> {
        (self.0.abs() <= Self::MAX_KNOWN).then_some(self.0)
    }
}

/// A days-since-onset value no format defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("days since onset {0} is neither within ±14 nor a known EFGS encoding")]
pub struct DaysSinceOnsetError(pub i32);

/// One diagnosis key: a TEK of an infected person and what is known about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DiagnosisKey {
    /// The key.
    pub key: Tek,
    /// First interval of validity.
    pub rolling_start: IntervalNumber,
    /// Number of intervals of validity.
    pub rolling_period: RollingPeriod,
    /// Transmission risk (after any backfill).
    pub transmission_risk: TransmissionRisk,
    /// How the diagnosis was established.
    pub report_type: ReportType,
    /// Days since symptom onset, when known or encoded.
    pub days_since_onset: Option<DaysSinceOnset>,
}

impl DiagnosisKey {
    /// The first interval after validity (`start + period`; saturates at the end of the u32 range).
    pub fn end_interval(&self) -> IntervalNumber {
        IntervalNumber(
            self.rolling_start
                .0
                .saturating_add(self.rolling_period.get()),
        )
    }

    /// The intervals during which the key was broadcast.
    pub fn validity(&self) -> Range<IntervalNumber> {
        self.rolling_start..self.end_interval()
    }

    /// Whether the key is still in use at `now` (unix seconds): such a key is embargoed (rule 6).
    pub fn still_valid_at(&self, now: u64) -> bool {
        now < self.publishable_from()
    }

    /// The earliest unix time at which the key may be published: the end of its validity.
    pub fn publishable_from(&self) -> u64 {
        self.end_interval().unix_seconds()
    }
}

/// A key's data as the request carried it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyData {
    /// Base64 text (the JSON publish API); kept as sent, because the `tekmac` covers the text.
    Base64(String),
    /// Raw bytes (binary transports).
    Bytes(Vec<u8>),
}

impl KeyData {
    /// The base64 text: as sent, or the standard encoding of the bytes.
    pub fn to_base64(&self) -> Cow<'_, str> {
        match self {
            Self::Base64(text) => Cow::Borrowed(text),
            Self::Bytes(bytes) => Cow::Owned(STANDARD.encode(bytes)),
        }
    }

    /// The TEK, or the violation of key `index`.
    fn decode(&self, index: usize) -> Result<Tek, Violation> {
        let decoded;
        let bytes: &[u8] = match self {
            Self::Bytes(bytes) => bytes,
            Self::Base64(text) => {
                decoded = STANDARD
                    .decode(text)
                    .map_err(|_| Violation::KeyNotBase64 { index })?;
                &decoded
            }
        };
        <[u8; 16]>::try_from(bytes)
            .map(Tek)
            .map_err(|_| Violation::KeyLength {
                index,
                len: bytes.len(),
            })
    }
}

/// One key of a publish request, unchecked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadKey {
    /// The key data.
    pub key: KeyData,
    /// `rollingStartNumber`.
    pub rolling_start: i64,
    /// `rollingPeriod`.
    pub rolling_period: i64,
    /// `transmissionRisk` (0 when absent).
    pub transmission_risk: i64,
}

/// What a publish request says about its keys, unchecked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upload {
    /// The keys, in request order (violations name keys by their index here).
    pub keys: Vec<UploadKey>,
    /// The request's `symptomOnsetInterval`, if present.
    pub symptom_onset_interval: Option<i64>,
    /// The certificate's symptom onset interval, if it has one.
    pub certificate_onset_interval: Option<i64>,
    /// The certificate's report type.
    pub report_type: VerifiedReportType,
}

/// What happens to an upload with violations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Any violation rejects the whole upload (enmesh's default).
    #[default]
    Strict,
    /// The Google server's partial success: keys failing a per-key rule are dropped, the rest are
    /// kept; request-level rules (count, report type, overlap, same start, duplicates) still
    /// reject, and so does an upload left with no keys.
    DropInvalidKeys,
}

/// Limits of upload validation; `Default` holds the Google key server's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationConfig {
    /// `MAX_KEYS_ON_PUBLISH` (default 30).
    pub max_keys: usize,
    /// `MAX_INTERVAL_AGE_ON_PUBLISH` (default 360 h).
    pub max_interval_age: Duration,
    /// `MAX_SYMPTOM_ONSET_DAYS` (default 14): the largest |days since onset| kept (at most 14).
    pub max_symptom_onset_days: u32,
    /// `MAX_VALID_SYMPTOM_ONSET_REPORT_DAYS` (default 28): how old a claimed onset may be.
    pub max_valid_symptom_onset_report_days: u32,
    /// `DEFAULT_SYMPTOM_ONSET_DAYS_AGO` (default 4): the onset assumed when none is usable.
    pub default_symptom_onset_days_ago: u32,
    /// `MAX_SAME_START_INTERVAL_KEYS` (default 3).
    pub max_same_start_interval_keys: usize,
    /// Strict (the default) or partial success.
    pub policy: Policy,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            max_keys: 30,
            max_interval_age: Duration::from_secs(360 * 3600),
            max_symptom_onset_days: 14,
            max_valid_symptom_onset_report_days: 28,
            default_symptom_onset_days_ago: 4,
            max_same_start_interval_keys: 3,
            policy: Policy::Strict,
        }
    }
}

/// One broken upload rule. Per-key rules carry the key's index in the request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Violation {
    /// The upload has no keys or too many (rule 1).
    #[error("upload has {count} keys; 1..={max} are allowed")]
    KeyCount {
        /// Keys in the upload.
        count: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The certificate's report type is `negative`, which is never stored as new keys (rule 5).
    #[error("report type `negative` is never stored as new keys")]
    NegativeReport,
    /// The key text is not standard padded base64.
    #[error("key {index}: key data is not standard padded base64")]
    KeyNotBase64 {
        /// The key's index.
        index: usize,
    },
    /// The key data is not 16 bytes.
    #[error("key {index}: key data is {len} bytes; a TEK is 16")]
    KeyLength {
        /// The key's index.
        index: usize,
        /// The decoded length.
        len: usize,
    },
    /// `rollingPeriod` is outside 1..=144.
    #[error("key {index}: rollingPeriod {value} is outside 1..=144")]
    RollingPeriod {
        /// The key's index.
        index: usize,
        /// The value sent.
        value: i64,
    },
    /// `transmissionRisk` is outside 0..=8.
    #[error("key {index}: transmissionRisk {value} is outside 0..=8")]
    TransmissionRisk {
        /// The key's index.
        index: usize,
        /// The value sent.
        value: i64,
    },
    /// `rollingStartNumber` is not a non-negative int32.
    #[error("key {index}: rollingStartNumber {value} is outside 0..=2147483647")]
    RollingStartRange {
        /// The key's index.
        index: usize,
        /// The value sent.
        value: i64,
    },
    /// The key starts after the current interval.
    #[error("key {index}: rollingStartNumber {rolling_start} is after the current interval {now}")]
    FutureKey {
        /// The key's index.
        index: usize,
        /// The key's first interval.
        rolling_start: i64,
        /// The interval of `now`.
        now: i64,
    },
    /// The key's validity ended before the oldest accepted interval.
    #[error("key {index}: validity ends at interval {end}, before the oldest accepted {oldest}")]
    KeyTooOld {
        /// The key's index.
        index: usize,
        /// `rollingStartNumber + rollingPeriod`.
        end: i64,
        /// The interval of `now − max_interval_age`.
        oldest: i64,
    },
    /// The key's day is too far from the symptom onset day.
    #[error("key {index}: {days} days since symptom onset; at most ±{max} are allowed")]
    DaysSinceOnset {
        /// The key's index.
        index: usize,
        /// Key start day minus onset day.
        days: i64,
        /// The configured maximum.
        max: u32,
    },
    /// The key overlaps a key with a different start interval.
    #[error("key {index}: validity overlaps key {other}, which starts at a different interval")]
    Overlap {
        /// The key's index.
        index: usize,
        /// The earlier-starting key it overlaps.
        other: usize,
    },
    /// Too many keys share one start interval; `index` is the first key (in request order) past
    /// the limit.
    #[error("key {index}: more than {max} keys start at interval {rolling_start}")]
    SameStartLimit {
        /// The key's index.
        index: usize,
        /// The shared start interval.
        rolling_start: u32,
        /// The configured maximum.
        max: usize,
    },
    /// The key data appears twice.
    #[error("key {index}: same key data as key {first}")]
    DuplicateKey {
        /// The key's index.
        index: usize,
        /// The earlier key with the same data.
        first: usize,
    },
}

impl Violation {
    /// A stable name of the rule, usable as a metric label.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::KeyCount { .. } => "key_count",
            Self::NegativeReport => "negative_report",
            Self::KeyNotBase64 { .. } => "key_base64",
            Self::KeyLength { .. } => "key_length",
            Self::RollingPeriod { .. } => "rolling_period",
            Self::TransmissionRisk { .. } => "transmission_risk",
            Self::RollingStartRange { .. } => "rolling_start",
            Self::FutureKey { .. } => "future_key",
            Self::KeyTooOld { .. } => "key_too_old",
            Self::DaysSinceOnset { .. } => "days_since_onset",
            Self::Overlap { .. } => "overlap",
            Self::SameStartLimit { .. } => "same_start_limit",
            Self::DuplicateKey { .. } => "duplicate_key",
        }
    }

    /// The index of the key at fault, for rules about one key.
    pub fn key_index(&self) -> Option<usize> {
        match self {
            Self::KeyCount { .. } | Self::NegativeReport => None,
            Self::KeyNotBase64 { index }
            | Self::KeyLength { index, .. }
            | Self::RollingPeriod { index, .. }
            | Self::TransmissionRisk { index, .. }
            | Self::RollingStartRange { index, .. }
            | Self::FutureKey { index, .. }
            | Self::KeyTooOld { index, .. }
            | Self::DaysSinceOnset { index, .. }
            | Self::Overlap { index, .. }
            | Self::SameStartLimit { index, .. }
            | Self::DuplicateKey { index, .. } => Some(*index),
        }
    }

    /// Whether the rule judges the request as a whole (so partial success cannot drop a key).
    fn fails_request(&self) -> bool {
        matches!(
            self,
            Self::KeyCount { .. }
                | Self::NegativeReport
                | Self::Overlap { .. }
                | Self::SameStartLimit { .. }
                | Self::DuplicateKey { .. }
        )
    }
}

/// An upload refused as a whole; nothing of it may be stored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "upload rejected: {} violation(s), first: {}",
    .violations.len(),
    first_message(.violations)
)]
pub struct UploadRejected {
    violations: Vec<Violation>,
}

fn first_message(violations: &[Violation]) -> String {
    violations
        .first()
        .map_or_else(String::new, ToString::to_string)
}

impl UploadRejected {
    /// Every violation found (never empty): request-level first, then per-key ones in key order,
    /// then cross-key ones.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }
}

/// Keys that passed validation; only [`validate_upload`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedUpload {
    keys: Vec<DiagnosisKey>,
    dropped: Vec<Violation>,
}

impl ValidatedUpload {
    /// The accepted keys, in request order, with transmission risk backfilled and days since onset
    /// set.
    pub fn keys(&self) -> &[DiagnosisKey] {
        &self.keys
    }

    /// Why keys were dropped ([`Policy::DropInvalidKeys`] only; empty under [`Policy::Strict`]).
    pub fn dropped(&self) -> &[Violation] {
        &self.dropped
    }

    /// The accepted keys.
    pub fn into_keys(self) -> Vec<DiagnosisKey> {
        self.keys
    }
}

const DAY_SECONDS: u64 = 86_400;

/// The interval containing `unix` seconds, as i64 (no u32 limit, so no failure).
fn interval_of(unix: u64) -> i64 {
    i64::try_from(unix / INTERVAL_SECONDS).unwrap_or(i64::MAX)
}

fn days(n: u32) -> u64 {
    u64::from(n) * DAY_SECONDS
}

/// The onset interval used for days since onset (rule 3): the request's if it lies in
/// `[UTC midnight(now − 28 d), now)`, else the certificate's if it does, else `now − 4 days`.
fn onset_interval(upload: &Upload, now: u64, config: &ValidationConfig) -> i64 {
    let earliest = now.saturating_sub(days(config.max_valid_symptom_onset_report_days));
    let earliest = earliest - earliest % DAY_SECONDS;
    let usable = |interval: &i64| {
        interval
            .checked_mul(INTERVAL_SECONDS as i64)
            .and_then(|s| u64::try_from(s).ok())
            .is_some_and(|s| earliest <= s && s < now)
    };
    upload
        .symptom_onset_interval
        .filter(usable)
        .or(upload.certificate_onset_interval.filter(usable))
        .unwrap_or_else(|| {
            interval_of(now.saturating_sub(days(config.default_symptom_onset_days_ago)))
        })
}

/// The time bounds every key is checked against.
struct Bounds {
    now_interval: i64,
    oldest_interval: i64,
    onset_day: i64,
    max_onset_days: u32,
}

/// Checks one key on its own; on success the key with TR backfilled and days since onset set.
fn check_key(
    index: usize,
    raw: &UploadKey,
    bounds: &Bounds,
    report: VerifiedReportType,
) -> Result<DiagnosisKey, Vec<Violation>> {
    let mut found = Vec::new();
    let key = match raw.key.decode(index) {
        Ok(tek) => Some(tek),
        Err(violation) => {
            found.push(violation);
            None
        }
    };
    let period = u32::try_from(raw.rolling_period)
        .ok()
        .and_then(|p| RollingPeriod::new(p).ok());
    if period.is_none() {
        found.push(Violation::RollingPeriod {
            index,
            value: raw.rolling_period,
        });
    }
    let risk = TransmissionRisk::new(raw.transmission_risk).ok();
    if risk.is_none() {
        found.push(Violation::TransmissionRisk {
            index,
            value: raw.transmission_risk,
        });
    }
    let start = i32::try_from(raw.rolling_start)
        .ok()
        .and_then(|s| u32::try_from(s).ok());
    if start.is_none() {
        found.push(Violation::RollingStartRange {
            index,
            value: raw.rolling_start,
        });
    }
    // Time rules need a sane start and period; days since onset needs a key in the time window.
    let mut dsos = None;
    if let (Some(start), Some(period)) = (start, period) {
        let (start64, end) = (i64::from(start), i64::from(start) + i64::from(period.get()));
        if start64 > bounds.now_interval {
            found.push(Violation::FutureKey {
                index,
                rolling_start: start64,
                now: bounds.now_interval,
            });
        } else if end < bounds.oldest_interval {
            found.push(Violation::KeyTooOld {
                index,
                end,
                oldest: bounds.oldest_interval,
            });
        } else {
            let days = i64::from(start / TEK_ROLLING_PERIOD) - bounds.onset_day;
            dsos = (days.unsigned_abs() <= u64::from(bounds.max_onset_days))
                .then(|| DaysSinceOnset::known(days))
                .flatten();
            if dsos.is_none() {
                found.push(Violation::DaysSinceOnset {
                    index,
                    days,
                    max: bounds.max_onset_days,
                });
            }
        }
    }
    match (key, start, period, risk, dsos) {
        (Some(key), Some(start), Some(period), Some(risk), Some(dsos)) if found.is_empty() => {
            Ok(DiagnosisKey {
                key,
                rolling_start: IntervalNumber(start),
                rolling_period: period,
                transmission_risk: risk.backfilled(report),
                report_type: report.report_type(),
                days_since_onset: Some(dsos),
            })
        }
        _ => Err(found),
    }
}

/// Rules across keys that each passed on their own (rule 4 and duplicates).
fn check_across(keys: &[(usize, DiagnosisKey)], config: &ValidationConfig) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut seen: HashMap<Tek, usize> = HashMap::new();
    for (index, key) in keys {
        match seen.entry(key.key) {
            Entry::Occupied(first) => found.push(Violation::DuplicateKey {
                index: *index,
                first: *first.get(),
            }),
            Entry::Vacant(slot) => {
                slot.insert(*index);
            }
        }
    }
    let mut sorted: Vec<&(usize, DiagnosisKey)> = keys.iter().collect();
    sorted.sort_by_key(|(index, k)| (k.rolling_start, k.rolling_period, *index));
    // The furthest end among keys with an earlier start, and the key that reaches it.
    let mut reach: Option<(IntervalNumber, usize)> = None;
    for group in sorted.chunk_by(|a, b| a.1.rolling_start == b.1.rolling_start) {
        let Some((_, head)) = group.first() else {
            continue;
        };
        if let Some((_, other)) = reach.filter(|(end, _)| head.rolling_start < *end) {
            found.extend(group.iter().map(|(index, _)| Violation::Overlap {
                index: *index,
                other,
            }));
        }
        let mut indices: Vec<usize> = group.iter().map(|(index, _)| *index).collect();
        indices.sort_unstable();
        if let Some(index) = indices.get(config.max_same_start_interval_keys) {
            found.push(Violation::SameStartLimit {
                index: *index,
                rolling_start: head.rolling_start.0,
                max: config.max_same_start_interval_keys,
            });
        }
        for (index, key) in group.iter() {
            if reach.is_none_or(|(end, _)| key.end_interval() > end) {
                reach = Some((key.end_interval(), *index));
            }
        }
    }
    found
}

/// Validates the keys of one publish request at `now` (unix seconds), formats.md §e rules 1–5.
///
/// Returns every violation found, not just the first. A key count outside `1..=max_keys` is
/// reported alone (the keys are not looked at). Cross-key rules (overlap, same start, duplicates)
/// only consider keys that passed every per-key rule, as the Google server does, so one bad field
/// gives one violation. Revision tokens (rule 7) and the embargo (rule 6, see
/// [`DiagnosisKey::still_valid_at`]) are the caller's.
pub fn validate_upload(
    upload: &Upload,
    now: u64,
    config: &ValidationConfig,
) -> Result<ValidatedUpload, UploadRejected> {
    let count = upload.keys.len();
    if count == 0 || count > config.max_keys {
        return Err(UploadRejected {
            violations: vec![Violation::KeyCount {
                count,
                max: config.max_keys,
            }],
        });
    }
    let mut violations = Vec::new();
    if upload.report_type == VerifiedReportType::Negative {
        violations.push(Violation::NegativeReport);
    }
    let bounds = Bounds {
        now_interval: interval_of(now),
        oldest_interval: interval_of(now.saturating_sub(config.max_interval_age.as_secs())),
        onset_day: onset_interval(upload, now, config).div_euclid(i64::from(TEK_ROLLING_PERIOD)),
        max_onset_days: config.max_symptom_onset_days,
    };
    let mut accepted = Vec::with_capacity(count);
    for (index, raw) in upload.keys.iter().enumerate() {
        match check_key(index, raw, &bounds, upload.report_type) {
            Ok(key) => accepted.push((index, key)),
            Err(found) => violations.extend(found),
        }
    }
    violations.extend(check_across(&accepted, config));
    let keep = match config.policy {
        Policy::Strict => violations.is_empty(),
        Policy::DropInvalidKeys => {
            !accepted.is_empty() && !violations.iter().any(Violation::fails_request)
        }
    };
    if keep {
        Ok(ValidatedUpload {
            keys: accepted.into_iter().map(|(_, key)| key).collect(),
            dropped: violations,
        })
    } else {
        Err(UploadRejected { violations })
    }
}
