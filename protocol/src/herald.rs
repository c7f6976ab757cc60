//! Herald payloads: payload codes (Annex D), the exposure header, extended-data TLVs, the Simple
//! payload with its key schedule, and the venue (beacon) payload.
//!
//! Byte order follows the Herald code, not its spec text: integers are little-endian (formats.md
//! §c.1). Unknown and reserved payload codes are kept as they are, never rejected, and payloads this
//! module cannot interpret are carried as opaque bytes. This module never reads a clock or draws
//! randomness: times arrive as unix seconds and secret keys as bytes.

use crate::codec::{CodecError, Reader};
use crate::region::{Country, Subdivision};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Why a Herald payload could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeraldError {
    /// The bytes ended early or had bytes left over.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A payload decoder or encoder was given a code of another payload kind.
    #[error("payload code {code:#04x} is {found}, expected {expected}")]
    WrongKind {
        /// The code found.
        code: u8,
        /// What that code is.
        found: PayloadKind,
        /// The kind the decoder handles.
        expected: PayloadKind,
    },
    /// The extended data is longer than the payload allows.
    #[error("extended data of {len} bytes exceeds the {max}-byte limit")]
    ExtendedTooLong {
        /// Bytes of extended data.
        len: usize,
        /// The most this payload allows.
        max: usize,
    },
    /// A TLV item's data does not fit its one-byte length.
    #[error("extended data item {code:#04x} has {len} bytes, at most 255 fit")]
    ItemTooLong {
        /// The item's code.
        code: u8,
        /// Bytes of data.
        len: usize,
    },
    /// An empty item last in extended data is 2 bytes, which receivers never read (they stop
    /// when fewer than 3 bytes remain).
    #[error("extended data item {0:#04x} is empty and last: receivers would not read it")]
    EmptyLastItem(u8),
    /// A Simple-payload secret key must be exactly 2048 bytes.
    #[error("secret key has {0} bytes, expected 2048")]
    SecretKeyLength(usize),
}

// ---------------------------------------------------------------------------------------------
// Payload codes (Annex D)

/// The payload type and version byte that starts every Herald payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PayloadCode(pub u8);

/// What a payload code range means (formats.md §c.2, Annex D).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// `0x00–0x07`: custom payload with a 4-byte routing code.
    CustomRouting,
    /// `0x08–0x0F`: custom payload with country and state.
    CustomCountryState,
    /// `0x10–0x17`: Herald Simple, 16-byte contact identifier.
    Simple,
    /// `0x20–0x27`: Herald Secured (no published layout).
    Secured,
    /// `0x30–0x37`: Herald venue check-in / beacon.
    Venue,
    /// `0x80–0x87`: GAEN, no header.
    Gaen,
    /// `0x88–0x8F`: ROBERT, no header.
    Robert,
    /// `0x90–0x97`: OpenTrace / BlueTrace.
    BlueTrace,
    /// `0x98–0x9F`: DP-3T, no header.
    Dp3t,
    /// `0xA0–0xA7`: PACT, no header.
    Pact,
    /// Any reserved range.
    Reserved,
}

impl PayloadKind {
    /// A lowercase name for logs and JSON, e.g. `custom_country_state`.
    pub fn name(self) -> &'static str {
        match self {
            Self::CustomRouting => "custom_routing",
            Self::CustomCountryState => "custom_country_state",
            Self::Simple => "simple",
            Self::Secured => "secured",
            Self::Venue => "venue",
            Self::Gaen => "gaen",
            Self::Robert => "robert",
            Self::BlueTrace => "bluetrace",
            Self::Dp3t => "dp3t",
            Self::Pact => "pact",
            Self::Reserved => "reserved",
        }
    }
}

impl std::fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PayloadCode {
    /// The Herald Simple payload, version 1.
    pub const SIMPLE: Self = Self(0x10);
    /// The Herald venue / beacon payload, version 1.
    pub const VENUE: Self = Self(0x30);

    /// The range this code falls in.
    pub fn kind(self) -> PayloadKind {
        match self.0 {
            0x00..=0x07 => PayloadKind::CustomRouting,
            0x08..=0x0f => PayloadKind::CustomCountryState,
            0x10..=0x17 => PayloadKind::Simple,
            0x20..=0x27 => PayloadKind::Secured,
            0x30..=0x37 => PayloadKind::Venue,
            0x80..=0x87 => PayloadKind::Gaen,
            0x88..=0x8f => PayloadKind::Robert,
            0x90..=0x97 => PayloadKind::BlueTrace,
            0x98..=0x9f => PayloadKind::Dp3t,
            0xa0..=0xa7 => PayloadKind::Pact,
            _ => PayloadKind::Reserved,
        }
    }

    /// Whether Annex D puts the 5-byte country/state [`ExposureHeader`] first. Custom routing
    /// payloads have a different 1 + 4 byte header; BlueTrace is listed without one, although
    /// Annex E's examples prepend it (decode it with [`ExposureHeader::read`] when expected).
    pub fn has_exposure_header(self) -> bool {
        matches!(
            self.kind(),
            PayloadKind::CustomCountryState
                | PayloadKind::Simple
                | PayloadKind::Secured
                | PayloadKind::Venue
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Exposure header (c.2)

/// The 5-byte exposure header: code, ISO 3166-1 numeric country, state / authority code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExposureHeader {
    /// Payload type and version.
    pub code: PayloadCode,
    /// ISO 3166-1 numeric country code (recommended; not checked).
    pub country: u16,
    /// State or authority code assigned by the country; `0` is the national system.
    pub state: u16,
}

impl ExposureHeader {
    /// Encoded length.
    pub const LEN: usize = 5;

    /// Reads a header from the front of `r`, whatever its code.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, HeraldError> {
        Ok(Self {
            code: PayloadCode(r.u8("herald payload code")?),
            country: r.u16_le("herald country")?,
            state: r.u16_le("herald state")?,
        })
    }

    /// Decodes exactly 5 bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeraldError> {
        let mut r = Reader::new(bytes);
        let header = Self::read(&mut r)?;
        r.expect_end("herald exposure header")?;
        Ok(header)
    }

    /// The 5 bytes, integers little-endian.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let [c0, c1] = self.country.to_le_bytes();
        let [s0, s1] = self.state.to_le_bytes();
        [self.code.0, c0, c1, s0, s1]
    }

    /// The country, when the field holds a known ISO 3166-1 numeric code.
    pub fn iso_country(&self) -> Option<Country> {
        Country::from_numeric(self.country)
    }

    /// The state as a region subdivision; `None` for `0` (the national system).
    pub fn subdivision(&self) -> Option<Subdivision> {
        Subdivision::from_authority_code(self.state)
    }

    fn expect_kind(&self, expected: PayloadKind) -> Result<(), HeraldError> {
        let found = self.code.kind();
        if found == expected {
            Ok(())
        } else {
            Err(HeraldError::WrongKind {
                code: self.code.0,
                found,
                expected,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Extended data TLVs (c.4)

/// The code of an extended-data item; codes without a listed meaning are kept in `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtendedCode {
    /// `0x00` extended-area format version (u8).
    FormatVersion,
    /// `0x01` RSSI description (u8).
    RssiDescription,
    /// `0x02` RSSI error bound (u8).
    RssiErrorBound,
    /// `0x03` sonar range estimate in metres (float).
    SonarRange,
    /// `0x04` sonar range error bound (float).
    SonarRangeError,
    /// `0x05` approximate location text (UTF-8).
    LocationText,
    /// `0x06` approximate coordinates, EPSG:4826 (2 × i16).
    CoordinatesEpsg4826,
    /// `0x07` approximate coordinates, EPSG:3857 (2 × i16).
    CoordinatesEpsg3857,
    /// `0x08` approximate coordinates, EPSG:7789 (2 × i16).
    CoordinatesEpsg7789,
    /// `0x10` premises name (UTF-8).
    PremisesName,
    /// `0x11` area within premises (UTF-8).
    AreaInPremises,
    /// `0x12` disambiguation text (UTF-8).
    Disambiguation,
    /// `0x13` https URL (UTF-8).
    Url,
    /// `0x14` full address (UTF-8).
    FullAddress,
    /// `0x15` entry source, e.g. "ble" (UTF-8).
    EntrySource,
    /// `0x16` entry source version (UTF-8).
    EntrySourceVersion,
    /// `0x17` location company id in the country's scheme.
    LocationCompanyId,
    /// `0x18` GS1 company id (u32).
    Gs1CompanyId,
    /// `0x20` contact event start, unix seconds (u32).
    StartTime,
    /// `0x21` contact event end, unix seconds (u32).
    EndTime,
    /// `0x3E` data encrypted for the originating phone.
    EncryptedForPhone,
    /// `0x3F` data encrypted for the originating health authority.
    EncryptedForAuthority,
    /// `0x40` "your last RSSI" as I measured it (i8).
    YourLastRssi,
    /// `0x41` "your last txPower" (u8, or u16 LE).
    YourLastTxPower,
    /// `0x42` "my phone model" (UTF-8).
    MyPhoneModel,
    /// Any other code, kept as it is.
    Other(u8),
}

/// Known codes in wire order; `Other` covers everything else.
const EXTENDED_CODES: [(u8, ExtendedCode, &str); 25] = [
    (0x00, ExtendedCode::FormatVersion, "format_version"),
    (0x01, ExtendedCode::RssiDescription, "rssi_description"),
    (0x02, ExtendedCode::RssiErrorBound, "rssi_error_bound"),
    (0x03, ExtendedCode::SonarRange, "sonar_range"),
    (0x04, ExtendedCode::SonarRangeError, "sonar_range_error"),
    (0x05, ExtendedCode::LocationText, "location_text"),
    (
        0x06,
        ExtendedCode::CoordinatesEpsg4826,
        "coordinates_epsg4826",
    ),
    (
        0x07,
        ExtendedCode::CoordinatesEpsg3857,
        "coordinates_epsg3857",
    ),
    (
        0x08,
        ExtendedCode::CoordinatesEpsg7789,
        "coordinates_epsg7789",
    ),
    (0x10, ExtendedCode::PremisesName, "premises_name"),
    (0x11, ExtendedCode::AreaInPremises, "area_in_premises"),
    (0x12, ExtendedCode::Disambiguation, "disambiguation"),
    (0x13, ExtendedCode::Url, "url"),
    (0x14, ExtendedCode::FullAddress, "full_address"),
    (0x15, ExtendedCode::EntrySource, "entry_source"),
    (
        0x16,
        ExtendedCode::EntrySourceVersion,
        "entry_source_version",
    ),
    (0x17, ExtendedCode::LocationCompanyId, "location_company_id"),
    (0x18, ExtendedCode::Gs1CompanyId, "gs1_company_id"),
    (0x20, ExtendedCode::StartTime, "start_time"),
    (0x21, ExtendedCode::EndTime, "end_time"),
    (0x3e, ExtendedCode::EncryptedForPhone, "encrypted_for_phone"),
    (
        0x3f,
        ExtendedCode::EncryptedForAuthority,
        "encrypted_for_authority",
    ),
    (0x40, ExtendedCode::YourLastRssi, "your_last_rssi"),
    (0x41, ExtendedCode::YourLastTxPower, "your_last_tx_power"),
    (0x42, ExtendedCode::MyPhoneModel, "my_phone_model"),
];

impl ExtendedCode {
    /// The code for a wire byte.
    pub fn from_u8(code: u8) -> Self {
        EXTENDED_CODES
            .iter()
            .find(|(byte, _, _)| *byte == code)
            .map_or(Self::Other(code), |(_, known, _)| *known)
    }

    /// The wire byte.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Other(code) => code,
            // Every variant but `Other` is in the table, so the fallback is never taken.
            known => EXTENDED_CODES
                .iter()
                .find(|(_, k, _)| *k == known)
                .map_or(0, |(byte, _, _)| *byte),
        }
    }

    /// A lowercase name for logs and JSON; `None` for codes without a listed meaning.
    pub fn name(self) -> Option<&'static str> {
        EXTENDED_CODES
            .iter()
            .find(|(_, k, _)| *k == self)
            .map(|(_, _, name)| *name)
    }
}

/// One extended-data item: `code u8 ‖ length u8 ‖ data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedItem {
    /// What the data means.
    pub code: ExtendedCode,
    /// The data (at most 255 bytes).
    pub data: Vec<u8>,
    /// Set by the parser when the length byte claimed more bytes than were left and the data was
    /// clamped to the end of the buffer. Ignored by the encoder.
    pub truncated: bool,
}

impl ExtendedItem {
    /// An item with the given code and data.
    pub fn new(code: ExtendedCode, data: Vec<u8>) -> Self {
        Self {
            code,
            data,
            truncated: false,
        }
    }

    /// The value of a `0x40` "your last RSSI" item (one i8).
    pub fn your_last_rssi(&self) -> Option<i8> {
        match (self.code, self.data.as_slice()) {
            (ExtendedCode::YourLastRssi, [b]) => Some(i8::from_le_bytes([*b])),
            _ => None,
        }
    }

    /// The value of a `0x41` "your last txPower" item: one u8 or a u16 LE.
    pub fn your_last_tx_power(&self) -> Option<u16> {
        match (self.code, self.data.as_slice()) {
            (ExtendedCode::YourLastTxPower, [b]) => Some(u16::from(*b)),
            (ExtendedCode::YourLastTxPower, [lo, hi]) => Some(u16::from_le_bytes([*lo, *hi])),
            _ => None,
        }
    }

    /// The value of a `0x42` "my phone model" item, if it is valid UTF-8.
    pub fn my_phone_model(&self) -> Option<&str> {
        match self.code {
            ExtendedCode::MyPhoneModel => std::str::from_utf8(&self.data).ok(),
            _ => None,
        }
    }
}

/// The items found in extended data, and the bytes the parser rule left unread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedExtended {
    /// The items, in wire order.
    pub items: Vec<ExtendedItem>,
    /// One or two trailing bytes too short to hold an item (the parser stops when fewer than 3
    /// bytes remain).
    pub unread: Vec<u8>,
}

/// Extended data as it came off the wire: kept byte-exact, parsed on demand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtendedData(pub Vec<u8>);

impl ExtendedData {
    /// Parses the items: stop when fewer than 3 bytes remain; a length that overruns the buffer is
    /// clamped and the item marked `truncated`. Never fails.
    pub fn parse(&self) -> ParsedExtended {
        let mut rest = self.0.as_slice();
        let mut items = Vec::new();
        // An item needs code, length and at least one more byte; fewer than 3 left ends parsing.
        while let [code, len, tail @ ..] = rest
            && !tail.is_empty()
        {
            let (data, after) = tail.split_at(usize::from(*len).min(tail.len()));
            items.push(ExtendedItem {
                code: ExtendedCode::from_u8(*code),
                data: data.to_vec(),
                truncated: usize::from(*len) > tail.len(),
            });
            rest = after;
        }
        ParsedExtended {
            items,
            unread: rest.to_vec(),
        }
    }

    /// Encodes items; fails if one holds more than 255 bytes, or if the last one is empty (the
    /// parser rule would drop it).
    pub fn from_items(items: &[ExtendedItem]) -> Result<Self, HeraldError> {
        if let Some(last) = items.last()
            && last.data.is_empty()
        {
            return Err(HeraldError::EmptyLastItem(last.code.to_u8()));
        }
        let mut out = Vec::new();
        for item in items {
            let code = item.code.to_u8();
            let len = u8::try_from(item.data.len()).map_err(|_| HeraldError::ItemTooLong {
                code,
                len: item.data.len(),
            })?;
            out.extend_from_slice(&[code, len]);
            out.extend_from_slice(&item.data);
        }
        Ok(Self(out))
    }

    fn check_len(&self, max: usize) -> Result<(), HeraldError> {
        if self.0.len() > max {
            Err(HeraldError::ExtendedTooLong {
                len: self.0.len(),
                max,
            })
        } else {
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Simple payload key schedule (c.3)

/// Unix time of the key schedule's epoch, 2020-09-24T00:00:00Z.
pub const KEY_EPOCH_UNIX: u64 = 1_600_905_600;
/// The last day with a matching key.
pub const LAST_DAY: u16 = 2000;
/// Periods (of 6 minutes) in a day; contact key seeds exist for `0..=PERIODS_PER_DAY`.
pub const PERIODS_PER_DAY: u8 = 240;
const PERIOD_SECONDS: u64 = 360;
const DAY_SECONDS: u64 = 86_400;
const SECRET_KEY_LEN: usize = 2048;

/// A Simple-payload secret key: 2048 bytes. Its `Debug` output does not show the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// Checks that `bytes` is 2048 bytes long.
    pub fn new(bytes: &[u8]) -> Result<Self, HeraldError> {
        if bytes.len() == SECRET_KEY_LEN {
            Ok(Self(bytes.to_vec()))
        } else {
            Err(HeraldError::SecretKeyLength(bytes.len()))
        }
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A key-schedule day: days since the epoch, `0..=2000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(u16);

impl Day {
    /// `None` past day 2000.
    pub fn new(day: u16) -> Option<Self> {
        (day <= LAST_DAY).then_some(Self(day))
    }

    /// The day number.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// A 6-minute period of a day, `0..=240` (time maps to `0..=239`; a seed exists for 240).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period(u8);

impl Period {
    /// `None` past period 240.
    pub fn new(period: u8) -> Option<Self> {
        (period <= PERIODS_PER_DAY).then_some(Self(period))
    }

    /// The period number.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// The day and period of a unix time, or `None` before the epoch or after day 2000 (no key
/// exists then; a phone sends [`ContactId::ZERO`]).
pub fn day_period(unix_seconds: u64) -> Option<(Day, Period)> {
    let since = unix_seconds.checked_sub(KEY_EPOCH_UNIX)?;
    let day = Day::new(u16::try_from(since / DAY_SECONDS).ok()?)?;
    let period = Period::new(u8::try_from((since % DAY_SECONDS) / PERIOD_SECONDS).ok()?)?;
    Some((day, period))
}

/// A day's matching key: what an infected user uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatchingKey(pub [u8; 32]);

/// The 16-byte contact identifier a phone broadcasts in a Simple payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContactId(pub [u8; 16]);

impl ContactId {
    /// What a phone sends when no key exists for the time.
    pub const ZERO: Self = Self([0; 16]);
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The next seed down a reverse chain: `F(T(seed))`, hashing the first 16 bytes.
fn next_seed(seed: &[u8; 32]) -> [u8; 32] {
    let (half, _) = seed.split_at(16);
    sha256(half)
}

/// The key of a chain position: `F(seed[i] ⊕ seed[i−1])`.
fn key_of(seed: &[u8; 32], previous: &[u8; 32]) -> [u8; 32] {
    let mut mixed = [0u8; 32];
    for (m, (a, b)) in mixed.iter_mut().zip(seed.iter().zip(previous)) {
        *m = a ^ b;
    }
    sha256(&mixed)
}

/// All 2001 matching keys of a secret key, computed once (about 6000 SHA-256 calls).
#[derive(Clone, PartialEq, Eq)]
pub struct MatchingKeySchedule {
    /// Index = day, `0..=2000`.
    keys: Vec<MatchingKey>,
}

impl MatchingKeySchedule {
    /// Runs the reverse seed chain from day 2000 down to day −1.
    pub fn new(secret: &SecretKey) -> Self {
        let mut seed = sha256(&secret.0);
        let mut keys = Vec::with_capacity(usize::from(LAST_DAY) + 1);
        // Walk down: day 2000 first, each key needs the seed of the day before.
        for _ in 0..=LAST_DAY {
            let previous = next_seed(&seed);
            keys.push(MatchingKey(key_of(&seed, &previous)));
            seed = previous;
        }
        keys.reverse();
        Self { keys }
    }

    /// The matching key of `day`.
    pub fn matching_key(&self, day: Day) -> MatchingKey {
        // `Day` is at most 2000 and `keys` holds 2001 entries.
        self.keys[usize::from(day.0)]
    }

    /// The contact identifier broadcast at a unix time; `None` outside the schedule.
    pub fn contact_id_at(&self, unix_seconds: u64) -> Option<ContactId> {
        let (day, period) = day_period(unix_seconds)?;
        Some(self.matching_key(day).contact_id(period))
    }
}

impl std::fmt::Debug for MatchingKeySchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MatchingKeySchedule(..)")
    }
}

impl MatchingKey {
    /// The contact identifier of `period`: walks the contact-key seed chain down from 240.
    pub fn contact_id(&self, period: Period) -> ContactId {
        let mut seed = sha256(&self.0);
        for _ in period.0..PERIODS_PER_DAY {
            seed = next_seed(&seed);
        }
        contact_id_of(&seed)
    }

    /// The contact identifiers of every period `0..=240` (index = period), for matching.
    pub fn contact_ids(&self) -> Vec<ContactId> {
        let mut seed = sha256(&self.0);
        let mut ids = Vec::with_capacity(usize::from(PERIODS_PER_DAY) + 1);
        for _ in 0..=PERIODS_PER_DAY {
            ids.push(contact_id_of(&seed));
            seed = next_seed(&seed);
        }
        ids.reverse();
        ids
    }
}

fn contact_id_of(seed: &[u8; 32]) -> ContactId {
    let key = key_of(seed, &next_seed(seed));
    let mut id = [0u8; 16];
    id.copy_from_slice(key.split_at(16).0);
    ContactId(id)
}

// ---------------------------------------------------------------------------------------------
// Simple and venue payloads (c.3, c.5)

/// Most extended data after a Simple payload's 21 bytes.
pub const SIMPLE_MAX_EXTENDED: usize = 489;
/// Most extended data after a venue payload's 9 bytes.
pub const VENUE_MAX_EXTENDED: usize = 501;

/// A Herald Simple payload (`0x10–0x17`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimplePayload {
    /// Header; its code must be in the Simple range.
    pub header: ExposureHeader,
    /// The contact identifier.
    pub contact_id: ContactId,
    /// Optional extended data (0–489 bytes).
    pub extended: ExtendedData,
}

impl SimplePayload {
    /// Decodes a whole Simple payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeraldError> {
        let mut r = Reader::new(bytes);
        let header = ExposureHeader::read(&mut r)?;
        header.expect_kind(PayloadKind::Simple)?;
        let contact_id = ContactId(r.array("herald contact id")?);
        let extended = ExtendedData(r.rest().to_vec());
        extended.check_len(SIMPLE_MAX_EXTENDED)?;
        Ok(Self {
            header,
            contact_id,
            extended,
        })
    }

    /// Encodes; checks the code range and the extended-data limit.
    pub fn encode(&self) -> Result<Vec<u8>, HeraldError> {
        self.header.expect_kind(PayloadKind::Simple)?;
        self.extended.check_len(SIMPLE_MAX_EXTENDED)?;
        let mut out = self.header.encode().to_vec();
        out.extend_from_slice(&self.contact_id.0);
        out.extend_from_slice(&self.extended.0);
        Ok(out)
    }
}

/// A Herald venue check-in / beacon payload (`0x30–0x37`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenuePayload {
    /// Header; its code must be in the venue range.
    pub header: ExposureHeader,
    /// The venue's location code.
    pub location_code: u32,
    /// Optional extended data (0–501 bytes), e.g. the premises name.
    pub extended: ExtendedData,
}

impl VenuePayload {
    /// Decodes a whole venue payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeraldError> {
        let mut r = Reader::new(bytes);
        let header = ExposureHeader::read(&mut r)?;
        header.expect_kind(PayloadKind::Venue)?;
        let location_code = r.u32_le("herald venue location code")?;
        let extended = ExtendedData(r.rest().to_vec());
        extended.check_len(VENUE_MAX_EXTENDED)?;
        Ok(Self {
            header,
            location_code,
            extended,
        })
    }

    /// Encodes; checks the code range and the extended-data limit.
    pub fn encode(&self) -> Result<Vec<u8>, HeraldError> {
        self.header.expect_kind(PayloadKind::Venue)?;
        self.extended.check_len(VENUE_MAX_EXTENDED)?;
        let mut out = self.header.encode().to_vec();
        out.extend_from_slice(&self.location_code.to_le_bytes());
        out.extend_from_slice(&self.extended.0);
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Any Herald payload

/// A Herald payload, interpreted as far as its code allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeraldPayload {
    /// `0x10–0x17`.
    Simple(SimplePayload),
    /// `0x30–0x37`.
    Venue(VenuePayload),
    /// Custom country/state (`0x08–0x0F`) and Secured (`0x20–0x27`): a header, then opaque data.
    WithHeader {
        /// The header.
        header: ExposureHeader,
        /// Everything after the header.
        data: Vec<u8>,
    },
    /// Custom routing (`0x00–0x07`): code, a 4-byte authority id, then opaque data.
    Routed {
        /// The code.
        code: PayloadCode,
        /// The routing code, as sent (its byte order is unspecified).
        routing: [u8; 4],
        /// Everything after the routing code.
        data: Vec<u8>,
    },
    /// Payloads without a Herald header (`0x80–` and reserved codes): code, then opaque data.
    Headerless {
        /// The code.
        code: PayloadCode,
        /// Everything after the code byte.
        data: Vec<u8>,
    },
}

impl HeraldPayload {
    /// Decodes by the code in the first byte. Fails only on an empty or too-short payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeraldError> {
        let mut r = Reader::new(bytes);
        let code = PayloadCode(r.u8("herald payload code")?);
        Ok(match code.kind() {
            PayloadKind::Simple => Self::Simple(SimplePayload::decode(bytes)?),
            PayloadKind::Venue => Self::Venue(VenuePayload::decode(bytes)?),
            PayloadKind::CustomRouting => Self::Routed {
                code,
                routing: r.array("herald routing code")?,
                data: r.rest().to_vec(),
            },
            _ if code.has_exposure_header() => {
                let mut r = Reader::new(bytes);
                Self::WithHeader {
                    header: ExposureHeader::read(&mut r)?,
                    data: r.rest().to_vec(),
                }
            }
            _ => Self::Headerless {
                code,
                data: r.rest().to_vec(),
            },
        })
    }

    /// Encodes back to bytes.
    pub fn encode(&self) -> Result<Vec<u8>, HeraldError> {
        match self {
            Self::Simple(p) => p.encode(),
            Self::Venue(p) => p.encode(),
            Self::WithHeader { header, data } => {
                Ok([&header.encode()[..], data.as_slice()].concat())
            }
            Self::Routed {
                code,
                routing,
                data,
            } => Ok([&[code.0][..], routing, data.as_slice()].concat()),
            Self::Headerless { code, data } => Ok([&[code.0][..], data.as_slice()].concat()),
        }
    }

    /// The payload code.
    pub fn code(&self) -> PayloadCode {
        match self {
            Self::Simple(SimplePayload { header, .. })
            | Self::Venue(VenuePayload { header, .. })
            | Self::WithHeader { header, .. } => header.code,
            Self::Routed { code, .. } | Self::Headerless { code, .. } => *code,
        }
    }

    /// The exposure header, for the kinds that have one.
    pub fn header(&self) -> Option<&ExposureHeader> {
        match self {
            Self::Simple(SimplePayload { header, .. })
            | Self::Venue(VenuePayload { header, .. })
            | Self::WithHeader { header, .. } => Some(header),
            Self::Routed { .. } | Self::Headerless { .. } => None,
        }
    }
}
