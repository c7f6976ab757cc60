//! A whole CA tree in one call, written to a directory: for `enmesh demo` and multi-node tests.
//!
//! It issues exactly what the `enmesh pki` walkthrough issues (root → cluster CAs → one node per
//! region), through the same [`CaKey`] and [`NodeRequest`] code, so what the demo and the tests
//! run on is what operators get. It must never be used for a production mesh: it writes the
//! root's private key next to everything else, where a real root stays offline
//! (deploy/pki-walkthrough.md).

use super::files::{self, FileError, PUBLIC_MODE, SECRET_MODE};
use super::identity::{Credential, IdentityError};
use super::issue::{CaKey, CertIssueError, NodeRequest, Validity, pem};
use enmesh_protocol::region::{ClusterId, RegionId};
use std::path::{Path, PathBuf};
use thiserror::Error;
use time::OffsetDateTime;

/// The files of one region node.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    /// The node's region.
    pub region: RegionId,
    /// The node's cluster.
    pub cluster: ClusterId,
    /// The node certificate (PEM).
    pub cert: PathBuf,
    /// The node's Ed25519 private key (PKCS#8 PEM, mode 0600).
    pub key: PathBuf,
    /// The certificate of the cluster CA that issued the node (PEM).
    pub cluster_ca: PathBuf,
}

impl NodeFiles {
    /// Loads the node's key and its chain (`[node, cluster CA]`) from these files.
    pub fn credential(&self) -> Result<Credential, BootstrapError> {
        let read = |path: &Path| files::read_text(path);
        let (key, cert, ca) = (read(&self.key)?, read(&self.cert)?, read(&self.cluster_ca)?);
        Ok(Credential::from_pem(
            key.as_bytes(),
            &[cert.as_bytes(), ca.as_bytes()],
        )?)
    }
}

/// Where [`generate`] wrote the tree.
#[derive(Debug, Clone)]
pub struct TreeFiles {
    /// The root CA certificate every node trusts.
    pub root_cert: PathBuf,
    /// One entry per region, in the order they were asked for.
    pub nodes: Vec<NodeFiles>,
}

impl TreeFiles {
    /// The files of `region`'s node.
    pub fn node(&self, region: &RegionId) -> Option<&NodeFiles> {
        self.nodes.iter().find(|n| &n.region == region)
    }
}

/// Why a tree could not be generated.
#[derive(Debug, Error)]
pub enum BootstrapError {
    /// Issuing a certificate failed.
    #[error(transparent)]
    Issue(#[from] CertIssueError),
    /// Writing or reading a file failed (or it already existed).
    #[error(transparent)]
    File(#[from] FileError),
    /// A node's key and certificate do not make a credential.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The directory could not be created.
    #[error("creating {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Issues a root, one cluster CA per cluster and one node per region into `dir` (created if
/// missing; existing files are never overwritten), all valid for `days` from `now`.
pub fn generate(
    dir: &Path,
    clusters: &[(ClusterId, Vec<RegionId>)],
    days: u32,
    now: OffsetDateTime,
) -> Result<TreeFiles, BootstrapError> {
    std::fs::create_dir_all(dir).map_err(|source| BootstrapError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    let validity = Validity::days_from(now, days)?;
    let write = |name: &str, contents: &str, mode: u32| -> Result<PathBuf, FileError> {
        let path = dir.join(name);
        files::write_new(&path, contents.as_bytes(), mode, false)?;
        Ok(path)
    };

    let root = CaKey::init_root("enmesh demo root", validity)?;
    let root_cert = write("root.pem", &root.cert_pem(), PUBLIC_MODE)?;
    write("root.key", &root.key_pem(), SECRET_MODE)?;

    let mut nodes = Vec::new();
    for (cluster, regions) in clusters {
        let ca = root.issue_cluster(cluster, validity)?;
        let stem = file_stem(cluster.as_str());
        let cluster_ca = write(&format!("cluster-{stem}.pem"), &ca.cert_pem(), PUBLIC_MODE)?;
        write(&format!("cluster-{stem}.key"), &ca.key_pem(), SECRET_MODE)?;
        for region in regions {
            let stem = file_stem(&region.to_string());
            let (csr_pem, key_pem) = NodeRequest::generate(&format!("{region} backend"))?;
            let cert = ca.issue_node(&NodeRequest::from_pem(&csr_pem)?, region, validity)?;
            nodes.push(NodeFiles {
                region: region.clone(),
                cluster: cluster.clone(),
                cert: write(
                    &format!("{stem}.pem"),
                    &pem("CERTIFICATE", &cert),
                    PUBLIC_MODE,
                )?,
                key: write(&format!("{stem}.key"), &key_pem, SECRET_MODE)?,
                cluster_ca: cluster_ca.clone(),
            });
        }
    }
    Ok(TreeFiles { root_cert, nodes })
}

/// An auditor of the cluster whose CA certificate is `cluster_ca` (its key beside it, as
/// [`generate`] writes it: `cluster-<id>.key`), valid for `days` from `now`: the chain PEM
/// (auditor certificate, then the cluster CA) and the auditor's PKCS#8 key PEM, as
/// `enmesh pki issue-auditor` makes them.
pub fn issue_auditor(
    cluster_ca: &Path,
    name: &str,
    days: u32,
    now: OffsetDateTime,
) -> Result<(String, String), BootstrapError> {
    let ca_cert = files::read_text(cluster_ca)?;
    let ca = CaKey::from_pem(
        &ca_cert,
        &files::read_text(&cluster_ca.with_extension("key"))?,
    )?;
    let (csr, key) = NodeRequest::generate(&format!("{name} auditor"))?;
    let request = NodeRequest::from_pem(&csr)?;
    let cert = ca.issue_auditor(&request, name, Validity::days_from(now, days)?)?;
    Ok((format!("{}{ca_cert}", pem("CERTIFICATE", &cert)), key))
}

/// A file name for a region or cluster id (`acme:zurich-1` → `acme_zurich-1`, lower case).
fn file_stem(id: &str) -> String {
    id.to_ascii_lowercase().replace(':', "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{Credential, Role, Verifier};
    use rustls_pki_types::UnixTime;

    #[test]
    fn generated_nodes_verify_with_their_region_and_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let eu: ClusterId = "EU".parse().unwrap();
        let usa: ClusterId = "USA".parse().unwrap();
        let (de, fr, us_ca): (RegionId, RegionId, RegionId) = (
            "DE".parse().unwrap(),
            "FR".parse().unwrap(),
            "US-CA".parse().unwrap(),
        );
        let clusters = [
            (eu.clone(), vec![de.clone(), fr]),
            (usa.clone(), vec![us_ca.clone()]),
        ];
        let tree = generate(dir.path(), &clusters, 30, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(tree.nodes.len(), 3);

        let root = files::read_certs(&tree.root_cert).unwrap().remove(0);
        let verifier = Verifier::new(root, &[]).unwrap();
        for (region, cluster) in [(&de, &eu), (&us_ca, &usa)] {
            let node = tree.node(region).unwrap();
            let chain =
                [node.cert.as_path(), node.cluster_ca.as_path()].map(|p| std::fs::read(p).unwrap());
            let credential =
                Credential::from_pem(&std::fs::read(&node.key).unwrap(), &[&chain[0], &chain[1]])
                    .unwrap();
            let peer = verifier
                .verify_node(credential.chain(), UnixTime::now())
                .unwrap();
            assert_eq!(peer.role(), Role::Node);
            assert_eq!(peer.region(), Some(region));
            assert_eq!(peer.cluster(), cluster);
        }
        // Never overwrites: a second run into the same directory fails on the first file.
        assert!(matches!(
            generate(dir.path(), &clusters, 30, OffsetDateTime::now_utc()),
            Err(BootstrapError::File(FileError::Exists(_)))
        ));
    }
}
