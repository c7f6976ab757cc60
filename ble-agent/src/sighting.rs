//! One received advertisement: when it was heard, how loud, what it carried and in which region.
//!
//! A [`Sighting`] is what every [`crate::source`] produces and what the
//! [`crate::contact_log`] records. The payload is already decoded by `enmesh_protocol::ble`;
//! anything the protocol crate cannot name is kept as [`Payload::Unknown`], never dropped.
//! This module never reads a clock or performs I/O.

use enmesh_protocol::ble::{ServiceData, ServiceUuid16};
use enmesh_protocol::gaen::{Aem, Rpi};
use enmesh_protocol::herald::HeraldPayload;
use enmesh_protocol::region::RegionId;
use enmesh_protocol::tcn::Tcn;

/// Longest unknown or Herald payload kept, in bytes (BLE extended advertising carries at most
/// 251 bytes of service data; Herald payloads read over GATT may be longer and are cut here).
pub const MAX_KEPT_PAYLOAD: usize = 255;

/// Which protocol an identifier belongs to; the first byte of a contact-log key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// GAEN 0xFD6F: the identifier is the RPI.
    Gaen,
    /// TCN 0xC019: the identifier is the TCN.
    Tcn,
    /// Herald 0xFCF6: the identifier is the payload (contact id for Simple payloads).
    Herald,
    /// Anything else: the identifier is the service id and the data.
    Unknown,
}

impl Protocol {
    /// The one-byte tag stored in keys.
    pub fn tag(self) -> u8 {
        match self {
            Self::Gaen => 1,
            Self::Tcn => 2,
            Self::Herald => 3,
            Self::Unknown => 4,
        }
    }

    /// The protocol of a stored tag.
    pub fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(Self::Gaen),
            2 => Some(Self::Tcn),
            3 => Some(Self::Herald),
            4 => Some(Self::Unknown),
            _ => None,
        }
    }

    /// The name printed in JSON: `gaen`, `tcn`, `herald`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gaen => "gaen",
            Self::Tcn => "tcn",
            Self::Herald => "herald",
            Self::Unknown => "unknown",
        }
    }
}

/// The service an advertisement was heard on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceId {
    /// A 16-bit UUID.
    Uuid16(u16),
    /// A full 128-bit UUID (big-endian, as written in text).
    Uuid128([u8; 16]),
}

/// What an advertisement carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// GAEN RPI and AEM.
    Gaen {
        /// The Rolling Proximity Identifier.
        rpi: Rpi,
        /// The encrypted metadata (decrypted only after a match).
        aem: Aem,
    },
    /// A TCN (the first 16 bytes of the service data).
    Tcn(Tcn),
    /// A Herald payload, as bytes (at most [`MAX_KEPT_PAYLOAD`]); Simple payloads are keyed by
    /// their contact id, others by their whole bytes.
    Herald(Vec<u8>),
    /// Service data nothing here can read: kept as it is.
    Unknown {
        /// The service.
        service: ServiceId,
        /// The data (at most [`MAX_KEPT_PAYLOAD`] bytes).
        data: Vec<u8>,
    },
}

impl Payload {
    /// The payload of decoded service data.
    pub fn from_service_data(
        data: &ServiceData,
    ) -> Result<Self, enmesh_protocol::herald::HeraldError> {
        Ok(match data {
            ServiceData::Gaen { rpi, aem } => Self::Gaen {
                rpi: *rpi,
                aem: *aem,
            },
            ServiceData::Tcn { tcn, .. } => Self::Tcn(*tcn),
            ServiceData::Herald(payload) => Self::Herald(cut(payload.encode()?)),
            ServiceData::Unknown { uuid, data } => Self::Unknown {
                service: ServiceId::Uuid16(uuid.0),
                data: cut(data.clone()),
            },
        })
    }

    /// The protocol of this payload.
    pub fn protocol(&self) -> Protocol {
        match self {
            Self::Gaen { .. } => Protocol::Gaen,
            Self::Tcn(_) => Protocol::Tcn,
            Self::Herald(_) => Protocol::Herald,
            Self::Unknown { .. } => Protocol::Unknown,
        }
    }

    /// Appends the identifier bytes this payload is logged under to `out`.
    pub fn identifier_into(&self, out: &mut Vec<u8>) {
        match self {
            Self::Gaen { rpi, .. } => out.extend_from_slice(&rpi.0),
            Self::Tcn(tcn) => out.extend_from_slice(&tcn.0),
            Self::Herald(bytes) => match HeraldPayload::decode(bytes) {
                Ok(HeraldPayload::Simple(simple)) => {
                    out.extend_from_slice(&simple.contact_id.0);
                }
                _ => out.extend_from_slice(bytes),
            },
            Self::Unknown { service, data } => {
                match service {
                    ServiceId::Uuid16(uuid) => {
                        out.push(2);
                        out.extend_from_slice(&uuid.to_be_bytes());
                    }
                    ServiceId::Uuid128(uuid) => {
                        out.push(16);
                        out.extend_from_slice(uuid);
                    }
                }
                out.extend_from_slice(data);
            }
        }
    }

    /// The 4 extra bytes a record keeps: the AEM of a GAEN sighting, zeros otherwise.
    pub fn extra(&self) -> [u8; 4] {
        match self {
            Self::Gaen { aem, .. } => aem.0,
            _ => [0; 4],
        }
    }

    /// The 16-bit UUID the protocol advertises on, if it has one.
    pub fn uuid16(&self) -> Option<ServiceUuid16> {
        match self {
            Self::Gaen { .. } => Some(ServiceUuid16::GAEN),
            Self::Tcn(_) => Some(ServiceUuid16::TCN),
            Self::Herald(_) => Some(ServiceUuid16::HERALD),
            Self::Unknown {
                service: ServiceId::Uuid16(uuid),
                ..
            } => Some(ServiceUuid16(*uuid)),
            Self::Unknown { .. } => None,
        }
    }
}

fn cut(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.truncate(MAX_KEPT_PAYLOAD);
    bytes
}

/// One received advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// When it was heard, unix milliseconds.
    pub at_ms: u64,
    /// Received signal strength, dBm.
    pub rssi: i8,
    /// What it carried.
    pub payload: Payload,
    /// The region where the agent was when it heard it (for payloads without a header, the
    /// agent's own region: seed 003, "presume the current country and state").
    pub region: RegionId,
}
