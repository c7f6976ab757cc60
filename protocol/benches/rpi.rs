//! RPI derivation benchmark (being built).
fn main() {}
