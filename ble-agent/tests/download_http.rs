//! Downloads over real HTTP from a local server that serves what a backend's public API serves
//! (`/v1/exports/index.txt`, the zips, `/v1/keys`, `/v1/keys/{chunk}`): a refused file stores
//! nothing and leaves the cursor where it was; nothing is downloaded twice; incomplete chunks
//! wait until they are complete; the followed regions come from the log and the user.

mod common;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use ble_agent::config::AgentConfig;
use ble_agent::download::{self, Cursor};
use ble_agent::store::Store;
use common::*;
use enmesh_protocol::export::{
    ExportFile, ExportSigner, SignatureInfo, TemporaryExposureKey, TemporaryExposureKeyExport,
};
use enmesh_protocol::interval::{IntervalNumber, RollingPeriod};
use p256::pkcs8::EncodePublicKey as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

async fn serve(files: Files) -> String {
    async fn file(State(files): State<Files>, Path(name): Path<String>) -> (StatusCode, Vec<u8>) {
        match files.lock().unwrap().get(&name) {
            Some(body) => (StatusCode::OK, body.clone()),
            None => (StatusCode::NOT_FOUND, b"{}".to_vec()),
        }
    }
    async fn keys_index(State(files): State<Files>) -> (StatusCode, Vec<u8>) {
        file(State(files), Path("keys".into())).await
    }
    let app = Router::new()
        .route("/v1/exports/{name}", get(file))
        .route("/v1/keys", get(keys_index))
        .route("/v1/keys/{name}", get(file))
        .with_state(files);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn zip_of(signing: &p256::ecdsa::SigningKey, first: u8) -> Vec<u8> {
    let export = TemporaryExposureKeyExport {
        region: Some("FR".into()),
        keys: vec![TemporaryExposureKey::new(
            [first; 16],
            0,
            IntervalNumber(2_940_000),
            RollingPeriod::FULL_DAY,
            None,
            None,
        )],
        ..Default::default()
    };
    let signer = ExportSigner {
        key: signing,
        info: SignatureInfo::ecdsa_sha256("FR", "v1"),
    };
    ExportFile::sign(export, &[signer])
        .unwrap()
        .to_zip()
        .unwrap()
}

#[tokio::test]
async fn exports_are_verified_and_read_once_and_a_refused_file_stores_nothing() {
    let signing = p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap();
    let impostor = p256::ecdsa::SigningKey::from_slice(&[6u8; 32]).unwrap();
    let files: Files = Arc::default();
    let url = serve(files.clone()).await;
    {
        let mut f = files.lock().unwrap();
        f.insert(
            "index.txt".into(),
            b"exports/100-200-00001.zip\nexports/200-300-00001.zip".to_vec(),
        );
        f.insert("100-200-00001.zip".into(), zip_of(&signing, 1));
        f.insert("200-300-00001.zip".into(), zip_of(&impostor, 2));
    }
    let dir = tempfile::tempdir().unwrap();
    let pem = p256::ecdsa::VerifyingKey::from(&signing)
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    std::fs::write(dir.path().join("fr.pem"), pem).unwrap();
    let config = AgentConfig::from_toml(
        &format!("home = \"FR\"\n[[regions]]\nid = \"FR\"\nurl = \"{url}\"\nsource = \"exports\"\nexport_key = \"fr.pem\"\n"),
        dir.path(),
    )
    .unwrap();
    let store = Store::open(&dir.path().join("agent")).unwrap();
    let fr = config.region(&region("FR")).unwrap();

    let first = download::download_region(&store, fr).await;
    assert_eq!(first.fetched, 1);
    assert!(
        first.error.as_deref().unwrap().contains("signature"),
        "{first:?}"
    );
    assert_eq!(download::stored_keys(&store).unwrap().len(), 1);
    assert_eq!(
        first.cursor,
        Some(Cursor::Exports("exports/100-200-00001.zip".into()))
    );

    files
        .lock()
        .unwrap()
        .insert("200-300-00001.zip".into(), zip_of(&signing, 2));
    let second = download::download_region(&store, fr).await;
    assert_eq!(
        (second.fetched, second.keys, second.error.clone()),
        (1, 1, None)
    );
    assert_eq!(download::stored_keys(&store).unwrap().len(), 2);
    let third = download::download_region(&store, fr).await;
    assert_eq!(third.fetched, 0, "nothing is downloaded twice");

    // A hostile index is refused whole.
    files
        .lock()
        .unwrap()
        .insert("index.txt".into(), b"../../etc/passwd".to_vec());
    let hostile = download::download_region(&store, fr).await;
    assert!(hostile.error.is_some());
    assert_eq!(download::stored_keys(&store).unwrap().len(), 2);
}

#[tokio::test]
async fn the_feed_is_read_chunk_by_chunk_complete_chunks_only() {
    let files: Files = Arc::default();
    let url = serve(files.clone()).await;
    let chunk = |id: u64, first: u8| {
        use base64::Engine as _;
        serde_json::json!({
            "chunk": {"id": id, "start": 0, "end": 1, "complete": true},
            "keys": [{"key": base64::engine::general_purpose::STANDARD.encode([first; 16]),
                      "rollingStartNumber": 2_940_000, "rollingPeriod": 144,
                      "transmissionRisk": 0, "reportType": "CONFIRMED_TEST"}],
        })
        .to_string()
        .into_bytes()
    };
    let index = |complete6: bool| {
        serde_json::json!({"chunkSeconds": 600, "chunks": [
            {"id": 5, "start": 3000, "end": 3600, "complete": true},
            {"id": 6, "start": 3600, "end": 4200, "complete": complete6}]})
        .to_string()
        .into_bytes()
    };
    {
        let mut f = files.lock().unwrap();
        f.insert("keys".into(), index(false));
        f.insert("5".into(), chunk(5, 1));
        f.insert("6".into(), chunk(6, 2));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = AgentConfig::from_toml(
        &format!("home = \"DE\"\n[[regions]]\nid = \"DE\"\nurl = \"{url}/\"\nsource = \"feed\"\n"),
        dir.path(),
    )
    .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let de = config.region(&region("DE")).unwrap();
    let first = download::download_region(&store, de).await;
    assert_eq!(
        (first.fetched, first.keys, first.cursor),
        (1, 1, Some(Cursor::Feed(5)))
    );
    files.lock().unwrap().insert("keys".into(), index(true));
    let second = download::download_region(&store, de).await;
    assert_eq!((second.fetched, second.cursor), (1, Some(Cursor::Feed(6))));
    assert_eq!(download::stored_keys(&store).unwrap().len(), 2);
    // A chunk answering for another id is refused and moves nothing.
    files.lock().unwrap().insert(
        "keys".into(),
        serde_json::json!({"chunks": [{"id": 9, "complete": true}]})
            .to_string()
            .into_bytes(),
    );
    files.lock().unwrap().insert("9".into(), chunk(10, 3));
    let third = download::download_region(&store, de).await;
    assert!(third.error.is_some());
    assert_eq!(third.cursor, Some(Cursor::Feed(6)));
    assert_eq!(download::stored_keys(&store).unwrap().len(), 2);
}

#[test]
fn the_agent_follows_home_the_regions_it_was_in_and_the_users() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let now = 1_765_000_000;
    ingest(
        &store,
        &sightings_of(
            &random_tek(1, 1),
            now - 3 * 86_400,
            now - 3 * 86_400,
            60,
            -60,
            -8,
            &region("IT"),
        ),
    );
    ingest(
        &store,
        &sightings_of(
            &random_tek(2, 2),
            now - 20 * 86_400,
            now - 20 * 86_400,
            60,
            -60,
            -8,
            &region("ES"),
        ),
    );
    let followed =
        download::follow_regions(&store, &region("FR"), &[region("US-CA")], now).unwrap();
    let names: Vec<String> = followed.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["FR", "IT", "US-CA"]);
}

#[test]
fn config_errors_name_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("home = \"Atlantis\"\n", "home"),
        (
            "home = \"FR\"\n[[regions]]\nid = \"FR\"\nurl = \"ftp://x\"\nsource = \"feed\"\n",
            "regions[0].url",
        ),
        (
            "home = \"FR\"\n[[regions]]\nid = \"FR\"\nurl = \"http://x\"\nsource = \"exports\"\n",
            "regions[0].export_key",
        ),
        (
            "home = \"FR\"\n[[regions]]\nid = \"FR\"\nurl = \"http://x\"\nsource = \"rss\"\n",
            "regions[0].source",
        ),
        ("home = \"FR\"\n[risk]\nmax_gap_secs = 0\n", "max_gap_secs"),
        ("home = \"FR\"\nhme = 1\n", "hme"),
    ];
    for (text, field) in cases {
        let error = AgentConfig::from_toml(text, dir.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains(field), "{text:?}: {error}");
    }
}
