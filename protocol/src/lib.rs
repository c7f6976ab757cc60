//! Pure formats, crypto and validation rules of the exposure-notification systems enmesh speaks.
//!
//! Everything here is a function of its inputs: no I/O, no async, no clock, no global randomness.
//! Time arrives as an [`interval::IntervalNumber`] or unix seconds chosen by the caller; randomness
//! arrives as bytes or as a caller-supplied RNG. Decoders never panic on hostile input: every
//! parser returns an error that names what was wrong.
//!
//! Modules, one concept each:
//! - [`codec`]: the bounded byte reader every binary parser here is built on.
//! - [`interval`]: GAEN ENIntervalNumber and rolling periods.
//! - [`region`]: region and cluster identifiers (ISO 3166-1, states, enterprise sites).
//! - [`gaen`]: GAEN key schedule (TEK → RPIK/AEMK → RPI/AEM), metadata, matching window.
//! - [`tcn`]: TCN Coalition keys, report encoding, signatures and covered TCNs.
//! - [`herald`]: Herald exposure header, payload codes, extended data, Simple and venue payloads.
//! - [`ble`]: BLE advertisement AD structures and the service data of GAEN, TCN and Herald.
//! - [`feed`]: backend feed names (`a2a/<cluster>`, `partial/<region>`), spelled and parsed once.
//! - [`keys`]: the diagnosis key model and the upload validation rules.
//! - [`publish`]: the Google key server publish API's verification-certificate `tekmac`.
//! - [`export`]: GAEN export files (export.bin / export.sig in a zip, ECDSA P-256).
//! - [`efgs`]: the EU gateway's canonical batch signing bytes.
//! - [`merkle`]: RFC 9162 Merkle tree hashes, inclusion and consistency proofs.
//! - [`checkpoint`]: C2SP signed notes and transparency-log checkpoints.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod ble;
pub mod checkpoint;
pub mod codec;
pub mod efgs;
pub mod export;
pub mod feed;
pub mod gaen;
pub mod herald;
pub mod interval;
pub mod keys;
pub mod merkle;
pub mod publish;
pub mod region;
pub mod tcn;
