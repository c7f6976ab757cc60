//! RFC 9162 Merkle trees (the RFC 6962 hashing): leaf and node hashes, tree heads, inclusion
//! proofs (§2.1.3) and consistency proofs (§2.1.4) for the auditable replication log.
//!
//! Leaves and interior nodes are domain-separated (`0x00` / `0x01` prefixes), so a leaf can never
//! be passed off as a node. Generation recurses over a slice of leaf hashes exactly as the RFC's
//! `MTH`, `PATH` and `PROOF` definitions do; verification follows the RFC's step lists. Nothing
//! here stores leaves durably or trusts a proof it has not checked, and no input size (up to
//! `u64::MAX`) can make it panic: bad proofs are errors that name the cause. [`subtrees`] gives
//! the same roots and proofs for a log too large for memory, from stored perfect-subtree hashes.

use sha2::{Digest, Sha256};
use thiserror::Error;

pub mod subtrees;

/// Prefix of a leaf hash input (RFC 9162 §2.1.1).
const LEAF_PREFIX: u8 = 0x00;
/// Prefix of an interior node hash input (RFC 9162 §2.1.1).
const NODE_PREFIX: u8 = 0x01;

/// The longest proof any tree of at most `u64::MAX` leaves can need; longer proofs are rejected
/// before any hashing.
pub const MAX_PROOF_LEN: usize = 64;

/// A SHA-256 Merkle tree hash: a leaf hash, an interior node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn sha256(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Self(hasher.finalize().into())
    }
}

impl std::fmt::Display for Hash {
    /// Lowercase hex.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// The 0-based position of a leaf in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeafIndex(pub u64);

/// The number of leaves in a tree (a tree head commits to the first `TreeSize` leaves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TreeSize(pub u64);

/// Why a proof could not be generated or did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MerkleError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is out of range for tree size {size}")]
    LeafIndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size it was checked against.
        size: u64,
    },
    /// A tree size larger than the leaves at hand was asked for.
    #[error("tree size {size} exceeds the {available} leaves available")]
    SizeBeyondLeaves {
        /// The tree size asked for.
        size: u64,
        /// How many leaves there are.
        available: u64,
    },
    /// A consistency proof was asked for or checked from a larger tree to a smaller one.
    #[error("first tree size {first} is larger than second tree size {second}")]
    FirstLargerThanSecond {
        /// The older tree's size.
        first: u64,
        /// The newer tree's size.
        second: u64,
    },
    /// The proof has more entries than any tree can need.
    #[error("proof has {len} entries, the limit is {MAX_PROOF_LEN}")]
    ProofOverLimit {
        /// Number of entries in the proof.
        len: usize,
    },
    /// The proof has more entries than these tree sizes need.
    #[error("proof has {len} entries but the tree sizes need only {needed}")]
    ProofTooLong {
        /// Number of entries in the proof.
        len: usize,
        /// Number of entries the sizes need.
        needed: usize,
    },
    /// The proof ran out before reaching the root of the tree.
    #[error("proof has {len} entries, too few for the tree sizes")]
    ProofTooShort {
        /// Number of entries in the proof.
        len: usize,
    },
    /// The proof, applied to the leaf hash (or first root), gives a different root.
    #[error("proof leads to root {computed}, expected {expected}")]
    RootMismatch {
        /// The root the caller expected.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
    /// A consistency proof does not reproduce the first (older) tree's root.
    #[error("consistency proof leads to first root {computed}, expected {expected}")]
    FirstRootMismatch {
        /// The older root the caller expected.
        expected: Hash,
        /// The older root the proof leads to.
        computed: Hash,
    },
    /// Equal tree sizes with different roots: the log forked.
    #[error("equal tree sizes but different roots {first} and {second}")]
    EqualSizeRootsDiffer {
        /// The first root.
        first: Hash,
        /// The second root.
        second: Hash,
    },
    /// A tree's right edge was rebuilt from the wrong number of subtree hashes.
    #[error("a tree of {size} leaves has an edge of {needed} subtrees, {len} were given")]
    EdgeLength {
        /// The tree size.
        size: u64,
        /// How many hashes its edge has.
        needed: usize,
        /// How many were given.
        len: usize,
    },
    /// Equal tree sizes or an empty first tree need an empty consistency proof.
    #[error("consistency proof for these sizes must be empty, it has {len} entries")]
    ProofNotEmpty {
        /// Number of entries in the proof.
        len: usize,
    },
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Hash::sha256(&[])
}

/// A leaf hash: `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Hash::sha256(&[&[LEAF_PREFIX], data])
}

/// An interior node hash: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::sha256(&[&[NODE_PREFIX], &left.0, &right.0])
}

/// Splits `n ≥ 2` leaves at `k`, the largest power of two strictly less than `n`; `None` for
/// fewer than two leaves.
fn split(leaves: &[Hash]) -> Option<(&[Hash], &[Hash])> {
    let last = leaves.len().checked_sub(1).filter(|&last| last > 0)?;
    let k = 1usize << (usize::BITS - 1 - last.leading_zeros());
    leaves.split_at_checked(k)
}

/// `MTH(D[n])` over leaf hashes (RFC 9162 §2.1.1); the empty slice gives [`empty_root`].
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    match split(leaf_hashes) {
        Some((left, right)) => node_hash(&root(left), &root(right)),
        None => leaf_hashes.first().copied().unwrap_or_else(empty_root),
    }
}

/// The inclusion proof `PATH(index, D[n])` (RFC 9162 §2.1.3.1) of leaf `index` in the tree of
/// all of `leaf_hashes`, ordered from the leaf's sibling up to the root's child.
pub fn inclusion_proof(leaf_hashes: &[Hash], index: LeafIndex) -> Result<Vec<Hash>, MerkleError> {
    let size = leaf_hashes.len() as u64;
    let m = usize::try_from(index.0)
        .ok()
        .filter(|&m| m < leaf_hashes.len())
        .ok_or(MerkleError::LeafIndexOutOfRange {
            index: index.0,
            size,
        })?;
    let mut path = Vec::new();
    push_path(m, leaf_hashes, &mut path);
    Ok(path)
}

/// Appends `PATH(m, leaves)` to `out`; requires `m < leaves.len()`.
fn push_path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    let Some((left, right)) = split(leaves) else {
        return;
    };
    if m < left.len() {
        push_path(m, left, out);
        out.push(root(right));
    } else {
        push_path(m - left.len(), right, out);
        out.push(root(left));
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2): that `leaf` is leaf `index` of the tree of
/// `size` leaves whose root is `root`.
pub fn verify_inclusion(
    index: LeafIndex,
    size: TreeSize,
    leaf: &Hash,
    path: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if path.len() > MAX_PROOF_LEN {
        return Err(MerkleError::ProofOverLimit { len: path.len() });
    }
    if index.0 >= size.0 {
        return Err(MerkleError::LeafIndexOutOfRange {
            index: index.0,
            size: size.0,
        });
    }
    let (mut fnode, mut snode) = (index.0, size.0 - 1);
    let mut r = *leaf;
    for (used, p) in path.iter().enumerate() {
        if snode == 0 {
            return Err(MerkleError::ProofTooLong {
                len: path.len(),
                needed: used,
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(MerkleError::ProofTooShort { len: path.len() });
    }
    if r != *root {
        return Err(MerkleError::RootMismatch {
            expected: *root,
            computed: r,
        });
    }
    Ok(())
}

/// The consistency proof `PROOF(first, D[n])` (RFC 9162 §2.1.4.1) between the tree of the first
/// `first` leaves and the tree of all of `leaf_hashes`. Empty when `first` is 0 or the whole tree.
pub fn consistency_proof(leaf_hashes: &[Hash], first: TreeSize) -> Result<Vec<Hash>, MerkleError> {
    let second = leaf_hashes.len() as u64;
    let m = usize::try_from(first.0)
        .ok()
        .filter(|&m| m <= leaf_hashes.len())
        .ok_or(MerkleError::FirstLargerThanSecond {
            first: first.0,
            second,
        })?;
    let mut proof = Vec::new();
    if m > 0 {
        push_subproof(m, leaf_hashes, true, &mut proof);
    }
    Ok(proof)
}

/// Appends `SUBPROOF(m, leaves, complete)` to `out`; requires `0 < m ≤ leaves.len()`.
fn push_subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    if m == leaves.len() {
        if !complete {
            out.push(root(leaves));
        }
        return;
    }
    let Some((left, right)) = split(leaves) else {
        return;
    };
    if m <= left.len() {
        push_subproof(m, left, complete, out);
        out.push(root(right));
    } else {
        push_subproof(m - left.len(), right, false, out);
        out.push(root(left));
    }
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): that the tree of `second` leaves with root
/// `second_root` extends the tree of `first` leaves with root `first_root`.
///
/// Beyond the RFC's steps: equal sizes need an empty proof and equal roots; a first size of 0 is
/// consistent with anything given an empty proof (its root is not looked at); a first size larger
/// than the second is an error.
pub fn verify_consistency(
    first: TreeSize,
    second: TreeSize,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(MerkleError::ProofOverLimit { len: proof.len() });
    }
    if first.0 > second.0 {
        return Err(MerkleError::FirstLargerThanSecond {
            first: first.0,
            second: second.0,
        });
    }
    if first.0 == second.0 || first.0 == 0 {
        if !proof.is_empty() {
            return Err(MerkleError::ProofNotEmpty { len: proof.len() });
        }
        if first.0 != 0 && first_root != second_root {
            return Err(MerkleError::EqualSizeRootsDiffer {
                first: *first_root,
                second: *second_root,
            });
        }
        return Ok(());
    }
    // Step 2: a power-of-two first tree is itself a node of the second; its root seeds the walk.
    let mut rest = proof.iter();
    let seed = if first.0.is_power_of_two() {
        first_root
    } else {
        rest.next()
            .ok_or(MerkleError::ProofTooShort { len: proof.len() })?
    };
    let (mut fnode, mut snode) = (first.0 - 1, second.0 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    let seed_entries = proof.len() - rest.len();
    for (used, c) in rest.enumerate() {
        if snode == 0 {
            return Err(MerkleError::ProofTooLong {
                len: proof.len(),
                needed: seed_entries + used,
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(MerkleError::ProofTooShort { len: proof.len() });
    }
    if fr != *first_root {
        return Err(MerkleError::FirstRootMismatch {
            expected: *first_root,
            computed: fr,
        });
    }
    if sr != *second_root {
        return Err(MerkleError::RootMismatch {
            expected: *second_root,
            computed: sr,
        });
    }
    Ok(())
}

/// An append-only in-memory log of leaf hashes that answers root and proof queries for its
/// current size or any earlier size. Each query is O(n) in the tree size asked about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MerkleTree {
    leaves: Vec<Hash>,
}

impl MerkleTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree holding these leaf hashes, in order.
    pub fn from_leaf_hashes(leaves: Vec<Hash>) -> Self {
        Self { leaves }
    }

    /// Appends a leaf hash and returns its index.
    pub fn push(&mut self, leaf: Hash) -> LeafIndex {
        self.leaves.push(leaf);
        LeafIndex(self.leaves.len() as u64 - 1)
    }

    /// The current number of leaves.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.leaves.len() as u64)
    }

    /// All leaf hashes, in order.
    pub fn leaf_hashes(&self) -> &[Hash] {
        &self.leaves
    }

    /// The first `size` leaves.
    fn prefix(&self, size: TreeSize) -> Result<&[Hash], MerkleError> {
        usize::try_from(size.0)
            .ok()
            .and_then(|n| self.leaves.get(..n))
            .ok_or(MerkleError::SizeBeyondLeaves {
                size: size.0,
                available: self.leaves.len() as u64,
            })
    }

    /// The root of the tree of the first `size` leaves.
    pub fn root(&self, size: TreeSize) -> Result<Hash, MerkleError> {
        self.prefix(size).map(root)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(
        &self,
        index: LeafIndex,
        size: TreeSize,
    ) -> Result<Vec<Hash>, MerkleError> {
        inclusion_proof(self.prefix(size)?, index)
    }

    /// The consistency proof from the tree of the first `first` leaves to that of the first
    /// `second` leaves.
    pub fn consistency_proof(
        &self,
        first: TreeSize,
        second: TreeSize,
    ) -> Result<Vec<Hash>, MerkleError> {
        consistency_proof(self.prefix(second)?, first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_is_largest_power_of_two_below_n() {
        let leaves = vec![empty_root(); 9];
        for (n, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8)] {
            assert_eq!(
                split(&leaves[..n]).map(|(l, _)| l.len()),
                Some(k),
                "n = {n}"
            );
        }
        assert_eq!(split(&leaves[..1]), None);
        assert_eq!(split(&[]), None);
    }
}
