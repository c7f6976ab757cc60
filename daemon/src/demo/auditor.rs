//! The demo's last step: an auditor with a certificate of the EU cluster CA (auditor role, no
//! region) syncs every node's replication log over the `Audit` service into a local copy, checks
//! each against the node's signed checkpoint, cross-checks the five logs, and scans every entry
//! for the keys the nodes serve to phones (there must be none).
//!
//! Like the rest of the demo, it reads the nodes only through what they serve: the auditor's
//! certificate is issued the way `enmesh pki issue-auditor` issues it, from the demo's CA files
//! (`pki::bootstrap::issue_auditor`).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::drive;
use super::fleet::Fleet;
use super::run::{DemoError, unexpected};
use crate::audit::client::Auditor;
use crate::audit::mirror::Mirror;
use crate::audit::trace::{self, NodeLog};
use crate::pki::{Credential, Verifier, bootstrap, files};

/// A fresh auditor credential of the cluster whose CA certificate is `cluster_ca`.
fn auditor_credential(cluster_ca: &Path) -> Result<Credential, DemoError> {
    let fail = |e: String| unexpected("auditor certificate", e);
    let (chain, key) =
        bootstrap::issue_auditor(cluster_ca, "demo", 1, time::OffsetDateTime::now_utc())
            .map_err(|e| fail(e.to_string()))?;
    Credential::from_pem(key.as_bytes(), &[chain.as_bytes()]).map_err(|e| fail(e.to_string()))
}

/// Step 14: sync, check and cross-check every node's log.
pub async fn step(fleet: &Fleet, dir: &Path) -> Result<(), DemoError> {
    let started = Instant::now();
    let fail = |e: crate::audit::client::AuditClientError| unexpected("audit", e.to_string());
    let (first_site, _) = fleet
        .nodes()
        .iter()
        .find(|(site, _)| site.pki.cluster.as_str() == "EU")
        .ok_or_else(|| unexpected("audit", "no node of cluster EU"))?;
    let credential = auditor_credential(&first_site.pki.cluster_ca)?;
    let root = files::read_first_cert(&first_site.config.pki.root_cert)
        .map_err(|e| unexpected("audit", e.to_string()))?;
    let verifier =
        Arc::new(Verifier::new(root, &[]).map_err(|e| unexpected("audit", e.to_string()))?);
    // Let every node sign a checkpoint of what it logged so far (they do every second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    println!(
        "\n14. An auditor (certificate of the EU cluster CA, role auditor) syncs every node's \
         replication log over mutual TLS (enmesh.v1.Audit):"
    );
    let mut logs = Vec::new();
    let mut served_keys: HashSet<Vec<u8>> = HashSet::new();
    for (site, node) in fleet.nodes() {
        let url = format!("https://{}", node.grpc_addr())
            .parse()
            .map_err(|_| unexpected("audit", "node URL"))?;
        let mut auditor = Auditor::with(
            &url,
            verifier.clone(),
            &credential,
            Some(site.pki.region.clone()),
        )
        .await
        .map_err(fail)?;
        let mut mirror = Mirror::open(&dir.join("audit").join(site.pki.region.to_string()))
            .map_err(|e| unexpected("audit", e.to_string()))?;
        let synced = auditor.sync(&mut mirror, |_| {}).await.map_err(fail)?;
        let checkpoint = auditor
            .check(
                mirror
                    .checkpoint()
                    .ok_or_else(|| unexpected("audit", "no checkpoint kept"))?,
            )
            .map_err(fail)?;
        println!(
            "     {:<6} {:>4} entries, root recomputed = the checkpoint {} signed ({})",
            site.pki.region.to_string(),
            mirror.entries().len(),
            checkpoint.checkpoint.origin(),
            synced["new_by_kind"],
        );
        logs.push(NodeLog::new(checkpoint, mirror.entries()));
        for key in drive::feed_keys(node.http_addr()).await? {
            if let Ok(bytes) = BASE64.decode(key) {
                served_keys.insert(bytes);
            }
        }
    }
    let report = trace::cross_check(&logs);
    let (stored, served) = report
        .nodes
        .iter()
        .fold((0, 0), |(a, b), (_, _, s, v)| (a + s, b + v));
    if !report.disagreements.is_empty() {
        return Err(unexpected(
            "audit cross-check",
            report.disagreements.join("; "),
        ));
    }
    println!(
        "     Cross-check: each of {stored} batches a node stored was cut by its origin with the \
         same id; each of {served} batches served is in its consumer's log"
    );
    let holding = logs
        .iter()
        .flat_map(|log| log.entries.iter())
        .filter(|(_, entry)| {
            let bytes = prost::Message::encode_to_vec(entry);
            served_keys
                .iter()
                .any(|key| key.len() >= 16 && bytes.windows(key.len()).any(|w| w == key))
        })
        .count();
    if holding > 0 {
        return Err(unexpected("audit", format!("{holding} entries hold a key")));
    }
    println!(
        "     None of the {} keys the nodes serve to phones is in any entry; no entry has a \
         visited list (entries carry digests and counts) ({} ms)",
        served_keys.len(),
        started.elapsed().as_millis()
    );
    Ok(())
}
