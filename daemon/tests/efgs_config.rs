//! `[efgs_gateway]` and `[efgs_client]`: the example blocks parse when uncommented, and every bad
//! field is refused with a message that names it.

use enmesh_daemon::config::{Config, EXAMPLE};
use std::time::Duration;

/// The example with the commented block that starts at `marker` uncommented.
fn uncommented(marker: &str) -> String {
    let start = EXAMPLE.find(marker).unwrap();
    let end = start + EXAMPLE[start..].find("\n\n").unwrap();
    let block: String = EXAMPLE[start..end]
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap()))
        .collect();
    format!("{}{block}{}", &EXAMPLE[..start], &EXAMPLE[end..])
}

fn refused(text: &str) -> String {
    match Config::from_toml(text) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn the_example_blocks_parse_when_uncommented() {
    let config = Config::from_toml(EXAMPLE).unwrap();
    assert!(config.efgs_gateway.is_none() && config.efgs_client.is_none());
    let g = Config::from_toml(&uncommented("# [efgs_gateway]"))
        .unwrap()
        .efgs_gateway
        .unwrap();
    assert_eq!(g.listen, "0.0.0.0:9443".parse().unwrap());
    assert_eq!(g.callback_interval, Duration::from_secs(300));
    assert!(!g.allow_private_callbacks);
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].country.alpha2(), "DE");
    assert_eq!(g.members[0].signing_certs.len(), 1);
    let c = Config::from_toml(&uncommented("# [efgs_client]"))
        .unwrap()
        .efgs_client
        .unwrap();
    assert_eq!(c.interval, Duration::from_secs(300));
    assert_eq!(c.server_ca, None);
}

#[test]
fn bad_efgs_fields_are_refused_by_name() {
    let gateway = uncommented("# [efgs_gateway]");
    let msg = refused(&gateway.replace("country = \"DE\"", "country = \"XX\""));
    assert!(msg.contains("efgs_gateway.members[0].country"), "{msg}");
    let msg = refused(&gateway.replace("country = \"DE\"", "country = \"DEU\""));
    assert!(msg.contains("efgs_gateway.members[0].country"), "{msg}");
    let msg = refused(&gateway.replace("listen = \"0.0.0.0:9443\"", "listen = \"0.0.0.0:8080\""));
    assert!(
        msg.contains("efgs_gateway.listen") && msg.contains("http.listen"),
        "{msg}"
    );
    let msg = refused(&gateway.replace("listen = \"0.0.0.0:9443\"", "listen = \"nowhere\""));
    assert!(msg.contains("efgs_gateway.listen"), "{msg}");
    let msg = refused(&gateway.replace("# tls_cert = ", "tls_cert = "));
    assert!(
        msg.contains("efgs_gateway.tls_cert: requires tls_key"),
        "{msg}"
    );
    let msg =
        refused(&gateway.replace("callback_interval_secs = 300", "callback_interval_secs = 0"));
    assert!(msg.contains("efgs_gateway.callback_interval_secs"), "{msg}");
    let msg = refused(
        &gateway
            .replace(
                "authentication_certs = [\"efgs/de-authentication.pem\"]\n",
                "",
            )
            .replace("signing_certs = [\"efgs/de-signing.pem\"]\n", ""),
    );
    assert!(msg.contains("efgs_gateway.members[0]: requires"), "{msg}");
    let msg = refused(&gateway.replace("[efgs_gateway]\n", "[efgs_gateway]\ncolour = 1\n"));
    assert!(msg.contains("unknown field `colour`"), "{msg}");

    let client = uncommented("# [efgs_client]");
    let msg = refused(&client.replace("interval_secs = 300", "interval_secs = 100000"));
    assert!(msg.contains("efgs_client.interval_secs"), "{msg}");
    let msg = refused(&client.replace("# tls_key = ", "tls_key = "));
    assert!(
        msg.contains("efgs_client.tls_key: requires tls_cert"),
        "{msg}"
    );

    let peer = "\n[[peers]]\nurl = \"https://efgs.example\"\nregion = \"FR\"\nreplication = \"partial\"\nformat = \"efgs\"\n";
    let msg = refused(&format!("{EXAMPLE}{peer}"));
    assert!(
        msg.contains("peers[0].format: requires an [efgs_client]"),
        "{msg}"
    );
    let ok = Config::from_toml(&format!("{client}{peer}")).unwrap();
    assert_eq!(ok.peers.len(), 1);
    let msg = refused(&format!("{client}{}", peer.replace("https://", "http://")));
    assert!(msg.contains("peers[0].url"), "{msg}");
}

#[test]
fn efgs_paths_resolve_against_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = uncommented("# [efgs_gateway]");
    let path = dir.path().join("enmesh.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap();
    let g = config.efgs_gateway.as_ref().unwrap();
    assert!(
        g.signing_cert.starts_with(dir.path()),
        "relative paths resolve against the config"
    );
    assert!(g.members[0].authentication_certs[0].starts_with(dir.path()));
}
