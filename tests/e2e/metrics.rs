//! The operations listener (`--metrics-listen`): `/metrics` parses as
//! Prometheus text and moves with traffic, `/readyz` follows the store's
//! degraded state, `/healthz` answers, each server has its own registry,
//! and nothing listens unless configured.

use super::ctl_support::{Ctl, args, expect, run};
use chat_e2e::{TestServer, WAIT, public_room, spawn_server, spawn_server_with};
use chat_protocol::IdempotencyKey;
use chatd::store::fault::DiskFault;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A server with the metrics listener on a free port of 127.0.0.1.
pub(super) async fn server_with_metrics(fault: Option<DiskFault>) -> TestServer {
    spawn_server_with(|c| {
        c.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.disk_fault = fault;
    })
    .await
}

/// `GET path` over a fresh HTTP/1.1 connection: (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the metrics listener");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .expect("request");
    let resp = tokio::time::timeout(WAIT, sender.send_request(req))
        .await
        .expect("answer in time")
        .expect("HTTP answer");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        String::from_utf8(body.to_vec()).expect("UTF-8 body"),
    )
}

/// Scrapes `/metrics`, checks every line strictly (a comment of the
/// exposition format or `name{labels} value`), and parses it with
/// `prometheus-parse`.
pub(super) async fn scrape(addr: SocketAddr) -> prometheus_parse::Scrape {
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                ["HELP ", "TYPE ", "UNIT ", "EOF"]
                    .iter()
                    .any(|p| comment.starts_with(p)),
                "unexpected comment line: {line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            name.starts_with("chatd_")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in: {line}"
        );
        assert!(
            name_end == series.len() || series.ends_with('}'),
            "bad labels in: {line}"
        );
        assert!(value.parse::<f64>().is_ok(), "bad value in: {line}");
    }
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses")
}

/// The value of the sample `metric` whose labels include `labels`, or 0.
pub(super) fn value(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .find(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(v)))
        .map_or(0.0, |x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{metric} is not a single value"),
        })
}

const SENDS_OK: &[(&str, &str)] = &[("kind", "Send"), ("result", "ok")];

#[tokio::test]
async fn a_send_moves_the_send_counter_and_the_ack_histogram() {
    let server = server_with_metrics(None).await;
    let addr = server.metrics_addr.expect("metrics listener bound");
    let admin = server.admin().await;
    let room = public_room(&admin, "ops").await;
    let before = scrape(addr).await;
    admin
        .send(room, IdempotencyKey("m1".into()), "hello", None)
        .await
        .expect("send");
    let after = scrape(addr).await;
    let moved = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels) - value(&before, metric, labels)
    };
    assert_eq!(moved("chatd_requests_total", SENDS_OK), 1.0);
    assert_eq!(moved("chatd_send_ack_seconds_count", &[]), 1.0);
    assert!(moved("chatd_commit_seconds_count", &[]) >= 1.0);
    assert!(moved("chatd_writer_batch_jobs_count", &[]) >= 1.0);
    assert!(value(&after, "chatd_sessions", &[]) >= 1.0);
    assert!(value(&after, "chatd_connections", &[]) >= 1.0);
    // The size of the redb file; a PostgreSQL store has no file here and
    // reports 0 (README "Metrics": use PostgreSQL's own monitoring).
    if chat_e2e::backend() == chat_e2e::Backend::Redb {
        assert!(value(&after, "chatd_store_size_bytes", &[]) > 0.0);
    } else {
        assert_eq!(value(&after, "chatd_store_size_bytes", &[]), 0.0);
    }
    assert_eq!(value(&after, "chatd_store_ready", &[]), 1.0);
    assert_eq!(
        value(&after, "chatd_writer_queue_jobs", &[]),
        0.0,
        "every queued job was taken"
    );
    // The bucketed form is there too, for histogram_quantile().
    assert!(
        after
            .samples
            .iter()
            .any(|x| x.metric == "chatd_send_ack_seconds"
                && matches!(&x.value, prometheus_parse::Value::Histogram(b) if !b.is_empty())),
        "send_ack histogram buckets"
    );
    dashboard_uses_only_exported_series(&get(addr, "/metrics").await.1);
    let (status, body) = get(addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _) = get(addr, "/nothing").await;
    assert_eq!(status, 404);
}

/// The sample `metric` with no labels, which must be exported.
fn exported(s: &prometheus_parse::Scrape, metric: &str) -> f64 {
    assert!(
        s.samples.iter().any(|x| x.metric == metric),
        "{metric} is not exported"
    );
    value(s, metric, &[])
}

/// issue 15's metrics that came with search and files: a subscription
/// that catches up N events observes N in `chatd_catch_up_lag_events`;
/// `chatd_file_store_bytes` and `_blobs` count an uploaded content once;
/// `chatd_search_index_lag_events` is exported and 0 once searches find
/// the last message.
#[tokio::test]
async fn catch_up_lag_search_lag_and_file_store_bytes_are_exported() {
    let server = server_with_metrics(None).await;
    let addr = server.metrics_addr.expect("metrics listener bound");
    let admin = server.admin().await;
    let room = public_room(&admin, "ops").await;
    let before = scrape(addr).await;
    assert_eq!(exported(&before, "chatd_file_store_bytes"), 0.0);
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("a.bin");
    std::fs::write(&path, vec![9u8; 1000]).expect("write");
    for name in ["a.bin", "a.bin"] {
        let up = admin
            .upload_path(room, &dir.path().join(name), None, |_, _| {})
            .await
            .expect("upload");
        admin
            .send_with_attachments(
                room,
                IdempotencyKey(ulid::Ulid::new().to_string()),
                "file",
                None,
                vec![up.attachment.id],
            )
            .await
            .expect("send");
    }
    for i in 0..10 {
        admin
            .send(room, IdempotencyKey(format!("m{i}")), "needle", None)
            .await
            .expect("send");
    }
    let mut stream = admin
        .subscribe(room, chat_protocol::Seq(0))
        .await
        .expect("subscribe");
    let (events, head) = chat_e2e::catch_up(&mut stream).await;
    assert_eq!(events.len() as u64, head.0);
    let found = admin
        .search(chat_protocol::SearchQuery::new("needle", 20))
        .await
        .expect("search");
    assert_eq!(found.hits.len(), 10);
    let after = scrape(addr).await;
    let moved = |metric: &str| exported(&after, metric) - value(&before, metric, &[]);
    assert_eq!(moved("chatd_catch_up_lag_events_count"), 1.0);
    assert_eq!(moved("chatd_catch_up_lag_events_sum"), head.0 as f64);
    assert_eq!(
        exported(&after, "chatd_file_store_bytes"),
        1000.0,
        "one content, stored once for two uploads"
    );
    assert_eq!(exported(&after, "chatd_file_store_blobs"), 1.0);
    assert_eq!(exported(&after, "chatd_search_index_lag_events"), 0.0);
}

#[tokio::test]
async fn readyz_is_503_while_the_store_is_degraded() {
    chat_e2e::redb_only!(
        "the disk-fault hook fails redb's file writes; PostgreSQL outages are tested in e2e::pg_store"
    );
    let fault = DiskFault::default();
    let server = server_with_metrics(Some(fault.clone())).await;
    let addr = server.metrics_addr.expect("metrics listener bound");
    let admin = server.admin().await;
    let room = public_room(&admin, "ward").await;
    assert_eq!(get(addr, "/readyz").await, (200, "ready\n".into()));

    fault.set_full(true);
    // The file has some room left inside it; send until it must grow.
    let text = "x".repeat(8 * 1024);
    let mut refused = false;
    for i in 0..4096 {
        let sent = admin
            .send(room, IdempotencyKey(format!("full-{i}")), &text, None)
            .await;
        if sent.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the full disk refuses a write");
    let (status, body) = until(addr, 503).await;
    assert_eq!(status, 503);
    assert!(body.starts_with("degraded, not accepting writes"), "{body}");
    assert_eq!(get(addr, "/healthz").await.0, 200, "alive while degraded");
    assert_eq!(value(&scrape(addr).await, "chatd_store_ready", &[]), 0.0);
    // `chatctl server health` says the same, with an exit code for scripts.
    let ctl = Ctl::new(&server);
    let out = run(args(ctl.admin(), &["server", "health"]), None).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("not ready: ") && out.status.code() == Some(1),
        "{out:?}"
    );

    fault.set_full(false);
    assert_eq!(until(addr, 200).await, (200, "ready\n".into()));
    let said = expect(args(ctl.admin(), &["server", "health"]), None, 0).await;
    assert_eq!(said.trim(), "ready");
}

/// Polls `/readyz` until it answers `status`, for at most [`WAIT`]: the
/// writer degrades and recovers on its own thread.
async fn until(addr: SocketAddr, status: u16) -> (u16, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = get(addr, "/readyz").await;
        if got.0 == status || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_servers_in_one_process_keep_their_own_metrics() {
    let a = server_with_metrics(None).await;
    let b = server_with_metrics(None).await;
    let admin = a.admin().await;
    let room = public_room(&admin, "only-a").await;
    admin
        .send(room, IdempotencyKey("a1".into()), "on a", None)
        .await
        .expect("send");
    let on_a = scrape(a.metrics_addr.expect("a's listener")).await;
    let on_b = scrape(b.metrics_addr.expect("b's listener")).await;
    assert_eq!(value(&on_a, "chatd_requests_total", SENDS_OK), 1.0);
    assert_eq!(value(&on_b, "chatd_requests_total", SENDS_OK), 0.0);
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let server = spawn_server().await;
    assert_eq!(server.config.metrics_listen, None);
    assert_eq!(server.metrics_addr, None, "no listener unless configured");
}

/// Every `chatd_*` series that the Grafana dashboard in `ops/grafana`
/// queries is one that `/metrics` (`text`) exports.
fn dashboard_uses_only_exported_series(text: &str) {
    let exported: std::collections::HashSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/grafana/chatd.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard file"))
            .expect("dashboard is JSON");
    let mut queried = 0;
    for panel in json["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let mut rest = expr;
            while let Some(at) = rest.find("chatd_") {
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                let name = &tail[..end];
                assert!(
                    exported.contains(name),
                    "the dashboard queries {name}, which chatd does not export"
                );
                queried += 1;
                rest = &tail[end..];
            }
        }
    }
    assert!(queried > 10, "the dashboard queries chatd's metrics");
}
