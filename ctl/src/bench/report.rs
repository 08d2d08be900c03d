//! What a run measured: latency histograms, counters, server usage, and
//! their human-readable and JSON forms.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::io::{self, Write};
use std::time::Duration;

/// A latency histogram in microseconds from 1 µs to 1 hour, 3 significant
/// figures (hdrhistogram); longer values count as 1 hour.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

/// The histogram's upper bound: 1 hour in µs.
const MAX_US: u64 = 3_600_000_000;

impl Default for Latencies {
    fn default() -> Latencies {
        // Fails only for bounds or precision out of hdrhistogram's range;
        // these constants are within it.
        #[allow(clippy::expect_used)]
        Latencies(Histogram::new_with_bounds(1, MAX_US, 3).expect("valid hdrhistogram bounds"))
    }
}

impl Latencies {
    /// Records one duration (saturating at the histogram's range).
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.0.saturating_record(us);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Latencies) {
        // Both histograms have the same bounds, so `add` cannot fail on
        // range; if it ever does the merged counts are only short.
        let _ = self.0.add(&other.0);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// Percentiles and maximum.
    pub fn summary(&self) -> LatencySummary {
        let h = &self.0;
        LatencySummary {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: if h.is_empty() { 0.0 } else { h.mean() },
        }
    }
}

/// Percentiles of a latency distribution, in microseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Median, µs.
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Largest, µs.
    pub max_us: u64,
    /// Mean, µs.
    pub mean_us: f64,
}

/// The server's resource use over the measured phase, from `/proc`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ServerUsage {
    /// The process measured.
    pub pid: u32,
    /// User plus system CPU time during the measured phase, s.
    pub cpu_seconds: f64,
    /// CPU seconds per 1,000 deliveries (equal to ms per delivery).
    pub cpu_seconds_per_1000_deliveries: Option<f64>,
    /// CPU time per delivery, µs.
    pub cpu_us_per_delivery: Option<f64>,
    /// Resident memory before the measured phase, bytes.
    pub rss_before_bytes: u64,
    /// Resident memory after it, bytes.
    pub rss_after_bytes: u64,
    /// (after − before) / connections, bytes (the `connect` scenario).
    pub rss_per_connection_bytes: Option<f64>,
}

/// One node of the run and what its clients did (`--node`; a single
/// server is one node).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct NodeReport {
    /// The node's `HOST:PORT`.
    pub server: String,
    /// Clients connected to it (round-robin: client `i` to node `i % nodes`).
    pub clients: usize,
    /// Of them, senders.
    pub senders: usize,
    /// Sends acknowledged through this node.
    pub acked: u64,
    /// Deliveries to this node's clients.
    pub deliveries: u64,
    /// Send (intended time) to delivery at this node's clients.
    pub send_to_deliver: LatencySummary,
    /// The node's CPU and RSS, when its pid was given; CPU per delivery
    /// divides by the deliveries to this node's clients.
    pub usage: Option<ServerUsage>,
}

/// A process measured besides the nodes (`--watch-pid`), with its
/// children: e.g. PostgreSQL (the postmaster and its backends) or
/// nats-server.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WatchedUsage {
    /// The label given on the command line.
    pub label: String,
    /// The process id.
    pub pid: u32,
    /// CPU seconds of it and its children over the measured phase.
    pub cpu_seconds: f64,
    /// Per delivery of the whole run, µs.
    pub cpu_us_per_delivery: Option<f64>,
    /// Per acked message of the whole run, µs.
    pub cpu_us_per_acked: Option<f64>,
}

/// The measured nodes together.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct NodesTotal {
    /// Nodes with a pid (the others are left out of these sums).
    pub nodes_measured: usize,
    /// Their CPU seconds, summed.
    pub cpu_seconds: f64,
    /// Deliveries to their clients, summed.
    pub deliveries: u64,
    /// `cpu_seconds / deliveries`, µs.
    pub cpu_us_per_delivery: Option<f64>,
}

/// The `catchup` scenario's own figures.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CatchupReport {
    /// Clients that reconnected at once.
    pub clients: usize,
    /// Messages each had missed.
    pub missed: u64,
    /// Clients that saw `CaughtUp` with every missed message.
    pub completed: usize,
    /// Time from the first reconnect until the last `CaughtUp`, ms.
    pub all_done_ms: f64,
    /// Per client, reconnect start to `CaughtUp`.
    pub per_client: LatencySummary,
}

/// Everything one `chatctl bench` run measured. Rates are over the measured
/// phase (send start to last ack or delivery).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BenchReport {
    /// `fanout`, `rooms`, `dm`, `connect` or `catchup`.
    pub scenario: String,
    /// The `bench-<id>` prefix of the accounts and rooms this run created.
    pub prefix: String,
    /// Simulated clients (QUIC connections).
    pub clients: usize,
    /// Rooms used.
    pub rooms: usize,
    /// Clients that send.
    pub senders: usize,
    /// Target total send rate, msgs/s; 0 for closed loop.
    pub rate: u64,
    /// Requests in flight per sender (closed loop).
    pub in_flight: usize,
    /// Length of the send phase, s.
    pub duration_s: f64,
    /// Mean message text length, bytes.
    pub mean_text_bytes: f64,
    /// Sends attempted.
    pub sent: u64,
    /// Sends acknowledged (durably stored).
    pub acked: u64,
    /// Deliveries of this run's messages to subscribers (all members,
    /// senders included).
    pub deliveries: u64,
    /// Deliveries expected: acked messages times their room's members.
    pub expected_deliveries: u64,
    /// Acked messages per second.
    pub acked_per_sec: f64,
    /// Deliveries per second.
    pub deliveries_per_sec: f64,
    /// Send (intended time) to ack.
    pub send_to_ack: LatencySummary,
    /// Send (intended time) to delivery at each subscriber.
    pub send_to_deliver: LatencySummary,
    /// The same for deliveries to a client on another node than the
    /// sender's (through the bus); count 0 with one node.
    pub send_to_deliver_cross_node: LatencySummary,
    /// Connect, handshake and authenticate, per client.
    pub connect: LatencySummary,
    /// Failed requests (sends, setup, reconnects).
    pub errors: u64,
    /// Up to five distinct error messages, to say what went wrong.
    pub error_samples: Vec<String>,
    /// Room streams reset as lagged (the client fell behind).
    pub lagged: u64,
    /// Server resource use, with `--server-pid` or a single `--node` with
    /// a pid; with several nodes see `nodes` and `nodes_total`.
    pub server: Option<ServerUsage>,
    /// Per node: clients, deliveries, latency, CPU (one entry without `--node`).
    pub nodes: Vec<NodeReport>,
    /// CPU of the nodes with a pid, together.
    pub nodes_total: Option<NodesTotal>,
    /// Other processes measured (`--watch-pid`).
    pub watched: Vec<WatchedUsage>,
    /// Catch-up figures (the `catchup` scenario).
    pub catchup: Option<CatchupReport>,
}

impl BenchReport {
    /// Counts an error, keeping its text if it is one of the first five kinds.
    pub fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        let text = e.to_string();
        if self.error_samples.len() < 5 && !self.error_samples.contains(&text) {
            self.error_samples.push(text);
        }
    }
}

/// Writes `report` as one JSON object (with `json`) or as an aligned text
/// summary.
///
/// # Errors
/// Any write error (e.g. a closed pipe, `io::ErrorKind::BrokenPipe`).
pub fn print(report: &BenchReport, json: bool, out: &mut impl Write) -> io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
        return writeln!(out);
    }
    let r = report;
    writeln!(out, "scenario     {} ({})", r.scenario, r.prefix)?;
    let mode = if r.rate == 0 {
        format!("closed loop, {} in flight per sender", r.in_flight)
    } else {
        format!("open loop at {} msgs/s", r.rate)
    };
    writeln!(
        out,
        "load         {} clients, {} rooms, {} senders, {mode}, {:.1} s, texts {:.0} B mean",
        r.clients, r.rooms, r.senders, r.duration_s, r.mean_text_bytes
    )?;
    if r.sent > 0 || r.deliveries > 0 {
        writeln!(
            out,
            "messages     {} sent, {} acked ({:.0}/s); {} of {} deliveries ({:.0}/s)",
            r.sent,
            r.acked,
            r.acked_per_sec,
            r.deliveries,
            r.expected_deliveries,
            r.deliveries_per_sec
        )?;
        latency_line(out, "send→ack", &r.send_to_ack)?;
        latency_line(out, "send→deliver", &r.send_to_deliver)?;
    }
    latency_line(out, "connect", &r.connect)?;
    if let Some(c) = &r.catchup {
        writeln!(
            out,
            "catch-up     {} of {} clients caught up on {} messages each; all done in {:.0} ms",
            c.completed, c.clients, c.missed, c.all_done_ms
        )?;
        latency_line(out, "per client", &c.per_client)?;
    }
    writeln!(
        out,
        "errors       {} (lagged streams: {})",
        r.errors, r.lagged
    )?;
    for e in &r.error_samples {
        writeln!(out, "  e.g.       {e}")?;
    }
    if let Some(s) = &r.server {
        usage_line(out, "server", s)?;
    }
    if r.nodes.len() > 1 {
        for (i, n) in r.nodes.iter().enumerate() {
            writeln!(
                out,
                "node {:<7} {}: {} clients, {} senders, {} acked, {} deliveries",
                i + 1,
                n.server,
                n.clients,
                n.senders,
                n.acked,
                n.deliveries
            )?;
            latency_line(out, "  deliver", &n.send_to_deliver)?;
            if let Some(s) = &n.usage {
                usage_line(out, "  usage", s)?;
            }
        }
        latency_line(out, "cross-node", &r.send_to_deliver_cross_node)?;
        if let Some(t) = &r.nodes_total {
            write!(
                out,
                "all nodes    {:.2} CPU s over {} measured nodes",
                t.cpu_seconds, t.nodes_measured
            )?;
            if let Some(us) = t.cpu_us_per_delivery {
                write!(out, ", {us:.1} µs per delivery")?;
            }
            writeln!(out)?;
        }
    }
    for w in &r.watched {
        write!(
            out,
            "{:<12} pid {} and children: {:.2} CPU s",
            w.label, w.pid, w.cpu_seconds
        )?;
        if let (Some(d), Some(a)) = (w.cpu_us_per_delivery, w.cpu_us_per_acked) {
            write!(out, ", {d:.1} µs per delivery, {a:.1} µs per acked message")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn usage_line(out: &mut impl Write, what: &str, s: &ServerUsage) -> io::Result<()> {
    write!(out, "{what:<12} pid {}: {:.2} CPU s", s.pid, s.cpu_seconds)?;
    if let (Some(per_k), Some(us)) = (s.cpu_seconds_per_1000_deliveries, s.cpu_us_per_delivery) {
        write!(
            out,
            ", {per_k:.4} CPU s per 1,000 deliveries ({us:.1} µs each)"
        )?;
    }
    writeln!(
        out,
        "; RSS {:.1} → {:.1} MiB",
        s.rss_before_bytes as f64 / 1048576.0,
        s.rss_after_bytes as f64 / 1048576.0
    )?;
    if let Some(per) = s.rss_per_connection_bytes {
        writeln!(
            out,
            "             {:.1} KiB RSS per connection",
            per / 1024.0
        )?;
    }
    Ok(())
}

fn latency_line(out: &mut impl Write, what: &str, l: &LatencySummary) -> io::Result<()> {
    if l.count == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "{what:<12} p50 {} p90 {} p99 {} p99.9 {} max {} (n={})",
        us(l.p50_us),
        us(l.p90_us),
        us(l.p99_us),
        us(l.p999_us),
        us(l.max_us),
        l.count
    )
}

/// `850µs`, `12.3ms`, `4.20s`.
fn us(v: u64) -> String {
    if v < 1000 {
        format!("{v}µs")
    } else if v < 1_000_000 {
        format!("{:.1}ms", v as f64 / 1000.0)
    } else {
        format!("{:.2}s", v as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_both_printers() {
        let mut l = Latencies::default();
        for v in 1..=1000u64 {
            l.record(Duration::from_micros(v));
        }
        l.record(Duration::from_secs(2));
        let s = l.summary();
        assert_eq!(s.count, 1001);
        assert!((495..=505).contains(&s.p50_us), "{s:?}");
        assert!((1_990_000..=2_010_000).contains(&s.max_us), "{s:?}");
        let mut r = BenchReport {
            scenario: "fanout".into(),
            sent: 1,
            send_to_ack: s,
            ..BenchReport::default()
        };
        r.error("boom");
        r.error("boom");
        assert_eq!((r.errors, r.error_samples.len()), (2, 1));
        let mut text = Vec::new();
        print(&r, false, &mut text).unwrap();
        assert!(String::from_utf8(text).unwrap().contains("send→ack"));
        let mut json = Vec::new();
        print(&r, true, &mut json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["send_to_ack"]["count"], 1001);
    }

    #[test]
    fn several_nodes_print_each_and_the_total() {
        let usage = |pid, cpu| super::super::procfs::usage(pid, cpu, (0, 0), 1000, 0);
        let node = |server: &str, pid, cpu| NodeReport {
            server: server.into(),
            clients: 3,
            senders: 1,
            acked: 10,
            deliveries: 1000,
            usage: Some(usage(pid, cpu)),
            ..NodeReport::default()
        };
        let r = BenchReport {
            scenario: "fanout".into(),
            nodes: vec![node("n1:1", 11, 0.002), node("n2:2", 22, 0.004)],
            nodes_total: Some(NodesTotal {
                nodes_measured: 2,
                cpu_seconds: 0.006,
                deliveries: 2000,
                cpu_us_per_delivery: Some(3.0),
            }),
            ..BenchReport::default()
        };
        let mut text = Vec::new();
        print(&r, false, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("node 2       n2:2: 3 clients"), "{text}");
        assert!(text.contains("pid 22: 0.00 CPU s"), "{text}");
        assert!(text.contains("(4.0 µs each)"), "{text}");
        assert!(
            text.contains("over 2 measured nodes, 3.0 µs per delivery"),
            "{text}"
        );
        let mut json = Vec::new();
        print(&r, true, &mut json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["nodes"][1]["usage"]["pid"], 22);
        assert_eq!(v["nodes_total"]["cpu_us_per_delivery"], 3.0);
        assert_eq!(v["send_to_deliver_cross_node"]["count"], 0);
        assert_eq!(v["watched"].as_array().map(Vec::len), Some(0));
    }
}
