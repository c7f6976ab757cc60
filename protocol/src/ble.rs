//! BLE advertising data: AD structures, and the 16-bit-UUID service data of GAEN (`0xFD6F`),
//! TCN (`0xC019`) and Herald (`0xFCF6`).
//!
//! Decoders here accept what real phones send (no Flags AD required, TCN's 20-byte form) and keep
//! service data of unknown UUIDs instead of dropping it. They never guess silently: malformed bytes
//! are an error naming the offset or length, and [`decode_any`] says which interpretation it used.

use crate::codec::{CodecError, Reader};
use crate::gaen::{Aem, Rpi};
use crate::herald::{HeraldError, HeraldPayload};
use crate::tcn::Tcn;
use thiserror::Error;

/// Why BLE bytes could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BleError {
    /// An AD structure's length byte runs past the end of the data.
    #[error("AD structure at offset {offset} has length {len}, only {available} bytes follow")]
    Overrun {
        /// Offset of the length byte.
        offset: usize,
        /// The length it claims.
        len: u8,
        /// Bytes after the length byte.
        available: usize,
    },
    /// Bytes after the zero-length terminator are not zero padding.
    #[error("non-zero byte at offset {offset} after the zero-length terminator")]
    BadPadding {
        /// Offset of the first non-zero byte.
        offset: usize,
    },
    /// An AD structure's data does not fit its one-byte length.
    #[error("AD structure of type {ad_type:#04x} has {len} data bytes, at most 254 fit")]
    AdTooLong {
        /// The AD type.
        ad_type: u8,
        /// Bytes of data.
        len: usize,
    },
    /// Service data too short for its 16-bit UUID, or for the payload that UUID requires.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// GAEN service data must be exactly RPI (16) + AEM (4) bytes.
    #[error("GAEN service data has {0} payload bytes, expected 20")]
    GaenLength(usize),
    /// Herald service data did not decode.
    #[error("Herald service data: {0}")]
    Herald(#[from] HeraldError),
    /// The data holds no AD structure (it is empty or only padding).
    #[error("no AD structure")]
    NoStructures,
    /// Nothing recognised the bytes: why each interpretation failed.
    #[error("not an advertisement ({advertisement}) and not a Herald payload ({herald})")]
    Unrecognised {
        /// Why the bytes are not an advertisement with service data.
        advertisement: Box<BleError>,
        /// Why they are not a Herald payload.
        herald: HeraldError,
    },
}

/// An AD type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AdType(pub u8);

impl AdType {
    /// Flags.
    pub const FLAGS: Self = Self(0x01);
    /// Complete list of 16-bit service UUIDs.
    pub const COMPLETE_16BIT_UUIDS: Self = Self(0x03);
    /// Service data with a 16-bit UUID.
    pub const SERVICE_DATA_16BIT: Self = Self(0x16);
}

/// One AD structure: `len ‖ type ‖ data`, where `len` counts type and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdStructure {
    /// The AD type.
    pub ad_type: AdType,
    /// The data after the type byte (at most 254 bytes).
    pub data: Vec<u8>,
}

/// Advertising (or scan response) data: a list of AD structures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advertisement {
    /// The structures in wire order.
    pub structures: Vec<AdStructure>,
}

impl Advertisement {
    /// Parses AD structures until the end or a zero length byte, after which only zero padding
    /// may follow.
    pub fn parse(bytes: &[u8]) -> Result<Self, BleError> {
        let mut r = Reader::new(bytes);
        let mut structures = Vec::new();
        while !r.is_empty() {
            let offset = r.position();
            let len = r.u8("AD length")?;
            if len == 0 {
                let padding_start = r.position();
                if let Some(i) = r.rest().iter().position(|b| *b != 0) {
                    return Err(BleError::BadPadding {
                        offset: padding_start + i,
                    });
                }
                break;
            }
            let available = r.remaining();
            let mut body =
                r.sub(usize::from(len), "AD structure")
                    .map_err(|_| BleError::Overrun {
                        offset,
                        len,
                        available,
                    })?;
            let ad_type = AdType(body.u8("AD type")?);
            structures.push(AdStructure {
                ad_type,
                data: body.rest().to_vec(),
            });
        }
        Ok(Self { structures })
    }

    /// Encodes the structures; fails if one holds more than 254 data bytes.
    pub fn encode(&self) -> Result<Vec<u8>, BleError> {
        let mut out = Vec::new();
        for s in &self.structures {
            let len = u8::try_from(s.data.len() + 1).map_err(|_| BleError::AdTooLong {
                ad_type: s.ad_type.0,
                len: s.data.len(),
            })?;
            out.extend_from_slice(&[len, s.ad_type.0]);
            out.extend_from_slice(&s.data);
        }
        Ok(out)
    }

    /// The payload (after the UUID) of the first service-data AD with this UUID.
    pub fn service_data_payload(&self, uuid: ServiceUuid16) -> Option<&[u8]> {
        self.structures
            .iter()
            .filter(|s| s.ad_type == AdType::SERVICE_DATA_16BIT)
            .find_map(|s| match s.data.as_slice() {
                [lo, hi, payload @ ..] if u16::from_le_bytes([*lo, *hi]) == uuid.0 => Some(payload),
                _ => None,
            })
    }

    /// Decodes every service-data AD, in wire order.
    pub fn service_data(&self) -> Result<Vec<ServiceData>, BleError> {
        self.structures
            .iter()
            .filter(|s| s.ad_type == AdType::SERVICE_DATA_16BIT)
            .map(|s| ServiceData::decode(&s.data))
            .collect()
    }
}

/// A 16-bit Bluetooth service UUID (written little-endian on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceUuid16(pub u16);

impl ServiceUuid16 {
    /// GAEN, `6f fd` on the wire.
    pub const GAEN: Self = Self(0xfd6f);
    /// TCN, `19 c0` on the wire.
    pub const TCN: Self = Self(0xc019);
    /// Herald, `f6 fc` on the wire.
    pub const HERALD: Self = Self(0xfcf6);
}

/// The content of one service-data AD (UUID included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceData {
    /// A GAEN sighting.
    Gaen {
        /// The Rolling Proximity Identifier.
        rpi: Rpi,
        /// The Associated Encrypted Metadata.
        aem: Aem,
    },
    /// A TCN sighting.
    Tcn {
        /// The first 16 payload bytes.
        tcn: Tcn,
        /// Bytes after the TCN (the Android client's 4-byte hint), kept but not interpreted.
        extra: Vec<u8>,
    },
    /// A Herald payload.
    Herald(HeraldPayload),
    /// Service data of any other UUID, kept as it is.
    Unknown {
        /// The UUID.
        uuid: ServiceUuid16,
        /// The payload after the UUID.
        data: Vec<u8>,
    },
}

impl ServiceData {
    /// Decodes service-data bytes: a 16-bit UUID (LE) and its payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, BleError> {
        let mut r = Reader::new(bytes);
        let uuid = ServiceUuid16(r.u16_le("service data UUID")?);
        let payload = r.rest();
        Ok(match uuid {
            ServiceUuid16::GAEN => {
                if payload.len() != 20 {
                    return Err(BleError::GaenLength(payload.len()));
                }
                let mut p = Reader::new(payload);
                Self::Gaen {
                    rpi: Rpi(p.array("GAEN RPI")?),
                    aem: Aem(p.array("GAEN AEM")?),
                }
            }
            ServiceUuid16::TCN => {
                let mut p = Reader::new(payload);
                Self::Tcn {
                    tcn: Tcn(p.array("TCN service data")?),
                    extra: p.rest().to_vec(),
                }
            }
            ServiceUuid16::HERALD => Self::Herald(HeraldPayload::decode(payload)?),
            uuid => Self::Unknown {
                uuid,
                data: payload.to_vec(),
            },
        })
    }

    /// Encodes UUID and payload.
    pub fn encode(&self) -> Result<Vec<u8>, BleError> {
        let (uuid, payload) = match self {
            Self::Gaen { rpi, aem } => (ServiceUuid16::GAEN, [&rpi.0[..], &aem.0].concat()),
            Self::Tcn { tcn, extra } => (ServiceUuid16::TCN, [&tcn.0[..], extra].concat()),
            Self::Herald(p) => (ServiceUuid16::HERALD, p.encode()?),
            Self::Unknown { uuid, data } => (*uuid, data.clone()),
        };
        Ok([&uuid.0.to_le_bytes()[..], &payload].concat())
    }
}

/// How [`decode_any`] read its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A whole advertisement; `service_data` decodes its service-data ADs.
    Advertisement {
        /// Every AD structure.
        advertisement: Advertisement,
        /// Its service data, in wire order.
        service_data: Vec<ServiceData>,
    },
    /// One service-data payload starting with a known 16-bit UUID.
    ServiceData(ServiceData),
    /// A Herald payload (as read over GATT), by its code.
    Herald(HeraldPayload),
}

/// Reads bytes from the field, trying in order:
/// 1. a whole advertisement holding service data: every AD structure consistent; from here on,
///    an error in its service data is final;
/// 2. service data starting with the GAEN, TCN or Herald UUID (`6f fd`, `19 c0`, `f6 fc`); once
///    the UUID matches, its error is final;
/// 3. a Herald payload by its code;
/// 4. a consistent advertisement without service data.
///
/// Unknown content comes back as `Unknown` / opaque; only bytes nothing can read are an error.
pub fn decode_any(bytes: &[u8]) -> Result<Decoded, BleError> {
    let advertisement = match Advertisement::parse(bytes) {
        Ok(advertisement)
            if advertisement
                .structures
                .iter()
                .any(|s| s.ad_type == AdType::SERVICE_DATA_16BIT) =>
        {
            let service_data = advertisement.service_data()?;
            return Ok(Decoded::Advertisement {
                advertisement,
                service_data,
            });
        }
        other => other,
    };
    if let [lo, hi, ..] = bytes {
        let uuid = ServiceUuid16(u16::from_le_bytes([*lo, *hi]));
        if [
            ServiceUuid16::GAEN,
            ServiceUuid16::TCN,
            ServiceUuid16::HERALD,
        ]
        .contains(&uuid)
        {
            return ServiceData::decode(bytes).map(Decoded::ServiceData);
        }
    }
    let herald = match HeraldPayload::decode(bytes) {
        Ok(payload) => return Ok(Decoded::Herald(payload)),
        Err(e) => e,
    };
    let why_not = match advertisement {
        Ok(advertisement) if !advertisement.structures.is_empty() => {
            return Ok(Decoded::Advertisement {
                advertisement,
                service_data: Vec::new(),
            });
        }
        Ok(_) => BleError::NoStructures,
        Err(e) => e,
    };
    Err(BleError::Unrecognised {
        advertisement: Box::new(why_not),
        herald,
    })
}
