//! `ble-agent`, the edge of enmesh: Bluetooth sightings in, exposure notifications out.
//!
//! The agent is what a phone is to the system: it records what it hears ([`source`] →
//! [`contact_log`]), broadcasts its own identifiers ([`identity`]), uploads its keys when its
//! user is diagnosed ([`upload`]), follows the public feeds of its home and roaming regions
//! ([`download`], configured by [`config`]), and matches downloaded keys and TCN reports against
//! its log ([`matching`]), scoring what it finds ([`risk`]).
//!
//! It talks to backends only through their public HTTP APIs ([`http`]), never by linking daemon
//! code. Decisions are pure functions of their inputs (time is always a parameter); I/O lives in
//! the thin layers around them. Nothing here panics on outside input.
//!
//! Modules, one concept each:
//! - [`sighting`]: one received advertisement: when, how loud, what, where.
//! - [`source`]: where sightings come from (`replay` JSON Lines, a seeded `sim`, BlueZ `scan`).
//! - [`identity`]: the agent's own daily TEKs with RPIs and AEMs, TCN ratchet, Herald payload.
//! - [`store`]: the agent's RocksDB directory and its column families.
//! - [`contact_log`]: durable, bounded, 14-day contact records per identifier.
//! - [`upload`]: the publish JSON of the last 14 days of TEKs.
//! - [`http`]: a small HTTP/1.1 client (plain or rustls) with bounded bodies.
//! - [`download`]: export zips (signature checked) or the chunked key feed, a cursor per region.
//! - [`matching`]: RPI derivation against an RPI/interval index; TCN report matching.
//! - [`risk`]: GAEN-v2-style exposure windows and scores.
//! - [`config`]: the agent's TOML config (regions, URLs, keys, risk parameters).

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
pub mod contact_log;
pub mod download;
pub mod http;
pub mod identity;
pub mod matching;
pub mod risk;
pub mod sighting;
pub mod source;
pub mod store;
pub mod upload;

/// Seconds in a day.
pub const DAY_SECS: u64 = 86_400;
/// How long the agent keeps sightings, its own keys and downloaded keys: 14 days.
pub const RETENTION_DAYS: u64 = 14;
