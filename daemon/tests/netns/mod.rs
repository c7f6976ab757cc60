//! Real `enmesh daemon` processes in network namespaces joined by veth pairs on one bridge, for
//! the mesh partition test and the mesh bandwidth benchmark (included by `#[path]`).
//!
//! Everything it creates is named after the process id and removed on drop; it never touches
//! interfaces or namespaces it did not create.

use enmesh_daemon::admin::token;
use enmesh_daemon::api::client;
use enmesh_daemon::demo::drive;
use enmesh_daemon::demo::sites::Site;
use enmesh_protocol::interval::{IntervalNumber, TEK_ROLLING_PERIOD};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// Runs `ip` with `args`; whether it succeeded.
pub fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `ip` with `args` and panics if it fails.
pub fn ip_ok(args: &[&str]) {
    assert!(ip(args), "ip {}", args.join(" "));
}

/// The namespaces, veths and bridge of one test run; removed on drop.
pub struct Net {
    tag: String,
    subnet: u32,
    nodes: usize,
}

impl Net {
    /// Builds the network, or `None` if this machine cannot (not root, no `ip`, no netns).
    pub fn build(nodes: usize) -> Option<Self> {
        let pid = std::process::id();
        let net = Self {
            tag: format!("enm{}", pid % 100_000),
            subnet: pid % 250,
            nodes,
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
        for i in 0..nodes {
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

    pub fn ns(&self, i: usize) -> String {
        format!("{}n{i}", self.tag)
    }

    pub fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    pub fn addr(&self, host: u32) -> String {
        format!("10.77.{}.{host}", self.subnet)
    }

    pub fn node_ip(&self, i: usize) -> String {
        self.addr(u32::try_from(i).unwrap() + 1)
    }

    /// Bytes received so far on node `i`'s interface (everything: IP, TCP, noise, yamux, ...).
    pub fn rx_bytes(&self, i: usize) -> u64 {
        let out = Command::new("ip")
            .args(["-n", &self.ns(i), "-j", "-s", "link", "show", "dev", "eth0"])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json[0]["stats64"]["rx"]["bytes"].as_u64().unwrap()
    }

    /// Cuts (`add`) or heals (`del`) every route between the halves {0, 1} and {2, 3}.
    pub fn split(&self, action: &str) {
        for i in 0..self.nodes {
            for j in 0..self.nodes {
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
        for i in 0..self.nodes {
            // Deleting one end of a veth pair deletes both, even while the namespace lingers.
            ip(&["link", "del", &format!("{}v{i}", self.tag)]);
            ip(&["netns", "del", &self.ns(i)]);
        }
        ip(&["link", "del", &self.bridge()]);
    }
}

/// One daemon process in its namespace.
pub struct Daemon {
    child: Child,
    /// The phone-facing HTTP API (also /metrics).
    pub http: SocketAddr,
    /// The operator API.
    pub admin: SocketAddr,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes site `i`'s config: its services on its namespace address, the mesh on port 7400,
/// bootstrapped with every other node.
pub fn write_config(net: &Net, site: &Site, i: usize) -> std::path::PathBuf {
    let me = net.node_ip(i);
    let mut text = std::fs::read_to_string(&site.config_path).unwrap();
    for port in [8080, 8443, 9090] {
        text = text.replacen("\"127.0.0.1:0\"", &format!("\"{me}:{port}\""), 1);
    }
    let bootstrap: Vec<String> = (0..net.nodes)
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

pub fn spawn(net: &Net, config: &std::path::Path, i: usize) -> Daemon {
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
pub async fn upload(daemon: &Daemon, site: &Site, seed: u32) {
    upload_keys(daemon, site, seed, 1).await;
}

/// Uploads `count` (1..=13) keys, one per past day, made from `seed`, through the real
/// operator and publish APIs.
pub async fn upload_keys(daemon: &Daemon, site: &Site, seed: u32, count: u32) {
    let token = token::load(&site.config.node.data_dir).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let today = IntervalNumber::from_unix_seconds(now)
        .unwrap()
        .day_start()
        .0;
    let keys: Vec<drive::AppKey> = (1..=count)
        .map(|day| {
            let mut key = [0x5a; 16];
            key[..4].copy_from_slice(&seed.to_be_bytes());
            key[4..8].copy_from_slice(&day.to_be_bytes());
            (key, TEK_ROLLING_PERIOD, today - day * TEK_ROLLING_PERIOD)
        })
        .collect();
    drive::upload(daemon.http, daemon.admin, &token, &keys, &[], now)
        .await
        .unwrap();
}

/// The value of the metric line starting with `name` (0 if absent), summed over label sets.
pub async fn metric(daemon: &Daemon, name: &str) -> u64 {
    let text = client::get(daemon.http, "/metrics").await.unwrap().text();
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Sends SIGTERM and waits for a clean exit.
pub fn terminate(mut daemon: Daemon) {
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
