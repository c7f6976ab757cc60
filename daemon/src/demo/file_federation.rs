//! The demo's file-federation step: a region outside the mesh (GB, its own CA tree, no link to
//! enmesh's PKI) imports DE's GAEN export files over plain HTTP, trusting nothing but DE's export
//! verification key, as Google-server deployments federated (formats.md §f.3). It then reads
//! GB's public feed, as a phone in GB would.
//!
//! Drives nodes only through their public interfaces (DE's `/v1/exports/index.txt`, GB's
//! `/v1/keys`); never reaches into a store.

use std::path::Path;
use std::time::{Duration, Instant};

use enmesh_protocol::region::{ClusterId, RegionId};
use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _, LineEnding};

use super::drive::{self, wait_for};
use super::fleet::Fleet;
use super::run::{DemoError, unexpected};
use super::sites::{self, SiteOptions};
use crate::clock::SharedClock;
use crate::config::{ExportVerificationKey, GaenExportPeer};
use crate::node;
use crate::telemetry::Metrics;

/// How long the step waits for GB to import.
const PATIENCE: Duration = Duration::from_secs(30);

/// Runs the step: DE must already have exported a window (step 7 of the script).
pub async fn step(fleet: &Fleet, dir: &Path, clock: &SharedClock) -> Result<(), DemoError> {
    let (de, de_node) = fleet.get("DE")?;
    let started = Instant::now();
    let gb_dir = dir.join("file-federation");
    std::fs::create_dir_all(&gb_dir)?;
    let cluster: ClusterId = "UK".parse().map_err(|_| unexpected("regions", "UK"))?;
    let region: RegionId = "GB".parse().map_err(|_| unexpected("regions", "GB"))?;
    let clusters = [(cluster, vec![region])];
    let gb = sites::prepare(&gb_dir, &clusters, &SiteOptions::default())?
        .into_iter()
        .next()
        .ok_or_else(|| unexpected("file federation", "no GB site"))?;
    // DE's export verification key, as DE's operator would publish it.
    let pem = std::fs::read_to_string(&de.config.export.signing_key)?;
    let secret = p256::SecretKey::from_pkcs8_pem(&pem)
        .map_err(|e| unexpected("export key", e.to_string()))?;
    let public = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| unexpected("export key", e.to_string()))?;
    let public_path = gb_dir.join("de-export-public.pem");
    std::fs::write(&public_path, public)?;
    let mut config = gb.config.clone();
    config.gaen_export_peers.push(GaenExportPeer {
        index_url: format!("http://{}/v1/exports/index.txt", de_node.http_addr())
            .parse()
            .map_err(|_| unexpected("index URL", de_node.http_addr().to_string()))?,
        region: de.pki.region.clone(),
        verification_keys: vec![ExportVerificationKey {
            key_id: de.config.export.key_id.clone(),
            key_version: de.config.export.key_version.clone(),
            public_key: public_path,
        }],
        ca_file: None,
        poll: Duration::from_millis(200),
    });
    let gb_node = node::start(config, clock.clone(), Metrics::new()).await?;
    let http = gb_node.http_addr();
    let imported = wait_for(PATIENCE, || async {
        let keys = drive::feed_keys(http).await?;
        Ok((!keys.is_empty()).then_some(keys.len()))
    })
    .await;
    gb_node.shutdown().await?;
    let imported =
        imported?.ok_or_else(|| unexpected("file federation", "GB imported nothing in 30 s"))?;
    println!(
        "8. File federation: GB (outside the mesh, its own CA, trusting only DE's export key) \
         imported DE's signed GAEN export files from DE's index.txt; GB's feed serves {imported} \
         keys after {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}
