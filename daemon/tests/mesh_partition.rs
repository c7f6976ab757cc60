//! The cluster mesh across real `enmesh daemon` processes, each in its own network namespace,
//! joined by veth pairs on one bridge: the cluster is split in two halves (unreachable routes),
//! both halves take uploads, and after the split heals every node holds every batch. Then one
//! node is killed with SIGKILL, another uploads, and the killed node catches up when restarted.
//!
//! Needs root and `ip` (iproute2) with network namespaces; without them the test says it was
//! skipped and passes.

use axum::http::{Method, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use enmesh_daemon::admin::{cli, token};
use enmesh_daemon::api::client;
use enmesh_daemon::demo::sites::{self, Site, SiteOptions};
use enmesh_daemon::store::{FeedId, Store};
use enmesh_protocol::interval::{IntervalNumber, TEK_ROLLING_PERIOD};
use enmesh_protocol::region::{ClusterId, RegionId};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NODES: usize = 4;
const CONVERGE: Duration = Duration::from_secs(60);

/// Runs `ip` with `args`; whether it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `ip` with `args` and panics if it fails.
fn ip_ok(args: &[&str]) {
    assert!(ip(args), "ip {}", args.join(" "));
}

/// The namespaces, veths and bridge of one test run; removed on drop.
struct Net {
    tag: String,
    subnet: u32,
}

impl Net {
    /// Builds the network, or `None` if this machine cannot (not root, no `ip`, no netns).
    fn build() -> Option<Self> {
        let pid = std::process::id();
        let net = Self {
            tag: format!("enm{}", pid % 100_000),
            subnet: pid % 250,
        };
        if !ip(&["netns", "add", &net.ns(0)]) {
            return None;
        }
        let bridge = net.bridge();
        ip_ok(&["link", "add", &bridge, "type", "bridge"]);
        ip_ok(&[
            "addr",
            "add",
            &format!("{}/24", net.addr(254)),
            "dev",
            &bridge,
        ]);
        ip_ok(&["link", "set", &bridge, "up"]);
        for i in 0..NODES {
            let (ns, veth) = (net.ns(i), format!("{}v{i}", net.tag));
            if i > 0 {
                ip_ok(&["netns", "add", &ns]);
            }
            ip_ok(&["-n", &ns, "link", "set", "lo", "up"]);
            ip_ok(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            ip_ok(&["link", "set", &veth, "master", &bridge]);
            ip_ok(&["link", "set", &veth, "up"]);
            let addr = format!("{}/24", net.node_ip(i));
            ip_ok(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"]);
            ip_ok(&["-n", &ns, "link", "set", "eth0", "up"]);
        }
        Some(net)
    }

    fn ns(&self, i: usize) -> String {
        format!("{}n{i}", self.tag)
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    fn addr(&self, host: u32) -> String {
        format!("10.77.{}.{host}", self.subnet)
    }

    fn node_ip(&self, i: usize) -> String {
        self.addr(u32::try_from(i).unwrap() + 1)
    }

    /// Cuts (`add`) or heals (`del`) every route between the halves {0, 1} and {2, 3}.
    fn split(&self, action: &str) {
        for i in 0..NODES {
            for j in 0..NODES {
                if (i < 2) != (j < 2) {
                    let target = format!("{}/32", self.node_ip(j));
                    ip_ok(&["-n", &self.ns(i), "route", action, "unreachable", &target]);
                }
            }
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 0..NODES {
            // Deleting one end of a veth pair deletes both, even while the namespace lingers.
            ip(&["link", "del", &format!("{}v{i}", self.tag)]);
            ip(&["netns", "del", &self.ns(i)]);
        }
        ip(&["link", "del", &self.bridge()]);
    }
}

/// One daemon process in its namespace.
struct Daemon {
    child: Child,
    http: SocketAddr,
    admin: SocketAddr,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes site `i`'s config: its services on its namespace address, the mesh on port 7400,
/// bootstrapped with every other node.
fn write_config(net: &Net, site: &Site, i: usize) -> std::path::PathBuf {
    let me = net.node_ip(i);
    let mut text = std::fs::read_to_string(&site.config_path).unwrap();
    for port in [8080, 8443, 9090] {
        text = text.replacen("\"127.0.0.1:0\"", &format!("\"{me}:{port}\""), 1);
    }
    let bootstrap: Vec<String> = (0..NODES)
        .filter(|j| *j != i)
        .map(|j| format!("\"/ip4/{}/tcp/7400\"", net.node_ip(j)))
        .collect();
    text.push_str(&format!(
        "\n[mesh]\nlisten = \"/ip4/{me}/tcp/7400\"\nbootstrap = [{}]\n",
        bootstrap.join(", ")
    ));
    let path = site.config_path.with_extension("netns.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn(net: &Net, config: &std::path::Path, i: usize) -> Daemon {
    let child = Command::new("ip")
        .args(["netns", "exec", &net.ns(i), env!("CARGO_BIN_EXE_enmesh")])
        .args(["daemon", "--config"])
        .arg(config)
        .env("RUST_LOG", "info,enmesh_daemon::replicate::mesh=debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start enmesh daemon");
    // Owned by the guard at once, so it is killed and reaped on every path.
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut daemon = Daemon {
        child,
        http: unspecified,
        admin: unspecified,
    };
    let mut lines = BufReader::new(daemon.child.stderr.take().unwrap()).lines();
    let field = |line: &str, name: &str| -> SocketAddr {
        let start = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
        line[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    loop {
        let line = lines
            .next()
            .expect("the daemon exited before it started")
            .unwrap();
        if line.contains("enmesh daemon started") {
            (daemon.http, daemon.admin) = (field(&line, "http"), field(&line, "admin"));
            // Keep draining the log (to a file next to the config) so the daemon never blocks.
            let log = config.with_extension("log");
            std::thread::spawn(move || {
                use std::io::Write;
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap();
                for line in lines.map_while(Result::ok) {
                    let _ = writeln!(file, "{line}");
                }
            });
            return daemon;
        }
    }
}

/// Uploads one key (`seed`) at `daemon` through the real operator and publish APIs.
async fn upload(daemon: &Daemon, site: &Site, seed: u32) {
    let token = token::load(&site.config.node.data_dir).unwrap();
    let answer = cli::call(daemon.admin, &token, Method::POST, "/admin/codes")
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let today = IntervalNumber::from_unix_seconds(now)
        .unwrap()
        .day_start()
        .0;
    let mut key = [0x5a; 16];
    key[..4].copy_from_slice(&seed.to_be_bytes());
    let body = serde_json::json!({
        "temporaryExposureKeys": [{
            "key": STANDARD.encode(key),
            "rollingStartNumber": today - TEK_ROLLING_PERIOD,
            "rollingPeriod": TEK_ROLLING_PERIOD,
            "transmissionRisk": 0,
        }],
        "verificationPayload": value["code"].as_str().unwrap(),
    });
    let answer = client::request(
        daemon.http,
        Method::POST,
        "/v1/publish",
        &[(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
}

/// The value of the metric line starting with `name` (0 if absent), summed over label sets.
async fn metric(daemon: &Daemon, name: &str) -> u64 {
    let text = client::get(daemon.http, "/metrics").await.unwrap().text();
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Waits until, for each `(i, n)` of `expect`, daemon `i` has received `n` keys from the mesh.
async fn wait_keys(daemons: &[Option<Daemon>], expect: &[(usize, u64)], what: &str) {
    let start = Instant::now();
    loop {
        let mut all = true;
        for (i, want) in expect {
            let got = metric(
                daemons[*i].as_ref().unwrap(),
                "enmesh_mesh_received_keys_total",
            )
            .await;
            all &= got == *want;
        }
        if all {
            return;
        }
        assert!(start.elapsed() < CONVERGE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends SIGTERM and waits for a clean exit.
fn terminate(mut daemon: Daemon) {
    let pid = daemon.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "daemon exit: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_converge_after_healing_and_a_killed_node_catches_up() {
    let Some(net) = Net::build() else {
        eprintln!("SKIPPED: needs root and `ip netns` (network namespaces)");
        return;
    };
    let dir = tempfile::Builder::new()
        .disable_cleanup(std::env::var_os("ENMESH_KEEP").is_some())
        .tempdir()
        .unwrap();
    eprintln!("sites and daemon logs in {}", dir.path().display());
    let regions: Vec<RegionId> = ["DE", "FR", "IT", "ES"]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    let eu: ClusterId = "EU".parse().unwrap();
    let options = SiteOptions {
        batch_window_ms: 50,
        batch_min_keys: 0,
        ..SiteOptions::default()
    };
    let sites = sites::prepare(dir.path(), &[(eu, regions.clone())], &options).unwrap();
    let configs: Vec<_> = (0..NODES)
        .map(|i| write_config(&net, &sites[i], i))
        .collect();
    let mut daemons: Vec<Option<Daemon>> = (0..NODES)
        .map(|i| Some(spawn(&net, &configs[i], i)))
        .collect();
    let start = Instant::now();
    for daemon in daemons.iter().flatten() {
        while metric(daemon, "enmesh_mesh_admitted_peers").await != 3 {
            assert!(start.elapsed() < CONVERGE, "nodes not admitted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    upload(daemons[0].as_ref().unwrap(), &sites[0], 1).await;
    wait_keys(
        &daemons,
        &[(1, 1), (2, 1), (3, 1)],
        "the first key everywhere",
    )
    .await;

    net.split("add");
    upload(daemons[0].as_ref().unwrap(), &sites[0], 2).await;
    upload(daemons[2].as_ref().unwrap(), &sites[2], 3).await;
    // Each half replicates inside itself only.
    wait_keys(&daemons, &[(1, 2), (3, 2)], "each half to replicate inside").await;
    assert_eq!(
        metric(
            daemons[2].as_ref().unwrap(),
            "enmesh_mesh_received_keys_total"
        )
        .await,
        1
    );
    assert_eq!(
        metric(
            daemons[0].as_ref().unwrap(),
            "enmesh_mesh_received_keys_total"
        )
        .await,
        0
    );

    // The links across the split are noticed dead (ping) and closed: healing needs redials,
    // admission again and catch-up, not just TCP retransmissions.
    let start = Instant::now();
    for daemon in daemons.iter().flatten() {
        while metric(daemon, "enmesh_mesh_admitted_peers").await != 1 {
            assert!(
                start.elapsed() < CONVERGE,
                "links across the split not closed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    net.split("del");
    // DE gets IT's key; FR DE's two and IT's; IT DE's two; ES DE's two and IT's.
    wait_keys(
        &daemons,
        &[(0, 1), (1, 3), (2, 2), (3, 3)],
        "convergence after healing",
    )
    .await;

    // SIGKILL ES, upload at DE while it is down, restart it: it catches up.
    drop(daemons[3].take());
    upload(daemons[0].as_ref().unwrap(), &sites[0], 4).await;
    daemons[3] = Some(spawn(&net, &configs[3], 3));
    wait_keys(&daemons, &[(3, 1)], "the restarted node to catch up").await;

    for daemon in daemons.iter_mut().filter_map(Option::take) {
        terminate(daemon);
    }
    // Every store holds every other node's feed up to its head.
    let feed = FeedId::new("a2a/EU").unwrap();
    let stores: Vec<Store> = sites
        .iter()
        .map(|s| Store::open(&s.config.node.data_dir).unwrap())
        .collect();
    for (o, origin) in regions.iter().enumerate() {
        let head = stores[o]
            .feed_head(&feed)
            .unwrap()
            .map_or(0, |h| h.sequence);
        for (n, store) in stores.iter().enumerate().filter(|(n, _)| *n != o) {
            let held = store
                .cursor(origin, &feed)
                .unwrap()
                .map_or(0, |c| c.last_sequence);
            assert_eq!(
                held, head,
                "{} holds {origin} up to {held}, head {head}",
                regions[n]
            );
        }
    }
}
