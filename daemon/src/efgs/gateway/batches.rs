//! Gateway batches over the keys this node holds (its own `local` keys, origin = its region, and
//! the `remote` keys it received from the mesh, partial feeds and EFGS peers): how a day's keys
//! are cut into download batches, their tags, and which are served. A download leaves out the
//! caller's country (EFGS: "minus the caller country's own uploads"), so a member never gets its
//! own uploads back.
//!
//! A gateway batch starts at a remote key and holds the keys after it that arrived in the same
//! [`SLOT_SECS`] slot of the UTC day, at most [`MAX_BATCH_KEYS`]; the next batch starts at the key
//! after it. A batch is served only once its slot has ended, so it never changes after it was
//! first served. Its tag is `yyyyMMdd-N` with N = the first key's second of the day (5 digits)
//! followed by its arrival sequence, so any tag leads straight to its first key.
//!
//! This module never serves a local key (a member's own uploads are local) or a key whose origin
//! has no country (EFGS speaks countries), and never lets a caller's tag choose a position that
//! is not the start of a batch.

use crate::store::{Arrival, RemoteEntry, Result, Store};
use enmesh_protocol::region::RegionId;

/// Keys per gateway batch at most (formats.md §g.7).
pub const MAX_BATCH_KEYS: usize = 5000;
/// The batching interval: keys of one slot form batches once it has ended (EFGS: 300 s).
pub const SLOT_SECS: u64 = 300;
/// Seconds per day.
pub const DAY: u64 = 86_400;

/// A UTC day, as days since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub u64);

impl Day {
    /// The day containing `unix_secs`.
    pub fn of(unix_secs: u64) -> Self {
        Self(unix_secs / DAY)
    }

    /// Its first second.
    pub fn start(self) -> u64 {
        self.0 * DAY
    }

    /// Parses `yyyy-MM-dd`.
    pub fn parse_iso(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year: i32 = text.get(0..4)?.parse().ok()?;
        let month: u8 = text.get(5..7)?.parse().ok()?;
        let day: u8 = text.get(8..10)?.parse().ok()?;
        let month = time::Month::try_from(month).ok()?;
        let date = time::Date::from_calendar_date(year, month, day).ok()?;
        let secs = date.midnight().assume_utc().unix_timestamp();
        u64::try_from(secs).ok().map(Self::of)
    }

    fn date(self) -> Option<time::Date> {
        let secs = i64::try_from(self.start()).ok()?;
        time::OffsetDateTime::from_unix_timestamp(secs)
            .ok()
            .map(|t| t.date())
    }

    /// `yyyy-MM-dd`.
    pub fn iso(self) -> String {
        self.date().map_or_else(String::new, |d| {
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        })
    }

    /// `yyyyMMdd`.
    pub fn compact(self) -> String {
        self.iso().replace('-', "")
    }
}

/// A batch's tag: its day and its first key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchTag {
    /// Its day.
    pub day: Day,
    /// Its first key.
    pub first: Arrival,
}

impl BatchTag {
    /// `yyyyMMdd-N`.
    pub fn text(&self) -> String {
        let second = self.first.unix_secs.saturating_sub(self.day.start());
        format!("{}-{second:05}{}", self.day.compact(), self.first.seq)
    }

    /// Parses a tag this gateway made. `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (date, n) = text.split_once('-')?;
        if date.len() != 8 || n.len() < 6 || n.len() > 26 || !n.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let iso = format!(
            "{}-{}-{}",
            date.get(0..4)?,
            date.get(4..6)?,
            date.get(6..8)?
        );
        let day = Day::parse_iso(&iso)?;
        let second: u64 = n.get(0..5)?.parse().ok()?;
        let seq: u64 = n.get(5..)?.parse().ok()?;
        if second >= DAY {
            return None;
        }
        Some(Self {
            day,
            first: Arrival {
                unix_secs: day.start() + second,
                seq,
            },
        })
    }
}

/// A served gateway batch.
#[derive(Debug, Clone)]
pub struct GatewayBatch {
    /// Its tag.
    pub tag: BatchTag,
    /// Its keys in arrival order (all origins).
    pub keys: Vec<RemoteEntry>,
    /// The next batch of the same day, if one is served already.
    pub next: Option<BatchTag>,
}

/// Why a batch is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotServed {
    /// No (ended) batch that day, or the tag is not a batch start.
    NotFound,
}

fn slot_end(day: Day, at: u64) -> u64 {
    let offset = at.saturating_sub(day.start());
    day.start() + (offset / SLOT_SECS + 1) * SLOT_SECS
}

/// Up to `limit` keys (local as `home`, and remote) of `[from, until)` after `after`.
fn keys_between(
    store: &Store,
    home: &RegionId,
    from: u64,
    until: u64,
    after: Option<Arrival>,
    limit: usize,
) -> Result<Vec<RemoteEntry>> {
    let page = store.keys_arrived(from, until, after, limit)?;
    Ok(page
        .entries
        .into_iter()
        .take(limit)
        .map(|e| RemoteEntry {
            at: e.at,
            key: e.key,
            origin: match e.source {
                crate::store::KeySource::Local => home.clone(),
                crate::store::KeySource::Remote(origin) => origin,
            },
        })
        .collect())
}

/// The first key of `day` after `from` (from the day's start when `None`).
fn first_key(
    store: &Store,
    home: &RegionId,
    day: Day,
    from: Option<Arrival>,
) -> Result<Option<RemoteEntry>> {
    Ok(
        keys_between(store, home, day.start(), day.start() + DAY, from, 1)?
            .into_iter()
            .next(),
    )
}

/// Reads the batch of `day` starting at `tag` (the day's first batch when `None`) at `now`.
pub fn read_batch(
    store: &Store,
    home: &RegionId,
    day: Day,
    tag: Option<BatchTag>,
    now: u64,
) -> Result<std::result::Result<GatewayBatch, NotServed>> {
    let first = match tag {
        None => match first_key(store, home, day, None)? {
            Some(entry) => entry,
            None => return Ok(Err(NotServed::NotFound)),
        },
        Some(tag) => {
            // The key at exactly `tag.first`: read from the position just before it.
            let before = tag.first.seq.checked_sub(1).map(|seq| Arrival {
                unix_secs: tag.first.unix_secs,
                seq,
            });
            let lower = Arrival {
                unix_secs: tag.first.unix_secs,
                seq: tag.first.seq,
            };
            let found = keys_between(store, home, lower.unix_secs, day.start() + DAY, before, 1)?
                .into_iter()
                .next();
            match found {
                Some(entry) if entry.at == tag.first => entry,
                _ => return Ok(Err(NotServed::NotFound)),
            }
        }
    };
    let end = slot_end(day, first.at.unix_secs);
    if now < end {
        return Ok(Err(NotServed::NotFound));
    }
    let mut keys = vec![first.clone()];
    keys.extend(keys_between(
        store,
        home,
        first.at.unix_secs,
        end.min(day.start() + DAY),
        Some(first.at),
        MAX_BATCH_KEYS - 1,
    )?);
    let last = keys.last().map_or(first.at, |e| e.at);
    let next = first_key(store, home, day, Some(last))?
        .filter(|e| now >= slot_end(day, e.at.unix_secs))
        .map(|e| BatchTag { day, first: e.at });
    Ok(Ok(GatewayBatch {
        tag: BatchTag {
            day,
            first: first.at,
        },
        keys,
        next,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn days_and_tags() {
        let day = Day::parse_iso("2026-12-03").unwrap();
        assert_eq!(day.iso(), "2026-12-03");
        assert_eq!(day.compact(), "20261203");
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "26-12-03",
            "2026/12/03",
            "",
            "2026-12-3x",
        ] {
            assert_eq!(Day::parse_iso(bad), None, "{bad}");
        }
        let tag = BatchTag {
            day,
            first: Arrival {
                unix_secs: day.start() + 61,
                seq: 42,
            },
        };
        assert_eq!(tag.text(), "20261203-0006142");
        assert_eq!(BatchTag::parse(&tag.text()), Some(tag));
        for bad in [
            "20261203-1",
            "2026120-000611",
            "20261203-86400",
            "x-000001",
            "20261203-00061x",
        ] {
            assert_eq!(BatchTag::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn tags_round_trip(days in 0u64..40_000, second in 0u64..DAY, seq in any::<u64>()) {
            let day = Day(days);
            let tag = BatchTag { day, first: Arrival { unix_secs: day.start() + second, seq } };
            prop_assert_eq!(BatchTag::parse(&tag.text()), Some(tag));
            prop_assert!(tag.text().len() <= 64);
        }

        #[test]
        fn garbage_tags_and_dates_never_panic(text in ".{0,40}") {
            let _ = BatchTag::parse(&text);
            let _ = Day::parse_iso(&text);
        }
    }
}
