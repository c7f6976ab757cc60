//! The HTTP servers' metric families: requests by route pattern, method and status, and
//! latency by route. Routes are the matched patterns (not raw paths), so labels stay bounded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label set of an HTTP request: the route pattern (not the raw path), method and status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HttpLabels {
    /// The matched route pattern, e.g. `/healthz`, or `unmatched`.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The response status code.
    pub status: u16,
}

/// Label set of an HTTP latency observation: the route pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabel {
    /// The matched route pattern.
    pub route: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms .. ~16 s in 15 doublings.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The HTTP families. Cloning shares the counters.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<HttpLabels, Counter>,
    duration: HistogramFamily<RouteLabel>,
}

impl HttpMetrics {
    /// The families, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
        };
        registry.register(
            "http_requests",
            "HTTP requests served, by route, method and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by route",
            m.duration.clone(),
        );
        m
    }

    /// Counts one HTTP request and records its latency.
    pub fn request(&self, labels: HttpLabels, seconds: f64) {
        self.duration
            .get_or_create(&RouteLabel {
                route: labels.route.clone(),
            })
            .observe(seconds);
        self.requests.get_or_create(&labels).inc();
    }
}
