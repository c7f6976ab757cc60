//! Helpers shared by the cross-crate tests: where the public test vectors and fixtures are.
//!
//! The fixtures stay in `../shared/vectors` (beside the checkout); they are read, never copied.

use std::path::PathBuf;

/// The `shared/vectors` directory: `$ENMESH_SHARED_DIR/vectors` if set, else `../shared/vectors`
/// beside the workspace root (found from the `CARGO_MANIFEST_DIR` cargo sets when it runs the test,
/// so a test binary built in another checkout that shares the target directory still looks beside
/// this one). Panics with a clear message if it is missing: a conformance test
/// that cannot find its fixtures must fail, not pass silently.
pub fn vectors_dir() -> PathBuf {
    let shared = std::env::var_os("ENMESH_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_MANIFEST_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
                .join("..")
                .join("..")
                .join("shared")
        });
    let dir = shared.join("vectors");
    assert!(
        dir.join("README.md").is_file(),
        "public test vectors not found at {} (set ENMESH_SHARED_DIR to the shared/ directory)",
        dir.display()
    );
    dir
}

/// Reads a fixture file from `shared/vectors/fixtures`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = vectors_dir().join("fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}
