//! An EFGS member backend written for the tests from formats.md §g alone (not from the code under
//! test): its own canonical signing bytes (§g.3), a hand-written protobuf codec for
//! `DiagnosisKeyBatch` (§g.2), CMS signatures made and checked by the `openssl cms` command
//! (§g.4), certificates made by `openssl req`, and an HTTPS client with its own client
//! certificate that pins the gateway's server certificate.

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// One key, field for field as §g.2 lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub key_data: [u8; 16],
    pub rsin: u32,
    pub rolling_period: u32,
    pub risk: i32,
    pub visited: Vec<String>,
    pub origin: String,
    pub report_type: i32,
    pub dsos: i32,
}

impl Key {
    /// A valid key of `origin` for `now` (started yesterday), unique by `n`.
    pub fn new(origin: &str, n: u32, now: u64) -> Self {
        let mut key_data = [0x5a; 16];
        key_data[..4].copy_from_slice(&n.to_be_bytes());
        key_data[4] = origin.as_bytes()[0];
        let today = (now / 600) as u32;
        Self {
            key_data,
            rsin: today - today % 144 - 144,
            rolling_period: 144,
            risk: 2,
            visited: vec!["FR".into(), "MT".into()],
            origin: origin.into(),
            report_type: 1,
            dsos: -3,
        }
    }
}

/// §g.3: the record of one key.
pub fn record(k: &Key) -> String {
    let fields: [Vec<u8>; 8] = [
        k.key_data.to_vec(),
        k.rsin.to_be_bytes().to_vec(),
        k.rolling_period.to_be_bytes().to_vec(),
        k.risk.to_be_bytes().to_vec(),
        k.visited.join(",").into_bytes(),
        k.origin.clone().into_bytes(),
        k.report_type.to_be_bytes().to_vec(),
        k.dsos.to_be_bytes().to_vec(),
    ];
    fields
        .iter()
        .map(|f| format!("{}.", STANDARD.encode(f)))
        .collect()
}

/// §g.3: records sorted by the base64 of the whole record, concatenated raw.
pub fn batch_bytes(keys: &[Key]) -> Vec<u8> {
    let mut records: Vec<String> = keys.iter().map(record).collect();
    records.sort_by_key(|r| STANDARD.encode(r));
    records.concat().into_bytes()
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(out: &mut Vec<u8>, tag: u64, v: u64) {
    if v != 0 {
        varint(out, tag << 3);
        varint(out, v);
    }
}

fn field_bytes(out: &mut Vec<u8>, tag: u64, b: &[u8]) {
    varint(out, (tag << 3) | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// §g.2 protobuf: `DiagnosisKeyBatch { repeated DiagnosisKey keys = 1 }`.
pub fn pb_encode(keys: &[Key]) -> Vec<u8> {
    let mut out = Vec::new();
    for k in keys {
        let mut m = Vec::new();
        field_bytes(&mut m, 1, &k.key_data);
        field_varint(&mut m, 2, u64::from(k.rsin));
        field_varint(&mut m, 3, u64::from(k.rolling_period));
        field_varint(&mut m, 4, k.risk as i64 as u64);
        for c in &k.visited {
            field_bytes(&mut m, 5, c.as_bytes());
        }
        if !k.origin.is_empty() {
            field_bytes(&mut m, 6, k.origin.as_bytes());
        }
        field_varint(&mut m, 7, k.report_type as i64 as u64);
        let zigzag = ((k.dsos << 1) ^ (k.dsos >> 31)) as u32;
        field_varint(&mut m, 8, u64::from(zigzag));
        field_bytes(&mut out, 1, &m);
    }
    out
}

fn read_varint(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// Decodes what [`pb_encode`] writes (and what a gateway answers).
pub fn pb_decode(b: &[u8]) -> Vec<Key> {
    let mut at = 0;
    let mut keys = Vec::new();
    while at < b.len() {
        let tag = read_varint(b, &mut at);
        assert_eq!(tag, (1 << 3) | 2);
        let len = read_varint(b, &mut at) as usize;
        let m = &b[at..at + len];
        at += len;
        let mut k = Key {
            key_data: [0; 16],
            rsin: 0,
            rolling_period: 0,
            risk: 0,
            visited: vec![],
            origin: String::new(),
            report_type: 0,
            dsos: 0,
        };
        let mut i = 0;
        while i < m.len() {
            let t = read_varint(m, &mut i);
            let (field, wire) = (t >> 3, t & 7);
            if wire == 2 {
                let len = read_varint(m, &mut i) as usize;
                let v = &m[i..i + len];
                i += len;
                match field {
                    1 => k.key_data = v.try_into().unwrap(),
                    5 => k.visited.push(String::from_utf8(v.to_vec()).unwrap()),
                    6 => k.origin = String::from_utf8(v.to_vec()).unwrap(),
                    _ => panic!("unexpected field {field}"),
                }
            } else {
                let v = read_varint(m, &mut i);
                match field {
                    2 => k.rsin = v as u32,
                    3 => k.rolling_period = v as u32,
                    4 => k.risk = v as i32,
                    7 => k.report_type = v as i32,
                    8 => {
                        let z = v as u32;
                        k.dsos = ((z >> 1) as i32) ^ -((z & 1) as i32);
                    }
                    _ => panic!("unexpected field {field}"),
                }
            }
        }
        keys.push(k);
    }
    keys
}

const REPORT: [&str; 6] = [
    "UNKNOWN",
    "CONFIRMED_TEST",
    "CONFIRMED_CLINICAL_DIAGNOSIS",
    "SELF_REPORT",
    "RECURSIVE",
    "REVOKED",
];

/// §g.2 JSON.
pub fn json_encode(keys: &[Key]) -> Vec<u8> {
    let keys: Vec<_> = keys
        .iter()
        .map(|k| {
            serde_json::json!({
                "keyData": STANDARD.encode(k.key_data),
                "rollingStartIntervalNumber": k.rsin,
                "rollingPeriod": k.rolling_period,
                "transmissionRiskLevel": k.risk,
                "visitedCountries": k.visited,
                "origin": k.origin,
                "reportType": REPORT[k.report_type as usize],
                "days_since_onset_of_symptoms": k.dsos,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "keys": keys })).unwrap()
}

/// A certificate and key made by `openssl req`.
#[derive(Debug, Clone)]
pub struct Cert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Cert {
    /// A self-signed certificate for country `c` (`ec` P-256 or RSA 3072), valid 2 days.
    pub fn make(dir: &Path, name: &str, c: &str, ec: bool) -> Self {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        let mut cmd = Command::new("openssl");
        cmd.args(["req", "-x509", "-nodes", "-days", "2", "-newkey"]);
        if ec {
            cmd.args(["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]);
        } else {
            cmd.arg("rsa:3072");
        }
        cmd.args([
            "-subj",
            &format!("/C={c}/O=Test health authority/CN={name}"),
        ]);
        cmd.arg("-keyout").arg(&key).arg("-out").arg(&cert);
        let out = cmd.output().expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { cert, key }
    }

    /// The DER.
    pub fn der(&self) -> Vec<u8> {
        CertificateDer::from_pem_file(&self.cert)
            .unwrap()
            .as_ref()
            .to_vec()
    }
}

/// `openssl cms -sign` of `content` (detached, DER, base64).
pub fn openssl_sign(dir: &Path, signer: &Cert, content: &[u8]) -> String {
    let input = dir.join("to-sign.bin");
    let output = dir.join("signature.der");
    std::fs::write(&input, content).unwrap();
    let out = Command::new("openssl")
        .args([
            "cms", "-sign", "-binary", "-md", "sha256", "-outform", "DER",
        ])
        .arg("-in")
        .arg(&input)
        .arg("-signer")
        .arg(&signer.cert)
        .arg("-inkey")
        .arg(&signer.key)
        .arg("-out")
        .arg(&output)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    STANDARD.encode(std::fs::read(&output).unwrap())
}

/// `openssl cms -verify -binary -content <bytes>` of a base64 detached CMS (the signer's
/// certificate as the trust anchor); true when openssl accepts it.
pub fn openssl_verify(dir: &Path, signature_b64: &str, content: &[u8], trusted: &Path) -> bool {
    let sig = dir.join("verify.der");
    let input = dir.join("verify.bin");
    std::fs::write(&sig, STANDARD.decode(signature_b64).unwrap()).unwrap();
    std::fs::write(&input, content).unwrap();
    let out = Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .arg("-in")
        .arg(&sig)
        .arg("-content")
        .arg(&input)
        .arg("-CAfile")
        .arg(trusted)
        .args(["-out", "/dev/null"])
        .output()
        .unwrap();
    out.status.success()
}

#[derive(Debug)]
struct Pinned(Vec<u8>);

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the pinned gateway".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A member's HTTPS client: its certificate (or none) against a pinned gateway certificate.
#[derive(Clone)]
pub struct Member {
    pub addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn message(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        v["message"].as_str().unwrap_or_default().to_owned()
    }
}

impl Member {
    pub fn new(addr: SocketAddr, gateway_cert_pem: &Path, client: Option<&Cert>) -> Self {
        let pinned = CertificateDer::from_pem_file(gateway_cert_pem)
            .unwrap()
            .as_ref()
            .to_vec();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned(pinned)));
        let tls = match client {
            Some(c) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_file(&c.cert).unwrap()],
                    PrivateKeyDer::from_pem_file(&c.key).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        Self {
            addr,
            tls: Arc::new(tls),
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let mut sender = self.connect().await;
        send_on(&mut sender, method, path, headers, body).await
    }

    /// One kept-alive connection (HTTP/1.1) for several requests ([`send_on`]).
    pub async fn connect(&self) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(ServerName::try_from("gateway.test").unwrap(), tcp)
            .await
            .unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender
    }

    /// `POST /diagnosiskeys/upload`.
    pub async fn upload(
        &self,
        tag: &str,
        signature: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        self.send(
            "POST",
            "/diagnosiskeys/upload",
            &[
                ("batchTag", tag),
                ("batchSignature", signature),
                ("content-type", content_type),
            ],
            body,
        )
        .await
    }

    /// `GET /diagnosiskeys/download/{date}` (protobuf).
    pub async fn download(&self, date: &str, tag: Option<&str>) -> Answer {
        let mut headers = vec![("accept", "application/protobuf; version=1.0")];
        if let Some(tag) = tag {
            headers.push(("batchTag", tag));
        }
        self.send(
            "GET",
            &format!("/diagnosiskeys/download/{date}"),
            &headers,
            vec![],
        )
        .await
    }
}

/// Sends one request on a kept-alive connection.
pub async fn send_on(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    sender.ready().await.unwrap();
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "gateway.test");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    }
}

pub const PB: &str = "application/protobuf; version=1.0";
pub const JSON: &str = "application/json; version=1.0";
