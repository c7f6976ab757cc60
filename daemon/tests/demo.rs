//! The README's demo command works: `enmesh demo` runs every step and exits 0, and every
//! upload reaches exactly the regions it should, by the path it should.

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
        "All 5 nodes stopped cleanly",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
}
