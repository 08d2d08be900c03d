//! `chatctl bench` at a tiny size: every scenario against an in-process
//! server, so the command cannot rot.

use chat_e2e::{TestServer, spawn_server_with};
use chatctl::bench::{BenchArgs, BenchReport, Scenario};
use std::time::Duration;

fn args(scenario: Scenario, corpus: &std::path::Path) -> BenchArgs {
    BenchArgs {
        scenario,
        clients: 6,
        senders: 2,
        room_size: 3,
        rate: 200,
        in_flight: 2,
        duration: Duration::from_millis(300),
        messages: 20,
        corpus: Some(corpus.to_path_buf()),
        // The server runs in this process, so its /proc entry is ours.
        server_pid: Some(std::process::id()),
        nodes: Vec::new(),
        watch: Vec::new(),
        parallel: 8,
        admin_senders: false,
        keep_accounts: false,
        threads: Some(2),
    }
}

async fn server() -> TestServer {
    spawn_server_with(|c| {
        c.limits.send_rate_per_sec = 10_000;
        c.limits.send_burst = 10_000;
    })
    .await
}

fn corpus() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("day.txt"),
        "[09:14] <crimsun> kleedrac: any version of mplayer should work for your cpu\n\
         === L0sT [~waa3@raptor.ukc.ac.uk]  has joined #ubuntu\n\
         [09:15] <will> best media player: VLC, it plays everything!\n\
         [09:16] <kleedrac> Quad: consider yourself lucky :)\n",
    )
    .expect("write corpus");
    dir
}

async fn run(server: &TestServer, args: BenchArgs) -> BenchReport {
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        chatctl::bench::run(args, server.client_config(), server.admin_token.clone()),
    )
    .await
    .expect("bench finishes")
    .expect("bench runs");
    let mut text = Vec::new();
    chatctl::bench::print(&report, false, &mut text).expect("print");
    let mut json = Vec::new();
    chatctl::bench::print(&report, true, &mut json).expect("print json");
    let parsed: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
    assert_eq!(parsed["scenario"], report.scenario);
    assert!(report.server.is_some(), "server usage with --server-pid");
    report
}

fn assert_all_delivered(r: &BenchReport) {
    assert_eq!(r.errors, 0, "{:?}", r.error_samples);
    assert!(r.acked > 0, "{r:?}");
    assert_eq!(r.acked, r.sent);
    assert_eq!(r.deliveries, r.expected_deliveries, "{r:?}");
    assert_eq!(r.send_to_deliver.count, r.deliveries);
    assert_eq!(r.connect.count, r.clients as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_fanout_rooms_and_dm_deliver_everything() {
    let server = server().await;
    let corpus = corpus();
    let fanout = run(&server, args(Scenario::Fanout, corpus.path())).await;
    assert_all_delivered(&fanout);
    assert_eq!((fanout.rooms, fanout.senders), (1, 2));
    // Every message reaches all six members.
    assert_eq!(fanout.deliveries, fanout.acked * 6);

    let rooms = run(&server, args(Scenario::Rooms, corpus.path())).await;
    assert_all_delivered(&rooms);
    assert_eq!((rooms.rooms, rooms.senders), (2, 2));

    let mut closed = args(Scenario::Dm, corpus.path());
    closed.rate = 0;
    let dm = run(&server, closed).await;
    assert_all_delivered(&dm);
    assert_eq!((dm.rooms, dm.senders), (3, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_connect_and_catchup_report_their_figures() {
    let server = server().await;
    let corpus = corpus();
    let connect = run(&server, args(Scenario::Connect, corpus.path())).await;
    assert_eq!(connect.errors, 0, "{:?}", connect.error_samples);
    assert_eq!(connect.connect.count, 6);
    assert!(
        connect
            .server
            .as_ref()
            .and_then(|s| s.rss_per_connection_bytes)
            .is_some()
    );

    let catchup = run(&server, args(Scenario::Catchup, corpus.path())).await;
    assert_eq!(catchup.errors, 0, "{:?}", catchup.error_samples);
    let c = catchup.catchup.expect("catch-up figures");
    assert_eq!((c.clients, c.completed, c.missed), (6, 6, 20));
    assert_eq!(catchup.deliveries, 6 * 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_spreads_clients_over_nodes_and_reports_each() {
    // Two --node entries naming the same in-process server: the placement,
    // the per-node tallies and the cross-node split, without a second node
    // (two real nodes need a shared store; see the scale-out script).
    let server = server().await;
    let corpus = corpus();
    let addr = server.client_config().server;
    let mut a = args(Scenario::Fanout, corpus.path());
    a.server_pid = None;
    a.nodes = two_nodes(&format!("{addr},,{}", std::process::id()));
    // The server runs in this process: watch it as a process tree too.
    a.watch = vec![
        chatctl::bench::procfs::parse_watch(&format!("self={}", std::process::id()))
            .expect("watch"),
    ];
    let r = run_spread(&server, a).await;
    assert_all_delivered(&r);
    assert!(r.server.is_none(), "several nodes report per node");
    let shape: Vec<(usize, usize)> = r.nodes.iter().map(|n| (n.clients, n.senders)).collect();
    assert_eq!(shape, vec![(3, 1), (3, 1)]);
    assert_eq!(r.nodes.iter().map(|n| n.acked).sum::<u64>(), r.acked);
    // Every message reaches the three members on each node.
    for n in &r.nodes {
        assert_eq!(n.deliveries, r.acked * 3, "{n:?}");
        assert_eq!(n.send_to_deliver.count, n.deliveries);
        let usage = n.usage.as_ref().expect("a pid per node");
        assert!(usage.cpu_us_per_delivery.is_some());
    }
    // Each sender's message crosses to the other node's three members.
    assert_eq!(r.send_to_deliver_cross_node.count, r.acked * 3);
    let total = r.nodes_total.as_ref().expect("total");
    assert_eq!((total.nodes_measured, total.deliveries), (2, r.deliveries));
    let watched = &r.watched[..];
    assert_eq!(watched.len(), 1);
    assert!(watched[0].cpu_seconds > 0.0, "{watched:?}");
    assert!(watched[0].cpu_us_per_acked.is_some());

    let mut c = args(Scenario::Catchup, corpus.path());
    c.server_pid = None;
    c.nodes = two_nodes(&addr);
    let catchup = run_spread(&server, c).await;
    assert_eq!(catchup.errors, 0, "{:?}", catchup.error_samples);
    let got: Vec<(usize, u64)> = catchup
        .nodes
        .iter()
        .map(|n| (n.clients, n.deliveries))
        .collect();
    assert_eq!(got, vec![(3, 60), (3, 60)]);
}

/// Two `--node` arguments, both `spec`.
fn two_nodes(spec: &str) -> Vec<chatctl::bench::NodeSpec> {
    let node = chatctl::bench::parse_node(spec).expect("node");
    vec![node.clone(), node]
}

/// [`run`] without the single-server `server` usage check.
async fn run_spread(server: &TestServer, args: BenchArgs) -> BenchReport {
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        chatctl::bench::run(args, server.client_config(), server.admin_token.clone()),
    )
    .await
    .expect("bench finishes")
    .expect("bench runs");
    let mut text = Vec::new();
    chatctl::bench::print(&report, false, &mut text).expect("print");
    let mut json = Vec::new();
    chatctl::bench::print(&report, true, &mut json).expect("print json");
    let parsed: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
    assert_eq!(parsed["nodes"].as_array().map(Vec::len), Some(2));
    report
}

/// Two real nodes: one PostgreSQL database, fan-out over a private
/// nats-server; `--node` spreads the clients, so half of every message's
/// deliveries cross the bus. Each node's CPU is this process's (both run
/// in it), so only the counts are checked exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_two_nodes_on_postgres_and_nats_deliver_everything() {
    let pg = chat_e2e::pg_or_skip!("bench_two_nodes_on_postgres_and_nats_deliver_everything");
    let nats = chat_e2e::nats_or_skip!();
    let node = |name: &'static str, dir: Option<std::path::PathBuf>| {
        let (store, bus) = (pg.url(), nats.url());
        spawn_server_with(move |c| {
            c.store = Some(store);
            c.bus = Some(bus);
            c.node_name = name.into();
            c.limits.send_rate_per_sec = 10_000;
            c.limits.send_burst = 10_000;
            if let Some(dir) = dir {
                c.cert_dir = dir.join("certs");
                c.data_dir = dir;
            }
        })
    };
    let a = node("bench-a", None).await;
    // The second node gets the first's admin token file, as an operator
    // copies it; without it, its bootstrap would write a new one.
    let dir_b = tempfile::tempdir().expect("temp dir");
    let token = chatd::bootstrap::ADMIN_TOKEN_FILE;
    std::fs::copy(a.config.data_dir.join(token), dir_b.path().join(token)).expect("copy token");
    let b = node("bench-b", Some(dir_b.path().to_path_buf())).await;

    let corpus = corpus();
    let pid = std::process::id();
    let mut args = args(Scenario::Fanout, corpus.path());
    args.server_pid = None;
    args.nodes = [&a, &b]
        .iter()
        .map(|s| {
            chatctl::bench::parse_node(&format!("{},{},{pid}", s.addr, s.ca.display()))
                .expect("node")
        })
        .collect();
    let r = run_spread(&a, args).await;
    assert_all_delivered(&r);
    for n in &r.nodes {
        assert_eq!((n.clients, n.senders), (3, 1), "{n:?}");
        assert_eq!(n.deliveries, r.acked * 3, "{n:?}");
    }
    assert_eq!(r.send_to_deliver_cross_node.count, r.acked * 3);
    drop(b);
}
