//! Roots and proofs of a log too large to hold in memory, from the stored hashes of its perfect
//! subtrees, and the [`Frontier`] an appender keeps to know which subtrees each new leaf
//! completes.
//!
//! The perfect subtree `(level, index)` covers leaves `[index·2^level, (index+1)·2^level)`;
//! level 0 is one leaf's hash. Every range the RFC 9162 recursion visits is either a perfect
//! subtree or the right edge of one, so a root or a proof costs O(log n) lookups for the
//! perfect ranges plus O(log n) for each right edge, and the results are exactly those of the
//! in-memory functions of [`super`] (a property test checks it). These functions never ask a
//! source for a subtree that is not complete within the tree size asked about.

use super::{Hash, LeafIndex, MerkleError, TreeSize, empty_root, node_hash};

/// Where the hashes of perfect subtrees come from (a store, or memory in tests).
pub trait Subtrees {
    /// Why a hash could not be read; a proof request that is itself invalid is a
    /// [`MerkleError`].
    type Error: From<MerkleError>;

    /// The hash of the perfect subtree at `level` with `index` (level 0: a leaf hash).
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// The largest power of two strictly below `n ≥ 2`.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start:end])` for `start < end`.
fn range_hash<S: Subtrees>(source: &S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return source.subtree(level, start >> level);
    }
    let k = split_point(n);
    Ok(node_hash(
        &range_hash(source, start, start + k)?,
        &range_hash(source, start + k, end)?,
    ))
}

/// `MTH(D[size])`; the empty tree gives [`empty_root`].
pub fn root<S: Subtrees>(source: &S, size: TreeSize) -> Result<Hash, S::Error> {
    if size.0 == 0 {
        return Ok(empty_root());
    }
    range_hash(source, 0, size.0)
}

/// The inclusion proof `PATH(index, D[size])` (RFC 9162 §2.1.3.1), from the leaf's sibling up.
pub fn inclusion_proof<S: Subtrees>(
    source: &S,
    index: LeafIndex,
    size: TreeSize,
) -> Result<Vec<Hash>, S::Error> {
    if index.0 >= size.0 {
        return Err(MerkleError::LeafIndexOutOfRange {
            index: index.0,
            size: size.0,
        }
        .into());
    }
    // Walk down from the whole tree, remembering each sibling; the proof lists them bottom-up.
    let (mut start, mut end) = (0, size.0);
    let mut siblings = Vec::new();
    while end - start > 1 {
        let k = split_point(end - start);
        if index.0 < start + k {
            siblings.push(range_hash(source, start + k, end)?);
            end = start + k;
        } else {
            siblings.push(range_hash(source, start, start + k)?);
            start += k;
        }
    }
    siblings.reverse();
    Ok(siblings)
}

/// The consistency proof `PROOF(first, D[second])` (RFC 9162 §2.1.4.1). Empty when `first` is 0
/// or equal to `second`.
pub fn consistency_proof<S: Subtrees>(
    source: &S,
    first: TreeSize,
    second: TreeSize,
) -> Result<Vec<Hash>, S::Error> {
    if first.0 > second.0 {
        return Err(MerkleError::FirstLargerThanSecond {
            first: first.0,
            second: second.0,
        }
        .into());
    }
    let mut proof = Vec::new();
    if first.0 == 0 {
        return Ok(proof);
    }
    // SUBPROOF(m, D[start:end], complete), walked down iteratively; the nodes collected on the
    // way down are appended bottom-up, as the recursion would.
    let (mut m, mut start, mut end, mut complete) = (first.0, 0, second.0, true);
    let mut upper = Vec::new();
    loop {
        let n = end - start;
        if m == n {
            if !complete {
                proof.push(range_hash(source, start, end)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            upper.push(range_hash(source, start + k, end)?);
            end = start + k;
        } else {
            upper.push(range_hash(source, start, start + k)?);
            m -= k;
            start += k;
            complete = false;
        }
    }
    proof.extend(upper.into_iter().rev());
    Ok(proof)
}

/// The right edge of an append-only tree: the hash of one perfect subtree per set bit of its
/// size, largest first. Enough to append leaves and to compute the current root, in memory of
/// at most 64 hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    edge: Vec<Hash>,
}

/// A perfect subtree of level ≥ 1 that an append completed, to be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completed {
    /// Its level (1 or more).
    pub level: u32,
    /// Its index at that level.
    pub index: u64,
    /// Its hash.
    pub hash: Hash,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The subtrees `(level, index)` whose hashes, in this order, make the frontier of a tree
    /// of `size` leaves (see [`Frontier::from_edge`]).
    pub fn edge_of(size: TreeSize) -> Vec<(u32, u64)> {
        let mut offset = 0u64;
        (0..64u32)
            .rev()
            .filter(|level| size.0 >> level & 1 == 1)
            .map(|level| {
                let index = offset >> level;
                offset += 1 << level;
                (level, index)
            })
            .collect()
    }

    /// The frontier of a tree of `size` leaves from the hashes of [`Frontier::edge_of`]`(size)`.
    pub fn from_edge(size: TreeSize, edge: Vec<Hash>) -> Result<Self, MerkleError> {
        let needed = size.0.count_ones() as usize;
        if edge.len() != needed {
            return Err(MerkleError::EdgeLength {
                size: size.0,
                needed,
                len: edge.len(),
            });
        }
        Ok(Self { size: size.0, edge })
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.size)
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut hashes = self.edge.iter().rev();
        let Some(last) = hashes.next() else {
            return empty_root();
        };
        hashes.fold(*last, |right, left| node_hash(left, &right))
    }

    /// Appends a leaf hash; every perfect subtree of level ≥ 1 it completes is pushed to
    /// `completed` (lowest level first). Returns the leaf's index.
    pub fn push(&mut self, leaf: Hash, completed: &mut Vec<Completed>) -> LeafIndex {
        let at = LeafIndex(self.size);
        let (mut hash, mut level, mut index) = (leaf, 0u32, self.size);
        while index & 1 == 1 {
            let Some(left) = self.edge.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            completed.push(Completed { level, index, hash });
        }
        self.edge.push(hash);
        self.size += 1;
        at
    }
}

#[cfg(test)]
mod tests {
    use super::super::{self as merkle, leaf_hash};
    use super::*;
    use proptest::prelude::*;
    use std::cell::Cell;

    /// Subtree hashes computed from leaves in memory; remembers the highest leaf it was asked
    /// to cover.
    struct Memory {
        leaves: Vec<Hash>,
        reach: Cell<u64>,
    }

    impl Subtrees for Memory {
        type Error = MerkleError;
        fn subtree(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
            let (start, end) = (index << level, (index + 1) << level);
            self.reach.set(self.reach.get().max(end));
            Ok(merkle::root(&self.leaves[start as usize..end as usize]))
        }
    }

    fn memory(n: u64) -> Memory {
        Memory {
            leaves: (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect(),
            reach: Cell::new(0),
        }
    }

    #[test]
    fn frontier_root_and_completed_subtrees_match_the_tree() {
        let tree = memory(70);
        let mut frontier = Frontier::new();
        let mut completed = Vec::new();
        for (i, leaf) in tree.leaves.iter().enumerate() {
            frontier.push(*leaf, &mut completed);
            assert_eq!(frontier.root(), merkle::root(&tree.leaves[..=i]));
        }
        // Every completed subtree is reported once, with the hash of its leaves.
        assert_eq!(completed.len(), 70 - 70u32.count_ones() as usize);
        for c in completed {
            assert_eq!(Ok(c.hash), tree.subtree(c.level, c.index));
        }
        assert_eq!(merkle::empty_root(), Frontier::new().root());
    }

    #[test]
    fn frontier_rebuilds_from_its_edge() {
        let tree = memory(45);
        let size = TreeSize(45);
        let edge: Vec<Hash> = Frontier::edge_of(size)
            .into_iter()
            .map(|(level, index)| tree.subtree(level, index).unwrap())
            .collect();
        assert_eq!(
            Frontier::edge_of(size),
            vec![(5, 0), (3, 4), (2, 10), (0, 44)]
        );
        let rebuilt = Frontier::from_edge(size, edge).unwrap();
        assert_eq!(rebuilt.root(), merkle::root(&tree.leaves));
        assert!(Frontier::from_edge(size, vec![]).is_err());
    }

    #[test]
    fn invalid_requests_are_errors() {
        let tree = memory(5);
        assert_eq!(
            inclusion_proof(&tree, LeafIndex(5), TreeSize(5)),
            Err(MerkleError::LeafIndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            consistency_proof(&tree, TreeSize(6), TreeSize(5)),
            Err(MerkleError::FirstLargerThanSecond {
                first: 6,
                second: 5
            })
        );
        assert_eq!(root(&tree, TreeSize(0)), Ok(merkle::empty_root()));
    }

    proptest! {
        #[test]
        fn proofs_from_subtrees_equal_the_in_memory_ones(n in 1u64..300, a in 0u64..300, b in 0u64..300) {
            let tree = memory(n);
            let size = TreeSize(n);
            prop_assert_eq!(root(&tree, size), Ok(merkle::root(&tree.leaves)));
            let index = LeafIndex(a % n);
            prop_assert_eq!(
                inclusion_proof(&tree, index, size),
                merkle::inclusion_proof(&tree.leaves, index)
            );
            let first = TreeSize(b % (n + 1));
            prop_assert_eq!(
                consistency_proof(&tree, first, size),
                merkle::consistency_proof(&tree.leaves, first)
            );
            prop_assert!(tree.reach.get() <= n, "asked beyond the tree: {}", tree.reach.get());
        }
    }
}
