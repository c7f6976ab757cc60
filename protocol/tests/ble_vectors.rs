//! BLE vectors: the derived GAEN advertisement from `shared/vectors/gaen.json` (RPI/AEM of
//! interval 0), TCN service data in its 16- and 20-byte forms (formats.md §b.5), Herald service
//! data, `decode_any`'s choices, and property tests for AD structure lists.

use enmesh_protocol::ble::*;
use enmesh_protocol::codec::{CodecError, hex_decode, hex_encode};
use enmesh_protocol::gaen::{Aem, Rpi};
use enmesh_protocol::herald::{HeraldPayload, PayloadKind};
use enmesh_protocol::tcn::Tcn;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    hex_decode(s).unwrap()
}

const GAEN_ADVERTISEMENT: &str = "02011a03036ffd17166ffd8be6cd371c5c891604bfbe49df84509672033874";
const RPI_0: &str = "8be6cd371c5c891604bfbe49df845096";
const AEM_0: &str = "72033874";
/// tcn_1 of `shared/vectors/tcn.json`.
const TCN_1: &str = "f4350a4a33e30f2f568898fbe4c4cf34";
const SIMPLE_PAYLOAD: &str = "103a030400e2cfbeb32de932c9171c658b5f57a337";

fn array<const N: usize>(s: &str) -> [u8; N] {
    hex(s).try_into().unwrap()
}

#[test]
fn gaen_advertisement_vector() {
    let bytes = hex(GAEN_ADVERTISEMENT);
    assert_eq!(bytes.len(), 31);
    let adv = Advertisement::parse(&bytes).unwrap();
    let types: Vec<u8> = adv.structures.iter().map(|s| s.ad_type.0).collect();
    assert_eq!(types, [0x01, 0x03, 0x16]);
    assert_eq!(adv.structures[0].data, [0x1a]);
    assert_eq!(adv.structures[1].data, [0x6f, 0xfd]);
    let expected = ServiceData::Gaen {
        rpi: Rpi(array(RPI_0)),
        aem: Aem(array(AEM_0)),
    };
    assert_eq!(adv.service_data().unwrap(), std::slice::from_ref(&expected));
    assert_eq!(
        adv.service_data_payload(ServiceUuid16::GAEN),
        Some(&hex(&format!("{RPI_0}{AEM_0}"))[..])
    );
    assert_eq!(adv.service_data_payload(ServiceUuid16::TCN), None);
    assert_eq!(hex_encode(&adv.encode().unwrap()), GAEN_ADVERTISEMENT);
    assert_eq!(
        decode_any(&bytes).unwrap(),
        Decoded::Advertisement {
            advertisement: adv,
            service_data: vec![expected],
        }
    );
}

#[test]
fn flags_are_not_required() {
    // The same advertisement without the Flags AD, as Android sends it.
    let bytes = hex(&GAEN_ADVERTISEMENT[6..]);
    let Decoded::Advertisement { service_data, .. } = decode_any(&bytes).unwrap() else {
        panic!("not read as an advertisement");
    };
    assert!(matches!(service_data[..], [ServiceData::Gaen { .. }]));
}

#[test]
fn zero_length_ends_the_data() {
    let padded = format!("{GAEN_ADVERTISEMENT}000000");
    let adv = Advertisement::parse(&hex(&padded)).unwrap();
    assert_eq!(adv.structures.len(), 3);
    assert_eq!(
        Advertisement::parse(&hex("02011a0000ff")),
        Err(BleError::BadPadding { offset: 5 })
    );
}

#[test]
fn overrun_names_the_offset() {
    // The service-data AD claims 0x17 bytes but the data is one byte short.
    let short = &GAEN_ADVERTISEMENT[..GAEN_ADVERTISEMENT.len() - 2];
    assert_eq!(
        Advertisement::parse(&hex(short)),
        Err(BleError::Overrun {
            offset: 7,
            len: 0x17,
            available: 0x16
        })
    );
}

#[test]
fn gaen_service_data_must_be_20_bytes() {
    assert_eq!(
        ServiceData::decode(&hex(&format!("6ffd{RPI_0}7203"))),
        Err(BleError::GaenLength(18))
    );
    assert_eq!(
        ServiceData::decode(&hex(&format!("6ffd{RPI_0}{AEM_0}00"))),
        Err(BleError::GaenLength(21))
    );
    // In a consistent advertisement, a bad GAEN service data is the error (not a Herald guess).
    assert_eq!(
        decode_any(&hex(&format!("02011a03036ffd16166ffd{RPI_0}720338"))),
        Err(BleError::GaenLength(19))
    );
    // As a bare payload, a GAEN UUID commits decode_any to service data.
    assert_eq!(
        decode_any(&hex(&format!("6ffd{RPI_0}"))),
        Err(BleError::GaenLength(16))
    );
}

#[test]
fn tcn_service_data_both_forms() {
    let tcn = Tcn(array(TCN_1));
    let short = hex(&format!("19c0{TCN_1}"));
    assert_eq!(
        ServiceData::decode(&short).unwrap(),
        ServiceData::Tcn { tcn, extra: vec![] }
    );
    let long = hex(&format!("19c0{TCN_1}a1b2c3d4"));
    let decoded = ServiceData::decode(&long).unwrap();
    assert_eq!(
        decoded,
        ServiceData::Tcn {
            tcn,
            extra: hex("a1b2c3d4")
        }
    );
    assert_eq!(decoded.encode().unwrap(), long);
    assert_eq!(
        decode_any(&long).unwrap(),
        Decoded::ServiceData(decoded.clone())
    );
    // Inside an advertisement: AD length 0x17 (20-byte form) and 0x13 (16-byte form).
    let adv = hex(&format!("1716{}", hex_encode(&long)));
    assert_eq!(
        Advertisement::parse(&adv).unwrap().service_data().unwrap(),
        [decoded]
    );
    let adv = hex(&format!("1316{}", hex_encode(&short)));
    assert!(matches!(
        decode_any(&adv).unwrap(),
        Decoded::Advertisement { service_data, .. } if service_data == [ServiceData::Tcn { tcn, extra: vec![] }]
    ));
    assert!(matches!(
        ServiceData::decode(&hex("19c0f4350a4a")),
        Err(BleError::Codec(CodecError::Truncated { .. }))
    ));
}

#[test]
fn herald_and_unknown_service_data() {
    let herald = hex(&format!("f6fc{SIMPLE_PAYLOAD}"));
    let ServiceData::Herald(HeraldPayload::Simple(simple)) = ServiceData::decode(&herald).unwrap()
    else {
        panic!("not a Herald Simple payload");
    };
    assert_eq!(simple.header.country, 826);
    assert_eq!(
        hex_encode(&simple.contact_id.0),
        "e2cfbeb32de932c9171c658b5f57a337"
    );
    let unknown = hex("0918aabbcc");
    assert_eq!(
        ServiceData::decode(&unknown).unwrap(),
        ServiceData::Unknown {
            uuid: ServiceUuid16(0x1809),
            data: hex("aabbcc")
        }
    );
    // Unknown service data in an advertisement is kept, next to a GAEN sighting.
    let adv = hex(&format!("06160918aabbcc{}", &GAEN_ADVERTISEMENT[14..]));
    let Decoded::Advertisement { service_data, .. } = decode_any(&adv).unwrap() else {
        panic!("not read as an advertisement");
    };
    assert!(matches!(
        service_data[..],
        [ServiceData::Unknown { .. }, ServiceData::Gaen { .. }]
    ));
    assert!(ServiceData::decode(&hex("6f")).is_err());
}

#[test]
fn decode_any_reads_herald_payloads() {
    let Decoded::Herald(payload) = decode_any(&hex(SIMPLE_PAYLOAD)).unwrap() else {
        panic!("not read as a Herald payload");
    };
    assert_eq!(payload.code().kind(), PayloadKind::Simple);
    // Reserved codes are kept, not rejected.
    assert!(matches!(
        decode_any(&hex("ff0102")).unwrap(),
        Decoded::Herald(HeraldPayload::Headerless { .. })
    ));
    // An advertisement without service data is still read when nothing else fits.
    assert!(matches!(
        decode_any(&hex("02011a")).unwrap(),
        Decoded::Advertisement { service_data, .. } if service_data.is_empty()
    ));
}

#[test]
fn decode_any_errors_say_why() {
    let err = decode_any(&[]).unwrap_err();
    assert!(matches!(
        &err,
        BleError::Unrecognised { advertisement, .. } if **advertisement == BleError::NoStructures
    ));
    // A truncated Simple payload: neither consistent AD structures nor a whole Herald payload.
    let err = decode_any(&hex("103a030400e2cf")).unwrap_err();
    assert!(matches!(err, BleError::Unrecognised { .. }), "{err}");
    assert!(err.to_string().contains("herald contact id"), "{err}");
}

fn structures() -> impl Strategy<Value = Vec<AdStructure>> {
    prop::collection::vec(
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..=254)).prop_map(|(t, data)| {
            AdStructure {
                ad_type: AdType(t),
                data,
            }
        }),
        0..6,
    )
}

proptest! {
    #[test]
    fn ad_structures_round_trip(structures in structures()) {
        let adv = Advertisement { structures };
        let bytes = adv.encode().unwrap();
        prop_assert_eq!(Advertisement::parse(&bytes), Ok(adv));
    }

    #[test]
    fn service_data_round_trips(uuid in any::<u16>(), payload in prop::collection::vec(any::<u8>(), 0..40)) {
        let bytes = [&uuid.to_le_bytes()[..], &payload].concat();
        if let Ok(sd) = ServiceData::decode(&bytes) {
            prop_assert_eq!(sd.encode(), Ok(bytes));
        }
    }

    #[test]
    fn truncated_advertisement_is_an_error(cut in 1usize..31) {
        let bytes = hex(GAEN_ADVERTISEMENT);
        prop_assert!(Advertisement::parse(&bytes[..cut]).is_err() || cut == 3 || cut == 7);
        // Cutting inside the service data leaves no consistent reading with service data.
        if cut > 7 {
            let with_sightings = matches!(
                decode_any(&bytes[..cut]),
                Ok(Decoded::Advertisement { ref service_data, .. }) if !service_data.is_empty()
            );
            prop_assert!(!with_sightings);
        }
    }

    #[test]
    fn garbled_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = Advertisement::parse(&bytes);
        let _ = ServiceData::decode(&bytes);
        let _ = decode_any(&bytes);
    }

    #[test]
    fn flipped_bytes_never_panic(index in 0usize..31, value in any::<u8>()) {
        let mut bytes = hex(GAEN_ADVERTISEMENT);
        bytes[index] = value;
        let _ = decode_any(&bytes);
    }
}
