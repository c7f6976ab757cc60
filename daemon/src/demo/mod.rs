//! `enmesh demo`: a multi-region mesh on embedded storage, started, exercised and stopped in
//! one command, printing what happened. Nothing external is needed.
//!
//! [`sites`] prepares the regions (PKI, keys, configs); the demo itself drives them only through
//! their public interfaces (HTTP), as an app and an operator would. The demo never reaches into a
//! node's store to make something appear to work. [`edge`] then tells the story at the edge:
//! simulated phones (`ble_agent`) meet, one uploads, another is notified; [`auditor`] ends it:
//! an auditor syncs and cross-checks every node's replication log.

pub mod auditor;
pub mod drive;
pub mod edge;
pub mod file_federation;
pub mod fleet;
pub mod run;
pub mod sites;

pub use run::{DemoError, run};
