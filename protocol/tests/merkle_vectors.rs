//! Known-answer and property tests of `enmesh_protocol::merkle` (RFC 9162 §2.1): the RFC 6962
//! test leaves, every root, node hash, inclusion and consistency proof of the 8-leaf tree, the
//! published transparency-dev/merkle proofs, and random trees.

use enmesh_protocol::merkle::{
    self, Hash, LeafIndex, MAX_PROOF_LEN, MerkleError, MerkleTree, TreeSize, consistency_proof,
    inclusion_proof, leaf_hash, node_hash, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

// Generated once from shared/vectors/merkle.json (values copied; the JSON is not read at test time).

/// The 8 RFC 6962 test leaves (hex).
const LEAVES_HEX: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Leaf hashes of the test leaves.
const LEAF_HASHES: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
];

/// Roots of the trees of the first 0..=8 leaves.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Node hashes of the 8-leaf tree per level: level L holds MTH(D[i·2^L .. (i+1)·2^L]).
const NODE_HASHES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

struct Inclusion {
    index: u64,
    size: u64,
    leaf: &'static str,
    root: &'static str,
    path: &'static [&'static str],
}

/// All 36 inclusion proofs for sizes 1..=8.
const INCLUSION: &[Inclusion] = &[
    Inclusion {
        index: 0,
        size: 1,
        leaf: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        root: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        path: &[],
    },
    Inclusion {
        index: 0,
        size: 2,
        leaf: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        root: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        path: &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    },
    Inclusion {
        index: 1,
        size: 2,
        leaf: "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        root: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        path: &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
    },
    Inclusion {
        index: 0,
        size: 3,
        leaf: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        root: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        path: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        ],
    },
    Inclusion {
        index: 1,
        size: 3,
        leaf: "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        root: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        path: &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        ],
    },
    Inclusion {
        index: 2,
        size: 3,
        leaf: "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        root: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        path: &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    },
    Inclusion {
        index: 0,
        size: 4,
        leaf: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        root: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        path: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        ],
    },
    Inclusion {
        index: 1,
        size: 4,
        leaf: "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        root: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        path: &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        ],
    },
    Inclusion {
        index: 2,
        size: 4,
        leaf: "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        root: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        path: &[
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        ],
    },
    Inclusion {
        index: 3,
        size: 4,
        leaf: "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        root: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        path: &[
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        ],
    },
    Inclusion {
        index: 0,
        size: 5,
        leaf: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        path: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    },
    Inclusion {
        index: 1,
        size: 5,
        leaf: "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        path: &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    },
    Inclusion {
        index: 2,
        size: 5,
        leaf: "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        path: &[
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    },
    Inclusion {
        index: 3,
        size: 5,
        leaf: "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        path: &[
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    },
    Inclusion {
        index: 4,
        size: 5,
        leaf: "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        path: &["d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    },
    Inclusion {
        index: 0,
        size: 6,
        leaf: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        path: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        ],
    },
    Inclusion {
        index: 1,
        size: 6,
        leaf: "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        path: &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        ],
    },
    Inclusion {
        index: 2,
        size: 6,
        leaf: "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        path: &[
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        ],
    },
    Inclusion {
        index: 3,
        size: 6,
        leaf: "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        path: &[
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        ],
    },
    Inclusion {
        index: 4,
        size: 6,
        leaf: "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        path: &[
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Inclusion {
        index: 5,
        size: 6,
        leaf: "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        path: &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Inclusion {
        index: 0,
        size: 7,
        leaf: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        path: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
        ],
    },
    Inclusion {
        index: 1,
        size: 7,
        leaf: "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        path: &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
        ],
    },
    Inclusion {
        index: 2,
        size: 7,
        leaf: "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        path: &[
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
        ],
    },
    Inclusion {
        index: 3,
        size: 7,
        leaf: "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        path: &[
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
        ],
    },
    Inclusion {
        index: 4,
        size: 7,
        leaf: "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        path: &[
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Inclusion {
        index: 5,
        size: 7,
        leaf: "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        path: &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Inclusion {
        index: 6,
        size: 7,
        leaf: "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        path: &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Inclusion {
        index: 0,
        size: 8,
        leaf: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        path: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    },
    Inclusion {
        index: 1,
        size: 8,
        leaf: "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        path: &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    },
    Inclusion {
        index: 2,
        size: 8,
        leaf: "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        path: &[
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    },
    Inclusion {
        index: 3,
        size: 8,
        leaf: "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        path: &[
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    },
    Inclusion {
        index: 4,
        size: 8,
        leaf: "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        path: &[
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Inclusion {
        index: 5,
        size: 8,
        leaf: "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        path: &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Inclusion {
        index: 6,
        size: 8,
        leaf: "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        path: &[
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Inclusion {
        index: 7,
        size: 8,
        leaf: "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        path: &[
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
];

struct Consistency {
    first: u64,
    second: u64,
    first_root: &'static str,
    second_root: &'static str,
    proof: &'static [&'static str],
}

/// All 28 consistency proofs for 1 ≤ first < second ≤ 8.
const CONSISTENCY: &[Consistency] = &[
    Consistency {
        first: 1,
        second: 2,
        first_root: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        second_root: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        proof: &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    },
    Consistency {
        first: 1,
        second: 3,
        first_root: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        second_root: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        proof: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        ],
    },
    Consistency {
        first: 2,
        second: 3,
        first_root: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        second_root: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        proof: &["0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"],
    },
    Consistency {
        first: 1,
        second: 4,
        first_root: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        second_root: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        proof: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        ],
    },
    Consistency {
        first: 2,
        second: 4,
        first_root: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        second_root: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        proof: &["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"],
    },
    Consistency {
        first: 3,
        second: 4,
        first_root: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        second_root: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        proof: &[
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        ],
    },
    Consistency {
        first: 1,
        second: 5,
        first_root: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        second_root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        proof: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    },
    Consistency {
        first: 2,
        second: 5,
        first_root: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        second_root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        proof: &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    },
    Consistency {
        first: 3,
        second: 5,
        first_root: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        second_root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        proof: &[
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    },
    Consistency {
        first: 4,
        second: 5,
        first_root: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        second_root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        proof: &["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
    },
    Consistency {
        first: 1,
        second: 6,
        first_root: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        second_root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        proof: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        ],
    },
    Consistency {
        first: 2,
        second: 6,
        first_root: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        second_root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        proof: &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        ],
    },
    Consistency {
        first: 3,
        second: 6,
        first_root: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        second_root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        proof: &[
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        ],
    },
    Consistency {
        first: 4,
        second: 6,
        first_root: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        second_root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        proof: &["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"],
    },
    Consistency {
        first: 5,
        second: 6,
        first_root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        second_root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        proof: &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Consistency {
        first: 1,
        second: 7,
        first_root: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        second_root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        proof: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
        ],
    },
    Consistency {
        first: 2,
        second: 7,
        first_root: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        second_root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        proof: &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
        ],
    },
    Consistency {
        first: 3,
        second: 7,
        first_root: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        second_root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        proof: &[
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
        ],
    },
    Consistency {
        first: 4,
        second: 7,
        first_root: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        second_root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        proof: &["837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"],
    },
    Consistency {
        first: 5,
        second: 7,
        first_root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        second_root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        proof: &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Consistency {
        first: 6,
        second: 7,
        first_root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        second_root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        proof: &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Consistency {
        first: 1,
        second: 8,
        first_root: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        second_root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        proof: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    },
    Consistency {
        first: 2,
        second: 8,
        first_root: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        second_root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        proof: &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    },
    Consistency {
        first: 3,
        second: 8,
        first_root: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        second_root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        proof: &[
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    },
    Consistency {
        first: 4,
        second: 8,
        first_root: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        second_root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        proof: &["6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    },
    Consistency {
        first: 5,
        second: 8,
        first_root: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        second_root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        proof: &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Consistency {
        first: 6,
        second: 8,
        first_root: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        second_root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        proof: &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    Consistency {
        first: 7,
        second: 8,
        first_root: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        second_root: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        proof: &[
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
];

/// Published inclusion proofs (transparency-dev/merkle proof/verify_test.go): (index, size, path).
const PUBLISHED_INCLUSION: &[(u64, u64, &[&str])] = &[
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// Published consistency proofs (same file): (first, second, proof).
const PUBLISHED_CONSISTENCY: &[(u64, u64, &[&str])] = &[
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(hex_str: &str) -> Hash {
    Hash(hex::decode(hex_str).unwrap().try_into().unwrap())
}

fn hs(hex_strs: &[&str]) -> Vec<Hash> {
    hex_strs.iter().map(|s| h(s)).collect()
}

fn test_leaf_hashes() -> Vec<Hash> {
    LEAVES_HEX
        .iter()
        .map(|leaf| leaf_hash(&hex::decode(leaf).unwrap()))
        .collect()
}

fn test_tree() -> MerkleTree {
    MerkleTree::from_leaf_hashes(test_leaf_hashes())
}

fn flip(hash: &Hash, byte: usize, mask: u8) -> Hash {
    let mut bytes = hash.0;
    bytes[byte % 32] ^= mask;
    Hash(bytes)
}

#[test]
fn leaf_hashes_match() {
    assert_eq!(test_leaf_hashes(), hs(&LEAF_HASHES));
}

#[test]
fn empty_root_is_sha256_of_nothing() {
    assert_eq!(merkle::empty_root(), h(ROOTS[0]));
    assert_eq!(merkle::root(&[]), h(ROOTS[0]));
}

#[test]
fn every_root_matches() {
    let leaves = test_leaf_hashes();
    let tree = test_tree();
    for (size, expected) in ROOTS.iter().enumerate() {
        assert_eq!(merkle::root(&leaves[..size]), h(expected), "size {size}");
        assert_eq!(tree.root(TreeSize(size as u64)), Ok(h(expected)));
    }
    assert_eq!(
        tree.root(TreeSize(9)),
        Err(MerkleError::SizeBeyondLeaves {
            size: 9,
            available: 8
        })
    );
}

#[test]
fn every_node_hash_matches() {
    let leaves = test_leaf_hashes();
    for (level, nodes) in NODE_HASHES.iter().enumerate() {
        let width = 1 << level;
        assert_eq!(nodes.len(), 8 / width);
        for (i, expected) in nodes.iter().enumerate() {
            let subtree = &leaves[i * width..(i + 1) * width];
            assert_eq!(merkle::root(subtree), h(expected), "level {level} node {i}");
        }
        if level > 0 {
            let below = NODE_HASHES[level - 1];
            for (i, expected) in nodes.iter().enumerate() {
                let joined = node_hash(&h(below[2 * i]), &h(below[2 * i + 1]));
                assert_eq!(joined, h(expected), "level {level} node {i} from children");
            }
        }
    }
}

#[test]
fn all_inclusion_proofs_generate_and_verify() {
    assert_eq!(INCLUSION.len(), 36);
    let tree = test_tree();
    for case in INCLUSION {
        let (index, size) = (LeafIndex(case.index), TreeSize(case.size));
        let path = hs(case.path);
        assert_eq!(
            tree.inclusion_proof(index, size),
            Ok(path.clone()),
            "{}/{}",
            case.index,
            case.size
        );
        assert_eq!(h(case.leaf), tree.leaf_hashes()[case.index as usize]);
        assert_eq!(h(case.root), h(ROOTS[case.size as usize]));
        assert_eq!(
            verify_inclusion(index, size, &h(case.leaf), &path, &h(case.root)),
            Ok(())
        );
    }
}

#[test]
fn all_consistency_proofs_generate_and_verify() {
    assert_eq!(CONSISTENCY.len(), 28);
    let tree = test_tree();
    for case in CONSISTENCY {
        let (first, second) = (TreeSize(case.first), TreeSize(case.second));
        let proof = hs(case.proof);
        assert_eq!(
            tree.consistency_proof(first, second),
            Ok(proof.clone()),
            "{} -> {}",
            case.first,
            case.second
        );
        let (r1, r2) = (h(case.first_root), h(case.second_root));
        assert_eq!(r1, h(ROOTS[case.first as usize]));
        assert_eq!(r2, h(ROOTS[case.second as usize]));
        assert_eq!(verify_consistency(first, second, &r1, &r2, &proof), Ok(()));
    }
}

#[test]
fn published_proofs_verify() {
    let leaves = test_leaf_hashes();
    for (index, size, path) in PUBLISHED_INCLUSION {
        let root = h(ROOTS[*size as usize]);
        let path = hs(path);
        let leaf = &leaves[*index as usize];
        assert_eq!(
            verify_inclusion(LeafIndex(*index), TreeSize(*size), leaf, &path, &root),
            Ok(())
        );
        assert_eq!(
            inclusion_proof(&leaves[..*size as usize], LeafIndex(*index)),
            Ok(path)
        );
    }
    for (first, second, proof) in PUBLISHED_CONSISTENCY {
        let (r1, r2) = (h(ROOTS[*first as usize]), h(ROOTS[*second as usize]));
        let proof = hs(proof);
        assert_eq!(
            verify_consistency(TreeSize(*first), TreeSize(*second), &r1, &r2, &proof),
            Ok(())
        );
        assert_eq!(
            consistency_proof(&leaves[..*second as usize], TreeSize(*first)),
            Ok(proof)
        );
    }
}

#[test]
fn tampered_and_truncated_vector_proofs_fail() {
    for case in INCLUSION.iter().filter(|c| !c.path.is_empty()) {
        let (index, size, leaf, root) = (
            LeafIndex(case.index),
            TreeSize(case.size),
            h(case.leaf),
            h(case.root),
        );
        let path = hs(case.path);
        let short = &path[..path.len() - 1];
        assert_eq!(
            verify_inclusion(index, size, &leaf, short, &root),
            Err(MerkleError::ProofTooShort { len: short.len() })
        );
        let mut long = path.clone();
        long.push(leaf);
        assert_eq!(
            verify_inclusion(index, size, &leaf, &long, &root),
            Err(MerkleError::ProofTooLong {
                len: long.len(),
                needed: path.len()
            })
        );
        for i in 0..path.len() {
            let mut bad = path.clone();
            bad[i] = flip(&bad[i], i, 1);
            assert!(matches!(
                verify_inclusion(index, size, &leaf, &bad, &root),
                Err(MerkleError::RootMismatch { .. })
            ));
        }
        assert!(verify_inclusion(index, size, &flip(&leaf, 0, 0x80), &path, &root).is_err());
        // The same proof claimed for a neighbouring index fails too.
        let other = LeafIndex(case.index ^ 1);
        if other.0 < case.size {
            assert!(verify_inclusion(other, size, &leaf, &path, &root).is_err());
        }
    }
    for case in CONSISTENCY {
        let (first, second, r1, r2) = (
            TreeSize(case.first),
            TreeSize(case.second),
            h(case.first_root),
            h(case.second_root),
        );
        let proof = hs(case.proof);
        assert!(verify_consistency(first, second, &r1, &r2, &proof[..proof.len() - 1]).is_err());
        assert_eq!(
            verify_consistency(first, second, &r1, &r2, &[]),
            Err(MerkleError::ProofTooShort { len: 0 })
        );
        let mut long = proof.clone();
        long.push(r1);
        assert!(verify_consistency(first, second, &r1, &r2, &long).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], 31 - i, 4);
            assert!(verify_consistency(first, second, &r1, &r2, &bad).is_err());
        }
        assert!(verify_consistency(first, second, &flip(&r1, 3, 1), &r2, &proof).is_err());
        assert!(verify_consistency(first, second, &r1, &flip(&r2, 3, 1), &proof).is_err());
    }
}

#[test]
fn inclusion_edge_cases() {
    let leaves = test_leaf_hashes();
    // Size 1: empty path, the root is the leaf hash.
    assert_eq!(inclusion_proof(&leaves[..1], LeafIndex(0)), Ok(vec![]));
    assert_eq!(
        verify_inclusion(LeafIndex(0), TreeSize(1), &leaves[0], &[], &h(ROOTS[1])),
        Ok(())
    );
    assert_eq!(
        inclusion_proof(&leaves, LeafIndex(8)),
        Err(MerkleError::LeafIndexOutOfRange { index: 8, size: 8 })
    );
    assert_eq!(
        inclusion_proof(&[], LeafIndex(0)),
        Err(MerkleError::LeafIndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(
        verify_inclusion(LeafIndex(5), TreeSize(5), &leaves[0], &[], &h(ROOTS[5])),
        Err(MerkleError::LeafIndexOutOfRange { index: 5, size: 5 })
    );
    assert_eq!(
        verify_inclusion(LeafIndex(0), TreeSize(0), &leaves[0], &[], &h(ROOTS[0])),
        Err(MerkleError::LeafIndexOutOfRange { index: 0, size: 0 })
    );
    let over = vec![leaves[0]; MAX_PROOF_LEN + 1];
    assert_eq!(
        verify_inclusion(
            LeafIndex(0),
            TreeSize(u64::MAX),
            &leaves[0],
            &over,
            &h(ROOTS[8])
        ),
        Err(MerkleError::ProofOverLimit { len: 65 })
    );
    // The largest tree sizes do not overflow; a 64-entry proof is the most any tree needs.
    let full = vec![leaves[0]; MAX_PROOF_LEN];
    assert!(matches!(
        verify_inclusion(
            LeafIndex(0),
            TreeSize(u64::MAX),
            &leaves[0],
            &full,
            &h(ROOTS[8])
        ),
        Err(MerkleError::RootMismatch { .. })
    ));
    // The last leaf of a 2^64 − 1 leaf tree sits beside 63 perfect subtrees.
    let last = LeafIndex(u64::MAX - 1);
    assert!(matches!(
        verify_inclusion(
            last,
            TreeSize(u64::MAX),
            &leaves[0],
            &full[..63],
            &h(ROOTS[8])
        ),
        Err(MerkleError::RootMismatch { .. })
    ));
    assert_eq!(
        verify_inclusion(last, TreeSize(u64::MAX), &leaves[0], &full, &h(ROOTS[8])),
        Err(MerkleError::ProofTooLong {
            len: 64,
            needed: 63
        })
    );
    assert_eq!(
        verify_inclusion(
            LeafIndex(0),
            TreeSize(u64::MAX),
            &leaves[0],
            &full[..63],
            &h(ROOTS[8])
        ),
        Err(MerkleError::ProofTooShort { len: 63 })
    );
    assert_eq!(
        test_tree().inclusion_proof(LeafIndex(0), TreeSize(u64::MAX)),
        Err(MerkleError::SizeBeyondLeaves {
            size: u64::MAX,
            available: 8
        })
    );
}

#[test]
fn consistency_edge_cases() {
    let leaves = test_leaf_hashes();
    let tree = test_tree();
    let (r3, r5) = (h(ROOTS[3]), h(ROOTS[5]));
    // first == second: empty proof, roots must be equal.
    assert_eq!(tree.consistency_proof(TreeSize(5), TreeSize(5)), Ok(vec![]));
    assert_eq!(
        verify_consistency(TreeSize(5), TreeSize(5), &r5, &r5, &[]),
        Ok(())
    );
    assert_eq!(
        verify_consistency(TreeSize(5), TreeSize(5), &r3, &r5, &[]),
        Err(MerkleError::EqualSizeRootsDiffer {
            first: r3,
            second: r5
        })
    );
    assert_eq!(
        verify_consistency(TreeSize(5), TreeSize(5), &r5, &r5, &[r5]),
        Err(MerkleError::ProofNotEmpty { len: 1 })
    );
    // first == 0: always consistent with an empty proof.
    assert_eq!(tree.consistency_proof(TreeSize(0), TreeSize(8)), Ok(vec![]));
    assert_eq!(consistency_proof(&[], TreeSize(0)), Ok(vec![]));
    assert_eq!(
        verify_consistency(TreeSize(0), TreeSize(8), &h(ROOTS[0]), &h(ROOTS[8]), &[]),
        Ok(())
    );
    assert_eq!(
        verify_consistency(TreeSize(0), TreeSize(0), &h(ROOTS[0]), &h(ROOTS[0]), &[]),
        Ok(())
    );
    assert_eq!(
        verify_consistency(TreeSize(0), TreeSize(8), &h(ROOTS[0]), &h(ROOTS[8]), &[r3]),
        Err(MerkleError::ProofNotEmpty { len: 1 })
    );
    // first > second: invalid.
    assert_eq!(
        consistency_proof(&leaves[..3], TreeSize(5)),
        Err(MerkleError::FirstLargerThanSecond {
            first: 5,
            second: 3
        })
    );
    assert_eq!(
        tree.consistency_proof(TreeSize(6), TreeSize(5)),
        Err(MerkleError::FirstLargerThanSecond {
            first: 6,
            second: 5
        })
    );
    assert_eq!(
        verify_consistency(TreeSize(5), TreeSize(3), &r5, &r3, &[]),
        Err(MerkleError::FirstLargerThanSecond {
            first: 5,
            second: 3
        })
    );
    assert_eq!(
        verify_consistency(TreeSize(1), TreeSize(2), &r3, &r5, &vec![r3; 65]),
        Err(MerkleError::ProofOverLimit { len: 65 })
    );
    let full = vec![r3; MAX_PROOF_LEN];
    assert!(
        verify_consistency(TreeSize(u64::MAX - 1), TreeSize(u64::MAX), &r3, &r5, &full).is_err()
    );
    assert!(verify_consistency(TreeSize(1 << 63), TreeSize(u64::MAX), &r3, &r5, &full).is_err());
}

#[test]
fn tree_push_assigns_indices_and_grows_root() {
    let mut tree = MerkleTree::new();
    assert_eq!(tree.size(), TreeSize(0));
    for (i, leaf) in test_leaf_hashes().into_iter().enumerate() {
        assert_eq!(tree.push(leaf), LeafIndex(i as u64));
        assert_eq!(tree.size(), TreeSize(i as u64 + 1));
        assert_eq!(tree.root(tree.size()), Ok(h(ROOTS[i + 1])));
    }
}

fn random_leaves(n: usize, salt: u64) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| leaf_hash(&[salt.to_be_bytes(), i.to_be_bytes()].concat()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_inclusion_proofs_verify_and_resist_tampering(
        n in 1usize..300, salt: u64, pick: usize, byte: usize, bit in 0u8..8,
    ) {
        let leaves = random_leaves(n, salt);
        let root = merkle::root(&leaves);
        let m = pick % n;
        let (index, size) = (LeafIndex(m as u64), TreeSize(n as u64));
        let path = inclusion_proof(&leaves, index).unwrap();
        prop_assert!(path.len() <= 9);
        prop_assert_eq!(verify_inclusion(index, size, &leaves[m], &path, &root), Ok(()));
        let mask = 1 << bit;
        prop_assert!(verify_inclusion(index, size, &leaves[m], &path, &flip(&root, byte, mask)).is_err());
        prop_assert!(verify_inclusion(index, size, &flip(&leaves[m], byte, mask), &path, &root).is_err());
        if !path.is_empty() {
            let mut bad = path.clone();
            let entry = byte / 32 % bad.len();
            bad[entry] = flip(&bad[entry], byte, mask);
            prop_assert!(verify_inclusion(index, size, &leaves[m], &bad, &root).is_err());
        }
    }

    #[test]
    fn random_consistency_proofs_verify_and_resist_tampering(
        n in 1usize..300, salt: u64, pick: usize, byte: usize, bit in 0u8..8,
    ) {
        let leaves = random_leaves(n, salt);
        let m = pick % (n + 1);
        let (first, second) = (TreeSize(m as u64), TreeSize(n as u64));
        let (r1, r2) = (merkle::root(&leaves[..m]), merkle::root(&leaves));
        let proof = consistency_proof(&leaves, first).unwrap();
        prop_assert_eq!(verify_consistency(first, second, &r1, &r2, &proof), Ok(()));
        let mask = 1 << bit;
        // A first size of 0 is consistent with anything, so only m > 0 looks at the roots.
        if m > 0 {
            prop_assert!(verify_consistency(first, second, &r1, &flip(&r2, byte, mask), &proof).is_err());
            prop_assert!(verify_consistency(first, second, &flip(&r1, byte, mask), &r2, &proof).is_err());
        }
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let entry = byte / 32 % bad.len();
            bad[entry] = flip(&bad[entry], byte, mask);
            prop_assert!(verify_consistency(first, second, &r1, &r2, &bad).is_err());
            prop_assert!(verify_consistency(first, second, &r1, &r2, &proof[1..]).is_err());
        }
    }

    #[test]
    fn verification_never_panics(
        index: u64, size: u64, first: u64, second: u64,
        proof in proptest::collection::vec(any::<[u8; 32]>().prop_map(Hash), 0..70),
        a: [u8; 32], b: [u8; 32],
    ) {
        let (a, b) = (Hash(a), Hash(b));
        let _ = verify_inclusion(LeafIndex(index), TreeSize(size), &a, &proof, &b);
        let _ = verify_inclusion(LeafIndex(index % size.max(1)), TreeSize(size), &a, &proof, &b);
        let _ = verify_consistency(TreeSize(first), TreeSize(second), &a, &b, &proof);
        let _ = verify_consistency(TreeSize(first.min(second)), TreeSize(second), &a, &b, &proof);
    }
}
