//! RFC 9162 Merkle trees: leaf and node hashes, inclusion and consistency proofs.
//! (Being built: see formats.md §i.)
