//! The Google key server publish API: the verification certificate's `tekmac`.
//! (Being built: see formats.md §e.)
