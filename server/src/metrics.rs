//! Prometheus metrics of one server: its own registry, the metric
//! families, and the scrape that renders them as OpenMetrics text.
//!
//! There is no global registry: every [`crate::Server`] owns one
//! [`Metrics`] (in its shared state), so several servers in one process
//! (the tests) never mix their numbers (test:
//! `e2e::metrics::two_servers_in_one_process_keep_their_own_metrics`).
//!
//! Counters that chatd already kept for `ServerStats` (failed logins,
//! fan-out deliveries, commits, ...) are not counted twice: the scrape
//! copies their current value into the exported counter. Only what had no
//! counting point before is counted here (requests by kind and result,
//! send→ack latency, rate-limited requests) or in the writer (commit
//! latency, batch size, queue depth: see `store::writer::WriterStats`).
//!
//! Names follow the Prometheus conventions: prefix `chatd_`, base units
//! (`_seconds`, `_bytes`), `_total` on counters.

use crate::shared::Shared;
use chat_protocol::{ErrorBody, RequestBody, ResponseBody};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The labels of `chatd_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The request's variant name, e.g. `Send`, `JoinRoom`.
    pub kind: String,
    /// `ok`, or the error code's name, e.g. `RateLimited`, `Unavailable`.
    pub result: String,
}

/// The buckets of latency histograms, in seconds: 100 µs doubling to
/// about 6.5 s (17 buckets), which spans an in-memory answer and a commit
/// on a slow disk.
pub fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_1, 2.0, 17)
}

/// The buckets of `chatd_catch_up_lag_events`: 1, 4, 16, … about a
/// million events (11 buckets); a subscription already at the head counts
/// in the first.
pub fn lag_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(1.0, 4.0, 11)
}

/// One server's metrics. Created by [`crate::Server::start`]; the hooks in
/// the request path are its public fields.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by kind and result.
    pub requests: Family<RequestLabels, Counter>,
    /// Time from receiving a send to its acknowledgement being queued, in
    /// seconds; acknowledged sends only.
    pub send_ack_seconds: Histogram,
    /// Requests refused by a per-user rate limit.
    pub rate_limited: Counter,
    /// Per room subscription, how many events behind the room's head it
    /// started: the events its catch-up sent before `CaughtUp`.
    pub catch_up_lag: Histogram,
    search_lag: Gauge,
    file_store_bytes: Gauge,
    file_store_blobs: Gauge,
    /// Messages purged by the retention policy (`handlers::retention`).
    pub retention_purged: Counter,
    // Mirrors of counters kept elsewhere, refreshed at each scrape.
    connections: Gauge,
    sessions: Gauge,
    store_bytes: Gauge,
    store_ready: Gauge,
    failed_logins: Counter,
    throttled_logins: Counter,
    refused_connections: Counter,
    deliveries: Counter,
    lagged: Counter,
    commits: Counter,
    writes: Counter,
    failed_writes: Counter,
    /// Serialises scrapes, so two never add the same mirror delta twice.
    scrape: Mutex<()>,
}

impl Metrics {
    /// A fresh registry with every chatd metric registered. The writer's
    /// histograms and queue gauge are registered from `writer` (they are
    /// shared handles: the writer thread updates them).
    pub fn new(writer: &crate::store::writer::WriterStats) -> Metrics {
        let mut registry = Registry::with_prefix("chatd");
        let m = Metrics {
            requests: Family::default(),
            send_ack_seconds: Histogram::new(latency_buckets()),
            rate_limited: Counter::default(),
            catch_up_lag: Histogram::new(lag_buckets()),
            search_lag: Gauge::default(),
            file_store_bytes: Gauge::default(),
            file_store_blobs: Gauge::default(),
            retention_purged: Counter::default(),
            connections: Gauge::default(),
            sessions: Gauge::default(),
            store_bytes: Gauge::default(),
            store_ready: Gauge::default(),
            failed_logins: Counter::default(),
            throttled_logins: Counter::default(),
            refused_connections: Counter::default(),
            deliveries: Counter::default(),
            lagged: Counter::default(),
            commits: Counter::default(),
            writes: Counter::default(),
            failed_writes: Counter::default(),
            scrape: Mutex::new(()),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "connections",
            "Open QUIC connections, handshakes included",
            m.connections.clone(),
        );
        r.register("sessions", "Logged-in sessions", m.sessions.clone());
        r.register(
            "retention_purged_messages",
            "Messages purged by the retention policy (left as stubs with their seq)",
            m.retention_purged.clone(),
        );
        r.register(
            "requests",
            "Requests answered, by kind and result (ok or the error code)",
            m.requests.clone(),
        );
        r.register_with_unit(
            "send_ack",
            "Time from receiving a send to queueing its acknowledgement",
            Unit::Seconds,
            m.send_ack_seconds.clone(),
        );
        r.register_with_unit(
            "commit",
            "Time to run and commit one write batch, fsync included",
            Unit::Seconds,
            writer.commit_seconds.clone(),
        );
        r.register(
            "writer_batch_jobs",
            "Write jobs per committed batch (group commit)",
            writer.batch_jobs.clone(),
        );
        r.register(
            "writer_queue_jobs",
            "Write jobs queued for the writer thread",
            writer.queued.clone(),
        );
        r.register("commits", "Write batches committed", m.commits.clone());
        r.register("writes", "Write jobs committed", m.writes.clone());
        r.register(
            "failed_writes",
            "Write jobs that failed on their own and were dropped from their batch",
            m.failed_writes.clone(),
        );
        r.register(
            "fanout_deliveries",
            "Events handed to subscriber queues",
            m.deliveries.clone(),
        );
        r.register(
            "fanout_lagged",
            "Subscriptions reset because their queue was full",
            m.lagged.clone(),
        );
        r.register(
            "rate_limited",
            "Requests refused by a per-user rate limit",
            m.rate_limited.clone(),
        );
        r.register(
            "failed_logins",
            "Logins refused for a wrong name, password or token",
            m.failed_logins.clone(),
        );
        r.register(
            "throttled_logins",
            "Logins refused by the failed-login throttle",
            m.throttled_logins.clone(),
        );
        r.register(
            "refused_connections",
            "Connections refused at the connection limit",
            m.refused_connections.clone(),
        );
        r.register_with_unit(
            "store_size",
            "Size of the database file",
            Unit::Bytes,
            m.store_bytes.clone(),
        );
        r.register(
            "catch_up_lag_events",
            "Per room subscription, events behind the room's head when its catch-up started",
            m.catch_up_lag.clone(),
        );
        r.register(
            "search_index_lag_events",
            "Stored events that searches cannot find yet (0 with search off)",
            m.search_lag.clone(),
        );
        r.register_with_unit(
            "file_store",
            "Bytes of file contents in the blob store (each content once)",
            Unit::Bytes,
            m.file_store_bytes.clone(),
        );
        r.register(
            "file_store_blobs",
            "File contents in the blob store (each content once)",
            m.file_store_blobs.clone(),
        );
        r.register(
            "store_ready",
            "1 while the store accepts writes, 0 while degraded",
            m.store_ready.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts one answered request.
    pub fn request(&self, kind: &str, reply: &Result<ResponseBody, ErrorBody>) {
        let result = match reply {
            Ok(_) => "ok".to_owned(),
            Err(e) => variant_name(&e.code),
        };
        self.requests
            .get_or_create(&RequestLabels {
                kind: kind.to_owned(),
                result,
            })
            .inc();
    }

    /// Records the latency of an acknowledged send.
    pub fn send_acked(&self, elapsed: Duration) {
        self.send_ack_seconds.observe(elapsed.as_secs_f64());
    }

    /// Reads what needs the store (the search index's lag: every room's
    /// head, one read transaction on the blocking pool), then
    /// [`Metrics::scrape`]s. A failed read leaves the lag as last set.
    pub(crate) async fn scrape_fresh(&self, shared: &Shared) -> String {
        if let Some(index) = shared.search.clone() {
            let heads = shared.storage.room_heads().await;
            match heads {
                Ok(heads) => {
                    let behind = index.events_behind(&heads);
                    self.search_lag
                        .set(i64::try_from(behind).unwrap_or(i64::MAX));
                }
                Err(e) => tracing::debug!(error = %e, "metrics: cannot read room heads"),
            }
        }
        self.scrape(shared)
    }

    /// Refreshes the mirrored values from `shared` and renders everything
    /// as OpenMetrics text (the format Prometheus scrapes, ending `# EOF`).
    pub(crate) fn scrape(&self, shared: &Shared) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        let gauge = |g: &Gauge, v: u64| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        gauge(
            &self.connections,
            shared.connections.load(Ordering::Relaxed),
        );
        gauge(&self.sessions, shared.sessions.load(Ordering::Relaxed));
        let db = shared.config.current().data_dir.join(crate::DB_FILE);
        gauge(
            &self.store_bytes,
            std::fs::metadata(db).map(|m| m.len()).unwrap_or(0),
        );
        let held = shared.files.blobs.held();
        gauge(&self.file_store_bytes, held.bytes);
        gauge(&self.file_store_blobs, held.blobs);
        let ready = shared.store.health() == crate::store::health::Health::Healthy;
        self.store_ready.set(i64::from(ready));
        let w = shared.store.writer().stats();
        for (counter, source) in [
            (&self.failed_logins, &shared.logins.failed),
            (&self.throttled_logins, &shared.logins.throttled),
            (&self.refused_connections, &shared.refused),
            (&self.deliveries, &shared.hub.deliveries),
            (&self.lagged, &shared.hub.lagged),
            (&self.commits, &w.commits),
            (&self.writes, &w.writes),
            (&self.failed_writes, &w.failed_jobs),
        ] {
            mirror(counter, source);
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Raises `counter` to the value of the monotonic `source`.
fn mirror(counter: &Counter, source: &AtomicU64) {
    let now = source.load(Ordering::Relaxed);
    counter.inc_by(now.saturating_sub(counter.get()));
}

/// The name of an enum value's variant, from its `Debug` form (`Send` for
/// `Send { room: .., .. }`), without formatting its fields.
pub fn variant_name(value: &impl std::fmt::Debug) -> String {
    /// Keeps the leading identifier and stops the formatter after it.
    struct Ident(String);
    impl std::fmt::Write for Ident {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for c in s.chars() {
                if c.is_alphanumeric() || c == '_' {
                    self.0.push(c);
                } else {
                    return Err(std::fmt::Error);
                }
            }
            Ok(())
        }
    }
    let mut ident = Ident(String::new());
    let _ = write!(ident, "{value:?}");
    ident.0
}

/// The `kind` label of a request.
pub fn request_kind(body: &RequestBody) -> String {
    variant_name(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;

    #[test]
    fn variant_names_skip_the_fields() {
        assert_eq!(request_kind(&RequestBody::Ping), "Ping");
        assert_eq!(
            request_kind(&RequestBody::Login {
                username: "a".into(),
                password: "secret".into()
            }),
            "Login"
        );
        assert_eq!(
            variant_name(&chat_protocol::ErrorCode::RateLimited),
            "RateLimited"
        );
    }
}
