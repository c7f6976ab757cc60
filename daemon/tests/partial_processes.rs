//! Need-to-know replication between three real `enmesh daemon` processes, with a PKI made by
//! the `enmesh pki` commands: A = DE (cluster EU), B = US-CA (cluster USA), C = JP (cluster
//! APAC); A and C pull their partial feeds from B.
//!
//! - An upload at B that visited A reaches A's public feed and not C's; C's certificate cannot
//!   pull A's feed.
//! - `kill -9` of the consumer A in the middle of a long catch-up, then a restart: A ends with
//!   exactly the keys of B's batches for A, nothing duplicated, nothing missing.

mod common;

use common::{eventually, region};
use enmesh_protocol::feed::Feed;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use enmesh_daemon::admin::token;
use enmesh_daemon::demo::drive;
use enmesh_daemon::demo::sites::{self, SiteOptions};
use enmesh_daemon::pki::bootstrap::NodeFiles;
use enmesh_daemon::pki::{Verifier, files, tls};
use enmesh_daemon::replicate::partial::connect;
use enmesh_daemon::store::{KeySource, Store};
use enmesh_proto::v1::{BatchBody, PullRequest};
use prost::Message;
use rustls_pki_types::UnixTime;

const ENMESH: &str = env!("CARGO_BIN_EXE_enmesh");

fn pki(dir: &Path, args: &[&str]) {
    let out = Command::new(ENMESH)
        .arg("pki")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "enmesh pki {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Root, three cluster CAs and three nodes, made with `enmesh pki` as an operator would.
fn make_pki(dir: &Path) -> Vec<NodeFiles> {
    std::fs::create_dir_all(dir).unwrap();
    pki(
        dir,
        &[
            "init-root",
            "--name",
            "test root",
            "--days",
            "30",
            "--out-cert",
            "root.pem",
            "--out-key",
            "root.key",
        ],
    );
    let mut nodes = Vec::new();
    for (cluster, node) in [("EU", "DE"), ("USA", "US-CA"), ("APAC", "JP")] {
        let c = cluster.to_lowercase();
        let n = node.to_lowercase();
        let (ca_cert, ca_key) = (format!("cluster-{c}.pem"), format!("cluster-{c}.key"));
        pki(
            dir,
            &[
                "issue-cluster",
                "--cluster",
                cluster,
                "--root-cert",
                "root.pem",
                "--root-key",
                "root.key",
                "--days",
                "30",
                "--out-cert",
                &ca_cert,
                "--out-key",
                &ca_key,
            ],
        );
        let (key, csr, cert) = (format!("{n}.key"), format!("{n}.csr"), format!("{n}.pem"));
        pki(
            dir,
            &[
                "request",
                "--name",
                &format!("{node} backend"),
                "--out-key",
                &key,
                "--out-csr",
                &csr,
            ],
        );
        pki(
            dir,
            &[
                "issue-node",
                "--region",
                node,
                "--csr",
                &csr,
                "--ca-cert",
                &ca_cert,
                "--ca-key",
                &ca_key,
                "--days",
                "30",
                "--out-cert",
                &cert,
            ],
        );
        nodes.push(NodeFiles {
            region: region(node),
            cluster: cluster.parse().unwrap(),
            cert: dir.join(cert),
            key: dir.join(key),
            cluster_ca: dir.join(ca_cert),
        });
    }
    nodes
}

/// A site's config file (with `[[peers]]` pulling from `producers`) and data directory.
fn write_config(
    dir: &Path,
    node: &NodeFiles,
    producers: &[(&str, SocketAddr)],
    options: &SiteOptions,
) -> (PathBuf, PathBuf) {
    let stem = node.region.to_string().to_lowercase();
    let export_key = dir.join(format!("{stem}-export.key"));
    if !export_key.exists() {
        sites::write_export_key(&export_key).unwrap();
    }
    let data_dir = dir.join(format!("{stem}-data"));
    std::fs::create_dir_all(&data_dir).unwrap();
    let mut text = sites::config_toml(
        node,
        &dir.join("pki/root.pem"),
        &export_key,
        &data_dir,
        &[&node.region],
        options,
    );
    for (producer, at) in producers {
        text += &format!(
            "\n[[peers]]\nurl = \"https://{at}\"\nregion = \"{producer}\"\nreplication = \"partial\"\nformat = \"enmesh\"\n"
        );
    }
    let path = dir.join(format!("{stem}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, data_dir)
}

/// A running daemon process, where it listens, and its log so far.
struct Daemon {
    child: Child,
    addrs: HashMap<String, SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(ENMESH)
            .args(["daemon", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addrs = loop {
            let line = lines
                .next()
                .expect("the daemon exited before it started")
                .unwrap();
            if line.contains("enmesh daemon started") {
                break ["http", "admin", "grpc"]
                    .iter()
                    .map(|name| {
                        let start = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
                        let addr = line[start..]
                            .split_whitespace()
                            .next()
                            .unwrap()
                            .parse()
                            .unwrap();
                        ((*name).to_owned(), addr)
                    })
                    .collect();
            }
        };
        // Keep reading the log so the daemon never blocks on a full pipe.
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, addrs, log }
    }

    fn logged(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(text))
    }

    fn addr(&self, name: &str) -> SocketAddr {
        self.addrs[name]
    }

    fn stop(mut self) {
        // SIGTERM: the daemon shuts down in order.
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(self.child.wait().unwrap().success());
    }

    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

async fn metric(daemon: &Daemon, prefix: &str) -> u64 {
    let text = enmesh_daemon::api::client::get(daemon.addr("http"), "/metrics")
        .await
        .unwrap()
        .text();
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn options(max_keys: u64) -> SiteOptions {
    SiteOptions {
        batch_window_ms: 5,
        batch_min_keys: 0,
        batch_max_keys: max_keys,
        ..SiteOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_at_b_reaches_a_and_not_c_and_c_cannot_pull_as() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = make_pki(&dir.path().join("pki"));
    let (a_node, b_node, c_node) = (&nodes[0], &nodes[1], &nodes[2]);
    let (b_config, b_data) = write_config(dir.path(), b_node, &[], &options(10_000));
    let b = Daemon::start(&b_config);
    let (a_config, _) = write_config(
        dir.path(),
        a_node,
        &[("US-CA", b.addr("grpc"))],
        &options(10_000),
    );
    let (c_config, _) = write_config(
        dir.path(),
        c_node,
        &[("US-CA", b.addr("grpc"))],
        &options(10_000),
    );
    let (a, c) = (Daemon::start(&a_config), Daemon::start(&c_config));

    let now = UnixTime::now().as_secs();
    let keys = drive::traveller_keys(now).unwrap();
    let token = token::load(&b_data).unwrap();
    drive::upload(b.addr("http"), b.addr("admin"), &token, &keys, &["DE"], now)
        .await
        .unwrap();
    let want: std::collections::HashSet<String> = keys.iter().map(drive::key_text).collect();
    eventually("the traveller's keys in A's public feed", || async {
        drive::feed_keys(a.addr("http")).await.unwrap() == want
    })
    .await;
    eventually("C connected to B", || async {
        metric(
            &c,
            "enmesh_replication_connected{producer=\"US-CA partial/JP\"}",
        )
        .await
            == 1
    })
    .await;
    assert!(drive::feed_keys(c.addr("http")).await.unwrap().is_empty());

    // C's certificate asking B for A's feed.
    let credential = c_node.credential().unwrap();
    let root = files::read_first_cert(&dir.path().join("pki/root.pem")).unwrap();
    let verifier = Arc::new(Verifier::new(root, &[]).unwrap());
    let config = tls::client_config(verifier, &credential, Some(region("US-CA"))).unwrap();
    let url = format!("https://{}", b.addr("grpc")).parse().unwrap();
    let mut client = connect::replication_client(&url, Arc::new(config))
        .await
        .unwrap();
    let refused = client
        .pull(PullRequest {
            feed: "partial/DE".into(),
            ..PullRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused}");
    assert_eq!(
        metric(
            &b,
            "enmesh_feed_pull_denials_total{peer=\"JP\",reason=\"not_own_region\"}"
        )
        .await,
        1
    );

    for daemon in [a, c, b] {
        daemon.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_consumer_mid_stream_loses_and_duplicates_nothing() {
    const UPLOADS: usize = 120;
    let dir = tempfile::tempdir().unwrap();
    let nodes = make_pki(&dir.path().join("pki"));
    let (a_node, b_node) = (&nodes[0], &nodes[1]);
    // Two keys a batch: 14 keys an upload make 7 batches, so B's feed for A is long.
    let (b_config, b_data) = write_config(dir.path(), b_node, &[], &options(2));
    let b = Daemon::start(&b_config);
    let token = token::load(&b_data).unwrap();
    let now = UnixTime::now().as_secs();
    for _ in 0..UPLOADS {
        let keys = drive::traveller_keys(now).unwrap();
        drive::upload(b.addr("http"), b.addr("admin"), &token, &keys, &["DE"], now)
            .await
            .unwrap();
    }
    let total_batches = (UPLOADS * 7) as u64;
    eventually("B cut every batch", || async {
        metric(&b, "enmesh_batches_total{feed=\"partial/DE\"}").await == total_batches
    })
    .await;

    // A starts, catches up, and is killed part-way.
    let (a_config, a_data) = write_config(
        dir.path(),
        a_node,
        &[("US-CA", b.addr("grpc"))],
        &options(2),
    );
    let a = Daemon::start(&a_config);
    let batches = "enmesh_replication_batches_total{producer=\"US-CA partial/DE\"}";
    eventually("A part-way through the catch-up", || async {
        metric(&a, batches).await >= 20
    })
    .await;
    a.kill_9();
    {
        // It really died mid-stream: its cursor is part-way.
        let store = Store::open(&a_data).unwrap();
        let feed = "partial/DE".parse::<Feed>().unwrap();
        let held = store
            .cursor(&region("US-CA"), &feed)
            .unwrap()
            .unwrap()
            .last_sequence;
        assert!(
            (20..total_batches).contains(&held),
            "killed at {held} of {total_batches}"
        );
    }

    let a = Daemon::start(&a_config);
    eventually("A caught up after the restart", || async {
        metric(&a, "enmesh_keys_stored_total{kind=\"remote\"}").await > 0
            && drive::feed_keys(a.addr("http")).await.unwrap().len() == UPLOADS * 14
    })
    .await;
    // The long catch-up showed its progress.
    assert!(a.logged("catching up"), "no catch-up progress in A's log");
    eventually("A's log to say it caught up", || async {
        a.logged("caught up")
    })
    .await;
    a.stop();
    b.stop();

    // Compare the stores: A holds exactly the keys of B's batches for it, each once.
    let b_store = Store::open(&b_data).unwrap();
    let mut want: Vec<Vec<u8>> = b_store
        .batches_after(&"partial/DE".parse::<Feed>().unwrap(), 0, usize::MAX)
        .unwrap()
        .iter()
        .flat_map(|b| BatchBody::decode(b.signed.body.as_slice()).unwrap().keys)
        .map(|k| k.key_data)
        .collect();
    let a_store = Store::open(&a_data).unwrap();
    let page = a_store.keys_arrived(0, u64::MAX, None, 1_000_000).unwrap();
    assert!(
        page.entries
            .iter()
            .all(|e| e.source == KeySource::Remote(region("US-CA")))
    );
    let mut got: Vec<Vec<u8>> = page.entries.iter().map(|e| e.key.key.0.to_vec()).collect();
    want.sort();
    got.sort();
    assert_eq!(got.len(), UPLOADS * 14);
    assert_eq!(got, want);
    let cursor = a_store
        .cursor(&region("US-CA"), &"partial/DE".parse::<Feed>().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(cursor.last_sequence, total_batches);
}
