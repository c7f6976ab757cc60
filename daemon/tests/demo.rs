//! The README's demo command works: `enmesh demo` runs every step and exits 0, every upload
//! reaches exactly the regions it should, by the path it should, and at the edge the local who
//! sat next to the traveller is notified while the bystander is not.

use std::process::Command;

#[test]
fn demo_runs_every_step() {
    let out = Command::new(env!("CARGO_BIN_EXE_enmesh"))
        .arg("demo")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run enmesh demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for step in [
        "Both cluster meshes formed",
        "1. The DE health authority issues a one-time upload code",
        "2. A traveller's app uploads 14 keys",
        "3. The same code used for other keys: 401",
        "A key with rolling period 200: 400",
        "enmesh_batches_total{feed=\"a2a/EU\"}",
        "enmesh_batches_total{feed=\"partial/US-CA\"}",
        "→ FR     a2a",
        "→ IT     a2a",
        "→ US-CA  partial",
        "→ US-NY  nothing",
        "→ IT     partial",
        "→ US-CA  a2a",
        "→ DE     nothing",
        "gets the 14 keys",
        "signature verified with DE's export key",
        "8. File federation: GB (outside the mesh",
        "9. Edge: a seeded simulation (seed 2026) of 5 people in FR",
        "10. The traveller tests positive at home in DE",
        "uploads its 14 keys with visitedRegions [\"FR\"] (POST /v1/publish): 200",
        "11. FR's public feed serves the traveller's 13 expired keys",
        "12. The local's agent follows FR",
        "ECDSA signature checked with FR's export key",
        "{\"protocol\":\"gaen\",\"key\":\"",
        "→ NOTIFIED: the local was exposed to the traveller's key of the meeting day for 2",
        "Downloading again fetches 0 new file(s)",
        "13. A bystander who was never close downloads FR's chunked feed",
        "no exposure, not notified",
        "14. An auditor (certificate of the EU cluster CA, role auditor) syncs every node's",
        "root recomputed = the checkpoint enmesh/EU/DE signed",
        "root recomputed = the checkpoint enmesh/USA/US-NY signed",
        "Cross-check: each of",
        "is in any entry",
        "All 5 nodes stopped cleanly",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
}
