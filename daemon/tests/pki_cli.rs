//! Runs the `enmesh` binary through `deploy/pki-walkthrough.md` in a temporary directory: every
//! `$ENMESH pki` line of the walkthrough, in order, then checks the results (verdicts, key file
//! modes, refusal to overwrite, and OpenSSL's view of the chain).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const WALKTHROUGH: &str = include_str!("../../deploy/pki-walkthrough.md");

fn enmesh(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_enmesh"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `$ENMESH pki` command lines of the walkthrough's `sh` blocks.
fn walkthrough_commands() -> Vec<&'static str> {
    let mut in_sh = false;
    let mut commands = Vec::new();
    for line in WALKTHROUGH.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if in_sh && line.starts_with("$ENMESH pki ") {
            commands.push(line);
        }
    }
    commands
}

#[test]
fn walkthrough_works_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let commands = walkthrough_commands();
    assert!(
        commands.len() >= 17,
        "walkthrough lost commands: {commands:?}"
    );
    let script = format!("set -e\n{}\n", commands.join("\n"));
    let run = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env("ENMESH", env!("CARGO_BIN_EXE_enmesh"))
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "walkthrough failed:\n{}\n{}",
        stdout(&run),
        stderr(&run)
    );
    assert!(stdout(&run).contains("FR rejected, as it should be"));

    // Private keys are 0600; certificates are not secret.
    for key in [
        "root.key",
        "cluster-eu.key",
        "de.key",
        "fr.key",
        "it.key",
        "auditor.key",
    ] {
        let mode = std::fs::metadata(dir.join(key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key} has mode {mode:o}");
    }
    let mode = std::fs::metadata(dir.join("de.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644);

    // inspect shows the fields the CA chose.
    let out = enmesh(dir, &["pki", "inspect", "--cert", "it.pem"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["role"], "node");
    assert_eq!(info["cluster"], "EU");
    assert_eq!(info["region"], "IT");
    assert!(info["peer_id"].as_str().unwrap().starts_with("12D3KooW"));

    // The revoked node is rejected with its reason and a non-zero exit; the others pass.
    let with_crls = |cert: &str| {
        enmesh(
            dir,
            &[
                "pki",
                "verify",
                "--root",
                "root.pem",
                "--cert",
                cert,
                "--untrusted",
                "cluster-eu.pem",
                "--crl",
                "root.crl",
                "--crl",
                "cluster-eu.crl",
            ],
        )
    };
    let fr = with_crls("fr.pem");
    assert!(!fr.status.success());
    assert!(
        stdout(&fr).contains(r#""reason":"certificate revoked""#),
        "{}",
        stdout(&fr)
    );
    let de = with_crls("de.pem");
    assert!(de.status.success(), "{}", stdout(&de));
    assert!(stdout(&de).contains(r#""region":"DE""#));
    assert!(stdout(&de).contains(r#""verdict":"accept""#));

    // The auditor is not a node.
    let auditor = enmesh(
        dir,
        &[
            "pki",
            "verify",
            "--root",
            "root.pem",
            "--cert",
            "auditor.pem",
            "--untrusted",
            "cluster-eu.pem",
        ],
    );
    assert!(!auditor.status.success());
    assert!(
        stdout(&auditor).contains("role auditor is not allowed"),
        "{}",
        stdout(&auditor)
    );

    // Nothing is overwritten without --force.
    let root_before = std::fs::read(dir.join("root.pem")).unwrap();
    let again = enmesh(
        dir,
        &[
            "pki",
            "init-root",
            "--out-cert",
            "root.pem",
            "--out-key",
            "root.key",
        ],
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("refusing to overwrite"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read(dir.join("root.pem")).unwrap(), root_before);
    let key_before = std::fs::read(dir.join("de.key")).unwrap();
    let again = enmesh(
        dir,
        &[
            "pki",
            "request",
            "--name",
            "x",
            "--out-key",
            "de.key",
            "--out-csr",
            "new.csr",
        ],
    );
    assert!(!again.status.success());
    assert_eq!(std::fs::read(dir.join("de.key")).unwrap(), key_before);
    // With --force a newer CRL replaces the old one and the CRL number goes up.
    let crl = enmesh(
        dir,
        &[
            "pki",
            "crl",
            "--ca-cert",
            "cluster-eu.pem",
            "--ca-key",
            "cluster-eu.key",
            "--out",
            "cluster-eu.crl",
            "--force",
        ],
    );
    assert!(crl.status.success(), "{}", stderr(&crl));
    assert!(
        stdout(&crl).contains("CRL #2 with 1 revoked"),
        "{}",
        stdout(&crl)
    );

    // OpenSSL agrees with the chain.
    match Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "cluster-eu.pem",
            "de.pem",
        ])
        .current_dir(dir)
        .output()
    {
        Ok(out) => assert!(
            stdout(&out).contains("de.pem: OK"),
            "{}{}",
            stdout(&out),
            stderr(&out)
        ),
        Err(e) if std::env::var_os("CI").is_some() => panic!("openssl must be on PATH in CI: {e}"),
        Err(e) => eprintln!("note: openssl not run ({e}); the OpenSSL cross-check was skipped"),
    }
}
