//! TCN Coalition protocol: report keys, the TCK/TCN ratchet, reports and signed reports.
//! (Being built: see formats.md §b.)

/// A Temporary Contact Number, broadcast over BLE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tcn(pub [u8; 16]);
