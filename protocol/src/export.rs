//! GAEN export files: export.bin and export.sig in a zip, signed with ECDSA P-256.
//! (Being built: see formats.md §d.)
