//! Revision tokens of the Google publish API (formats.md §e.7): what a certificate upload gets
//! back, and what a later upload of the same keys with a changed diagnosis must present.
//!
//! Token = standard base64 of `RevisionToken{1 kid, 2 data}`; `data` = a random 12-byte nonce ‖
//! AES-256-GCM(key of `kid`, AAD from config) of `RevisionTokenData{1 repeated RevisableKey{1
//! key bytes, 2 intervalNumber, 3 intervalCount, 4 reportType}}`, padded with all-zero entries to
//! at least [`MIN_ENTRIES`]. Field 4 is an enmesh addition inside the encrypted, server-only
//! data: it lets the transition be checked from the token alone. Tokens are only ever read by
//! the server that issued them (or one sharing its key), so this breaks no client.
//!
//! The rules ([`plan`]): a key already stored may only be uploaded again with a valid token that
//! lists it (`missing_revision_token`, `invalid_revision_token`); a key can be revised once
//! (`key_already_revised`); allowed transitions are likely → confirmed | negative and
//! user-report → confirmed | likely | negative (`invalid_report_type_transition`). Partial
//! revisions are not allowed (`ALLOW_PARTIAL_REVISIONS = false`): either every already-stored key
//! of the upload is revised, or the upload is refused. An unparseable token counts as absent.
//!
//! This module never decrypts with a key it was not configured with, never panics on a token,
//! and decides without I/O (the caller looks the keys up and stores the outcome).

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_protocol::gaen::Tek;
use enmesh_protocol::keys::{DiagnosisKey, ReportType, VerifiedReportType};
use prost::Message;
use thiserror::Error;

/// Least number of entries in a token (all-zero entries pad it).
pub const MIN_ENTRIES: usize = 28;
/// Longest token accepted.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// `RevisionToken`.
#[derive(Clone, PartialEq, Message)]
struct RevisionToken {
    #[prost(string, tag = "1")]
    kid: String,
    #[prost(bytes = "vec", tag = "2")]
    data: Vec<u8>,
}

/// `RevisionTokenData`.
#[derive(Clone, PartialEq, Message)]
struct RevisionTokenData {
    #[prost(message, repeated, tag = "1")]
    revisable_keys: Vec<RevisableKey>,
}

/// `RevisableKey` (+ field 4, see the module doc).
#[derive(Clone, PartialEq, Eq, Hash, Message)]
struct RevisableKey {
    #[prost(bytes = "vec", tag = "1")]
    temporary_exposure_key: Vec<u8>,
    #[prost(int32, tag = "2")]
    interval_number: i32,
    #[prost(int32, tag = "3")]
    interval_count: i32,
    #[prost(int32, tag = "4")]
    report_type: i32,
}

/// A key as a token lists it: which key, and the report type it was stored with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Revisable {
    /// The key.
    pub key: Tek,
    /// Its rolling start.
    pub interval_number: u32,
    /// Its rolling period.
    pub interval_count: u32,
    /// The report type it was stored with.
    pub report_type: ReportType,
}

impl Revisable {
    /// The entry for a stored key.
    pub fn of(key: &DiagnosisKey) -> Self {
        Self {
            key: key.key,
            interval_number: key.rolling_start.0,
            interval_count: key.rolling_period.get(),
            report_type: key.report_type,
        }
    }
}

/// The configured token keys: the current one issues, every one opens.
#[derive(Clone)]
pub struct TokenKeys {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
    aad: Vec<u8>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

/// A token could not be issued (no randomness from the OS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("no randomness for a revision token nonce")]
pub struct IssueError;

impl TokenKeys {
    /// `current` issues tokens; `keys` are (kid, 32-byte AES-256 key); `aad` binds tokens to
    /// this deployment.
    pub fn new(current: &str, keys: &[(String, [u8; 32])], aad: &[u8]) -> Option<Self> {
        let keys: HashMap<String, Aes256Gcm> = keys
            .iter()
            .map(|(kid, k)| (kid.clone(), Aes256Gcm::new(k.into())))
            .collect();
        keys.contains_key(current).then(|| Self {
            current: current.to_owned(),
            keys,
            aad: aad.to_vec(),
        })
    }

    /// A token listing `keys`.
    pub fn issue(&self, keys: &[Revisable]) -> Result<String, IssueError> {
        let mut entries: Vec<RevisableKey> = keys
            .iter()
            .map(|k| RevisableKey {
                temporary_exposure_key: k.key.0.to_vec(),
                interval_number: i32::try_from(k.interval_number).unwrap_or(i32::MAX),
                interval_count: i32::try_from(k.interval_count).unwrap_or(144),
                report_type: k.report_type.number(),
            })
            .collect();
        while entries.len() < MIN_ENTRIES {
            entries.push(RevisableKey {
                temporary_exposure_key: vec![0; 16],
                interval_number: 0,
                interval_count: 0,
                report_type: 0,
            });
        }
        let plain = RevisionTokenData {
            revisable_keys: entries,
        }
        .encode_to_vec();
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| IssueError)?;
        let cipher = self.keys.get(&self.current).ok_or(IssueError)?;
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &self.aad,
                },
            )
            .map_err(|_| IssueError)?;
        let mut data = nonce.to_vec();
        data.extend_from_slice(&sealed);
        Ok(STANDARD.encode(
            RevisionToken {
                kid: self.current.clone(),
                data,
            }
            .encode_to_vec(),
        ))
    }

    /// The keys a token lists; `None` for anything that is not a token of these keys (treated
    /// as no token at all).
    pub fn open(&self, token: &str) -> Option<Vec<Revisable>> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let bytes = STANDARD.decode(token).ok()?;
        let token = RevisionToken::decode(bytes.as_slice()).ok()?;
        let cipher = self.keys.get(&token.kid)?;
        if token.data.len() < 12 {
            return None;
        }
        let (nonce, sealed) = token.data.split_at(12);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &self.aad,
                },
            )
            .ok()?;
        let data = RevisionTokenData::decode(plain.as_slice()).ok()?;
        Some(
            data.revisable_keys
                .iter()
                .filter(|k| k.interval_count != 0)
                .filter_map(|k| {
                    Some(Revisable {
                        key: Tek(k.temporary_exposure_key.as_slice().try_into().ok()?),
                        interval_number: u32::try_from(k.interval_number).ok()?,
                        interval_count: u32::try_from(k.interval_count).ok()?,
                        report_type: ReportType::from_number(k.report_type)?,
                    })
                })
                .collect(),
        )
    }
}

/// Why a revision was refused: each with Google's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RevisionError {
    /// Keys are already stored and no token came.
    #[error("keys of this upload are already stored; a revision token is required")]
    Missing,
    /// A token came but does not list every stored key of the upload.
    #[error("the revision token does not cover the uploaded keys")]
    Invalid,
    /// A key was revised already.
    #[error("a key of this upload was already revised")]
    AlreadyRevised,
    /// The report type may not change this way.
    #[error("report type {from:?} cannot become {to}")]
    Transition {
        /// Stored.
        from: ReportType,
        /// Claimed now.
        to: &'static str,
    },
}

impl RevisionError {
    /// Google's error code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "missing_revision_token",
            Self::Invalid => "invalid_revision_token",
            Self::AlreadyRevised => "key_already_revised",
            Self::Transition { .. } => "invalid_report_type_transition",
        }
    }
}

/// Whether a key stored as `from` may be revised to `to`.
pub fn transition_allowed(from: ReportType, to: VerifiedReportType) -> bool {
    use VerifiedReportType as V;
    match from {
        ReportType::ConfirmedClinicalDiagnosis => matches!(to, V::Confirmed | V::Negative),
        ReportType::SelfReport => matches!(to, V::Confirmed | V::Likely | V::Negative),
        _ => false,
    }
}

/// What is known about an uploaded key that is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Its report type now.
    pub report_type: ReportType,
    /// Whether it was revised already.
    pub revised: bool,
}

/// The decision for one upload: `Ok(n)` = `n` of its keys are revisions of stored keys (0: a
/// fresh upload). `stored[i]` says whether upload key `i` is stored already.
pub fn plan(
    keys: &[DiagnosisKey],
    stored: &[Option<Stored>],
    token: Option<&[Revisable]>,
    claim: VerifiedReportType,
) -> Result<usize, RevisionError> {
    let mut revisions = 0;
    for (key, held) in keys.iter().zip(stored) {
        let Some(held) = held else { continue };
        let token = token.ok_or(RevisionError::Missing)?;
        let listed = token.iter().any(|t| {
            t.key == key.key
                && t.interval_number == key.rolling_start.0
                && t.interval_count == key.rolling_period.get()
        });
        if !listed {
            return Err(RevisionError::Invalid);
        }
        if held.revised {
            return Err(RevisionError::AlreadyRevised);
        }
        if !transition_allowed(held.report_type, claim) {
            return Err(RevisionError::Transition {
                from: held.report_type,
                to: claim.claim(),
            });
        }
        revisions += 1;
    }
    Ok(revisions)
}

/// The keys stored by this backend, for the revision rules: in memory, rebuilt from the store
/// at start (a key that appears twice was revised), updated by every certificate upload. About
/// 40 bytes a key; entries of keys too old to be uploaded again are pruned by [`Self::prune`].
#[derive(Debug, Default)]
pub struct RevisionIndex {
    keys: HashMap<(Tek, u32, u32), Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    stored: Stored,
    /// The certificate (hash) that stored it last (a retry of it is not a revision).
    upload: Option<[u8; 32]>,
}

fn index_key(key: &DiagnosisKey) -> (Tek, u32, u32) {
    (key.key, key.rolling_start.0, key.rolling_period.get())
}

/// Undoes a [`RevisionIndex::reserve`] whose commit failed.
#[derive(Debug)]
pub struct Reservation {
    previous: Vec<((Tek, u32, u32), Option<Entry>)>,
}

impl RevisionIndex {
    /// Adds a key read back from the store, in arrival order.
    pub fn add_stored(&mut self, key: &DiagnosisKey) {
        let revised = self.keys.contains_key(&index_key(key));
        self.keys.insert(
            index_key(key),
            Entry {
                stored: Stored {
                    report_type: key.report_type,
                    revised,
                },
                upload: None,
            },
        );
    }

    /// What is stored of each key, ignoring keys stored by `upload` itself (a retry).
    pub fn stored(&self, keys: &[DiagnosisKey], upload: [u8; 32]) -> Vec<Option<Stored>> {
        keys.iter()
            .map(|k| {
                self.keys
                    .get(&index_key(k))
                    .filter(|e| e.upload != Some(upload))
                    .map(|e| e.stored)
            })
            .collect()
    }

    /// Records `keys` as stored by `upload` (`stored[i]` = the state before: revised if some).
    pub fn reserve(
        &mut self,
        keys: &[DiagnosisKey],
        stored: &[Option<Stored>],
        upload: [u8; 32],
    ) -> Reservation {
        let mut previous = Vec::with_capacity(keys.len());
        for (key, before) in keys.iter().zip(stored) {
            let k = index_key(key);
            let entry = Entry {
                stored: Stored {
                    report_type: key.report_type,
                    revised: before.is_some(),
                },
                upload: Some(upload),
            };
            previous.push((k, self.keys.insert(k, entry)));
        }
        Reservation { previous }
    }

    /// Restores the state before `reservation`.
    pub fn rollback(&mut self, reservation: Reservation) {
        for (k, before) in reservation.previous.into_iter().rev() {
            match before {
                Some(entry) => self.keys.insert(k, entry),
                None => self.keys.remove(&k),
            };
        }
    }

    /// Drops keys whose validity ended before interval `oldest` (they can no longer be
    /// uploaded, so never revised).
    pub fn prune(&mut self, oldest: u32) {
        self.keys
            .retain(|(_, start, period), _| start.saturating_add(*period) >= oldest);
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
    use enmesh_protocol::keys::TransmissionRisk;
    use proptest::prelude::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(
            "k1",
            &[("k1".into(), [1; 32]), ("k0".into(), [2; 32])],
            b"aad",
        )
        .unwrap()
    }

    fn key(n: u8, report_type: ReportType) -> DiagnosisKey {
        DiagnosisKey {
            key: Tek([n; 16]),
            rolling_start: IntervalNumber(2_800_000 + u32::from(n) * 144),
            rolling_period: RollingPeriod::FULL_DAY,
            transmission_risk: TransmissionRisk::UNSET,
            report_type,
            days_since_onset: None,
        }
    }

    #[test]
    fn tokens_round_trip_and_are_padded() {
        let listed = [Revisable::of(&key(1, ReportType::SelfReport))];
        let token = keys().issue(&listed).unwrap();
        assert_eq!(keys().open(&token).unwrap(), listed);
        let raw = RevisionToken::decode(STANDARD.decode(&token).unwrap().as_slice()).unwrap();
        assert_eq!(raw.kid, "k1");
        // 28 entries of ≥ 20 bytes each, sealed.
        assert!(raw.data.len() > 28 * 20, "{}", raw.data.len());
        // Another deployment's key or AAD opens nothing.
        let other = TokenKeys::new("k1", &[("k1".into(), [9; 32])], b"aad").unwrap();
        assert_eq!(other.open(&token), None);
        let other_aad = TokenKeys::new("k1", &[("k1".into(), [1; 32])], b"other").unwrap();
        assert_eq!(other_aad.open(&token), None);
    }

    #[test]
    fn transitions() {
        use VerifiedReportType as V;
        let likely = ReportType::ConfirmedClinicalDiagnosis;
        let user = ReportType::SelfReport;
        let confirmed = ReportType::ConfirmedTest;
        for (from, to, ok) in [
            (likely, V::Confirmed, true),
            (likely, V::Negative, true),
            (likely, V::UserReport, false),
            (likely, V::Likely, false),
            (user, V::Confirmed, true),
            (user, V::Likely, true),
            (user, V::Negative, true),
            (user, V::UserReport, false),
            (confirmed, V::Negative, false),
            (confirmed, V::Likely, false),
        ] {
            assert_eq!(transition_allowed(from, to), ok, "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn plan_rules() {
        let k = key(1, ReportType::ConfirmedTest);
        let held = Some(Stored {
            report_type: ReportType::ConfirmedClinicalDiagnosis,
            revised: false,
        });
        let listed = [Revisable::of(&k)];
        use VerifiedReportType as V;
        assert_eq!(plan(&[k], &[None], None, V::Confirmed), Ok(0));
        assert_eq!(
            plan(&[k], &[held], None, V::Confirmed),
            Err(RevisionError::Missing)
        );
        assert_eq!(
            plan(&[k], &[held], Some(&[]), V::Confirmed),
            Err(RevisionError::Invalid)
        );
        assert_eq!(plan(&[k], &[held], Some(&listed), V::Confirmed), Ok(1));
        let revised = Some(Stored {
            report_type: ReportType::ConfirmedTest,
            revised: true,
        });
        assert_eq!(
            plan(&[k], &[revised], Some(&listed), V::Confirmed),
            Err(RevisionError::AlreadyRevised)
        );
        assert!(matches!(
            plan(&[k], &[held], Some(&listed), V::UserReport),
            Err(RevisionError::Transition { .. })
        ));
    }

    proptest! {
        #[test]
        fn garbage_tokens_open_to_nothing(text in ".{0,200}") {
            prop_assert_eq!(keys().open(&text), None);
        }

        #[test]
        fn garbage_bytes_open_to_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(keys().open(&STANDARD.encode(bytes)), None);
        }
    }
}
