//! GAEN (Apple/Google Exposure Notification) key schedule, metadata and matching window.
//! (Being built: see formats.md §a.)

/// A Temporary Exposure Key: 16 random bytes, valid for one rolling period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tek(pub [u8; 16]);

/// A Rolling Proximity Identifier, broadcast for one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rpi(pub [u8; 16]);

/// Associated Encrypted Metadata: the 4 metadata bytes encrypted under the AEMK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aem(pub [u8; 4]);
