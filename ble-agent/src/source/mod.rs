//! Where sightings come from: one [`Source`] trait, three implementations.
//!
//! - [`replay`]: JSON Lines captures, one sighting a line; a bad line is reported with its line
//!   number and skipped.
//! - [`sim`]: a seeded, reproducible population of agents advertising GAEN (and TCN and Herald
//!   for some) and hearing each other through a path-loss model.
//! - `scan` (cargo feature `scan`): real Linux BLE scanning through BlueZ.
//!
//! A source never stores anything; [`ingest_all`] feeds a source into the contact log.

pub mod replay;
#[cfg(feature = "scan")]
pub mod scan;
pub mod sim;

use crate::contact_log::{FlushStats, Ingest, LogError};
use crate::sighting::Sighting;

/// What a source yields.
#[derive(Debug)]
pub enum Event {
    /// A sighting.
    Sighting(Sighting),
    /// An input the source skipped, with where it was and why.
    Skipped {
        /// Line number (replay) or sequence number (scan) of the bad input.
        position: u64,
        /// Why it was skipped.
        reason: String,
    },
}

/// A stream of sightings.
pub trait Source {
    /// The next event; `None` at the end. Errors that end the source (an unreadable file, a
    /// lost adapter) are reported as the last `Skipped` event before `None`.
    fn next_event(&mut self) -> Option<Event>;
}

/// What [`ingest_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Records and sightings written.
    pub written: FlushStats,
    /// Inputs skipped: (position, reason), the first 100 kept.
    pub skipped: Vec<(u64, String)>,
    /// How many inputs were skipped in all.
    pub skipped_count: u64,
}

/// Reads `source` to its end into `ingest`, flushing at the end.
pub fn ingest_all(
    source: &mut dyn Source,
    ingest: &mut Ingest<'_>,
) -> Result<IngestReport, LogError> {
    let mut report = IngestReport::default();
    while let Some(event) = source.next_event() {
        match event {
            Event::Sighting(sighting) => ingest.add(&sighting)?,
            Event::Skipped { position, reason } => {
                tracing::warn!(position, %reason, "input skipped");
                if report.skipped.len() < 100 {
                    report.skipped.push((position, reason));
                }
                report.skipped_count += 1;
            }
        }
    }
    ingest.flush()?;
    report.written = ingest.totals();
    Ok(report)
}
