//! Region and cluster identifiers.
//!
//! A region is one backend's jurisdiction: an ISO 3166-1 country, optionally narrowed to a state or
//! health authority (`US-CA`, `GB-4`), or one site of an enterprise (`acme:zurich-1`). A cluster is a
//! named group of regions (`EU`, `USA`, `acme`). Both parse from and display to one canonical text
//! form, which is what certificates, configs, URLs and batches carry.
//! This module never guesses: an unknown country code is an error, not a pass-through.

mod iso3166;

pub use iso3166::{COUNTRIES, CountryEntry};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// An ISO 3166-1 country (an index into [`COUNTRIES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country(u8);

impl Country {
    /// Looks up an alpha-2 code (case-insensitive).
    pub fn from_alpha2(code: &str) -> Option<Self> {
        let upper = code.to_ascii_uppercase();
        COUNTRIES
            .binary_search_by(|c| c.alpha2.cmp(upper.as_str()))
            .ok()
            .and_then(|i| u8::try_from(i).ok())
            .map(Self)
    }

    /// Looks up an alpha-3 code (case-insensitive).
    pub fn from_alpha3(code: &str) -> Option<Self> {
        Self::find(|c| c.alpha3.eq_ignore_ascii_case(code))
    }

    /// Looks up a numeric code (as Herald's exposure header carries it).
    pub fn from_numeric(numeric: u16) -> Option<Self> {
        Self::find(|c| c.numeric == numeric)
    }

    fn find(pred: impl Fn(&CountryEntry) -> bool) -> Option<Self> {
        COUNTRIES
            .iter()
            .position(pred)
            .and_then(|i| u8::try_from(i).ok())
            .map(Self)
    }

    /// The table entry of this country.
    pub fn entry(self) -> &'static CountryEntry {
        // The index was produced by a lookup into the same table, so it is in range.
        &COUNTRIES[usize::from(self.0)]
    }

    /// The alpha-2 code, e.g. `DE`.
    pub fn alpha2(self) -> &'static str {
        self.entry().alpha2
    }

    /// The numeric code, e.g. 276.
    pub fn numeric(self) -> u16 {
        self.entry().numeric
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpha2())
    }
}

impl FromStr for Country {
    type Err = RegionError;

    /// Accepts alpha-2, alpha-3 or a decimal numeric code.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let found = match s.len() {
            2 => Self::from_alpha2(s),
            3 if s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse::<u16>().ok().and_then(Self::from_numeric)
            }
            3 => Self::from_alpha3(s),
            _ => None,
        };
        found.ok_or_else(|| RegionError::UnknownCountry(s.chars().take(16).collect()))
    }
}

/// The part of a region below a country: an ISO 3166-2 subdivision suffix (`CA` of `US-CA`) or a
/// numeric authority code (Herald's state field, `4` of `GB-4`). 1..=5 characters `[A-Z0-9]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subdivision(String);

impl Subdivision {
    /// Longest subdivision code accepted.
    pub const MAX_LEN: usize = 5;

    /// Checks and upper-cases a subdivision code.
    pub fn new(code: &str) -> Result<Self, RegionError> {
        let ok = (1..=Self::MAX_LEN).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Self(code.to_ascii_uppercase()))
        } else {
            Err(RegionError::BadSubdivision(code.chars().take(16).collect()))
        }
    }

    /// A Herald state / authority code (`0` means the national system and is not a subdivision).
    pub fn from_authority_code(code: u16) -> Option<Self> {
        (code != 0).then(|| Self(code.to_string()))
    }

    /// The code text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An enterprise or site name: 1..=32 characters `[a-z0-9-]`, not starting with `-`.
fn check_label(label: &str, what: &'static str) -> Result<(), RegionError> {
    let ok = (1..=32).contains(&label.len())
        && !label.starts_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(RegionError::BadLabel {
            what,
            label: label.chars().take(40).collect(),
        })
    }
}

/// One backend's jurisdiction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegionId {
    /// A country or one of its states / health authorities.
    Country {
        /// The ISO 3166-1 country.
        country: Country,
        /// The state or authority, if the region is narrower than the country.
        subdivision: Option<Subdivision>,
    },
    /// One site of an enterprise mesh.
    Site {
        /// The enterprise id.
        enterprise: String,
        /// The site id inside the enterprise.
        site: String,
    },
}

impl RegionId {
    /// A whole country.
    pub fn country(country: Country) -> Self {
        Self::Country {
            country,
            subdivision: None,
        }
    }

    /// An enterprise site, checking both labels.
    pub fn site(enterprise: &str, site: &str) -> Result<Self, RegionError> {
        check_label(enterprise, "enterprise")?;
        check_label(site, "site")?;
        Ok(Self::Site {
            enterprise: enterprise.to_owned(),
            site: site.to_owned(),
        })
    }

    /// The country, for country regions.
    pub fn country_part(&self) -> Option<Country> {
        match self {
            Self::Country { country, .. } => Some(*country),
            Self::Site { .. } => None,
        }
    }
}

impl fmt::Display for RegionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Country {
                country,
                subdivision: None,
            } => write!(f, "{country}"),
            Self::Country {
                country,
                subdivision: Some(s),
            } => write!(f, "{country}-{}", s.0),
            Self::Site { enterprise, site } => write!(f, "{enterprise}:{site}"),
        }
    }
}

impl FromStr for RegionId {
    type Err = RegionError;

    /// Parses `DE`, `DEU`, `276`, `US-CA`, `GB-4` or `acme:zurich-1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > 80 {
            return Err(RegionError::TooLong(s.len()));
        }
        if let Some((enterprise, site)) = s.split_once(':') {
            return Self::site(enterprise, site);
        }
        let (country, subdivision) = match s.split_once('-') {
            Some((c, sub)) => (c, Some(Subdivision::new(sub)?)),
            None => (s, None),
        };
        Ok(Self::Country {
            country: country.parse()?,
            subdivision,
        })
    }
}

/// A cluster of regions: 1..=32 characters `[A-Za-z0-9-]`, case preserved (`EU`, `USA`, `acme`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(String);

impl ClusterId {
    /// Checks a cluster id.
    pub fn new(id: &str) -> Result<Self, RegionError> {
        let ok = (1..=32).contains(&id.len())
            && !id.starts_with('-')
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(Self(id.to_owned()))
        } else {
            Err(RegionError::BadCluster(id.chars().take(40).collect()))
        }
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ClusterId {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// Why a region or cluster id was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegionError {
    /// Not an ISO 3166-1 alpha-2, alpha-3 or numeric code.
    #[error("unknown country code {0:?} (want ISO 3166-1 alpha-2, alpha-3 or numeric)")]
    UnknownCountry(String),
    /// A subdivision that is not 1..=5 characters [A-Z0-9].
    #[error("bad subdivision {0:?} (want 1..=5 characters A-Z or 0-9)")]
    BadSubdivision(String),
    /// An enterprise or site label that is not 1..=32 characters [a-z0-9-].
    #[error("bad {what} id {label:?} (want 1..=32 characters a-z, 0-9 or '-')")]
    BadLabel {
        /// `enterprise` or `site`.
        what: &'static str,
        /// The refused label.
        label: String,
    },
    /// A cluster id that is not 1..=32 characters [A-Za-z0-9-].
    #[error("bad cluster id {0:?} (want 1..=32 characters A-Z, a-z, 0-9 or '-')")]
    BadCluster(String),
    /// Input longer than any region id.
    #[error("region id of {0} bytes is too long")]
    TooLong(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table_is_sorted_unique_and_complete() {
        assert_eq!(COUNTRIES.len(), 249);
        assert!(COUNTRIES.windows(2).all(|w| w[0].alpha2 < w[1].alpha2));
        let mut numerics: Vec<u16> = COUNTRIES.iter().map(|c| c.numeric).collect();
        numerics.sort_unstable();
        numerics.dedup();
        assert_eq!(numerics.len(), 249);
    }

    #[test]
    fn codes_agree() {
        let gb = Country::from_alpha2("gb");
        assert_eq!(gb, Country::from_numeric(826));
        assert_eq!(gb, Country::from_alpha3("GBR"));
        assert_eq!(Country::from_numeric(840).map(Country::alpha2), Some("US"));
        assert_eq!(Country::from_alpha2("XX"), None);
    }

    #[test]
    fn parses_every_form() {
        let de: RegionId = "DE".parse().unwrap();
        assert_eq!(de, "276".parse().unwrap());
        assert_eq!(de, "deu".parse().unwrap());
        assert_eq!("us-ca".parse::<RegionId>().unwrap().to_string(), "US-CA");
        assert_eq!("GB-4".parse::<RegionId>().unwrap().to_string(), "GB-4");
        assert_eq!(
            "acme:zurich-1".parse::<RegionId>().unwrap().to_string(),
            "acme:zurich-1"
        );
        for bad in [
            "",
            "X",
            "ZZ",
            "DE-",
            "DE-TOOLONG",
            "DE-C A",
            "acme:",
            ":x",
            "Acme:x",
            "a:b:c",
        ] {
            assert!(
                bad.parse::<RegionId>().is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(ClusterId::new("EU").is_ok());
        assert!(ClusterId::new("e u").is_err());
    }

    fn region() -> impl Strategy<Value = RegionId> {
        let country = (0..COUNTRIES.len()).prop_map(|i| Country(i as u8));
        prop_oneof![
            (country, proptest::option::of("[A-Z0-9]{1,5}")).prop_map(|(c, s)| RegionId::Country {
                country: c,
                subdivision: s.map(|s| Subdivision::new(&s).unwrap()),
            }),
            ("[a-z0-9][a-z0-9-]{0,31}", "[a-z0-9][a-z0-9-]{0,31}")
                .prop_map(|(e, s)| RegionId::site(&e, &s).unwrap()),
        ]
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(r in region()) {
            prop_assert_eq!(r.to_string().parse::<RegionId>(), Ok(r));
        }

        #[test]
        fn parse_never_panics(s in ".{0,100}") {
            let _ = s.parse::<RegionId>();
            let _ = s.parse::<ClusterId>();
        }
    }
}
