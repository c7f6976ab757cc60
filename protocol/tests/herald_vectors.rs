//! Herald vectors from `shared/vectors/herald.json` (copied here as constants) and property tests
//! for the header, Simple and venue payloads, extended-data TLVs and the payload dispatcher.

use enmesh_protocol::codec::{CodecError, hex_decode, hex_encode};
use enmesh_protocol::herald::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    hex_decode(s).unwrap()
}

/// (code, country, state, little-endian bytes, big-endian bytes the spec text would imply)
const HEADERS: [(u8, u16, u16, &str, &str); 7] = [
    (0x10, 826, 4, "103a030400", "10033a0004"),
    (0x10, 826, 1, "103a030100", "10033a0001"),
    (0x10, 826, 0, "103a030000", "10033a0000"),
    (0x30, 826, 4, "303a030400", "30033a0004"),
    (0x08, 250, 3, "08fa000300", "0800fa0003"),
    (0x91, 826, 4, "913a030400", "91033a0004"),
    (0x10, 840, 4660, "1048033412", "1003481234"),
];

#[test]
fn exposure_headers_are_little_endian() {
    for (code, country, state, le, be) in HEADERS {
        let header = ExposureHeader {
            code: PayloadCode(code),
            country,
            state,
        };
        assert_eq!(hex_encode(&header.encode()), le);
        assert_ne!(hex_encode(&header.encode()), be);
        assert_eq!(ExposureHeader::decode(&hex(le)).unwrap(), header);
    }
}

#[test]
fn header_maps_known_countries() {
    let uk = ExposureHeader::decode(&hex("103a030400")).unwrap();
    assert_eq!(uk.iso_country().map(|c| c.alpha2()), Some("GB"));
    assert_eq!(uk.subdivision().unwrap().as_str(), "4");
    let france_national = ExposureHeader::decode(&hex("08fa000000")).unwrap();
    assert_eq!(
        france_national.iso_country().map(|c| c.alpha2()),
        Some("FR")
    );
    assert_eq!(france_national.subdivision(), None);
    let unknown = ExposureHeader::decode(&hex("10ffff0000")).unwrap();
    assert_eq!(unknown.iso_country(), None);
    assert_eq!(unknown.country, 0xffff);
}

#[test]
fn header_rejects_wrong_length() {
    assert!(matches!(
        ExposureHeader::decode(&hex("103a0304")),
        Err(HeraldError::Codec(CodecError::Truncated { .. }))
    ));
    assert!(matches!(
        ExposureHeader::decode(&hex("103a03040000")),
        Err(HeraldError::Codec(CodecError::TrailingBytes {
            count: 1,
            ..
        }))
    ));
}

#[test]
fn every_extended_code_round_trips() {
    for code in 0..=u8::MAX {
        assert_eq!(ExtendedCode::from_u8(code).to_u8(), code);
    }
    assert_eq!(ExtendedCode::from_u8(0x42), ExtendedCode::MyPhoneModel);
    assert_eq!(ExtendedCode::from_u8(0x43), ExtendedCode::Other(0x43));
    assert_eq!(ExtendedCode::MyPhoneModel.name(), Some("my_phone_model"));
    assert_eq!(ExtendedCode::Other(0x43).name(), None);
}

#[test]
fn payload_code_classification() {
    let cases = [
        (0x00, PayloadKind::CustomRouting, false),
        (0x07, PayloadKind::CustomRouting, false),
        (0x08, PayloadKind::CustomCountryState, true),
        (0x10, PayloadKind::Simple, true),
        (0x17, PayloadKind::Simple, true),
        (0x18, PayloadKind::Reserved, false),
        (0x20, PayloadKind::Secured, true),
        (0x28, PayloadKind::Reserved, false),
        (0x30, PayloadKind::Venue, true),
        (0x38, PayloadKind::Reserved, false),
        (0x7f, PayloadKind::Reserved, false),
        (0x80, PayloadKind::Gaen, false),
        (0x88, PayloadKind::Robert, false),
        (0x91, PayloadKind::BlueTrace, false),
        (0x98, PayloadKind::Dp3t, false),
        (0xa0, PayloadKind::Pact, false),
        (0xa8, PayloadKind::Reserved, false),
        (0xff, PayloadKind::Reserved, false),
    ];
    for (code, kind, header) in cases {
        assert_eq!(PayloadCode(code).kind(), kind, "{code:#04x}");
        assert_eq!(
            PayloadCode(code).has_exposure_header(),
            header,
            "{code:#04x}"
        );
    }
}

const ZERO_SECRET: [u8; 2048] = [0; 2048];
/// (unix time, day, period, contact id, whole payload)
const SIMPLE: [(u64, u16, u8, &str, &str); 2] = [
    (
        1600905600,
        0,
        0,
        "e2cfbeb32de932c9171c658b5f57a337",
        "103a030400e2cfbeb32de932c9171c658b5f57a337",
    ),
    (
        1601373617,
        5,
        100,
        "e089f69d0639f1ec52a35fb9a1cecd40",
        "103a030400e089f69d0639f1ec52a35fb9a1cecd40",
    ),
];

#[test]
fn simple_payload_vectors() {
    let schedule = MatchingKeySchedule::new(&SecretKey::new(&ZERO_SECRET).unwrap());
    for (unix, day, period, id, payload) in SIMPLE {
        let (d, p) = day_period(unix).unwrap();
        assert_eq!((d.get(), p.get()), (day, period));
        let contact_id = schedule.contact_id_at(unix).unwrap();
        assert_eq!(hex_encode(&contact_id.0), id);
        let key = schedule.matching_key(d);
        assert_eq!(key.contact_id(p), contact_id);
        assert_eq!(key.contact_ids()[usize::from(period)], contact_id);

        let simple = SimplePayload {
            header: ExposureHeader {
                code: PayloadCode::SIMPLE,
                country: 826,
                state: 4,
            },
            contact_id,
            extended: ExtendedData::default(),
        };
        let bytes = simple.encode().unwrap();
        assert_eq!(hex_encode(&bytes), payload);
        assert_eq!(SimplePayload::decode(&bytes).unwrap(), simple);
        assert_eq!(
            HeraldPayload::decode(&bytes).unwrap(),
            HeraldPayload::Simple(simple)
        );
    }
}

#[test]
fn contact_ids_cover_every_period() {
    let schedule = MatchingKeySchedule::new(&SecretKey::new(&ZERO_SECRET).unwrap());
    let key = schedule.matching_key(Day::new(5).unwrap());
    let all = key.contact_ids();
    assert_eq!(all.len(), 241);
    for p in [0u8, 1, 100, 239, 240] {
        assert_eq!(all[usize::from(p)], key.contact_id(Period::new(p).unwrap()));
    }
    // Days differ, and consecutive periods differ.
    assert_ne!(schedule.matching_key(Day::new(0).unwrap()), key);
    assert_ne!(all[0], all[1]);
}

#[test]
fn no_key_outside_the_schedule() {
    let schedule = MatchingKeySchedule::new(&SecretKey::new(&ZERO_SECRET).unwrap());
    // The last second before the epoch, and the first second after day 2000.
    assert_eq!(day_period(KEY_EPOCH_UNIX - 1), None);
    assert_eq!(schedule.contact_id_at(0), None);
    let after_last_day = KEY_EPOCH_UNIX + 2001 * 86_400;
    assert_eq!(day_period(after_last_day), None);
    assert_eq!(schedule.contact_id_at(u64::MAX), None);
    let (d, p) = day_period(after_last_day - 1).unwrap();
    assert_eq!((d.get(), p.get()), (2000, 239));
    assert!(schedule.contact_id_at(after_last_day - 1).is_some());
    assert_eq!(Day::new(2001), None);
    assert_eq!(Period::new(241), None);
    assert_eq!(ContactId::ZERO.0, [0; 16]);
}

#[test]
fn secret_key_must_be_2048_bytes() {
    assert_eq!(
        SecretKey::new(&[0; 256]),
        Err(HeraldError::SecretKeyLength(256))
    );
    assert!(!format!("{:?}", SecretKey::new(&ZERO_SECRET).unwrap()).contains('0'));
}

#[test]
fn simple_decode_checks_code_and_length() {
    assert!(matches!(
        SimplePayload::decode(&hex("303a030400e2cfbeb32de932c9171c658b5f57a337")),
        Err(HeraldError::WrongKind {
            code: 0x30,
            found: PayloadKind::Venue,
            expected: PayloadKind::Simple
        })
    ));
    assert!(matches!(
        SimplePayload::decode(&hex("103a030400e2cfbeb32de932c9171c658b5f57a3")),
        Err(HeraldError::Codec(CodecError::Truncated { .. }))
    ));
    let mut long = hex("103a030400e2cfbeb32de932c9171c658b5f57a337");
    long.resize(21 + 490, 0);
    assert_eq!(
        SimplePayload::decode(&long),
        Err(HeraldError::ExtendedTooLong { len: 490, max: 489 })
    );
}

const TLV_EXAMPLE: &str = "4001c841020c0042096950686f6e65372c32";
const TLV_RSSI_EXAMPLE: &str = "010100020103";

#[test]
fn extended_data_examples() {
    let parsed = ExtendedData(hex(TLV_EXAMPLE)).parse();
    assert!(parsed.unread.is_empty());
    let [rssi, tx, model] = parsed.items.as_slice() else {
        panic!("expected 3 items, got {:?}", parsed.items);
    };
    assert_eq!(rssi.code, ExtendedCode::YourLastRssi);
    assert_eq!(rssi.data, hex("c8"));
    assert_eq!(rssi.your_last_rssi(), Some(-56));
    assert_eq!(tx.code, ExtendedCode::YourLastTxPower);
    assert_eq!(tx.data, hex("0c00"));
    assert_eq!(tx.your_last_tx_power(), Some(12));
    assert_eq!(model.my_phone_model(), Some("iPhone7,2"));
    assert!(parsed.items.iter().all(|i| !i.truncated));
    // Accessors answer only for their own code.
    assert_eq!(model.your_last_rssi(), None);
    assert_eq!(rssi.my_phone_model(), None);

    let built = ExtendedData::from_items(&[
        ExtendedItem::new(ExtendedCode::YourLastRssi, (-56i8).to_le_bytes().to_vec()),
        ExtendedItem::new(ExtendedCode::YourLastTxPower, 12u16.to_le_bytes().to_vec()),
        ExtendedItem::new(ExtendedCode::MyPhoneModel, b"iPhone7,2".to_vec()),
    ])
    .unwrap();
    assert_eq!(hex_encode(&built.0), TLV_EXAMPLE);

    let parsed = ExtendedData(hex(TLV_RSSI_EXAMPLE)).parse();
    let codes: Vec<_> = parsed
        .items
        .iter()
        .map(|i| (i.code, i.data.clone()))
        .collect();
    assert_eq!(
        codes,
        [
            (ExtendedCode::RssiDescription, vec![0]),
            (ExtendedCode::RssiErrorBound, vec![3])
        ]
    );
}

#[test]
fn extended_data_parser_rules() {
    // A one-byte txPower is accepted too.
    let one = ExtendedData(hex("41010c")).parse();
    assert_eq!(one.items[0].your_last_tx_power(), Some(12));
    // Fewer than 3 bytes left: stop, report them.
    let short = ExtendedData(hex("4001c84000")).parse();
    assert_eq!(short.items.len(), 1);
    assert_eq!(short.unread, hex("4000"));
    // A length that overruns is clamped and flagged.
    let over = ExtendedData(hex("4205695068")).parse();
    assert_eq!(over.items.len(), 1);
    assert_eq!(over.items[0].data, hex("695068"));
    assert!(over.items[0].truncated);
    // Unknown codes are kept.
    let other = ExtendedData(hex("99020102")).parse();
    assert_eq!(other.items[0].code, ExtendedCode::Other(0x99));
    assert_eq!(ExtendedCode::Other(0x99).to_u8(), 0x99);
    // An empty last item would be dropped by receivers: not encoded; mid-list it is fine.
    assert_eq!(
        ExtendedData::from_items(&[ExtendedItem::new(ExtendedCode::FormatVersion, vec![])]),
        Err(HeraldError::EmptyLastItem(0x00))
    );
    assert_eq!(ExtendedData(hex("0000")).parse().items, []);
    let empty_first = ExtendedData::from_items(&[
        ExtendedItem::new(ExtendedCode::FormatVersion, vec![]),
        ExtendedItem::new(ExtendedCode::Other(0x99), vec![1]),
    ])
    .unwrap();
    assert_eq!(hex_encode(&empty_first.0), "0000990101");
    assert_eq!(empty_first.parse().items.len(), 2);
    // Too long to encode.
    assert_eq!(
        ExtendedData::from_items(&[ExtendedItem::new(ExtendedCode::Url, vec![b'a'; 256])]),
        Err(HeraldError::ItemTooLong {
            code: 0x13,
            len: 256
        })
    );
}

const VENUE: &str = "303a03040040e20100100b4164616d732050697a7a61";

#[test]
fn venue_payload_example() {
    let venue = VenuePayload {
        header: ExposureHeader {
            code: PayloadCode::VENUE,
            country: 826,
            state: 4,
        },
        location_code: 123456,
        extended: ExtendedData::from_items(&[ExtendedItem::new(
            ExtendedCode::PremisesName,
            b"Adams Pizza".to_vec(),
        )])
        .unwrap(),
    };
    let bytes = venue.encode().unwrap();
    assert_eq!(bytes.len(), 22);
    assert_eq!(hex_encode(&bytes), VENUE);
    let decoded = VenuePayload::decode(&hex(VENUE)).unwrap();
    assert_eq!(decoded, venue);
    assert_eq!(
        decoded.extended.parse().items[0].data,
        b"Adams Pizza".to_vec()
    );
    assert_eq!(
        HeraldPayload::decode(&bytes).unwrap(),
        HeraldPayload::Venue(venue)
    );
    assert!(matches!(
        VenuePayload::decode(&hex("303a03040040e201")),
        Err(HeraldError::Codec(CodecError::Truncated { .. }))
    ));
}

#[test]
fn dispatch_keeps_other_payloads() {
    assert_eq!(
        HeraldPayload::decode(&hex("20fa000300aabb")).unwrap(),
        HeraldPayload::WithHeader {
            header: ExposureHeader {
                code: PayloadCode(0x20),
                country: 250,
                state: 3
            },
            data: hex("aabb")
        }
    );
    assert_eq!(
        HeraldPayload::decode(&hex("0301020304ff")).unwrap(),
        HeraldPayload::Routed {
            code: PayloadCode(0x03),
            routing: [1, 2, 3, 4],
            data: vec![0xff]
        }
    );
    let gaen = HeraldPayload::decode(&hex("808be6cd371c5c891604bfbe49df845096")).unwrap();
    assert_eq!(gaen.code().kind(), PayloadKind::Gaen);
    assert_eq!(gaen.header(), None);
    assert_eq!(
        HeraldPayload::decode(&hex("f0")).unwrap(),
        HeraldPayload::Headerless {
            code: PayloadCode(0xf0),
            data: vec![]
        }
    );
    assert!(HeraldPayload::decode(&[]).is_err());
    assert!(HeraldPayload::decode(&hex("0801")).is_err());
}

fn header_with(kind_codes: std::ops::RangeInclusive<u8>) -> impl Strategy<Value = ExposureHeader> {
    (kind_codes, any::<u16>(), any::<u16>()).prop_map(|(code, country, state)| ExposureHeader {
        code: PayloadCode(code),
        country,
        state,
    })
}

fn items() -> impl Strategy<Value = Vec<ExtendedItem>> {
    prop::collection::vec(
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(code, data)| ExtendedItem::new(ExtendedCode::from_u8(code), data)),
        0..8,
    )
}

proptest! {
    #[test]
    fn header_round_trips(header in header_with(0..=255)) {
        prop_assert_eq!(ExposureHeader::decode(&header.encode()), Ok(header));
    }

    #[test]
    fn tlvs_round_trip(mut items in items(), last in prop::collection::vec(any::<u8>(), 1..40)) {
        items.push(ExtendedItem::new(ExtendedCode::Other(0x80), last));
        let data = ExtendedData::from_items(&items).unwrap();
        let parsed = data.parse();
        prop_assert_eq!(parsed.items, items);
        prop_assert!(parsed.unread.is_empty());
    }

    #[test]
    fn simple_round_trips(header in header_with(0x10..=0x17), id in any::<[u8; 16]>(),
                          ext in prop::collection::vec(any::<u8>(), 0..=489)) {
        let p = SimplePayload { header, contact_id: ContactId(id), extended: ExtendedData(ext) };
        let bytes = p.encode().unwrap();
        prop_assert_eq!(SimplePayload::decode(&bytes), Ok(p.clone()));
        prop_assert_eq!(HeraldPayload::decode(&bytes), Ok(HeraldPayload::Simple(p)));
    }

    #[test]
    fn venue_round_trips(header in header_with(0x30..=0x37), location in any::<u32>(),
                         ext in prop::collection::vec(any::<u8>(), 0..=501)) {
        let extended = ExtendedData(ext);
        let p = VenuePayload { header, location_code: location, extended };
        let bytes = p.encode().unwrap();
        prop_assert_eq!(VenuePayload::decode(&bytes), Ok(p));
    }

    #[test]
    fn any_payload_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(p) = HeraldPayload::decode(&bytes) {
            prop_assert_eq!(p.encode(), Ok(bytes));
        }
    }

    #[test]
    fn truncated_simple_is_an_error(cut in 0usize..21) {
        let full = hex("103a030400e2cfbeb32de932c9171c658b5f57a337");
        prop_assert!(SimplePayload::decode(&full[..cut]).is_err());
        prop_assert!(HeraldPayload::decode(&full[..cut]).is_err());
    }

    #[test]
    fn truncated_venue_is_an_error(cut in 0usize..9) {
        prop_assert!(VenuePayload::decode(&hex(VENUE)[..cut]).is_err());
    }

    #[test]
    fn garbled_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = SimplePayload::decode(&bytes);
        let _ = VenuePayload::decode(&bytes);
        let _ = ExposureHeader::decode(&bytes);
        let parsed = ExtendedData(bytes.clone()).parse();
        prop_assert!(parsed.unread.len() < 3);
        prop_assert!(parsed.items.iter().all(|i| i.data.len() <= 255));
    }
}
