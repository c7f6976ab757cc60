//! Runs `deploy/efgs-walkthrough.md` as written: every `sh` block, in order, with bash in a
//! temporary directory and `$ENMESH` = the built binary. The blocks start a real daemon with
//! `[efgs_gateway]`, reach it with curl (403 without a member certificate, 404 before any batch),
//! upload a batch signed by `openssl cms` (201, then 409), and stop it.

use std::process::Command;

const WALKTHROUGH: &str = include_str!("../../deploy/efgs-walkthrough.md");

fn blocks() -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut current: Option<usize> = None;
    for (i, line) in WALKTHROUGH.lines().enumerate() {
        let _ = i;
        if line.starts_with("```") {
            current = if line == "```sh" && current.is_none() {
                out.push(String::new());
                Some(out.len() - 1)
            } else {
                None
            };
            continue;
        }
        if let Some(block) = current {
            out[block].push_str(line);
            out[block].push('\n');
        }
    }
    out.into_iter().map(|s| &*s.leak()).collect()
}

#[test]
fn walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = blocks();
    assert!(blocks.len() >= 7, "the walkthrough lost blocks");
    let script = format!("set -e\n{}", blocks.concat());
    let run = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("ENMESH", env!("CARGO_BIN_EXE_enmesh"))
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let log = std::fs::read_to_string(dir.path().join("enmesh.log")).unwrap_or_default();
    assert!(
        run.status.success(),
        "walkthrough failed:\n{}\n{}\ndaemon log:\n{log}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    let out = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    assert!(out("anonymous.out").contains("403"));
    assert!(out("upload.out").trim_end().ends_with("201"));
    assert!(out("again.out").contains("already exists"));
}
