//! Known-answer and property tests of `enmesh_protocol::checkpoint`: the golang.org/x/mod
//! sumdb/note example (PeterNeumann key), the derived signed checkpoint of the 8-leaf test tree,
//! cosigning, malformed notes and keys, and round trips / no-panic properties.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use enmesh_protocol::checkpoint::{
    Checkpoint, CheckpointError, KeyId, KeyName, MAX_SIGNATURES, NoteSigner, NoteVerifier, open,
};
use enmesh_protocol::merkle::{self, Hash, TreeSize, leaf_hash};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

// Generated once from shared/vectors/merkle.json (values copied; the JSON is not read at test time).

/// golang.org/x/mod sumdb/note package example: PeterNeumann's key.
const GO_VERIFIER_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_KEY_NAME: &str = "PeterNeumann";
const GO_KEY_ID_HEX: &str = "c74f20a3";
const GO_SEED_HEX: &str = "810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173";
const GO_PUBLIC_HEX: &str = "1a5cd907143c384c41e830c5bce12aa8817ec5649aaabf2c31388b35b2d744d6";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_SIGNATURE_HEX: &str = "f64992e052f541bf49f7dcbc8010c5506d885ba92cbafca40704959227348b8652060dd451580b6a5948d5e02afa9fa9d9e0a2da5165be8a13a472c81c099c03";
const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

/// Derived checkpoint of the 8-leaf test tree (seed = SHA-256("enmesh derived checkpoint test key")).
const DERIVED_SEED_HEX: &str = "bb4eab6698959687a42a05e7f7b1f8688c018bc53fc26a12e8a531c0ed657d6f";
const DERIVED_PUBLIC_HEX: &str = "e21d0b49bd256d88f513d848419349feb67d9d378728b8ad80353b354081ba50";
const DERIVED_VERIFIER_KEY: &str =
    "example.com/enmesh-test-log+f3e1f558+AeIdC0m9JW2I9RPYSEGTSf62fZ03hyi4rYA1OzVAgbpQ";
const DERIVED_KEY_ID_HEX: &str = "f3e1f558";
const DERIVED_ORIGIN: &str = "example.com/enmesh-test-log";
const DERIVED_TREE_SIZE: u64 = 8;
const DERIVED_ROOT_B64: &str = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
const DERIVED_BODY: &str =
    "example.com/enmesh-test-log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n";
const DERIVED_NOTE: &str = "example.com/enmesh-test-log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n— example.com/enmesh-test-log 8+H1WDzca/PIHshIlIJ20mjm54oCfnIcHSCCv57OnnXds3zDH6n8V+O0ri2VE0ZBZwhC0if96x+aYJSDAU+5lOz12QE=\n";
/// The 8 RFC 6962 test leaves (hex) and the root of their tree.
const LEAVES_HEX: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];
const ROOT_8_HEX: &str = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328";

fn seed(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn name(s: &str) -> KeyName {
    KeyName::new(s).unwrap()
}

fn go_signer() -> NoteSigner {
    NoteSigner::from_seed(name(GO_KEY_NAME), &seed(GO_SEED_HEX))
}

fn derived_signer() -> NoteSigner {
    let seed: [u8; 32] = Sha256::digest(b"enmesh derived checkpoint test key").into();
    assert_eq!(hex::encode(seed), DERIVED_SEED_HEX);
    NoteSigner::from_seed(name(DERIVED_ORIGIN), &seed)
}

fn other_signer(label: &str) -> NoteSigner {
    NoteSigner::from_seed(name(label), &Sha256::digest(label.as_bytes()).into())
}

#[test]
fn go_verifier_key_parses_and_formats() {
    let verifier = NoteVerifier::parse(GO_VERIFIER_KEY).unwrap();
    assert_eq!(verifier.name().as_str(), GO_KEY_NAME);
    assert_eq!(verifier.key_id().to_string(), GO_KEY_ID_HEX);
    assert_eq!(hex::encode(verifier.public_key().as_bytes()), GO_PUBLIC_HEX);
    assert_eq!(verifier.to_string(), GO_VERIFIER_KEY);
    assert_eq!(go_signer().verifier(), verifier);
    assert_eq!(go_signer().key_id(), verifier.key_id());
}

#[test]
fn go_note_opens_with_peter_neumann_key() {
    let verifiers = [NoteVerifier::parse(GO_VERIFIER_KEY).unwrap()];
    let opened = open(GO_NOTE, &verifiers).unwrap();
    assert_eq!(opened.text(), GO_TEXT);
    assert_eq!(opened.signers(), [&verifiers[0]]);
    assert_eq!(opened.note(), GO_NOTE);
}

#[test]
fn go_note_resigning_reproduces_it() {
    let note = go_signer().sign_note(GO_TEXT).unwrap();
    assert_eq!(note, GO_NOTE);
    let line = note.lines().last().unwrap();
    let blob = BASE64.decode(line.rsplit(' ').next().unwrap()).unwrap();
    assert_eq!(hex::encode(&blob[..4]), GO_KEY_ID_HEX);
    assert_eq!(hex::encode(&blob[4..]), GO_SIGNATURE_HEX);
}

#[test]
fn derived_checkpoint_signs_to_the_vector() {
    let leaves: Vec<Hash> = LEAVES_HEX
        .iter()
        .map(|leaf| leaf_hash(&hex::decode(leaf).unwrap()))
        .collect();
    let root = merkle::root(&leaves);
    assert_eq!(root.to_string(), ROOT_8_HEX);
    let checkpoint =
        Checkpoint::new(DERIVED_ORIGIN, TreeSize(DERIVED_TREE_SIZE), root, vec![]).unwrap();
    assert_eq!(checkpoint.to_string(), DERIVED_BODY);
    assert_eq!(BASE64.encode(root.0), DERIVED_ROOT_B64);

    let signer = derived_signer();
    assert_eq!(signer.key_id().to_string(), DERIVED_KEY_ID_HEX);
    assert_eq!(
        hex::encode(signer.verifier().public_key().as_bytes()),
        DERIVED_PUBLIC_HEX
    );
    assert_eq!(signer.verifier().to_string(), DERIVED_VERIFIER_KEY);
    assert_eq!(checkpoint.sign(&signer), DERIVED_NOTE);

    let verifiers = [NoteVerifier::parse(DERIVED_VERIFIER_KEY).unwrap()];
    let opened = open(DERIVED_NOTE, &verifiers).unwrap();
    assert_eq!(Checkpoint::parse(opened.text()), Ok(checkpoint));
}

#[test]
fn cosigning_appends_a_line_over_the_same_text() {
    let log = derived_signer();
    let witness = other_signer("witness.example/w1");
    let all = [log.verifier(), witness.verifier()];
    let opened = open(DERIVED_NOTE, &all[..1]).unwrap();
    let cosigned = opened.cosign(&witness).unwrap();
    assert!(cosigned.starts_with(DERIVED_NOTE));
    assert_eq!(cosigned.lines().count(), DERIVED_NOTE.lines().count() + 1);

    let both = open(&cosigned, &all).unwrap();
    assert_eq!(both.signers(), [&all[0], &all[1]]);
    assert_eq!(both.text(), DERIVED_BODY);
    // Either key alone is enough to open it; the other line is ignored.
    assert_eq!(open(&cosigned, &all[1..]).unwrap().signers(), [&all[1]]);
    // Signing twice with one key is refused.
    assert_eq!(
        both.cosign(&log),
        Err(CheckpointError::AlreadySigned {
            name: DERIVED_ORIGIN.into(),
            key_id: log.key_id()
        })
    );
}

#[test]
fn unknown_keys_are_ignored_but_some_known_key_must_sign() {
    let stranger = other_signer("stranger");
    let verifiers = [NoteVerifier::parse(GO_VERIFIER_KEY).unwrap()];
    let with_stranger = format!("{GO_NOTE}{}", {
        let n = stranger.sign_note(GO_TEXT).unwrap();
        n[GO_TEXT.len() + 1..].to_owned()
    });
    assert_eq!(
        open(&with_stranger, &verifiers).unwrap().signers(),
        [&verifiers[0]]
    );
    assert_eq!(
        open(GO_NOTE, &[stranger.verifier()]).unwrap_err(),
        CheckpointError::NoKnownSignature { verifiers: 1 }
    );
    assert_eq!(
        open(GO_NOTE, &[]).unwrap_err(),
        CheckpointError::NoKnownSignature { verifiers: 0 }
    );
    // Same name, different key: a different key id, so not a match.
    let impostor = NoteSigner::from_seed(name(GO_KEY_NAME), &[7; 32]);
    assert_ne!(impostor.key_id(), verifiers[0].key_id());
    assert_eq!(
        open(GO_NOTE, &[impostor.verifier()]).unwrap_err(),
        CheckpointError::NoKnownSignature { verifiers: 1 }
    );
}

#[test]
fn tampered_notes_fail() {
    let verifiers = [NoteVerifier::parse(GO_VERIFIER_KEY).unwrap()];
    let key_id = verifiers[0].key_id();
    let invalid = CheckpointError::InvalidSignature {
        name: GO_KEY_NAME.into(),
        key_id,
    };
    let changed_text = GO_NOTE.replacen("answer", "Answer", 1);
    assert_eq!(open(&changed_text, &verifiers).unwrap_err(), invalid);
    // Change one signature bit.
    let line = GO_NOTE.lines().last().unwrap();
    let mut blob = BASE64.decode(line.rsplit(' ').next().unwrap()).unwrap();
    blob[10] ^= 1;
    let bad_sig = format!(
        "{GO_TEXT}\n\u{2014} {GO_KEY_NAME} {}\n",
        BASE64.encode(&blob)
    );
    assert_eq!(open(&bad_sig, &verifiers).unwrap_err(), invalid);
    // Truncated signature.
    let short = format!(
        "{GO_TEXT}\n\u{2014} {GO_KEY_NAME} {}\n",
        BASE64.encode(&blob[..40])
    );
    assert_eq!(open(&short, &verifiers).unwrap_err(), invalid);
    // The same known signature twice.
    let twice = format!("{GO_NOTE}{line}\n");
    assert_eq!(
        open(&twice, &verifiers).unwrap_err(),
        CheckpointError::DuplicateSignature {
            name: GO_KEY_NAME.into(),
            key_id
        }
    );
}

#[test]
fn malformed_notes_are_rejected_by_cause() {
    let verifiers = [NoteVerifier::parse(GO_VERIFIER_KEY).unwrap()];
    let sig_line = GO_NOTE.lines().last().unwrap();
    let cases: Vec<(String, CheckpointError)> = vec![
        (GO_TEXT.to_owned(), CheckpointError::MissingSignatures),
        (format!("{GO_TEXT}\n"), CheckpointError::MissingSignatures),
        (
            GO_NOTE.trim_end_matches('\n').to_owned(),
            CheckpointError::SignatureBlockNotNewlineTerminated,
        ),
        (
            format!("\n{GO_NOTE}"),
            CheckpointError::EmptyTextLine { line: 1 },
        ),
        (
            GO_NOTE.replacen(",\n", ",\n\n", 1),
            CheckpointError::SignatureLinePrefix { line: 1 },
        ),
        (
            GO_NOTE.replacen("If", "I\tf", 1),
            CheckpointError::ControlCharacter(b'\t'),
        ),
        (
            GO_NOTE.replacen(",\n", ",\r\n", 1),
            CheckpointError::ControlCharacter(b'\r'),
        ),
        (
            GO_NOTE.replacen('\u{2014}', "-", 1),
            CheckpointError::SignatureLinePrefix { line: 1 },
        ),
        (
            format!("{GO_NOTE}\n"),
            CheckpointError::SignatureLinePrefix { line: 2 },
        ),
        (
            GO_NOTE.replacen("PeterNeumann x08", "PeterNeumannx08", 1),
            CheckpointError::SignatureLineFormat { line: 1 },
        ),
        (
            GO_NOTE.replacen("x08go", "x08g!", 1),
            CheckpointError::SignatureLineFormat { line: 1 },
        ),
        (
            GO_NOTE.replacen("PeterNeumann ", "Peter+Neumann ", 1),
            CheckpointError::SignatureLineFormat { line: 1 },
        ),
        (
            format!("{GO_TEXT}\n\u{2014} {GO_KEY_NAME} AAAAAA==\n"),
            CheckpointError::SignatureLineFormat { line: 1 },
        ),
        (
            format!("{GO_TEXT}\n\u{2014} {GO_KEY_NAME} \n"),
            CheckpointError::SignatureLineFormat { line: 1 },
        ),
        (
            format!(
                "{GO_TEXT}\n{}",
                format!("{sig_line}\n").repeat(MAX_SIGNATURES + 1)
            ),
            CheckpointError::TooManySignatures {
                count: MAX_SIGNATURES + 1,
            },
        ),
    ];
    for (note, expected) in cases {
        assert_eq!(open(&note, &verifiers).unwrap_err(), expected, "{note:?}");
    }
    // 100 lines are allowed; 99 from unknown keys are ignored.
    let stranger = other_signer("stranger");
    let stranger_line = stranger.sign_note(GO_TEXT).unwrap()[GO_TEXT.len() + 1..].to_owned();
    let hundred = format!("{GO_NOTE}{}", stranger_line.repeat(MAX_SIGNATURES - 1));
    assert_eq!(open(&hundred, &verifiers).unwrap().signers().len(), 1);
    let opened = open(&hundred, &verifiers).unwrap();
    assert_eq!(
        opened.cosign(&other_signer("late")),
        Err(CheckpointError::TooManySignatures {
            count: MAX_SIGNATURES + 1
        })
    );
}

#[test]
fn sign_note_checks_the_text() {
    let signer = go_signer();
    assert_eq!(signer.sign_note(""), Err(CheckpointError::EmptyText));
    assert_eq!(
        signer.sign_note("a"),
        Err(CheckpointError::TextNotNewlineTerminated)
    );
    assert_eq!(
        signer.sign_note("a\n\nb\n"),
        Err(CheckpointError::EmptyTextLine { line: 2 })
    );
    assert_eq!(
        signer.sign_note("a\x00\n"),
        Err(CheckpointError::ControlCharacter(0))
    );
    assert!(signer.sign_note("ünïcode — fine\n").is_ok());
}

#[test]
fn key_names_and_verifier_keys_are_checked() {
    for bad in ["", "a b", "a+b", "tab\there", "new\nline", "nbsp\u{a0}x"] {
        assert_eq!(
            KeyName::new(bad),
            Err(CheckpointError::InvalidKeyName(bad.into()))
        );
    }
    let good = NoteVerifier::parse(GO_VERIFIER_KEY).unwrap();
    let key_b64 = GO_VERIFIER_KEY.rsplit('+').next().unwrap();
    let mut wrong_type = BASE64.decode(key_b64).unwrap();
    wrong_type[0] = 2;
    let cases: Vec<(String, CheckpointError)> = vec![
        (
            "PeterNeumann+c74f20a3".into(),
            CheckpointError::VerifierKeyFormat,
        ),
        (
            format!("+c74f20a3+{key_b64}"),
            CheckpointError::InvalidKeyName(String::new()),
        ),
        (
            format!("PeterNeumann+c74f20a+{key_b64}"),
            CheckpointError::VerifierKeyIdHex("c74f20a".into()),
        ),
        (
            format!("PeterNeumann++c74f20a+{key_b64}"),
            CheckpointError::VerifierKeyIdHex(String::new()),
        ),
        (
            format!("PeterNeumann+c74f20ag+{key_b64}"),
            CheckpointError::VerifierKeyIdHex("c74f20ag".into()),
        ),
        (
            "PeterNeumann+c74f20a3+not base64".into(),
            CheckpointError::VerifierKeyBase64,
        ),
        (
            "PeterNeumann+c74f20a3+".into(),
            CheckpointError::UnsupportedKey {
                key_type: 0,
                len: 0,
            },
        ),
        (
            format!("PeterNeumann+c74f20a3+{}", BASE64.encode(&wrong_type)),
            CheckpointError::UnsupportedKey {
                key_type: 2,
                len: 32,
            },
        ),
        (
            format!("PeterNeumann+c74f20a3+{}", BASE64.encode([1u8; 20])),
            CheckpointError::UnsupportedKey {
                key_type: 1,
                len: 19,
            },
        ),
        (
            format!("PeterNeumann+00000000+{key_b64}"),
            CheckpointError::KeyIdMismatch {
                stated: KeyId([0; 4]),
                computed: good.key_id(),
            },
        ),
        (
            format!("PaulNeumann+c74f20a3+{key_b64}"),
            CheckpointError::KeyIdMismatch {
                stated: good.key_id(),
                computed: NoteVerifier::new(name("PaulNeumann"), *good.public_key()).key_id(),
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(NoteVerifier::parse(&text), Err(expected), "{text:?}");
    }
    // Hex digits are case-insensitive, as in Go.
    assert_eq!(
        NoteVerifier::parse(&GO_VERIFIER_KEY.replace("c74f20a3", "C74F20A3")),
        Ok(good)
    );
}

#[test]
fn checkpoint_parse_is_strict() {
    let ok = Checkpoint::parse(DERIVED_BODY).unwrap();
    assert_eq!(ok.origin(), DERIVED_ORIGIN);
    assert_eq!(ok.size(), TreeSize(8));
    assert!(ok.extensions().is_empty());
    let with_ext = format!("{DERIVED_BODY}ext one\n— ext two\n");
    let parsed = Checkpoint::parse(&with_ext).unwrap();
    assert_eq!(parsed.extensions(), ["ext one", "— ext two"]);
    assert_eq!(parsed.to_string(), with_ext);
    let zero = format!(
        "{DERIVED_ORIGIN}\n0\n{}\n",
        BASE64.encode(merkle::empty_root().0)
    );
    assert_eq!(Checkpoint::parse(&zero).unwrap().size(), TreeSize(0));
    let max = format!("{DERIVED_ORIGIN}\n18446744073709551615\n{DERIVED_ROOT_B64}\n");
    assert_eq!(Checkpoint::parse(&max).unwrap().size(), TreeSize(u64::MAX));

    let body = |size: &str, root: &str| format!("{DERIVED_ORIGIN}\n{size}\n{root}\n");
    let cases: Vec<(String, CheckpointError)> = vec![
        (
            format!("{DERIVED_ORIGIN}\n8\n"),
            CheckpointError::CheckpointTooShort { lines: 2 },
        ),
        (
            body("08", DERIVED_ROOT_B64),
            CheckpointError::InvalidTreeSize("08".into()),
        ),
        (
            body("+8", DERIVED_ROOT_B64),
            CheckpointError::InvalidTreeSize("+8".into()),
        ),
        (
            body("-8", DERIVED_ROOT_B64),
            CheckpointError::InvalidTreeSize("-8".into()),
        ),
        (
            body(" 8", DERIVED_ROOT_B64),
            CheckpointError::InvalidTreeSize(" 8".into()),
        ),
        (
            body("18446744073709551616", DERIVED_ROOT_B64),
            CheckpointError::InvalidTreeSize("18446744073709551616".into()),
        ),
        (
            body("8", "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg"),
            CheckpointError::InvalidRootHash("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg".into()),
        ),
        // Non-canonical trailing bits in the last character.
        (
            body("8", "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh="),
            CheckpointError::InvalidRootHash("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=".into()),
        ),
        (
            body("8", "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg="),
            CheckpointError::InvalidRootHash("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg=".into()),
        ),
        (
            body("8", &BASE64.encode([0u8; 31])),
            CheckpointError::InvalidRootHash(BASE64.encode([0u8; 31])),
        ),
        (
            format!("{DERIVED_BODY}\n"),
            CheckpointError::EmptyTextLine { line: 4 },
        ),
        (
            DERIVED_BODY.trim_end().to_owned(),
            CheckpointError::TextNotNewlineTerminated,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(Checkpoint::parse(&text), Err(expected), "{text:?}");
    }
    assert_eq!(
        Checkpoint::new("two\nlines", TreeSize(1), merkle::empty_root(), vec![]),
        Err(CheckpointError::InvalidCheckpointLine("two\nlines".into()))
    );
    assert_eq!(
        Checkpoint::new(
            "origin",
            TreeSize(1),
            merkle::empty_root(),
            vec![String::new()]
        ),
        Err(CheckpointError::InvalidCheckpointLine(String::new()))
    );
}

fn line_strategy() -> impl Strategy<Value = String> {
    "[^\\x00-\\x1f]{1,40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn checkpoint_round_trips(
        origin in line_strategy(),
        size: u64,
        root: [u8; 32],
        extensions in proptest::collection::vec(line_strategy(), 0..4),
    ) {
        let checkpoint = Checkpoint::new(&origin, TreeSize(size), Hash(root), extensions).unwrap();
        let text = checkpoint.to_string();
        prop_assert_eq!(Checkpoint::parse(&text), Ok(checkpoint.clone()));
        let signer = derived_signer();
        let note = checkpoint.sign(&signer);
        let verifiers = [signer.verifier()];
        let opened = open(&note, &verifiers).unwrap();
        prop_assert_eq!(opened.text(), text.as_str());
        prop_assert_eq!(Checkpoint::parse(opened.text()), Ok(checkpoint));
    }

    #[test]
    fn any_changed_byte_of_a_signed_checkpoint_is_rejected(index: usize, mask in 1u8..=255) {
        let verifiers = [NoteVerifier::parse(DERIVED_VERIFIER_KEY).unwrap()];
        let mut bytes = DERIVED_NOTE.as_bytes().to_vec();
        let i = index % bytes.len();
        bytes[i] ^= mask;
        if let Ok(note) = String::from_utf8(bytes) {
            let result = open(&note, &verifiers);
            prop_assert!(result.is_err(), "byte {} ^ {:#x} accepted", i, mask);
        }
    }

    #[test]
    fn truncated_or_extended_notes_never_verify_more_text(cut: usize, extra in "\\PC{0,20}") {
        let verifiers = [NoteVerifier::parse(DERIVED_VERIFIER_KEY).unwrap()];
        let cut = cut % DERIVED_NOTE.len();
        if let Some(prefix) = DERIVED_NOTE.get(..cut) {
            prop_assert!(open(prefix, &verifiers).is_err());
        }
        // Anything appended is either rejected or an ignored unknown line; the text never changes.
        let extended = format!("{DERIVED_NOTE}{extra}");
        if let Ok(opened) = open(&extended, &verifiers) {
            prop_assert_eq!(opened.text(), DERIVED_BODY);
        }
    }

    #[test]
    fn parsers_never_panic(text in "\\PC*|[—+ \\n0-9a-zA-Z=/]{0,200}") {
        let verifiers = [NoteVerifier::parse(DERIVED_VERIFIER_KEY).unwrap()];
        let _ = Checkpoint::parse(&text);
        let _ = NoteVerifier::parse(&text);
        let _ = KeyName::new(&text);
        let _ = open(&text, &verifiers);
        let _ = open(&format!("{DERIVED_BODY}\n{text}"), &verifiers);
        let _ = open(&format!("{text}\n\n\u{2014} {DERIVED_ORIGIN} {text}\n"), &verifiers);
    }
}
