//! Counters and latency histograms, rendered in the Prometheus text format at `/metrics`.
//! Plain atomics: a handful of series does not need a metrics framework.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// New or changed items were stored.
    Updated,
    /// Fetched, but nothing changed (same body or same items).
    Unchanged,
    /// 304 Not Modified.
    NotModified,
    /// Fetch or parse failed.
    Failed,
}

impl PollOutcome {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            PollOutcome::Updated => "updated",
            PollOutcome::Unchanged => "unchanged",
            PollOutcome::NotModified => "not_modified",
            PollOutcome::Failed => "failed",
        }
    }
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The hub's metrics.
#[derive(Default)]
pub struct Metrics {
    polls: [AtomicU64; 4],
    items_created: AtomicU64,
    items_updated: AtomicU64,
    items_withdrawn: AtomicU64,
    /// Request latency histograms per route.
    requests: Mutex<Vec<(String, Histogram)>>,
}

impl Metrics {
    /// Counts a poll.
    pub fn poll(&self, outcome: PollOutcome) {
        self.polls[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts ingested items.
    pub fn items(&self, report: &crate::store::IngestReport) {
        self.items_created.fetch_add(report.created as u64, Ordering::Relaxed);
        self.items_updated.fetch_add(report.updated as u64, Ordering::Relaxed);
        self.items_withdrawn.fetch_add(report.withdrawn as u64, Ordering::Relaxed);
    }

    /// Records an HTTP request's latency under its route.
    pub fn request(&self, route: &str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let Ok(mut requests) = self.requests.lock() else { return };
        let index = match requests.iter().position(|(r, _)| r == route) {
            Some(i) => i,
            None => {
                requests.push((route.to_string(), Histogram::default()));
                requests.len() - 1
            }
        };
        let h = &mut requests[index].1;
        for (bound, slot) in BUCKETS.iter().zip(h.buckets.iter_mut()) {
            if secs <= *bound {
                *slot += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The Prometheus text exposition, with the store's query counter.
    pub fn render(&self, store_queries: u64, subscriptions: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP tributary_subscriptions Change subscriptions open in this process.");
        let _ = writeln!(out, "# TYPE tributary_subscriptions gauge");
        let _ = writeln!(out, "tributary_subscriptions {subscriptions}");
        let _ = writeln!(out, "# HELP tributary_polls_total Feed polls by outcome.");
        let _ = writeln!(out, "# TYPE tributary_polls_total counter");
        for outcome in [PollOutcome::Updated, PollOutcome::Unchanged, PollOutcome::NotModified, PollOutcome::Failed] {
            let n = self.polls[outcome as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "tributary_polls_total{{outcome=\"{}\"}} {n}", outcome.as_str());
        }
        let _ = writeln!(out, "# HELP tributary_poll_failures_total Feed polls that failed.");
        let _ = writeln!(out, "# TYPE tributary_poll_failures_total counter");
        let _ = writeln!(
            out,
            "tributary_poll_failures_total {}",
            self.polls[PollOutcome::Failed as usize].load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP tributary_items_ingested_total Items written, by kind of change.");
        let _ = writeln!(out, "# TYPE tributary_items_ingested_total counter");
        let _ = writeln!(
            out,
            "tributary_items_ingested_total{{kind=\"created\"}} {}",
            self.items_created.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "tributary_items_ingested_total{{kind=\"updated\"}} {}",
            self.items_updated.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "tributary_items_ingested_total{{kind=\"withdrawn\"}} {}",
            self.items_withdrawn.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP tributary_store_queries_total SQL statements run by the store.");
        let _ = writeln!(out, "# TYPE tributary_store_queries_total counter");
        let _ = writeln!(out, "tributary_store_queries_total {store_queries}");
        let _ = writeln!(out, "# HELP tributary_http_request_duration_seconds HTTP request latency by route.");
        let _ = writeln!(out, "# TYPE tributary_http_request_duration_seconds histogram");
        if let Ok(requests) = self.requests.lock() {
            for (route, h) in requests.iter() {
                for (bound, n) in BUCKETS.iter().zip(h.buckets.iter()) {
                    let _ = writeln!(
                        out,
                        "tributary_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "tributary_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(out, "tributary_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
                let _ = writeln!(out, "tributary_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
        }
        out
    }
}
