//! Backend feeds: the streams of signed batches one backend serves to others.
//!
//! A feed is either the all-to-all feed of a cluster (`a2a/<cluster>`: every local key of the
//! origin, for every region of its cluster) or the partial (need-to-know) feed of one destination
//! region (`partial/<region>`: the keys of uploads that declared that region visited). Batches
//! carry their feed's name on the wire; this module is the one place that spells and parses it.
//!
//! Parsing is strict: only the canonical spelling is accepted (`partial/DEU` is refused, since
//! the region's canonical text is `DE`), so two texts never name one feed. It never panics and
//! bounds the text it reads.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::region::{ClusterId, RegionError, RegionId};

/// The longest feed name, in bytes (`partial/` + the longest region text is well below it).
pub const MAX_LEN: usize = 128;

/// One backend feed of an origin.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feed {
    /// The all-to-all feed of a cluster.
    AllToAll(ClusterId),
    /// The need-to-know feed for one destination region.
    Partial(RegionId),
}

/// Why a feed name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FeedError {
    /// Longer than [`MAX_LEN`] bytes.
    #[error("feed name of {0} bytes (at most {MAX_LEN})")]
    TooLong(usize),
    /// Neither `a2a/…` nor `partial/…`.
    #[error("feed name {0:?} is neither a2a/<cluster> nor partial/<region>")]
    UnknownKind(String),
    /// The cluster or region part does not parse.
    #[error("feed name {name:?}: {error}")]
    BadPart {
        /// The name (cut to [`MAX_LEN`] characters).
        name: String,
        /// What was wrong with its cluster or region.
        error: RegionError,
    },
    /// The region part is not in its canonical spelling (e.g. `DEU` for `DE`).
    #[error("feed name {got:?} is not canonical: the feed is {canonical:?}")]
    NotCanonical {
        /// The text given.
        got: String,
        /// How the feed is spelled.
        canonical: String,
    },
}

const A2A: &str = "a2a/";
const PARTIAL: &str = "partial/";

impl Feed {
    /// The cluster of an all-to-all feed.
    pub fn cluster(&self) -> Option<&ClusterId> {
        match self {
            Self::AllToAll(cluster) => Some(cluster),
            Self::Partial(_) => None,
        }
    }

    /// The destination region of a partial feed.
    pub fn destination(&self) -> Option<&RegionId> {
        match self {
            Self::AllToAll(_) => None,
            Self::Partial(region) => Some(region),
        }
    }

    /// A short label of the feed's kind, for metrics (`a2a` or `partial`): a closed set.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AllToAll(_) => "a2a",
            Self::Partial(_) => "partial",
        }
    }
}

impl fmt::Display for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AllToAll(cluster) => write!(f, "{A2A}{cluster}"),
            Self::Partial(region) => write!(f, "{PARTIAL}{region}"),
        }
    }
}

impl FromStr for Feed {
    type Err = FeedError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() > MAX_LEN {
            return Err(FeedError::TooLong(text.len()));
        }
        let bad = |error| FeedError::BadPart {
            name: text.to_owned(),
            error,
        };
        let feed = if let Some(cluster) = text.strip_prefix(A2A) {
            Self::AllToAll(ClusterId::new(cluster).map_err(bad)?)
        } else if let Some(region) = text.strip_prefix(PARTIAL) {
            Self::Partial(region.parse().map_err(bad)?)
        } else {
            return Err(FeedError::UnknownKind(text.to_owned()));
        };
        let canonical = feed.to_string();
        if canonical != text {
            return Err(FeedError::NotCanonical {
                got: text.to_owned(),
                canonical,
            });
        }
        Ok(feed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed(text: &str) -> Result<Feed, FeedError> {
        text.parse()
    }

    #[test]
    fn spelled_and_parsed_in_one_place() {
        let eu = ClusterId::new("EU").unwrap();
        assert_eq!(Feed::AllToAll(eu.clone()).to_string(), "a2a/EU");
        assert_eq!(feed("a2a/EU").unwrap(), Feed::AllToAll(eu));
        let ca: RegionId = "US-CA".parse().unwrap();
        assert_eq!(Feed::Partial(ca.clone()).to_string(), "partial/US-CA");
        assert_eq!(feed("partial/US-CA").unwrap(), Feed::Partial(ca));
        assert_eq!(
            feed("partial/acme:zurich-1").unwrap().to_string(),
            "partial/acme:zurich-1"
        );
    }

    #[test]
    fn refuses_what_is_not_a_canonical_feed() {
        assert!(matches!(feed("relay/DE"), Err(FeedError::UnknownKind(_))));
        assert!(matches!(feed(""), Err(FeedError::UnknownKind(_))));
        assert!(matches!(feed("a2a/"), Err(FeedError::BadPart { .. })));
        assert!(matches!(feed("partial/XX"), Err(FeedError::BadPart { .. })));
        assert!(matches!(
            feed("partial/DEU"),
            Err(FeedError::NotCanonical { .. })
        ));
        assert!(matches!(
            feed(&format!("a2a/{}", "E".repeat(200))),
            Err(FeedError::TooLong(_))
        ));
    }

    proptest! {
        #[test]
        fn never_panics_and_round_trips(text in "\\PC{0,140}") {
            if let Ok(parsed) = feed(&text) {
                prop_assert_eq!(parsed.to_string(), text);
            }
        }
    }
}
