//! The demo's script: two clusters of backends, driven through their public interfaces.
//!
//! 1. Prepare EU (DE, FR, IT) and USA (US-CA, US-NY): CA tree, export keys, configs; start all
//!    five nodes ([`super::fleet`]): a gossipsub mesh per cluster, need-to-know gRPC pulls across.
//! 2. As DE's operator: issue a one-time code (`POST /admin/codes`, bearer token).
//! 3. As a diagnosed traveller's app: upload 14 days of keys with `visitedRegions = [FR, US-CA]`.
//! 4. Show what the node refuses (a reused code, a key that breaks a rule).
//! 5. Show the signed batches DE cut, then where the keys went and when each region's public feed
//!    served them: FR and IT over the EU mesh, US-CA over its partial pull, US-NY nothing. A
//!    second traveller uploads at US-NY having visited IT: US-CA (mesh) and IT (partial) only.
//! 6. As a phone: read DE's key feed, and — after jumping the clock past the export window — the
//!    GAEN export file, verified with DE's export key as a phone's OS would.
//! 7. At the edge ([`super::edge`]): simulated phones meet in FR; a traveller from DE uploads
//!    at home, visited FR; the local's agent downloads FR's exports and is notified, a bystander
//!    is not.
//! 8. An auditor ([`super::auditor`]) syncs every node's replication log, checks it against the
//!    node's signed checkpoint and cross-checks the logs.
//!
//! Every step prints what it did and how long it took; then every node stops in order.

use super::drive::{self, post_json, publish_body, traveller_keys, wait_for};
use super::fleet::{Fleet, Hop};
use super::sites::{self, SiteOptions};
use crate::api::client::{self, Answer, ClientError};
use crate::clock::{OffsetClock, SharedClock};
use crate::node::NodeError;
use axum::http::StatusCode;
use enmesh_protocol::export::ExportFile;
use enmesh_protocol::region::{ClusterId, RegionError, RegionId};
use p256::pkcs8::DecodePrivateKey as _;
use std::path::Path;
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long the demo waits for something to appear before it gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// Why the demo stopped.
#[derive(Debug, Error)]
pub enum DemoError {
    /// Preparing the sites failed.
    #[error(transparent)]
    Sites(#[from] sites::SitesError),
    /// A node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// An HTTP request failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A node answered something the demo did not expect: the demo found a bug.
    #[error("{step}: {detail}")]
    Unexpected {
        /// The step.
        step: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A temporary directory or file could not be used.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub(super) fn unexpected(step: &'static str, detail: impl Into<String>) -> DemoError {
    DemoError::Unexpected {
        step,
        detail: detail.into(),
    }
}

/// Runs the demo in `dir` (a fresh temporary directory when `None`), printing as it goes.
pub async fn run(dir: Option<&Path>) -> Result<(), DemoError> {
    let temp = tempfile::tempdir()?;
    let dir = dir.unwrap_or(temp.path());
    let started = Instant::now();
    println!("enmesh demo — working in {}", dir.display());

    let clusters = [
        cluster("EU", &["DE", "FR", "IT"])?,
        cluster("USA", &["US-CA", "US-NY"])?,
    ];
    let options = SiteOptions {
        batch_window_ms: 50,
        ..SiteOptions::default()
    };
    let sites = sites::prepare(dir, &clusters, &options)?;
    println!(
        "  PKI: root → cluster CAs EU, USA → nodes DE, FR, IT | US-CA, US-NY ({} ms)",
        started.elapsed().as_millis()
    );

    let clock = OffsetClock::new();
    let shared: SharedClock = clock.clone();
    let fleet = Fleet::start(&sites, &shared).await?;
    for (site, node) in fleet.nodes() {
        println!(
            "  {:<5} (cluster {:<3}) up: public API http://{}, gRPC {}, mesh {}",
            site.pki.region.to_string(),
            site.pki.cluster.to_string(),
            node.http_addr(),
            node.grpc_addr(),
            node.mesh()
                .map_or_else(String::new, |m| m.listen_addr().to_string()),
        );
    }
    let result = match fleet.until_meshed(PATIENCE).await {
        Ok(meshed) => {
            println!(
                "  Both cluster meshes formed in {} ms: every node admitted its cluster's nodes by \
                 certificate (libp2p, noise + the CA tree); every node pulls its need-to-know feed \
                 from each node of the other cluster (gRPC, mutual TLS)",
                meshed.as_millis()
            );
            match script(&fleet, clock.as_ref(), &shared).await {
                Ok(()) => match super::file_federation::step(&fleet, dir, &shared).await {
                    Ok(()) => {
                        match super::edge::story(&fleet, clock.as_ref(), &shared, dir).await {
                            Ok(()) => super::auditor::step(&fleet, dir).await,
                            failed => failed,
                        }
                    }
                    failed => failed,
                },
                failed => failed,
            }
        }
        Err(e) => Err(e),
    };
    fleet.shutdown().await?;
    println!(
        "  All 5 nodes stopped cleanly; demo took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    result
}

/// Prints one line per hop: region, path, time from the upload's answer to the keys being
/// served by that region's public feed (or why nothing went there).
fn print_hops(hops: &[Hop], visited: &[&str]) {
    for hop in hops {
        let region = hop.region.to_string();
        let line = match hop.after {
            Some(after) if hop.path == "a2a" => format!(
                "a2a      {:>4} ms  cluster mesh (gossipsub){}",
                after.as_millis(),
                if visited.contains(&region.as_str()) {
                    ""
                } else {
                    "; not visited, but a2a reaches the whole cluster"
                }
            ),
            Some(after) => format!(
                "partial  {:>4} ms  need-to-know gRPC pull from the other cluster",
                after.as_millis()
            ),
            None => "nothing           other cluster, not visited: none of the keys".to_owned(),
        };
        println!("     → {region:<6} {line}");
    }
}

fn cluster(id: &str, regions: &[&str]) -> Result<(ClusterId, Vec<RegionId>), DemoError> {
    let bad = |e: RegionError| unexpected("regions", e.to_string());
    let regions = regions.iter().map(|r| r.parse().map_err(bad));
    Ok((id.parse().map_err(bad)?, regions.collect::<Result<_, _>>()?))
}

async fn script(fleet: &Fleet, clock: &OffsetClock, shared: &SharedClock) -> Result<(), DemoError> {
    let (de, node) = fleet.get("DE")?;
    let (http, admin) = (node.http_addr(), node.admin_addr());
    let config = &de.config;
    let token = crate::admin::token::load(&config.node.data_dir)
        .map_err(|e| unexpected("operator token", e.to_string()))?;

    // 2. The health authority's operator issues a code, as `enmesh admin issue-code` does.
    let issue = || drive::issue_code(admin, &token);
    let code = issue().await?;
    println!("\n1. The DE health authority issues a one-time upload code: {code}");

    // 3. A diagnosed traveller who visited FR and US-CA uploads 14 days of keys.
    let now = shared.now_secs();
    let keys = traveller_keys(now)?;
    let body = publish_body(&keys, &code, &["FR", "US-CA"], now)?;
    let t = Instant::now();
    let answer = post_json(http, "/v1/publish", body.clone()).await?;
    expect_status("upload", &answer, StatusCode::OK)?;
    let uploaded_at = Instant::now();
    println!(
        "2. A traveller's app uploads {} keys, visited FR and US-CA: {} in {} ms",
        keys.len(),
        answer.text().chars().take(40).collect::<String>() + "…",
        t.elapsed().as_millis()
    );

    // 4. What the node refuses.
    let again = post_json(
        http,
        "/v1/publish",
        publish_body(&keys[..1], &code, &[], now)?,
    )
    .await?;
    expect_status("reused code", &again, StatusCode::UNAUTHORIZED)?;
    println!(
        "3. The same code used for other keys: {} {}",
        again.status,
        again.text()
    );
    let fresh = issue().await?;
    let mut bad = keys.clone();
    if let Some(first) = bad.first_mut() {
        first.1 = 200; // rolling period outside 1..=144
    }
    let refused = post_json(http, "/v1/publish", publish_body(&bad, &fresh, &[], now)?).await?;
    expect_status("bad key", &refused, StatusCode::BAD_REQUEST)?;
    println!(
        "   A key with rolling period 200: {} {}",
        refused.status,
        refused.text()
    );

    // 5. The batcher cuts signed batches: a2a for the EU cluster, partial for US-CA.
    let feeds = wait_for(PATIENCE, || async {
        let metrics = client::get(http, "/metrics").await?.text();
        let cut =
            |feed: &str| metrics.contains(&format!("enmesh_batches_total{{feed=\"{feed}\"}}"));
        Ok((cut("a2a/EU") && cut("partial/US-CA")).then_some(metrics))
    })
    .await?
    .ok_or_else(|| unexpected("batches", "no a2a/EU and partial/US-CA batches within 30 s"))?;
    let batch_lines: Vec<&str> = feeds
        .lines()
        .filter(|l| l.starts_with("enmesh_batches_total{"))
        .collect();
    println!(
        "4. Signed batches cut {} ms after the upload (FR is reached by the EU all-to-all feed; \
         US-CA, outside the cluster, gets its own need-to-know feed; the visited list stays home):",
        uploaded_at.elapsed().as_millis()
    );
    for line in batch_lines {
        println!("     {line}");
    }

    // 5. Where the keys went, and how long each hop took.
    let hops = fleet
        .hops("DE", &keys, uploaded_at, &["FR", "IT", "US-CA"], PATIENCE)
        .await?;
    println!(
        "5. Where the traveller's keys went (upload at DE, visited FR and US-CA), and when each \
         region's public feed served them:"
    );
    print_hops(&hops, &["FR", "US-CA"]);

    // 5b. Another traveller, uploading at US-NY, visited IT.
    let (ny_site, ny) = fleet.get("US-NY")?;
    let ny_token = crate::admin::token::load(&ny_site.config.node.data_dir)
        .map_err(|e| unexpected("operator token", e.to_string()))?;
    let ny_keys = traveller_keys(now)?;
    drive::upload(
        ny.http_addr(),
        ny.admin_addr(),
        &ny_token,
        &ny_keys,
        &["IT"],
        now,
    )
    .await?;
    let ny_answered = Instant::now();
    let hops = fleet
        .hops("US-NY", &ny_keys, ny_answered, &["US-CA", "IT"], PATIENCE)
        .await?;
    println!(
        "   A second traveller uploads {} keys at US-NY, visited IT:",
        ny_keys.len()
    );
    print_hops(&hops, &["IT"]);

    // 6a. A phone reads the key feed.
    let seen = wait_for(PATIENCE, || async {
        let total = drive::feed_keys(http).await?.len();
        Ok((total >= keys.len()).then_some(total))
    })
    .await?
    .ok_or_else(|| unexpected("feed", "the uploaded keys did not appear in the feed"))?;
    println!(
        "6. A phone reading DE's key feed (/v1/keys, /v1/keys/{{chunk}}) gets the {seen} keys"
    );

    // 6b. Jump past the export window; the exporter signs a GAEN export file.
    clock
        .advance_millis(u64::try_from(config.export.period.as_millis()).unwrap_or(u64::MAX) + 1000);
    node.export_now().await?;
    let index = client::get(http, "/v1/exports/index.txt").await?;
    expect_status("export index", &index, StatusCode::OK)?;
    let index = index.text();
    let name = index
        .lines()
        .last()
        .ok_or_else(|| unexpected("export index", "no export files listed"))?;
    let zip = client::get(
        http,
        &format!("/v1/exports/{}", name.trim_start_matches("exports/")),
    )
    .await?;
    expect_status("export file", &zip, StatusCode::OK)?;
    let verifying = export_public_key(&config.export.signing_key)?;
    let file =
        ExportFile::from_zip(&zip.body).map_err(|e| unexpected("export file", e.to_string()))?;
    let verified = file
        .verify(&verifying)
        .map_err(|e| unexpected("export signature", e.to_string()))?;
    let export = verified.export();
    println!(
        "7. After the export window closed: {name} ({} bytes), ECDSA P-256 signature verified with \
         DE's export key; {} keys (the {} uploaded, padded as GAEN servers do), region {}",
        zip.body.len(),
        export.keys.len(),
        keys.len(),
        export.region.as_deref().unwrap_or("?")
    );
    Ok(())
}

fn expect_status(step: &'static str, answer: &Answer, want: StatusCode) -> Result<(), DemoError> {
    if answer.status == want {
        Ok(())
    } else {
        Err(unexpected(
            step,
            format!("expected {want}, got {}: {}", answer.status, answer.text()),
        ))
    }
}

fn export_public_key(path: &Path) -> Result<p256::ecdsa::VerifyingKey, DemoError> {
    let pem = std::fs::read_to_string(path)?;
    let secret = p256::SecretKey::from_pkcs8_pem(&pem)
        .map_err(|e| unexpected("export key", e.to_string()))?;
    Ok(p256::ecdsa::VerifyingKey::from(secret.public_key()))
}
