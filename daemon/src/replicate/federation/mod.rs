//! Google's key-server federation (formats.md §f.1-f.2), both directions, on the exact
//! package-less contract `/Federation/Fetch` (`proto/federation/federation.proto`).
//!
//! - [`server`]: serves this region's *local* keys to pullers on its own TLS listener
//!   (`[federation] listen`), each puller authorised by its own bearer token (a Google server)
//!   or by its CA-tree node certificate (an enmesh node), with its allowed include/exclude
//!   regions, paging with `nextFetchState`.
//! - [`puller`]: a `[[peers]]` entry with `format = "google-federation"`: a worker that pulls a
//!   Google (or enmesh) federation server page by page over TLS and stores each page's keys as
//!   remote keys of the peer's region together with the new fetch state, in one write.
//! - [`metrics`]: both sides' counters.
//! - [`cursor`]: the pure part: fetch-state tokens, region filters, key conversion.
//!
//! Nothing here serves a remote key (`onlyLocalProvenance` is always honoured, whatever the
//! puller asks), and nothing stores a page without the fetch state that follows it.

pub mod cursor;
pub mod metrics;
pub mod puller;
pub mod server;
