//! Detached CMS `SignedData` (RFC 5652) as EFGS uses it for `batchSignature` (formats.md §g.4):
//! parsing and verifying a member's signature over the canonical batch bytes, and signing them.
//!
//! The ASN.1 types are the RustCrypto `cms`/`x509-cert` crates'; the signature math is ring's
//! (RSA PKCS#1 v1.5 with SHA-256/384/512, ECDSA P-256/P-384, Ed25519 for CA-tree signers). A
//! signature with signed attributes must carry `contentType` = id-data and a `messageDigest` that
//! matches the content; the signature covers the DER of the signed attributes.
//!
//! This module never decides whether a signer is trusted (that is `pki::efgs`), never accepts an
//! attached (non-detached) content or a message with other than one signer, and never panics on
//! outside bytes: every length is bounded before decoding.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

/// The largest `batchSignature` header accepted (formats.md §g.4: ≤ 8000 base64 characters).
pub const MAX_SIGNATURE_B64: usize = 8000;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Why a CMS signature was refused or could not be made. At the gateway every variant is
/// `400 Invalid signature` (formats.md §g.5 steps 4–9).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CmsError {
    /// Not base64, too long, or not DER of a `ContentInfo`/`SignedData`.
    #[error("not a CMS SignedData: {0}")]
    Parse(String),
    /// The content is attached, or the content type is not id-data.
    #[error("the CMS is not detached over id-data")]
    NotDetached,
    /// Not exactly one `SignerInfo`.
    #[error("the CMS has {0} signers (exactly one is allowed)")]
    Signers(usize),
    /// No certificate in `certificates` matches the signer id.
    #[error("the signer's certificate is not in the CMS")]
    NoSignerCertificate,
    /// An algorithm (digest, signature or key) this module does not verify.
    #[error("unsupported algorithm {0}")]
    Unsupported(String),
    /// The signed attributes lack `contentType`/`messageDigest` or hold wrong values.
    #[error("signed attributes: {0}")]
    Attributes(&'static str),
    /// The `messageDigest` is not the digest of the content.
    #[error("the message digest does not match the content")]
    DigestMismatch,
    /// The signature does not verify with the certificate's key.
    #[error("the signature does not verify")]
    BadSignature,
    /// A signing key or certificate that cannot be used (signing side).
    #[error("signing credential: {0}")]
    Credential(String),
}

fn parse_err(e: impl std::fmt::Display) -> CmsError {
    CmsError::Parse(e.to_string())
}

/// A parsed detached signature: its one signer and the signer's certificate.
#[derive(Debug, Clone)]
pub struct Detached {
    signer: SignerInfo,
    cert: Certificate,
    cert_der: Vec<u8>,
}

impl Detached {
    /// Decodes a `batchSignature` header (standard base64 of the DER), checks the shape of
    /// formats.md §g.4 (detached, one signer) and finds the signer's certificate by its id.
    pub fn parse_base64(text: &str) -> Result<Self, CmsError> {
        if text.len() > MAX_SIGNATURE_B64 {
            return Err(CmsError::Parse(format!(
                "{} base64 characters (at most {MAX_SIGNATURE_B64})",
                text.len()
            )));
        }
        let der = STANDARD.decode(text.trim()).map_err(parse_err)?;
        Self::parse_der(&der)
    }

    /// As [`Self::parse_base64`], from DER.
    pub fn parse_der(der: &[u8]) -> Result<Self, CmsError> {
        let info = ContentInfo::from_der(der).map_err(parse_err)?;
        if info.content_type != ID_SIGNED_DATA {
            return Err(CmsError::Parse(format!(
                "content type {} is not signedData",
                info.content_type
            )));
        }
        let signed: SignedData = info.content.decode_as().map_err(parse_err)?;
        if signed.encap_content_info.econtent_type != ID_DATA
            || signed.encap_content_info.econtent.is_some()
        {
            return Err(CmsError::NotDetached);
        }
        let signers = signed.signer_infos.0.into_vec();
        let count = signers.len();
        let Ok([signer]) = <[SignerInfo; 1]>::try_from(signers) else {
            return Err(CmsError::Signers(count));
        };
        let certs = signed
            .certificates
            .map(|c| c.0.into_vec())
            .unwrap_or_default();
        let cert = certs
            .into_iter()
            .filter_map(|choice| match choice {
                CertificateChoices::Certificate(cert) => Some(cert),
                CertificateChoices::Other(_) => None,
            })
            .find(|cert| signer_matches(&signer.sid, cert))
            .ok_or(CmsError::NoSignerCertificate)?;
        let cert_der = cert.to_der().map_err(parse_err)?;
        Ok(Self {
            signer,
            cert,
            cert_der,
        })
    }

    /// The DER of the signer's certificate (to check against the member list).
    pub fn signer_cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Verifies the signature over `content` (the canonical batch bytes).
    pub fn verify(&self, content: &[u8]) -> Result<(), CmsError> {
        let digest = self.signer.digest_alg.oid;
        let message = match &self.signer.signed_attrs {
            Some(attrs) => {
                let content_type = single_attr(attrs, ID_CONTENT_TYPE)?
                    .decode_as::<ObjectIdentifier>()
                    .map_err(|_| CmsError::Attributes("contentType is not an OID"))?;
                if content_type != ID_DATA {
                    return Err(CmsError::Attributes("contentType is not id-data"));
                }
                let md = single_attr(attrs, ID_MESSAGE_DIGEST)?
                    .decode_as::<OctetString>()
                    .map_err(|_| CmsError::Attributes("messageDigest is not an octet string"))?;
                if md.as_bytes() != digest_of(digest, content)?.as_slice() {
                    return Err(CmsError::DigestMismatch);
                }
                attrs.to_der().map_err(parse_err)?
            }
            None => content.to_vec(),
        };
        let spki = self.cert.tbs_certificate().subject_public_key_info();
        let key_bytes = spki.subject_public_key.raw_bytes();
        let sig_alg = self.signer.signature_algorithm.oid;
        let algorithm = verify_algorithm(
            spki.algorithm.oid,
            spki.algorithm.parameters.as_ref(),
            sig_alg,
            digest,
        )?;
        UnparsedPublicKey::new(algorithm, key_bytes)
            .verify(&message, self.signer.signature.as_bytes())
            .map_err(|_| CmsError::BadSignature)
    }
}

fn signer_matches(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            &isn.issuer == tbs.issuer() && &isn.serial_number == tbs.serial_number()
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => matches!(
            tbs.get_extension::<SubjectKeyIdentifier>(),
            Ok(Some((_, found))) if &found == ski
        ),
    }
}

fn single_attr(attrs: &SetOfVec<Attribute>, oid: ObjectIdentifier) -> Result<&Any, CmsError> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let attr = found
        .next()
        .ok_or(CmsError::Attributes("a required attribute is missing"))?;
    if found.next().is_some() || attr.values.len() != 1 {
        return Err(CmsError::Attributes("an attribute is repeated"));
    }
    attr.values
        .iter()
        .next()
        .ok_or(CmsError::Attributes("an attribute has no value"))
}

fn digest_of(oid: ObjectIdentifier, content: &[u8]) -> Result<Vec<u8>, CmsError> {
    Ok(match oid {
        SHA256 => sha2::Sha256::digest(content).to_vec(),
        SHA384 => sha2::Sha384::digest(content).to_vec(),
        SHA512 => sha2::Sha512::digest(content).to_vec(),
        other => return Err(CmsError::Unsupported(format!("digest {other}"))),
    })
}

fn verify_algorithm(
    key_alg: ObjectIdentifier,
    key_params: Option<&Any>,
    sig_alg: ObjectIdentifier,
    digest: ObjectIdentifier,
) -> Result<&'static dyn signature::VerificationAlgorithm, CmsError> {
    let unsupported = || {
        CmsError::Unsupported(format!(
            "key {key_alg} / signature {sig_alg} / digest {digest}"
        ))
    };
    match key_alg {
        RSA_ENCRYPTION => match (sig_alg, digest) {
            (RSA_ENCRYPTION | SHA256_WITH_RSA, SHA256) => {
                Ok(&signature::RSA_PKCS1_2048_8192_SHA256)
            }
            (RSA_ENCRYPTION | SHA384_WITH_RSA, SHA384) => {
                Ok(&signature::RSA_PKCS1_2048_8192_SHA384)
            }
            (RSA_ENCRYPTION | SHA512_WITH_RSA, SHA512) => {
                Ok(&signature::RSA_PKCS1_2048_8192_SHA512)
            }
            _ => Err(unsupported()),
        },
        EC_PUBLIC_KEY => {
            let curve = key_params
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(unsupported)?;
            // The CMS digest algorithm is the one the ECDSA signature hashed with.
            if !matches!(sig_alg, ECDSA_SHA256 | ECDSA_SHA384 | EC_PUBLIC_KEY) {
                return Err(unsupported());
            }
            match (curve, digest) {
                (P256, SHA256) => Ok(&signature::ECDSA_P256_SHA256_ASN1),
                (P256, SHA384) => Ok(&signature::ECDSA_P256_SHA384_ASN1),
                (P384, SHA256) => Ok(&signature::ECDSA_P384_SHA256_ASN1),
                (P384, SHA384) => Ok(&signature::ECDSA_P384_SHA384_ASN1),
                _ => Err(unsupported()),
            }
        }
        ED25519 if sig_alg == ED25519 => Ok(&signature::ED25519),
        _ => Err(unsupported()),
    }
}

enum SigningKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

/// A signing certificate and its key (RSA or ECDSA P-256, PKCS#8 or PKCS#1 PEM): makes the
/// `batchSignature` of a batch.
pub struct CmsSigner {
    cert: Certificate,
    cert_der: Vec<u8>,
    key: SigningKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for CmsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CmsSigner").finish_non_exhaustive()
    }
}

impl CmsSigner {
    /// From PEM texts of the certificate and its private key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, CmsError> {
        let bad = |e: &dyn std::fmt::Display| CmsError::Credential(e.to_string());
        let cert_der = CertificateDer::from_pem_slice(cert_pem).map_err(|e| bad(&e))?;
        let cert = Certificate::from_der(cert_der.as_ref()).map_err(|e| bad(&e))?;
        let rng = SystemRandom::new();
        let key = match PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad(&e))? {
            PrivateKeyDer::Pkcs1(der) => {
                SigningKey::Rsa(RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(|e| bad(&e))?)
            }
            PrivateKeyDer::Pkcs8(der) => {
                let der = der.secret_pkcs8_der();
                match RsaKeyPair::from_pkcs8(der) {
                    Ok(rsa) => SigningKey::Rsa(rsa),
                    Err(_) => SigningKey::Ecdsa(
                        EcdsaKeyPair::from_pkcs8(
                            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                            der,
                            &rng,
                        )
                        .map_err(|e| bad(&e))?,
                    ),
                }
            }
            _ => {
                return Err(CmsError::Credential(
                    "want a PKCS#8 or PKCS#1 private key".into(),
                ));
            }
        };
        let public = match &key {
            SigningKey::Rsa(k) => k.public_key().as_ref().to_vec(),
            SigningKey::Ecdsa(k) => k.public_key().as_ref().to_vec(),
        };
        if cert
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes()
            != public.as_slice()
        {
            return Err(CmsError::Credential(
                "the key is not the certificate's key".into(),
            ));
        }
        Ok(Self {
            cert,
            cert_der: cert_der.as_ref().to_vec(),
            key,
            rng,
        })
    }

    /// The certificate's DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// A detached CMS over `content`, signed at `now_secs` (the signingTime attribute), as the
    /// base64 text of a `batchSignature` header.
    pub fn sign_base64(&self, content: &[u8], now_secs: u64) -> Result<String, CmsError> {
        Ok(STANDARD.encode(self.sign_der(content, now_secs)?))
    }

    /// As [`Self::sign_base64`], the DER.
    pub fn sign_der(&self, content: &[u8], now_secs: u64) -> Result<Vec<u8>, CmsError> {
        let enc = |e: der::Error| CmsError::Credential(e.to_string());
        let attr = |oid, value: Any| -> Result<Attribute, CmsError> {
            Ok(Attribute {
                oid,
                values: SetOfVec::try_from(vec![value]).map_err(enc)?,
            })
        };
        let time =
            UtcTime::from_unix_duration(std::time::Duration::from_secs(now_secs)).map_err(enc)?;
        let digest = sha2::Sha256::digest(content);
        let attrs: SetOfVec<Attribute> = SetOfVec::try_from(vec![
            attr(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA).map_err(enc)?)?,
            attr(ID_SIGNING_TIME, Any::encode_from(&time).map_err(enc)?)?,
            attr(
                ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(digest.to_vec()).map_err(enc)?).map_err(enc)?,
            )?,
        ])
        .map_err(enc)?;
        let message = attrs.to_der().map_err(enc)?;
        let (signature, sig_alg) = match &self.key {
            SigningKey::Rsa(key) => {
                let mut out = vec![0u8; key.public().modulus_len()];
                key.sign(&signature::RSA_PKCS1_SHA256, &self.rng, &message, &mut out)
                    .map_err(|_| CmsError::Credential("RSA signing failed".into()))?;
                (
                    out,
                    AlgorithmIdentifierOwned {
                        oid: SHA256_WITH_RSA,
                        parameters: Some(Any::null()),
                    },
                )
            }
            SigningKey::Ecdsa(key) => (
                key.sign(&self.rng, &message)
                    .map_err(|_| CmsError::Credential("ECDSA signing failed".into()))?
                    .as_ref()
                    .to_vec(),
                AlgorithmIdentifierOwned {
                    oid: ECDSA_SHA256,
                    parameters: None,
                },
            ),
        };
        let sha256 = AlgorithmIdentifierOwned {
            oid: SHA256,
            parameters: None,
        };
        let tbs = self.cert.tbs_certificate();
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial_number: tbs.serial_number().clone(),
            }),
            digest_alg: sha256.clone(),
            signed_attrs: Some(attrs),
            signature_algorithm: sig_alg,
            signature: OctetString::new(signature).map_err(enc)?,
            unsigned_attrs: None,
        };
        let signed = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256]).map_err(enc)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent: None,
            },
            certificates: Some(
                CertificateSet::try_from(vec![CertificateChoices::Certificate(self.cert.clone())])
                    .map_err(enc)?,
            ),
            crls: None,
            signer_infos: SignerInfos::try_from(vec![signer]).map_err(enc)?,
        };
        let info = ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed).map_err(enc)?,
        };
        info.to_der().map_err(enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(parsed) = Detached::parse_der(&bytes) {
                let _ = parsed.verify(b"content");
            }
            let _ = Detached::parse_base64(&STANDARD.encode(&bytes));
        }

        #[test]
        fn a_flipped_bit_of_the_signature_never_verifies(at in 0usize..32, bit in 0u8..8) {
            let rcgen::CertifiedKey { cert, signing_key } =
                rcgen::generate_simple_self_signed(vec!["cms.test".into()]).unwrap();
            let signer = CmsSigner::from_pem(
                cert.pem().as_bytes(),
                signing_key.serialize_pem().as_bytes(),
            )
            .unwrap();
            let mut der = signer.sign_der(b"batch bytes", 1_760_000_000).unwrap();
            Detached::parse_der(&der).unwrap().verify(b"batch bytes").unwrap();
            // The SignerInfo's signature is the message's last element (no unsigned
            // attributes): its last 32 bytes are the ECDSA `s`.
            let index = der.len() - 1 - at;
            der[index] ^= 1 << bit;
            if let Ok(parsed) = Detached::parse_der(&der) {
                prop_assert!(parsed.verify(b"batch bytes").is_err());
            }
        }
    }
}
