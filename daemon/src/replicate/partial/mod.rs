//! Need-to-know partial replication across clusters (F1-F4, SP5): a producer serves each region
//! the feed of keys meant for it as a gRPC server stream, and a consumer task per configured
//! peer pulls its own region's feed, checks every batch and stores it with its cursor.
//!
//! - [`server`]: the producer side, `enmesh.v1.Replication/Pull` service and its mTLS listener.
//! - [`consumer`]: one task per `[[peers]]` entry, reconnecting with backoff and jitter.
//! - [`connect`]: the client side of the mTLS link.
//!
//! Both ends authenticate with the PKI (`pki::tls`); the producer also authorises: a consumer
//! pulls only `partial/<its certificate's region>` (or its own cluster's `a2a` feed). Producers
//! serve local batches only, so a received key is never re-federated.

pub mod connect;
pub mod consumer;
pub mod metrics;
pub mod server;

use std::time::Duration;

/// Largest gRPC message either end accepts: a batch of [`super::received::MAX_KEYS`] keys
/// (about 36 bytes each on the wire) plus its chain fits.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// How often a producer sends a keep-alive on an idle stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// A consumer treats a stream silent for this long as dead and reconnects.
pub const STALE_AFTER: Duration = Duration::from_secs(15);
