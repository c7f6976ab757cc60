//! Herald payloads: exposure header, payload codes, extended data, Simple and venue payloads.
//! (Being built: see formats.md §c.)
