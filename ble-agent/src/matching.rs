//! Matching: downloaded diagnosis keys and TCN reports against the contact log (formats.md §a.5,
//! §b.4), then risk scoring ([`crate::risk`]).
//!
//! The [`Index`] holds the log's GAEN identifiers in a hash map by RPI behind a bit filter (most
//! derived RPIs were never heard, and the filter answers those from a few cache lines), plus the
//! set of intervals in which anything was heard. For each key only the RPIs of intervals within
//! ±2 h of some sighting are derived (a key whose day saw nothing costs one range check and no
//! HKDF); when most of a day is needed, all 144 are derived in one batched AES call
//! (`RpiKey::fill_day_rpis`). A sighting matches RPI_j only if it was heard within ±12 intervals
//! of j. The AEM is decrypted only after a match, to read the sender's tx power.
//!
//! Keys are split over threads with `std::thread::scope`; each thread has its own buffers. This
//! module reads nothing but its arguments and never stores anything.

use crate::contact_log::{Entry, ScanInstance};
use crate::download::DownloadedKey;
use crate::risk::{self, Contact, RiskConfig};
use crate::sighting::Protocol;
use enmesh_protocol::codec::hex_encode;
use enmesh_protocol::gaen::{
    Aem, AemKey, DayRpis, MATCH_TOLERANCE_INTERVALS, Rpi, RpiKey, attenuation_db, sighting_matches,
};
use enmesh_protocol::interval::{IntervalNumber, TEK_ROLLING_PERIOD};
use enmesh_protocol::keys::ReportType;
use enmesh_protocol::region::RegionId;
use enmesh_protocol::tcn::{MemoType, VerifiedReport};
use serde::Serialize;
use std::collections::HashMap;

const INTERVAL_MS: u64 = 600_000;
/// When more than this many of a key's 144 intervals are needed, derive all of them at once.
const BATCH_ABOVE: u32 = 24;

/// What the log heard of one identifier (all its records joined).
#[derive(Debug, Clone)]
pub struct Heard {
    /// Its scan instances, sorted.
    pub instances: Vec<ScanInstance>,
    /// The AEM (GAEN).
    pub aem: [u8; 4],
    /// Where it was heard.
    pub region: RegionId,
}

/// The contact log, indexed for matching.
#[derive(Debug, Default)]
pub struct Index {
    filter: Vec<u64>,
    filter_mask: u64,
    gaen: HashMap<[u8; 16], Heard>,
    tcn: HashMap<[u8; 16], Heard>,
    /// First interval covered by `needed_prefix`.
    base: u32,
    /// `needed_prefix[k]`: intervals in `base .. base + k` within ±12 of a sighting.
    needed_prefix: Vec<u32>,
}

fn filter_bit(rpi: &[u8; 16]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&rpi[..8]);
    u64::from_le_bytes(first)
}

impl Index {
    /// Indexes the GAEN and TCN records of `entries`.
    pub fn build(entries: &[Entry]) -> Self {
        let mut gaen: HashMap<[u8; 16], Heard> = HashMap::new();
        let mut tcn: HashMap<[u8; 16], Heard> = HashMap::new();
        let mut sighted: Vec<u32> = Vec::new();
        for entry in entries {
            let map = match entry.protocol {
                Protocol::Gaen => &mut gaen,
                Protocol::Tcn => &mut tcn,
                _ => continue,
            };
            let Ok(id) = <[u8; 16]>::try_from(entry.identifier.as_slice()) else {
                continue;
            };
            if entry.protocol == Protocol::Gaen {
                for i in &entry.record.instances {
                    let from = u32::try_from(i.start_ms / INTERVAL_MS).unwrap_or(u32::MAX);
                    let to = u32::try_from(i.end_ms / INTERVAL_MS).unwrap_or(u32::MAX);
                    sighted.extend(from..=to);
                }
            }
            let heard = map.entry(id).or_insert_with(|| Heard {
                instances: Vec::new(),
                aem: entry.record.extra,
                region: entry.record.region.clone(),
            });
            heard.instances.extend_from_slice(&entry.record.instances);
        }
        for heard in gaen.values_mut().chain(tcn.values_mut()) {
            heard.instances.sort_by_key(|i| i.start_ms);
        }
        let bits = (gaen.len() as u64 * 64)
            .next_power_of_two()
            .clamp(1 << 16, 1 << 28);
        let mut filter = vec![0u64; usize::try_from(bits / 64).unwrap_or(1 << 10)];
        let filter_mask = bits - 1;
        for rpi in gaen.keys() {
            let bit = filter_bit(rpi) & filter_mask;
            if let Some(word) = filter.get_mut(usize::try_from(bit / 64).unwrap_or(0)) {
                *word |= 1 << (bit % 64);
            }
        }
        let (base, needed_prefix) = needed_intervals(&mut sighted);
        Self {
            filter,
            filter_mask,
            gaen,
            tcn,
            base,
            needed_prefix,
        }
    }

    /// GAEN identifiers indexed.
    pub fn gaen_len(&self) -> usize {
        self.gaen.len()
    }

    /// How many intervals of `[from, to)` are within ±12 of a sighting.
    fn needed_in(&self, from: u32, to: u32) -> u32 {
        let last = self.needed_prefix.len().saturating_sub(1);
        let at = |interval: u32| -> u32 {
            let k = usize::try_from(interval.saturating_sub(self.base)).unwrap_or(usize::MAX);
            self.needed_prefix.get(k.min(last)).copied().unwrap_or(0)
        };
        if self.needed_prefix.is_empty() || to <= self.base {
            return 0;
        }
        at(to) - at(from)
    }

    fn maybe_heard(&self, rpi: &[u8; 16]) -> bool {
        let bit = filter_bit(rpi) & self.filter_mask;
        self.filter
            .get(usize::try_from(bit / 64).unwrap_or(0))
            .is_some_and(|word| word >> (bit % 64) & 1 == 1)
    }

    fn gaen_heard(
        &self,
        rpi: &Rpi,
        interval: IntervalNumber,
    ) -> Option<(&Heard, Vec<ScanInstance>)> {
        if !self.maybe_heard(&rpi.0) {
            return None;
        }
        let heard = self.gaen.get(&rpi.0)?;
        let within: Vec<ScanInstance> = heard
            .instances
            .iter()
            .filter(|i| {
                let seen =
                    IntervalNumber(u32::try_from(i.start_ms / INTERVAL_MS).unwrap_or(u32::MAX));
                sighting_matches(interval, seen)
            })
            .copied()
            .collect();
        (!within.is_empty()).then_some((heard, within))
    }
}

/// The prefix counts of intervals within ±12 of a sighted interval.
fn needed_intervals(sighted: &mut Vec<u32>) -> (u32, Vec<u32>) {
    sighted.sort_unstable();
    sighted.dedup();
    let (Some(&first), Some(&last)) = (sighted.first(), sighted.last()) else {
        return (0, Vec::new());
    };
    let base = first.saturating_sub(MATCH_TOLERANCE_INTERVALS);
    let end = last
        .saturating_add(MATCH_TOLERANCE_INTERVALS)
        .saturating_add(1);
    let len = usize::try_from(end - base).unwrap_or(0);
    // Difference array: +1 at s − 12, −1 at s + 13.
    let mut delta = vec![0i64; len + 1];
    for &s in sighted.iter() {
        let from = usize::try_from(s.saturating_sub(MATCH_TOLERANCE_INTERVALS) - base).unwrap_or(0);
        let to =
            usize::try_from(s.saturating_add(MATCH_TOLERANCE_INTERVALS) + 1 - base).unwrap_or(len);
        if let Some(d) = delta.get_mut(from) {
            *d += 1;
        }
        if let Some(d) = delta.get_mut(to.min(len)) {
            *d -= 1;
        }
    }
    let mut prefix = Vec::with_capacity(len + 1);
    prefix.push(0u32);
    let (mut cover, mut count) = (0i64, 0u32);
    for d in delta.iter().take(len) {
        cover += d;
        if cover > 0 {
            count += 1;
        }
        prefix.push(count);
    }
    (base, prefix)
}

/// One RPI of one key heard in the log.
#[derive(Debug, Clone)]
pub struct GaenMatch {
    /// Index of the key in the matched slice.
    pub key: usize,
    /// The RPI.
    pub rpi: Rpi,
    /// Its interval.
    pub interval: IntervalNumber,
    /// The instances heard within ±2 h of the interval.
    pub instances: Vec<ScanInstance>,
    /// The AEM heard with it.
    pub aem: [u8; 4],
    /// Where it was heard.
    pub region: RegionId,
}

/// Finds every RPI of `keys` heard in `index`, using `threads` threads (at least one).
pub fn match_gaen(index: &Index, keys: &[DownloadedKey], threads: usize) -> Vec<GaenMatch> {
    if index.gaen.is_empty() || keys.is_empty() {
        return Vec::new();
    }
    let threads = threads.clamp(1, 64);
    let per = keys.len().div_ceil(threads);
    if threads == 1 {
        return match_range(index, keys, 0);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = keys
            .chunks(per)
            .enumerate()
            .map(|(n, chunk)| scope.spawn(move || match_range(index, chunk, n * per)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn match_range(index: &Index, keys: &[DownloadedKey], offset: usize) -> Vec<GaenMatch> {
    let mut out = Vec::new();
    let mut day = DayRpis::default();
    for (i, key) in keys.iter().enumerate() {
        let from = key.rolling_start.0;
        let Some(to) = from.checked_add(TEK_ROLLING_PERIOD) else {
            continue;
        };
        let needed = index.needed_in(from, to);
        if needed == 0 {
            continue;
        }
        let rpik = RpiKey::derive(&key.tek);
        let check = |interval: IntervalNumber, rpi: Rpi, out: &mut Vec<GaenMatch>| {
            if let Some((heard, instances)) = index.gaen_heard(&rpi, interval) {
                out.push(GaenMatch {
                    key: offset + i,
                    rpi,
                    interval,
                    instances,
                    aem: heard.aem,
                    region: heard.region.clone(),
                });
            }
        };
        if needed > BATCH_ABOVE {
            if rpik.fill_day_rpis(key.rolling_start, &mut day).is_err() {
                continue;
            }
            for (interval, rpi) in day.iter() {
                check(interval, rpi, &mut out);
            }
        } else {
            for interval in from..to {
                if index.needed_in(interval, interval + 1) == 1 {
                    let interval = IntervalNumber(interval);
                    check(interval, rpik.rpi(interval), &mut out);
                }
            }
        }
    }
    out
}

/// One exposure, as `ble-agent match` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exposure {
    /// `gaen` or `tcn`.
    pub protocol: &'static str,
    /// The TEK (GAEN) or the report's rvk (TCN), hex.
    pub key: String,
    /// First matched sighting, unix seconds.
    pub first_seen: u64,
    /// Time in contact (gaps of at most `max_gap_secs` counted), seconds.
    pub duration_s: u64,
    /// Lowest attenuation of any matched sighting, dB.
    pub min_attenuation_db: u8,
    /// Weighted minutes (risk score).
    pub score: f64,
    /// Where the sightings were made.
    pub region: String,
    /// The feed the key came from (`tcn` for reports).
    pub source: String,
    /// The report type.
    pub report_type: &'static str,
    /// Exposure windows.
    pub windows: usize,
    /// Whether the score reached the threshold.
    pub notify: bool,
}

fn report_type_name(r: ReportType) -> &'static str {
    match r {
        ReportType::Unknown => "unknown",
        ReportType::ConfirmedTest => "confirmed_test",
        ReportType::ConfirmedClinicalDiagnosis => "confirmed_clinical_diagnosis",
        ReportType::SelfReport => "self_report",
        ReportType::Recursive => "recursive",
        ReportType::Revoked => "revoked",
    }
}

fn contacts_of(instances: &[ScanInstance], tx_power_dbm: i8) -> impl Iterator<Item = Contact> + '_ {
    instances.iter().map(move |i| Contact {
        start_ms: i.start_ms,
        end_ms: i.end_ms,
        min_attenuation_db: attenuation_db(tx_power_dbm, i.max_rssi),
        typical_attenuation_db: attenuation_db(tx_power_dbm, i.mean_rssi()),
    })
}

/// What an exposure is about, besides its contacts.
struct About {
    protocol: &'static str,
    key: String,
    region: RegionId,
    source: String,
    report_type: ReportType,
    days_since_onset: Option<i32>,
}

fn exposure(about: About, contacts: &[Contact], config: &RiskConfig) -> Option<Exposure> {
    let windows = risk::windows(contacts, config);
    let first = windows.first()?;
    let score = risk::score(&windows, about.report_type, about.days_since_onset, config);
    Some(Exposure {
        protocol: about.protocol,
        key: about.key,
        first_seen: first.start_ms / 1000,
        duration_s: windows.iter().map(|w| w.duration_ms).sum::<u64>() / 1000,
        min_attenuation_db: windows
            .iter()
            .map(|w| w.min_attenuation_db)
            .min()
            .unwrap_or(u8::MAX),
        score: (score * 100.0).round() / 100.0,
        region: about.region.to_string(),
        source: about.source,
        report_type: report_type_name(about.report_type),
        windows: windows.len(),
        notify: score >= config.threshold_minutes && score > 0.0,
    })
}

/// Scores the matches of each key: one exposure per matched key, in key order.
pub fn gaen_exposures(
    keys: &[DownloadedKey],
    matches: &[GaenMatch],
    config: &RiskConfig,
) -> Vec<Exposure> {
    let mut by_key: std::collections::BTreeMap<usize, Vec<&GaenMatch>> =
        std::collections::BTreeMap::new();
    for m in matches {
        by_key.entry(m.key).or_default().push(m);
    }
    let mut out = Vec::new();
    for (index, found) in by_key {
        let Some(key) = keys.get(index) else {
            continue;
        };
        let aem_key = AemKey::derive(&key.tek);
        let mut contacts = Vec::new();
        for m in &found {
            let tx = aem_key
                .decrypt(&m.rpi, &Aem(m.aem))
                .map_or(config.assumed_tx_power_dbm, |meta| meta.tx_power_dbm());
            contacts.extend(contacts_of(&m.instances, tx));
        }
        let region = found.first().map(|m| m.region.clone());
        if let Some(region) = region
            && let Some(e) = exposure(
                About {
                    protocol: "gaen",
                    key: hex_encode(&key.tek.0),
                    region,
                    source: key.source.to_string(),
                    report_type: key.report_type,
                    days_since_onset: key.days_since_onset,
                },
                &contacts,
                config,
            )
        {
            out.push(e);
        }
    }
    out
}

/// Matches verified TCN reports: the TCNs each covers (j1..=j2) against the log's TCNs.
pub fn tcn_exposures(
    index: &Index,
    reports: &[VerifiedReport],
    config: &RiskConfig,
) -> Vec<Exposure> {
    let mut out = Vec::new();
    if index.tcn.is_empty() {
        return out;
    }
    for verified in reports {
        let report = verified.report();
        let mut contacts = Vec::new();
        let mut region = None;
        for (_, tcn) in report.covered_tcns() {
            if let Some(heard) = index.tcn.get(&tcn.0) {
                region.get_or_insert_with(|| heard.region.clone());
                contacts.extend(contacts_of(&heard.instances, config.assumed_tx_power_dbm));
            }
        }
        let report_type = match report.memo().memo_type() {
            MemoType::CovidWatch => ReportType::ConfirmedTest,
            _ => ReportType::SelfReport,
        };
        if let Some(region) = region
            && let Some(e) = exposure(
                About {
                    protocol: "tcn",
                    key: hex_encode(&report.rvk().0),
                    region,
                    source: "tcn".into(),
                    report_type,
                    days_since_onset: None,
                },
                &contacts,
                config,
            )
        {
            out.push(e);
        }
    }
    out
}
