//! Compiles `proto/enmesh/v1/*.proto` and `proto/federation/federation.proto` (Google's
//! federation contract, no package) with protox (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/enmesh/v1/enmesh.proto",
        "proto/enmesh/v1/audit.proto",
        "proto/federation/federation.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
