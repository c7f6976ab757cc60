//! The EFGS gateway API of a real node (real TLS, real RocksDB) against an EFGS member client
//! written from formats.md §g alone (`efgs_support`): uploads in protobuf and JSON, every error
//! status of §g.1 in the order of §g.5, download chaining across two days, audit entries that
//! `openssl cms -verify` accepts over the downloaded keys, CMS interop with openssl both ways,
//! and bad input on every endpoint (nothing stored, an EFGS error, no panic).

mod common;
mod efgs_support;

use efgs_support::{
    Cert, JSON, Key, Member, PB, batch_bytes, json_encode, openssl_sign, openssl_verify, pb_decode,
    pb_encode,
};
use enmesh_daemon::clock::{Clock, ManualClock, SharedClock};
use enmesh_daemon::config::{EfgsGatewayConfig, EfgsMemberConfig};
use enmesh_daemon::demo::sites::{self, SiteOptions};
use enmesh_daemon::efgs::cms::{CmsSigner, Detached};
use enmesh_daemon::node::{self, NodeHandle};
use enmesh_daemon::store::{BatchId, Cursor};
use enmesh_daemon::telemetry::Metrics;
use enmesh_protocol::feed::Feed;
use enmesh_protocol::region::{Country, RegionId};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

struct Gateway {
    dir: tempfile::TempDir,
    node: NodeHandle,
    clock: Arc<ManualClock>,
    de_auth: Cert,
    de_sign: Cert,
    fr_sign: Cert,
    stranger: Cert,
    _audit: Cert,
    node_cert: PathBuf,
}

impl Gateway {
    async fn start() -> Self {
        enmesh_daemon::pki::tls::install_default_provider();
        let dir = tempfile::tempdir().unwrap();
        let options = SiteOptions {
            batch_window_ms: 50,
            batch_min_keys: 0,
            ..SiteOptions::default()
        };
        let sites = sites::prepare(
            dir.path(),
            &[("EU".parse().unwrap(), vec![common::region("DE")])],
            &options,
        )
        .unwrap();
        let certs = dir.path();
        let de_auth = Cert::make(certs, "de-auth", "DE", true);
        let de_sign = Cert::make(certs, "de-sign", "DE", false);
        let fr_sign = Cert::make(certs, "fr-sign", "FR", true);
        let stranger = Cert::make(certs, "stranger", "DE", true);
        let audit = Cert::make(certs, "gateway-audit", "DE", true);
        let mut config = sites[0].config.clone();
        config.efgs_gateway = Some(EfgsGatewayConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            signing_cert: audit.cert.clone(),
            signing_key: audit.key.clone(),
            tls_cert: None,
            tls_key: None,
            callback_ca: None,
            callback_interval: Duration::from_secs(300),
            allow_private_callbacks: true,
            members: vec![
                EfgsMemberConfig {
                    country: Country::from_alpha2("DE").unwrap(),
                    authentication_certs: vec![de_auth.cert.clone()],
                    signing_certs: vec![de_sign.cert.clone()],
                },
                EfgsMemberConfig {
                    country: Country::from_alpha2("FR").unwrap(),
                    authentication_certs: vec![],
                    signing_certs: vec![fr_sign.cert.clone()],
                },
            ],
        });
        // The gateway's clock runs 10 minutes ahead of the certificates' (a few slots have ended).
        let clock = ManualClock::at_millis(common::now_secs() * 1000 + 600_000);
        let shared: SharedClock = clock.clone();
        let node = node::start(config, shared, Metrics::new()).await.unwrap();
        Self {
            node_cert: sites[0].pki.cert.clone(),
            dir,
            node,
            clock,
            de_auth,
            de_sign,
            fr_sign,
            stranger,
            _audit: audit,
        }
    }

    fn member(&self, client: Option<&Cert>) -> Member {
        Member::new(
            self.node.efgs_gateway().unwrap().addr,
            &self.node_cert,
            client,
        )
    }

    fn local_count(&self) -> usize {
        self.node
            .store()
            .local_keys_after(None, 100_000)
            .unwrap()
            .len()
    }
}

fn keys(origin: &str, from: u32, n: u32, now: u64) -> Vec<Key> {
    (from..from + n).map(|i| Key::new(origin, i, now)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_statuses_follow_the_gateway_checks_in_order() {
    let gw = Gateway::start().await;
    let dir = gw.dir.path();
    let now = gw.clock.now_secs();
    let member = gw.member(Some(&gw.de_auth));

    // 201, protobuf.
    let batch = keys("DE", 0, 10, now);
    let sig = openssl_sign(dir, &gw.de_sign, &batch_bytes(&batch));
    let a = member.upload("de-1", &sig, PB, pb_encode(&batch)).await;
    assert_eq!(a.status, 201, "{}", a.message());
    assert_eq!(a.header("batchTag").as_deref(), Some("de-1"));
    assert!(a.body.is_empty());
    let stored = gw.node.store().local_keys_after(None, 100).unwrap();
    assert_eq!(stored.len(), 10);
    // The visited list stays here, as the upload's: FR and MT (home DE excluded).
    let visited: BTreeSet<String> = stored[0].visited.iter().map(ToString::to_string).collect();
    assert_eq!(visited, BTreeSet::from(["FR".to_owned(), "MT".to_owned()]));

    // 201, JSON.
    let batch2 = keys("DE", 100, 7, now);
    let sig2 = openssl_sign(dir, &gw.de_sign, &batch_bytes(&batch2));
    let a = member
        .upload("de-2", &sig2, JSON, json_encode(&batch2))
        .await;
    assert_eq!(a.status, 201, "{}", a.message());
    assert_eq!(gw.local_count(), 17);

    // 409: the tag again.
    let a = member
        .upload("de-2", &sig2, JSON, json_encode(&batch2))
        .await;
    assert_eq!(a.status, 409, "{}", a.message());

    // 413: 5001 valid keys, correctly signed.
    let big = keys("DE", 10_000, 5001, now);
    let sig_big = openssl_sign(dir, &gw.de_sign, &batch_bytes(&big));
    let a = member.upload("de-big", &sig_big, PB, pb_encode(&big)).await;
    assert_eq!(a.status, 413, "{}", a.message());

    let fresh = keys("DE", 200, 5, now);
    // 400: a forged CMS (a real signature, over other bytes).
    let a = member.upload("de-3", &sig, PB, pb_encode(&fresh)).await;
    assert_eq!(a.status, 400);
    assert!(a.message().contains("Invalid signature"), "{}", a.message());
    // 400: a CMS by a member certificate of another country (FR) over DE keys.
    let by_fr = openssl_sign(dir, &gw.fr_sign, &batch_bytes(&fresh));
    let a = member.upload("de-3", &by_fr, PB, pb_encode(&fresh)).await;
    assert_eq!(a.status, 400);
    assert!(a.message().contains("Invalid signature"), "{}", a.message());
    // 400: a CMS by a certificate that is not a member's.
    let by_stranger = openssl_sign(dir, &gw.stranger, &batch_bytes(&fresh));
    let a = member
        .upload("de-3", &by_stranger, PB, pb_encode(&fresh))
        .await;
    assert_eq!(a.status, 400);
    assert!(a.message().contains("Invalid signature"), "{}", a.message());
    // 400: not a CMS at all.
    let a = member.upload("de-3", "AAAA", PB, pb_encode(&fresh)).await;
    assert_eq!(a.status, 400);
    // 400 (step 10): FR keys signed by the FR signing certificate, uploaded by the DE client.
    let fr_keys = keys("FR", 300, 3, now);
    let fr_sig = openssl_sign(dir, &gw.fr_sign, &batch_bytes(&fr_keys));
    let a = member
        .upload("de-3", &fr_sig, PB, pb_encode(&fr_keys))
        .await;
    assert_eq!(a.status, 400);
    assert!(a.message().contains("uploader country"), "{}", a.message());
    // 400: one invalid key rejects the batch.
    let mut bad = fresh.clone();
    bad[2].rolling_period = 145;
    let bad_sig = openssl_sign(dir, &gw.de_sign, &batch_bytes(&bad));
    let a = member.upload("de-3", &bad_sig, PB, pb_encode(&bad)).await;
    assert_eq!(a.status, 400);
    assert!(a.message().contains("keys[2]"), "{}", a.message());
    // Key validation comes before the size check: 5001 keys with one bad one is 400.
    let mut big_bad = big.clone();
    big_bad[4000].risk = 9;
    let a = member
        .upload("de-3", &sig_big, PB, pb_encode(&big_bad))
        .await;
    assert_eq!(a.status, 400);
    // 400: a content type that is neither protobuf nor JSON; 406: version 2.0.
    let fresh_sig = openssl_sign(dir, &gw.de_sign, &batch_bytes(&fresh));
    let a = member
        .upload(
            "de-3",
            &fresh_sig,
            "text/plain; version=1.0",
            pb_encode(&fresh),
        )
        .await;
    assert_eq!(a.status, 400);
    let a = member
        .upload(
            "de-3",
            &fresh_sig,
            "application/protobuf; version=2.0",
            pb_encode(&fresh),
        )
        .await;
    assert_eq!(a.status, 406);
    let a = member
        .upload(
            "de-3",
            &fresh_sig,
            "application/protobuf",
            pb_encode(&fresh),
        )
        .await;
    assert_eq!(a.status, 406);
    // 400: no batchTag.
    let a = member
        .send(
            "POST",
            "/diagnosiskeys/upload",
            &[("batchSignature", &fresh_sig), ("content-type", PB)],
            pb_encode(&fresh),
        )
        .await;
    assert_eq!(a.status, 400);
    // 403: no client certificate, and a certificate that is not a member's.
    for client in [None, Some(&gw.stranger)] {
        let a = gw
            .member(client)
            .upload("de-3", &fresh_sig, PB, pb_encode(&fresh))
            .await;
        assert_eq!(a.status, 403, "{}", a.message());
        let a = gw.member(client).download("2020-01-01", None).await;
        assert_eq!(a.status, 403);
    }
    // Nothing of the refused uploads was stored; the good one still goes through.
    assert_eq!(gw.local_count(), 17);
    let a = member
        .upload("de-3", &fresh_sig, PB, pb_encode(&fresh))
        .await;
    assert_eq!(a.status, 201, "{}", a.message());
    assert_eq!(gw.local_count(), 22);

    // 207: a new tag, but keys 1 and 3 are stored already (batch2's first two keys, same
    // records) and key 4 repeats key 0. Nothing is stored; the "201" keys go through again.
    let new = keys("DE", 400, 2, now);
    let mixed = vec![
        new[0].clone(),
        batch2[0].clone(),
        new[1].clone(),
        batch2[1].clone(),
        new[0].clone(),
    ];
    let mixed_sig = openssl_sign(dir, &gw.de_sign, &batch_bytes(&mixed));
    let a = member
        .upload("de-4", &mixed_sig, PB, pb_encode(&mixed))
        .await;
    assert_eq!(a.status, 207, "{}", a.message());
    let answer: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(answer["201"], serde_json::json!([0, 2]));
    assert_eq!(answer["409"], serde_json::json!([1, 3, 4]));
    assert_eq!(gw.local_count(), 22);
    let again_sig = openssl_sign(dir, &gw.de_sign, &batch_bytes(&new));
    let a = member.upload("de-4", &again_sig, PB, pb_encode(&new)).await;
    assert_eq!(a.status, 201, "{}", a.message());
    assert_eq!(gw.local_count(), 24);
    gw.node.shutdown().await.unwrap();
}

/// The checks before the insert (decoding, the CMS) run outside the upload lock; the tag and the
/// key records are still taken once when the same upload, or overlapping ones, arrive at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_take_a_tag_and_a_key_record_once() {
    let gw = Gateway::start().await;
    let dir = gw.dir.path();
    let now = gw.clock.now_secs();
    let member = gw.member(Some(&gw.de_auth));

    // The same upload four times at once: one 201, three 409 (never a 207).
    let mut batch = keys("DE", 0, 300, now);
    // Visited lists that name the same regions differently are one list: FR and MT.
    batch[1].visited = vec!["MT".into(), "FR".into(), "DE".into()];
    batch[2].visited = vec!["FR".into(), "MT".into(), "FR".into()];
    let sig = openssl_sign(dir, &gw.de_sign, &batch_bytes(&batch));
    let sends = (0..4).map(|_| {
        let (member, sig, body) = (member.clone(), sig.clone(), pb_encode(&batch));
        tokio::spawn(async move { member.upload("same", &sig, PB, body).await.status })
    });
    let mut statuses = Vec::new();
    for send in sends.collect::<Vec<_>>() {
        statuses.push(send.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409]);
    let stored = gw.node.store().local_keys_after(None, 100_000).unwrap();
    assert_eq!(stored.len(), 300);
    for entry in &stored {
        let visited: BTreeSet<String> = entry.visited.iter().map(ToString::to_string).collect();
        assert_eq!(visited, BTreeSet::from(["FR".to_owned(), "MT".to_owned()]));
    }

    // Two tags sharing 100 key records at once: one 201, one 207, no record stored twice.
    let a_keys = keys("DE", 1000, 200, now);
    let b_keys = keys("DE", 1100, 200, now);
    let uploads = [("a", a_keys), ("b", b_keys)].map(|(tag, k)| {
        let sig = openssl_sign(dir, &gw.de_sign, &batch_bytes(&k));
        let (member, body) = (member.clone(), pb_encode(&k));
        tokio::spawn(async move { member.upload(tag, &sig, PB, body).await.status })
    });
    let mut statuses = Vec::new();
    for upload in uploads {
        statuses.push(upload.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 207]);
    assert_eq!(gw.local_count(), 300 + 200);
    gw.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_loses_its_member_when_the_certificate_expires() {
    let gw = Gateway::start().await;
    let member = gw.member(Some(&gw.de_auth));
    let mut conn = member.connect().await;
    let list = "/diagnosiskeys/callback";
    let a = efgs_support::send_on(&mut conn, "GET", list, &[], vec![]).await;
    assert_eq!(a.status, 200);
    // Three days later the member's authentication certificate (two days) has expired: the
    // same connection, whose handshake proved it, now gets 403 for every request.
    gw.clock.advance_millis(3 * 86_400 * 1000);
    let a = efgs_support::send_on(&mut conn, "GET", list, &[], vec![]).await;
    assert_eq!(a.status, 403, "{}", a.message());
    let a = efgs_support::send_on(
        &mut conn,
        "GET",
        "/diagnosiskeys/download/2020-01-01",
        &[("accept", PB)],
        vec![],
    )
    .await;
    assert_eq!(a.status, 403);
    gw.node.shutdown().await.unwrap();
}

fn day_start(secs: u64) -> u64 {
    secs - secs % 86_400
}

fn iso(secs: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64).unwrap();
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn remote(gw: &Gateway, origin: &str, from: u32, n: u32, at: u64, seq: u64) -> Vec<[u8; 16]> {
    let keys: Vec<_> = (from..from + n)
        .map(|i| common::key(origin.as_bytes()[0], i))
        .collect();
    let cursor = Cursor {
        last_sequence: seq,
        last_batch_id: BatchId([seq as u8; 32]),
        next_poll_unix_secs: 0,
    };
    gw.node
        .store()
        .commit_remote(
            &origin.parse::<RegionId>().unwrap(),
            &"partial/DE".parse::<Feed>().unwrap(),
            &keys,
            &cursor,
            at,
        )
        .unwrap()
        .unwrap();
    keys.iter().map(|k| k.key.0).collect()
}

/// Follows a day's chain; returns (tags, keys per batch).
async fn follow(member: &Member, date: &str) -> Vec<(String, Vec<Key>)> {
    let mut out = Vec::new();
    let mut tag: Option<String> = None;
    loop {
        let a = member.download(date, tag.as_deref()).await;
        assert_eq!(a.status, 200, "{date} {tag:?}: {}", a.message());
        let this = a.header("batchTag").unwrap();
        out.push((this, pb_decode(&a.body)));
        match a.header("nextBatchTag").unwrap().as_str() {
            "null" => return out,
            next => tag = Some(next.to_owned()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_follows_tags_across_two_days_and_the_audit_verifies_every_key() {
    let gw = Gateway::start().await;
    let now = gw.clock.now_secs();
    let today = day_start(now);
    let yesterday = today - 86_400;
    // Yesterday: 12,000 FR keys and 200 DE keys in one slot, 300 IT keys in a later slot.
    let mut want_y: BTreeSet<[u8; 16]> = BTreeSet::new();
    want_y.extend(remote(&gw, "FR", 0, 6000, yesterday + 1000, 1));
    remote(&gw, "DE", 0, 200, yesterday + 1001, 2);
    want_y.extend(remote(&gw, "FR", 6000, 6000, yesterday + 1002, 3));
    want_y.extend(remote(&gw, "IT", 0, 300, yesterday + 2000, 4));
    // Today: 3,000 FR keys in a slot that has ended.
    let at = today + (now - today) / 2 - 300;
    let want_t: BTreeSet<[u8; 16]> = remote(&gw, "FR", 20_000, 3000, at.max(today), 5)
        .into_iter()
        .collect();

    let member = gw.member(Some(&gw.de_auth));
    for (date, want, batches) in [(iso(yesterday), &want_y, 4), (iso(today), &want_t, 1)] {
        let chain = follow(&member, &date).await;
        assert_eq!(chain.len(), batches, "{date}");
        let mut got = BTreeSet::new();
        for (tag, keys) in &chain {
            assert!(keys.len() <= 5000);
            assert!(tag.starts_with(&date.replace('-', "")));
            for k in keys {
                assert_ne!(k.origin, "DE", "the caller's own country is never served");
                assert!(k.visited.is_empty(), "no visited list leaves the node");
                assert!(got.insert(k.key_data), "a key served twice");
            }
            // The audit: skip DE entries, cut the keys into slices of `amount`, and openssl
            // must accept each slice's CMS over its canonical bytes.
            let a = member
                .send(
                    "GET",
                    &format!("/diagnosiskeys/audit/download/{date}/{tag}"),
                    &[("accept", "application/json")],
                    vec![],
                )
                .await;
            assert_eq!(a.status, 200, "{}", a.message());
            let entries: Vec<serde_json::Value> = serde_json::from_slice(&a.body).unwrap();
            let mut at = 0usize;
            for entry in &entries {
                if entry["country"] == "DE" {
                    continue;
                }
                let amount = entry["amount"].as_u64().unwrap() as usize;
                let slice = &keys[at..at + amount];
                assert!(slice.iter().all(|k| k.origin == entry["country"]));
                std::fs::write(
                    gw.dir.path().join("audit-cert.pem"),
                    entry["signingCertificate"].as_str().unwrap(),
                )
                .unwrap();
                assert!(openssl_verify(
                    gw.dir.path(),
                    entry["batchSignature"].as_str().unwrap(),
                    &batch_bytes(slice),
                    &gw.dir.path().join("audit-cert.pem"),
                ));
                // A changed key fails the same check.
                let mut forged = slice.to_vec();
                forged[0].risk = 7 - forged[0].risk.min(7);
                assert!(!openssl_verify(
                    gw.dir.path(),
                    entry["batchSignature"].as_str().unwrap(),
                    &batch_bytes(&forged),
                    &gw.dir.path().join("audit-cert.pem"),
                ));
                at += amount;
            }
            assert_eq!(at, keys.len());
        }
        assert_eq!(&got, want, "{date}");
    }
    // 410 before the window, 404 for an unknown tag, 400 for a tag of an earlier day.
    assert_eq!(
        member.download(&iso(today - 3 * 86_400), None).await.status,
        410
    );
    assert_eq!(
        member
            .download(&iso(today), Some("20200101-1"))
            .await
            .status,
        404
    );
    let first_y = follow(&member, &iso(yesterday)).await[0].0.clone();
    assert_eq!(
        member.download(&iso(today), Some(&first_y)).await.status,
        400
    );
    let a = member
        .send(
            "GET",
            &format!("/diagnosiskeys/audit/download/{}/{first_y}", iso(today)),
            &[],
            vec![],
        )
        .await;
    assert_eq!(a.status, 404);
    // 406: no acceptable version.
    let a = member
        .send(
            "GET",
            &format!("/diagnosiskeys/download/{}", iso(today)),
            &[("accept", "application/protobuf; version=0.9")],
            vec![],
        )
        .await;
    assert_eq!(a.status, 406);
    gw.node.shutdown().await.unwrap();
}

#[test]
fn cms_signatures_interoperate_with_openssl_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let content = batch_bytes(&keys("DE", 0, 50, common::now_secs()));
    for (name, ec) in [("rsa", false), ("ec", true)] {
        let cert = Cert::make(dir.path(), name, "DE", ec);
        // enmesh signs, openssl verifies.
        let signer = CmsSigner::from_pem(
            &std::fs::read(&cert.cert).unwrap(),
            &std::fs::read(&cert.key).unwrap(),
        )
        .unwrap();
        let ours = signer.sign_base64(&content, common::now_secs()).unwrap();
        assert!(
            openssl_verify(dir.path(), &ours, &content, &cert.cert),
            "{name}"
        );
        assert!(
            !openssl_verify(dir.path(), &ours, &content[1..], &cert.cert),
            "{name}"
        );
        // openssl signs, enmesh verifies.
        let theirs = openssl_sign(dir.path(), &cert, &content);
        let parsed = Detached::parse_base64(&theirs).unwrap();
        assert_eq!(parsed.signer_cert_der(), cert.der().as_slice());
        parsed.verify(&content).unwrap();
        assert!(parsed.verify(&content[1..]).is_err());
        // And enmesh's own signature round-trips.
        Detached::parse_base64(&ours)
            .unwrap()
            .verify(&content)
            .unwrap();
    }
}

#[test]
fn bad_input_on_every_endpoint_is_an_efgs_error_and_stores_nothing() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let gw = rt.block_on(Gateway::start());
    let member = gw.member(Some(&gw.de_auth));
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let text = "[A-Za-z0-9._-]{0,30}";
    let strategy = (
        0usize..7,
        proptest::collection::vec(any::<u8>(), 0..400),
        text,
        text,
    );
    runner
        .run(&strategy, |(endpoint, body, a, b)| {
            let answer = rt.block_on(async {
                match endpoint {
                    0 => member.upload(&a, &b, PB, body).await,
                    1 => {
                        member
                            .upload("tag", &STANDARD_B64.encode(&body), JSON, body)
                            .await
                    }
                    2 => member.upload(&a, "MIIB", &b, body).await,
                    3 => {
                        member
                            .send(
                                "GET",
                                &format!("/diagnosiskeys/download/{a}"),
                                &[("accept", PB), ("batchTag", &b)],
                                vec![],
                            )
                            .await
                    }
                    4 => {
                        member
                            .send(
                                "GET",
                                &format!("/diagnosiskeys/audit/download/{a}/{b}"),
                                &[],
                                vec![],
                            )
                            .await
                    }
                    5 => {
                        member
                            .send(
                                "PUT",
                                &format!("/diagnosiskeys/callback/{a}?url={b}"),
                                &[],
                                body,
                            )
                            .await
                    }
                    _ => {
                        member
                            .send(
                                "DELETE",
                                &format!("/diagnosiskeys/callback/x{a}"),
                                &[],
                                body,
                            )
                            .await
                    }
                }
            });
            prop_assert!(
                [400, 404, 405, 406, 409, 410, 413].contains(&answer.status),
                "endpoint {} answered {}",
                endpoint,
                answer.status
            );
            if answer.status != 405 {
                prop_assert!(!answer.message().is_empty(), "no EFGS error message");
            }
            prop_assert_eq!(gw.local_count(), 0);
            Ok(())
        })
        .unwrap();
    rt.block_on(gw.node.shutdown()).unwrap();
}

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as STANDARD_B64;
