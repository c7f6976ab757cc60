//! The agent's own identity, as a phone has one: a Temporary Exposure Key per UTC day (with its
//! 144 RPIs and AEMs carrying the tx power), a TCN report key with its ratchet (a new TCN every
//! [`TCN_ROTATION_SECS`]), and a Herald secret for Simple payloads.
//!
//! Randomness comes from the caller (`fill`: the OS for a real agent, a seeded RNG for the
//! simulation); time is always a parameter. Key material is never printed or `Debug`-formatted.
//! Only TEKs of the last 14 days are kept; [`Identity::upload_keys`] returns exactly those.

use crate::store::{CF_IDENTITY, Store, StoreError};
use crate::{DAY_SECS, RETENTION_DAYS};
use enmesh_protocol::ble::ServiceData;
use enmesh_protocol::gaen::{AemKey, Metadata, RpiKey, Tek};
use enmesh_protocol::herald::{
    ContactId, ExposureHeader, ExtendedData, MatchingKeySchedule, PayloadCode, SecretKey,
    SimplePayload,
};
use enmesh_protocol::interval::{IntervalNumber, TEK_ROLLING_PERIOD};
use enmesh_protocol::tcn::{
    Memo, ReportAuthorizationKey, SignedReport, Tcn, TcnError, TcnIndex, TemporaryContactKey,
};
use std::collections::BTreeMap;

/// How long one TCN is broadcast.
pub const TCN_ROTATION_SECS: u64 = 900;
/// Bytes of a Herald secret key (the code's 2048 bytes).
pub const HERALD_SECRET_BYTES: usize = 2048;
/// The tx power a new identity advertises in its metadata, dBm.
pub const DEFAULT_TX_POWER_DBM: i8 = -8;

const IDENTITY_KEY: &[u8] = b"self";
const IDENTITY_VERSION: u8 = 1;

/// Why the agent's identity could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The data directory failed or holds a damaged identity.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS random number generator failed; no identity was made.
    #[error("the OS random number generator failed: {0}; no identity was made")]
    Random(String),
}

/// A source of random bytes.
pub type Fill<'a> = &'a mut dyn FnMut(&mut [u8]);

/// The agent's keys.
pub struct Identity {
    teks: BTreeMap<u32, Tek>,
    metadata: [u8; 4],
    rak_seed: [u8; 32],
    tcn_epoch_secs: u64,
    herald_header: ExposureHeader,
    herald_secret: Vec<u8>,
    herald_schedule: Option<MatchingKeySchedule>,
    tck_cache: Option<TemporaryContactKey>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("days", &self.teks.len())
            .field("tx_power_dbm", &self.tx_power_dbm())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A new identity created at `now_secs`, advertising `tx_power_dbm`, with Herald headers of
    /// ISO numeric `country` (state 0, the national system).
    pub fn generate(fill: Fill<'_>, now_secs: u64, tx_power_dbm: i8, country: u16) -> Self {
        let metadata = metadata_of(tx_power_dbm);
        let mut rak_seed = [0u8; 32];
        fill(&mut rak_seed);
        let mut herald_secret = vec![0u8; HERALD_SECRET_BYTES];
        fill(&mut herald_secret);
        Self {
            teks: BTreeMap::new(),
            metadata,
            rak_seed,
            tcn_epoch_secs: now_secs,
            herald_header: ExposureHeader {
                code: PayloadCode::SIMPLE,
                country,
                state: 0,
            },
            herald_secret,
            herald_schedule: None,
            tck_cache: None,
        }
    }

    /// The metadata every AEM of this identity encrypts (v1.1, low calibration confidence).
    pub fn metadata(&self) -> Option<Metadata> {
        Metadata::from_bytes(self.metadata).ok()
    }

    /// The advertised tx power, dBm.
    pub fn tx_power_dbm(&self) -> i8 {
        i8::from_le_bytes([self.metadata[1]])
    }

    /// The TEK of UTC `day`, made on first use.
    pub fn tek_for_day(&mut self, day: u32, fill: Fill<'_>) -> Tek {
        *self.teks.entry(day).or_insert_with(|| {
            let mut key = [0u8; 16];
            fill(&mut key);
            Tek(key)
        })
    }

    /// Makes the TEK of every day from `first_day` to `last_day` (a phone that was on).
    pub fn ensure_days(&mut self, first_day: u32, last_day: u32, fill: Fill<'_>) {
        for day in first_day..=last_day {
            self.tek_for_day(day, &mut *fill);
        }
    }

    /// The TEK of `day`, if this identity made one.
    pub fn tek_of_day(&self, day: u32) -> Option<Tek> {
        self.teks.get(&day).copied()
    }

    /// The GAEN service data broadcast at `now_secs` (RPI and AEM of that interval).
    pub fn gaen_at(&mut self, now_secs: u64, fill: Fill<'_>) -> Option<ServiceData> {
        let interval = IntervalNumber::from_unix_seconds(now_secs)?;
        let tek = self.tek_for_day(interval.day_number(), fill);
        let rpi = RpiKey::derive(&tek).rpi(interval);
        let aem = AemKey::derive(&tek).encrypt(&rpi, &self.metadata()?);
        Some(ServiceData::Gaen { rpi, aem })
    }

    /// The ratchet index broadcast at `now_secs` (1 from creation on, one step per rotation);
    /// `None` before creation or past index 65535.
    pub fn tcn_index_at(&self, now_secs: u64) -> Option<TcnIndex> {
        let steps = now_secs.checked_sub(self.tcn_epoch_secs)? / TCN_ROTATION_SECS;
        u16::try_from(steps + 1).ok().map(TcnIndex)
    }

    /// The TCN broadcast at `now_secs`.
    pub fn tcn_at(&mut self, now_secs: u64) -> Option<Tcn> {
        let index = self.tcn_index_at(now_secs)?;
        let mut tck = match self.tck_cache.take() {
            Some(cached) if cached.index() <= index => cached,
            _ => ReportAuthorizationKey::from_seed(self.rak_seed).initial_temporary_contact_key(),
        };
        while tck.index() < index {
            tck = tck.ratchet()?;
        }
        let tcn = tck.tcn();
        self.tck_cache = Some(tck);
        tcn
    }

    /// A signed TCN report disclosing the TCNs broadcast from `from_secs` to `to_secs`.
    pub fn tcn_report(
        &self,
        from_secs: u64,
        to_secs: u64,
        memo: Memo,
    ) -> Result<SignedReport, TcnError> {
        let j1 = self.tcn_index_at(from_secs).unwrap_or(TcnIndex(1));
        let j2 = self.tcn_index_at(to_secs).unwrap_or(TcnIndex(u16::MAX));
        let rak = ReportAuthorizationKey::from_seed(self.rak_seed);
        let report = rak.create_report(j1, j2, memo)?;
        SignedReport::sign(&rak, report)
    }

    /// The Herald Simple payload broadcast at `now_secs` (an all-zero contact id outside the
    /// Herald key schedule's 2001 days, as Herald itself sends).
    pub fn herald_at(&mut self, now_secs: u64) -> SimplePayload {
        if self.herald_schedule.is_none() {
            self.herald_schedule = SecretKey::new(&self.herald_secret)
                .ok()
                .map(|secret| MatchingKeySchedule::new(&secret));
        }
        let contact_id = self
            .herald_schedule
            .as_ref()
            .and_then(|schedule| schedule.contact_id_at(now_secs));
        SimplePayload {
            header: self.herald_header,
            contact_id: contact_id.unwrap_or(ContactId::ZERO),
            extended: ExtendedData(Vec::new()),
        }
    }

    /// The TEKs of the 14 days up to `now_secs`'s day (today's included), oldest first:
    /// `(TEK, rolling start, rolling period)`.
    pub fn upload_keys(&self, now_secs: u64) -> Vec<(Tek, IntervalNumber, u32)> {
        let today = day_of(now_secs);
        let first = today.saturating_sub(u32::try_from(RETENTION_DAYS - 1).unwrap_or(13));
        self.teks
            .range(first..=today)
            .map(|(day, tek)| {
                (
                    *tek,
                    IntervalNumber(day.saturating_mul(TEK_ROLLING_PERIOD)),
                    TEK_ROLLING_PERIOD,
                )
            })
            .collect()
    }

    /// Forgets TEKs older than 14 days.
    pub fn sweep(&mut self, now_secs: u64) {
        let first =
            day_of(now_secs).saturating_sub(u32::try_from(RETENTION_DAYS - 1).unwrap_or(13));
        self.teks.retain(|day, _| *day >= first);
    }

    /// Loads the identity stored in `store`, or makes and stores a new one from the OS random
    /// number generator. If the generator fails, nothing is stored: an identity of predictable
    /// keys would be worse than none.
    pub fn load_or_create(
        store: &Store,
        now_secs: u64,
        country: u16,
    ) -> Result<Self, IdentityError> {
        if let Some(bytes) = store.get(CF_IDENTITY, IDENTITY_KEY)? {
            return Ok(Self::decode(&bytes).ok_or_else(|| store.corrupt("identity"))?);
        }
        let mut failure = None;
        let mut os = |buf: &mut [u8]| {
            if let Err(e) = getrandom::fill(buf) {
                failure.get_or_insert(e);
            }
        };
        let identity = Self::generate(&mut os, now_secs, DEFAULT_TX_POWER_DBM, country);
        if let Some(e) = failure {
            return Err(IdentityError::Random(e.to_string()));
        }
        identity.save(store)?;
        Ok(identity)
    }

    /// Stores the identity (synced).
    pub fn save(&self, store: &Store) -> Result<(), StoreError> {
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(store.cf(CF_IDENTITY)?, IDENTITY_KEY, self.encode());
        store.write(batch, true)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + HERALD_SECRET_BYTES + self.teks.len() * 20);
        out.push(IDENTITY_VERSION);
        out.extend_from_slice(&self.tx_power_dbm().to_le_bytes());
        out.extend_from_slice(&self.rak_seed);
        out.extend_from_slice(&self.tcn_epoch_secs.to_le_bytes());
        out.extend_from_slice(&self.herald_header.encode());
        out.extend_from_slice(&self.herald_secret);
        let count = u16::try_from(self.teks.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for (day, tek) in self.teks.iter().take(usize::from(count)) {
            out.extend_from_slice(&day.to_le_bytes());
            out.extend_from_slice(&tek.0);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = enmesh_protocol::codec::Reader::new(bytes);
        if r.u8("version").ok()? != IDENTITY_VERSION {
            return None;
        }
        let tx_power_dbm = i8::from_le_bytes([r.u8("tx").ok()?]);
        let rak_seed = r.array::<32>("rak").ok()?;
        let tcn_epoch_secs = u64::from_le_bytes(r.array::<8>("epoch").ok()?);
        let herald_header =
            ExposureHeader::decode(r.take(ExposureHeader::LEN, "header").ok()?).ok()?;
        let herald_secret = r.take(HERALD_SECRET_BYTES, "secret").ok()?.to_vec();
        let count = r.u16_le("teks").ok()?;
        let mut teks = BTreeMap::new();
        for _ in 0..count {
            let day = r.u32_le("day").ok()?;
            teks.insert(day, Tek(r.array::<16>("tek").ok()?));
        }
        r.expect_end("identity").ok()?;
        Some(Self {
            teks,
            metadata: metadata_of(tx_power_dbm),
            rak_seed,
            tcn_epoch_secs,
            herald_header,
            herald_secret,
            herald_schedule: None,
            tck_cache: None,
        })
    }
}

fn day_of(now_secs: u64) -> u32 {
    u32::try_from(now_secs / DAY_SECS).unwrap_or(u32::MAX)
}

/// Metadata v1.1 (`0x50`) with low calibration confidence (bits 3..2 = `01`) and the tx power.
fn metadata_of(tx_power_dbm: i8) -> [u8; 4] {
    [0x50 | 1 << 2, tx_power_dbm.to_le_bytes()[0], 0, 0]
}
