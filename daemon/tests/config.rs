//! Config loading: the example is valid and documented, and every kind of bad field is refused
//! with a message that names it.

use enmesh_daemon::config::{
    Config, ConfigError, EXAMPLE, FederationTls, FeedFormat, PullerAuth, Replication, init_command,
};
use std::path::Path;
use std::time::Duration;

/// The example with the one occurrence of `from` replaced by `to`.
fn example_with(from: &str, to: &str) -> String {
    assert_eq!(EXAMPLE.matches(from).count(), 1, "{from:?} must occur once");
    EXAMPLE.replacen(from, to, 1)
}

/// The error message of a config that must be refused.
fn refused(text: &str) -> String {
    match Config::from_toml(text) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(err) => err.to_string(),
    }
}

/// The 1-based number of the example's first line that contains `needle`.
fn line_of(needle: &str) -> usize {
    EXAMPLE.lines().position(|l| l.contains(needle)).unwrap() + 1
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
}

#[test]
fn example_parses_and_validates() {
    let config = Config::from_toml(EXAMPLE).unwrap();
    assert_eq!(config.node.region.to_string(), "DE");
    assert_eq!(config.node.cluster.as_str(), "EU");
    assert_eq!(config.http.listen, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(config.http.max_body_bytes, 1 << 20);
    assert_eq!(config.grpc.listen, "0.0.0.0:8443".parse().unwrap());
    assert_eq!(
        config.pki.crl_dir.as_deref(),
        Some(Path::new("/etc/enmesh/pki/crl"))
    );
    assert_eq!(config.retention.days, 30);
    assert_eq!(config.retention.sweep_interval, Duration::from_secs(3600));
    assert_eq!(config.batching.window, Duration::from_secs(60));
    assert_eq!(
        (config.batching.min_keys, config.batching.max_keys),
        (100, 10_000)
    );
    assert_eq!(config.export.key_id, "262");
    assert_eq!(config.upload.code_ttl, Duration::from_secs(3600));
    assert!(config.peers.is_empty());
}

#[test]
fn example_peer_block_parses_when_uncommented() {
    let start = EXAMPLE.find("# [[peers]]").unwrap();
    let (head, tail) = EXAMPLE.split_at(start);
    let uncommented: String = tail
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap()))
        .collect();
    let config = Config::from_toml(&format!("{head}{uncommented}")).unwrap();
    assert_eq!(config.peers.len(), 1);
    let peer = &config.peers[0];
    assert_eq!(peer.url.to_string(), "https://fr.enmesh.example:8443/");
    assert_eq!(peer.region.to_string(), "FR");
    assert_eq!(peer.replication, Replication::Partial);
    assert_eq!(peer.format, FeedFormat::Enmesh);
}

#[test]
fn every_example_field_has_a_comment_above_it() {
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    let mut fields = 0;
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with('#') && line.contains(" = ") {
            fields += 1;
            assert!(
                i > 0 && lines[i - 1].starts_with('#'),
                "no comment above {line:?}"
            );
        }
    }
    assert_eq!(fields, 29);
}

#[test]
fn optional_fields_take_their_defaults() {
    let text = example_with("max_body_bytes = 1048576\n", "")
        .replace("sweep_interval_secs = 3600\n", "")
        .replace("checkpoint_secs = 10\n", "")
        .replace("crl_dir = \"/etc/enmesh/pki/crl\"\n", "");
    let config = Config::from_toml(&text).unwrap();
    assert_eq!(config.audit.checkpoint_interval, Duration::from_secs(10));
    assert_eq!(config.http.max_body_bytes, 1 << 20);
    assert_eq!(config.retention.sweep_interval, Duration::from_secs(3600));
    assert_eq!(config.pki.crl_dir, None);
}

#[test]
fn unknown_field_is_refused() {
    let msg = refused(&example_with("[node]\n", "[node]\ncolour = \"red\"\n"));
    let line = format!("line {}", line_of("[node]") + 1);
    assert_mentions(&msg, &["unknown field `colour`", &line]);
    let msg = refused(&format!("{EXAMPLE}\n[metrics]\nport = 9\n"));
    assert_mentions(&msg, &["unknown field `metrics`"]);
}

#[test]
fn missing_required_field_is_refused() {
    let msg = refused(&example_with("cluster = \"EU\"\n", ""));
    assert_mentions(&msg, &["missing field `cluster`"]);
    let msg = refused(&example_with("key_version = \"v1\"\n", ""));
    assert_mentions(&msg, &["missing field `key_version`"]);
}

#[test]
fn toml_syntax_error_names_the_line() {
    let msg = refused(&example_with("days = 30", "days = "));
    let line = format!("line {}", line_of("days = 30"));
    assert_mentions(&msg, &[&line, "days ="]);
}

#[test]
fn wrong_type_is_refused() {
    let line = format!("line {}", line_of("days = 30"));
    let msg = refused(&example_with("days = 30", "days = \"thirty\""));
    assert_mentions(&msg, &[&line, "days", "expected u64"]);
    let msg = refused(&example_with("days = 30", "days = -1"));
    assert_mentions(&msg, &[&line, "days"]);
}

#[test]
fn bad_region_is_refused() {
    let msg = refused(&example_with("region = \"DE\"", "region = \"XX\""));
    assert_mentions(&msg, &["node.region: unknown country code \"XX\""]);
    let msg = refused(&example_with("region = \"DE\"", "region = \"DE-toolong\""));
    assert_mentions(&msg, &["node.region: bad subdivision"]);
}

#[test]
fn bad_cluster_is_refused() {
    let msg = refused(&example_with("cluster = \"EU\"", "cluster = \"E U\""));
    assert_mentions(&msg, &["node.cluster: bad cluster id \"E U\""]);
}

#[test]
fn bad_address_is_refused() {
    let msg = refused(&example_with("0.0.0.0:8080", "localhost:8080"));
    assert_mentions(
        &msg,
        &["http.listen: bad socket address \"localhost:8080\""],
    );
    let msg = refused(&example_with("0.0.0.0:8443", "0.0.0.0"));
    assert_mentions(&msg, &["grpc.listen: bad socket address"]);
    let msg = refused(&example_with("0.0.0.0:8443", "0.0.0.0:8080"));
    assert_mentions(
        &msg,
        &["grpc.listen: 0.0.0.0:8080 is already used by http.listen"],
    );
}

#[test]
fn out_of_range_numbers_are_refused() {
    for (from, to, expected) in [
        (
            "days = 30",
            "days = 0",
            "retention.days: 0 is out of range 1..=365",
        ),
        (
            "days = 30",
            "days = 366",
            "retention.days: 366 is out of range 1..=365",
        ),
        (
            "window_ms = 60000",
            "window_ms = 0",
            "batching.window_ms: 0 is out of range",
        ),
        (
            "max_keys = 10000",
            "max_keys = 0",
            "batching.max_keys: 0 is out of range",
        ),
        (
            "max_body_bytes = 1048576",
            "max_body_bytes = 0",
            "http.max_body_bytes: 0 is out of range",
        ),
        (
            "sweep_interval_secs = 3600",
            "sweep_interval_secs = 0",
            "retention.sweep_interval_secs: 0 is out of range",
        ),
        (
            "code_ttl_secs = 3600",
            "code_ttl_secs = 0",
            "upload.code_ttl_secs: 0 is out of range",
        ),
        (
            "crl_reload_secs = 60",
            "crl_reload_secs = 0",
            "pki.crl_reload_secs: 0 is out of range 1..=86400",
        ),
        (
            "checkpoint_secs = 10",
            "checkpoint_secs = 3601",
            "audit.checkpoint_secs: 3601 is out of range 1..=3600",
        ),
    ] {
        assert_mentions(&refused(&example_with(from, to)), &[expected]);
    }
}

#[test]
fn min_keys_above_max_keys_is_refused() {
    let msg = refused(&example_with("min_keys = 100", "min_keys = 20000"));
    assert_mentions(
        &msg,
        &["batching.min_keys: 20000 is above batching.max_keys = 10000"],
    );
    // Equal is fine: every batch is padded to exactly max_keys.
    Config::from_toml(&example_with("min_keys = 100", "min_keys = 10000")).unwrap();
}

#[test]
fn empty_export_ids_are_refused() {
    let msg = refused(&example_with("key_id = \"262\"", "key_id = \" \""));
    assert_mentions(&msg, &["export.key_id: must not be empty"]);
}

#[test]
fn bad_peers_are_refused() {
    let peer = |url: &str, region: &str, replication: &str| {
        format!(
            "{EXAMPLE}\n[[peers]]\nurl = \"https://a.example\"\nregion = \"FR\"\nreplication = \"a2a\"\nformat = \"efgs\"\n\
             \n[[peers]]\nurl = \"{url}\"\nregion = \"{region}\"\nreplication = \"{replication}\"\nformat = \"enmesh\"\n\
             \n[efgs_client]\nsigning_cert = \"s.pem\"\nsigning_key = \"s.key\"\n"
        )
    };
    let ok = Config::from_toml(&peer("http://b.example:1", "IT", "partial")).unwrap();
    assert_eq!(ok.peers[0].replication, Replication::A2a);
    assert_eq!(ok.peers[0].format, FeedFormat::Efgs);
    let msg = refused(&peer("ftp://b.example", "IT", "partial"));
    assert_mentions(&msg, &["peers[1].url: bad URL \"ftp://b.example\""]);
    let msg = refused(&peer("b.example", "IT", "partial"));
    assert_mentions(&msg, &["peers[1].url: bad URL"]);
    let msg = refused(&peer("http://b.example", "ZZ", "partial"));
    assert_mentions(&msg, &["peers[1].region: unknown country code \"ZZ\""]);
    let msg = refused(&peer("http://b.example", "IT", "full"));
    assert_mentions(&msg, &["unknown variant `full`", "partial", "a2a"]);
}

#[test]
fn init_writes_the_deploy_example_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enmesh.toml");
    init_command(&path, false).unwrap();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/enmesh.example.toml");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(deploy).unwrap()
    );

    std::fs::write(&path, "# edited by the operator\n").unwrap();
    let err = init_command(&path, false).unwrap_err();
    assert!(matches!(err, ConfigError::Exists { .. }), "{err}");
    assert_mentions(&err.to_string(), &["already exists", "--force"]);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "# edited by the operator\n"
    );

    init_command(&path, true).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), EXAMPLE);
}

#[test]
fn load_resolves_relative_paths_and_check_files_names_the_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = EXAMPLE
        .replace("/etc/enmesh/", "")
        .replace("/var/lib/enmesh", "data");
    text = text.replace("crl_dir = \"pki/crl\"\n", "");
    let path = dir.path().join("enmesh.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(config.pki.node_key, dir.path().join("pki/node.key"));
    assert_eq!(config.node.data_dir, dir.path().join("data"));

    let msg = config.check_files().unwrap_err().to_string();
    assert_mentions(&msg, &["pki.root_cert: cannot open", "root.pem"]);

    std::fs::create_dir(dir.path().join("pki")).unwrap();
    for file in ["root.pem", "cluster-ca.pem", "node.pem", "node.key"] {
        std::fs::write(dir.path().join("pki").join(file), "x").unwrap();
    }
    let msg = config.check_files().unwrap_err().to_string();
    assert_mentions(&msg, &["export.signing_key: cannot open"]);

    std::fs::write(dir.path().join("export-signing.pem"), "x").unwrap();
    config.check_files().unwrap();

    std::fs::write(dir.path().join("data"), "not a directory").unwrap();
    let msg = config.check_files().unwrap_err().to_string();
    assert_mentions(&msg, &["node.data_dir:", "is not a directory"]);
}

#[test]
fn load_names_an_unreadable_file() {
    let err = Config::load(Path::new("/nonexistent/enmesh.toml")).unwrap_err();
    assert_mentions(&err.to_string(), &["cannot read /nonexistent/enmesh.toml"]);
}

#[test]
fn windows_must_divide_a_day_and_admin_must_not_clash() {
    let bad_chunk = EXAMPLE.replace("chunk_secs = 600", "chunk_secs = 700");
    let err = Config::from_toml(&bad_chunk).unwrap_err().to_string();
    assert!(
        err.starts_with("feed.chunk_secs: 700 seconds does not divide a day"),
        "{err}"
    );
    let bad_period = EXAMPLE.replace("period_secs = 3600", "period_secs = 30");
    let err = Config::from_toml(&bad_period).unwrap_err().to_string();
    assert!(err.starts_with("export.period_secs:"), "{err}");
    let clash = EXAMPLE.replace("listen = \"127.0.0.1:9090\"", "listen = \"0.0.0.0:8080\"");
    let err = Config::from_toml(&clash).unwrap_err().to_string();
    assert!(err.starts_with("admin.listen:"), "{err}");
    let bad_member = EXAMPLE.replace("[\"DE\", \"FR\", \"IT\"]", "[\"DE\", \"XX\"]");
    let err = Config::from_toml(&bad_member).unwrap_err().to_string();
    assert!(err.starts_with("node.cluster_regions[1]:"), "{err}");
}

#[test]
fn mesh_is_off_unless_configured_and_its_block_parses_when_uncommented() {
    assert_eq!(Config::from_toml(EXAMPLE).unwrap().mesh, None);
    let start = EXAMPLE.find("# [mesh]").unwrap();
    let end = start + EXAMPLE[start..].find("\n\n").unwrap();
    let uncommented: String = EXAMPLE[start..end]
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap()))
        .collect();
    let text = format!("{}{uncommented}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    let mesh = Config::from_toml(&text).unwrap().mesh.unwrap();
    assert_eq!(mesh.listen.to_string(), "/ip4/0.0.0.0/tcp/7400");
    let bootstrap: Vec<String> = mesh.bootstrap.iter().map(ToString::to_string).collect();
    assert_eq!(
        bootstrap,
        [
            "/ip4/192.0.2.10/tcp/7400",
            "/dns4/fr.enmesh.example/tcp/7400"
        ]
    );
}

#[test]
fn bad_mesh_addresses_are_refused() {
    let msg = refused(&format!("{EXAMPLE}\n[mesh]\nlisten = \"0.0.0.0:7400\"\n"));
    assert_mentions(&msg, &["mesh.listen", "0.0.0.0:7400"]);
    let msg = refused(&format!(
        "{EXAMPLE}\n[mesh]\nlisten = \"/ip4/0.0.0.0/tcp/0\"\nbootstrap = [\"/ip4/10.0.0.1/tcp/1\", \"/nope\"]\n"
    ));
    assert_mentions(&msg, &["mesh.bootstrap[1]", "/nope"]);
    let msg = refused(&format!(
        "{EXAMPLE}\n[mesh]\nlisten = \"/ip4/0.0.0.0/tcp/0\"\nport = 1\n"
    ));
    assert_mentions(&msg, &["port"]);
}

#[test]
fn federation_tls_and_puller_auth_are_validated_and_name_their_field() {
    let fed = |server: &str, puller: &str| {
        format!(
            "{EXAMPLE}\n[federation]\nlisten = \"127.0.0.1:8444\"\n{server}\n\
             [[federation.pullers]]\nname = \"p\"\n{puller}\n"
        )
    };
    let token = "token_file = \"/t\"";
    let ok = Config::from_toml(&fed("", "region = \"FR\"")).unwrap();
    let f = ok.federation.unwrap();
    assert_eq!(f.tls, FederationTls::Node);
    assert_eq!(f.pullers[0].auth, PullerAuth::Region("FR".parse().unwrap()));
    let ok = Config::from_toml(&fed(
        "tls = \"files\"\ncert_file = \"/c\"\nkey_file = \"/k\"",
        token,
    ))
    .unwrap();
    assert!(matches!(
        ok.federation.unwrap().tls,
        FederationTls::Files { .. }
    ));
    for (server, puller, want) in [
        ("tls = \"files\"", token, "federation.cert_file: missing"),
        (
            "tls = \"files\"\ncert_file = \"/c\"",
            token,
            "federation.key_file: missing",
        ),
        (
            "cert_file = \"/c\"",
            token,
            "federation.cert_file: not allowed with federation.tls = \"node\"",
        ),
        ("tls = \"tls13\"", token, "federation.tls: \"tls13\" is not"),
        (
            "tls = \"none\"",
            "region = \"FR\"",
            "federation.pullers[0].region: not allowed with federation.tls = \"none\"",
        ),
        (
            "",
            "region = \"FR\"\ntoken_file = \"/t\"",
            "federation.pullers[0].region: not allowed with federation.pullers[0].token_file",
        ),
        (
            "",
            "",
            "federation.pullers[0].token_file (or region): missing",
        ),
        ("", "region = \"ZZ\"", "federation.pullers[0].region:"),
    ] {
        assert_mentions(&refused(&fed(server, puller)), &[want]);
    }
    let peer = |url: &str| {
        format!(
            "{EXAMPLE}\n[[peers]]\nurl = \"{url}\"\nregion = \"CH\"\nformat = \"google-federation\"\n\
             ca_file = \"/roots.pem\"\n"
        )
    };
    let ok = Config::from_toml(&peer("https://f.example:8444")).unwrap();
    assert_eq!(
        ok.federation_peers[0].ca_file.as_deref(),
        Some(Path::new("/roots.pem"))
    );
    assert_mentions(
        &refused(&peer("http://f.example:8444")),
        &["peers[0].ca_file: not allowed with the http:// URL of peers[0].url"],
    );
    // gaen-export: https:// needs ca_file, http:// takes none.
    let export = |url: &str, ca: &str| {
        format!(
            "{EXAMPLE}\n[[peers]]\nurl = \"{url}\"\nregion = \"AT\"\nformat = \"gaen-export\"\n{ca}\n\
             [[peers.verification_keys]]\nkey_id = \"232\"\nkey_version = \"v2\"\npublic_key = \"/k.pem\"\n"
        )
    };
    let ok = Config::from_toml(&export(
        "https://cdn.example/i/index.txt",
        "ca_file = \"/r.pem\"",
    ))
    .unwrap();
    assert_eq!(
        ok.gaen_export_peers[0].ca_file.as_deref(),
        Some(Path::new("/r.pem"))
    );
    assert_mentions(
        &refused(&export("https://cdn.example/i/index.txt", "")),
        &["peers[0].ca_file: missing"],
    );
    assert_mentions(
        &refused(&export(
            "http://cdn.example/i/index.txt",
            "ca_file = \"/r.pem\"",
        )),
        &["peers[0].ca_file: not allowed with the http:// URL of peers[0].url"],
    );
}
