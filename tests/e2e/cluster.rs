//! Several chatd nodes over one private PostgreSQL and one private
//! nats-server (issue 16): members connected to different nodes share one
//! gapless order, idempotent retries hold across nodes, a SIGKILLed node
//! loses nothing acked, a restarted nats-server loses no event, and a
//! disabled user is logged out everywhere within 2 s.
//!
//! Each test starts its own PostgreSQL (`pg_or_skip!`) and nats-server
//! (`nats_or_skip!`); where they are missing, one line names the install
//! command (CI installs both and fails instead of skipping). These tests
//! run in the `e2e` binary only: they bring their own PostgreSQL, so
//! running them again in `e2e_pg` would test nothing new.

use crate::process::{Chatd, ca_path};
use chat_client::{ClientConfig, Connection, Trust};
use chat_e2e::nats::NatsServer;
use chat_e2e::pg::PrivatePostgres;
use chat_e2e::{
    Backend, PASSWORD, TestServer, WAIT, backend, catch_up, nats_or_skip, next_event, pg_or_skip,
    public_room, spawn_peer, spawn_server_with,
};
use chat_protocol::{IdempotencyKey, RoomEventKind, RoomId, Seq, UserChange};
use chatd::config::Config;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// Messages each sender sends in the ordering test (issue 16: 4 senders
/// across both nodes, 500 messages each).
const EACH: usize = 500;

/// How fast a disabled user must lose a session on another node.
const REVOKED_WITHIN: Duration = Duration::from_secs(2);

/// Points `config` at the shared database, bus and blob directory.
fn join_cluster(config: &mut Config, db: &str, nats: &NatsServer, blobs: &Path) {
    chat_e2e::use_postgres(config, db.to_string());
    config.bus = Some(nats.url());
    config.blob_dir = Some(blobs.to_path_buf());
    config.limits.send_burst = 10_000;
    config.limits.send_rate_per_sec = 10_000;
}

/// Two in-process nodes of one deployment.
struct Two {
    a: TestServer,
    b: TestServer,
    _blobs: tempfile::TempDir,
}

async fn two_nodes(pg: &PrivatePostgres, nats: &NatsServer) -> Two {
    let blobs = tempfile::tempdir().expect("blob dir");
    let url = pg.url();
    let a = spawn_server_with(|c| join_cluster(c, &url, nats, blobs.path())).await;
    let b = spawn_peer(&a, |c| join_cluster(c, &url, nats, blobs.path())).await;
    Two {
        a,
        b,
        _blobs: blobs,
    }
}

/// Runs only in the redb binary (see the module docs).
macro_rules! once {
    () => {
        if backend() == Backend::Postgres {
            return;
        }
    };
}

/// The messages of `stream` until `n` arrived, as (seq, text), asserting
/// consecutive seqs.
async fn messages(stream: &mut chat_client::RoomStream, n: usize) -> Vec<(u64, String)> {
    let mut seen: Vec<(u64, String)> = Vec::with_capacity(n);
    let mut last: Option<u64> = None;
    while seen.len() < n {
        let ev = next_event(stream).await;
        if let Some(prev) = last {
            assert_eq!(ev.seq.0, prev + 1, "no gap, no duplicate");
        }
        last = Some(ev.seq.0);
        if let RoomEventKind::Message(m) = &ev.kind {
            seen.push((ev.seq.0, m.text.clone()));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_on_two_nodes_see_one_gapless_order() {
    once!();
    let pg = pg_or_skip!("cluster::members_on_two_nodes_see_one_gapless_order");
    let nats = nats_or_skip!();
    let two = two_nodes(&pg, &nats).await;
    let admin = two.a.admin().await;
    for name in ["s1", "s2", "s3", "s4", "wa", "wb"] {
        admin
            .create_user(name, Some(PASSWORD), "", "", false)
            .await
            .expect("create user");
    }
    let room = public_room(&admin, "ward-9").await;
    let on = |name: &str| {
        if matches!(name, "s1" | "s2" | "wa") {
            &two.a
        } else {
            &two.b
        }
    };
    let mut conns = Vec::new();
    for name in ["s1", "s2", "s3", "s4", "wa", "wb"] {
        let (c, _) = on(name).login(name).await;
        c.join_room(room).await.expect("join");
        conns.push((name, c));
    }
    let head = admin
        .history(room, chat_protocol::HistoryAnchor::Latest, 1)
        .await
        .expect("head")
        .head;
    let mut watchers = Vec::new();
    for (name, c) in &conns[4..] {
        let mut s = c.subscribe(room, head).await.expect("subscribe");
        catch_up(&mut s).await;
        watchers.push((*name, s));
    }
    let senders: Vec<_> = conns[..4]
        .iter()
        .map(|(name, c)| {
            let (name, c) = (name.to_string(), c.clone());
            tokio::spawn(async move {
                for i in 0..EACH {
                    c.send(room, IdempotencyKey::random(), &format!("{name} {i}"), None)
                        .await
                        .expect("send acked");
                }
            })
        })
        .collect();
    let mut orders = Vec::new();
    for (_, s) in &mut watchers {
        orders.push(messages(s, 4 * EACH).await);
    }
    for t in senders {
        t.await.expect("sender");
    }
    assert_eq!(orders[0], orders[1], "both nodes deliver one order");
    let unique: HashSet<_> = orders[0].iter().map(|(_, t)| t.clone()).collect();
    assert_eq!(unique.len(), 4 * EACH, "every message once");
    for name in ["s1", "s2", "s3", "s4"] {
        let mine: Vec<_> = orders[0]
            .iter()
            .filter(|(_, t)| t.split(' ').next() == Some(name))
            .map(|(_, t)| t.clone())
            .collect();
        let sent: Vec<_> = (0..EACH).map(|i| format!("{name} {i}")).collect();
        assert_eq!(mine, sent, "{name}'s messages in the order sent");
    }
    // What is stored is what was delivered.
    let page = admin
        .history(room, chat_protocol::HistoryAnchor::Latest, 10)
        .await
        .expect("history");
    assert_eq!(page.head.0, orders[0].last().expect("messages").0);
    // Each node counts its events in a row of its own (no row that every
    // batch of every node writes), and both report the same total.
    let shared = pg.psql("SELECT count(*) FROM meta WHERE k1 = 'event_count'");
    let shards = pg.psql("SELECT count(*) FROM meta WHERE k1 LIKE 'event_count:%'");
    assert_eq!(shared, "0", "no server-wide counter row");
    assert_eq!(shards, "2", "one counter row per node");
    let on_b = two.b.admin().await;
    let (sa, sb) = (
        admin.server_stats().await.expect("stats on A"),
        on_b.server_stats().await.expect("stats on B"),
    );
    assert_eq!(sa.events, sb.events);
    assert!(sa.events >= (4 * EACH) as u64, "{}", sa.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_sent_to_the_other_node_stores_one_copy() {
    once!();
    let pg = pg_or_skip!("cluster::a_retry_sent_to_the_other_node_stores_one_copy");
    let nats = nats_or_skip!();
    let two = two_nodes(&pg, &nats).await;
    let admin = two.a.admin().await;
    admin
        .create_user("nurse", Some(PASSWORD), "", "", false)
        .await
        .expect("user");
    let room = public_room(&admin, "retries").await;
    let (on_a, _) = two.a.login("nurse").await;
    let (on_b, _) = two.b.login("nurse").await;
    on_a.join_room(room).await.expect("join");
    let key = IdempotencyKey::random();
    let first = on_a
        .send(room, key.clone(), "give 5 mg", None)
        .await
        .expect("send on A");
    let again = on_b
        .send(room, key, "give 5 mg", None)
        .await
        .expect("retry on B");
    assert_eq!(
        (first.seq, first.id),
        (again.seq, again.id),
        "the retry answers with the first message"
    );
    let page = on_b
        .history(room, chat_protocol::HistoryAnchor::Latest, 50)
        .await
        .expect("history");
    let copies = page
        .events
        .iter()
        .filter(|e| matches!(&e.kind, RoomEventKind::Message(m) if m.text == "give 5 mg"))
        .count();
    assert_eq!(copies, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_disabled_on_one_node_loses_its_session_on_the_other_within_two_seconds() {
    once!();
    let pg = pg_or_skip!("cluster::a_user_disabled_on_one_node_loses_its_session");
    let nats = nats_or_skip!();
    let two = two_nodes(&pg, &nats).await;
    let admin = two.a.admin().await;
    admin
        .create_user("locum", Some(PASSWORD), "", "", false)
        .await
        .expect("user");
    let room = public_room(&admin, "locums").await;
    let (locum, _) = two.b.login("locum").await;
    locum.join_room(room).await.expect("join");
    let mut s = locum.subscribe(room, Seq(0)).await.expect("subscribe");
    catch_up(&mut s).await;
    let t0 = Instant::now();
    admin
        .update_user("locum", UserChange::Disabled(true))
        .await
        .expect("disable on A");
    // The session on B ends: its room stream closes with an error.
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match s.next().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the session on node B never ended");
    let took = t0.elapsed();
    assert!(took < REVOKED_WITHIN, "took {took:?}");
    let err = locum.whoami().await.expect_err("logged out");
    assert!(!err.to_string().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_nats_server_loses_no_event() {
    once!();
    let pg = pg_or_skip!("cluster::a_restarted_nats_server_loses_no_event");
    let mut nats = nats_or_skip!();
    let two = two_nodes(&pg, &nats).await;
    let admin = two.a.admin().await;
    for name in ["sender", "watcher"] {
        admin
            .create_user(name, Some(PASSWORD), "", "", false)
            .await
            .expect("user");
    }
    let room = public_room(&admin, "handover").await;
    let (sender, _) = two.a.login("sender").await;
    let (watcher, _) = two.b.login("watcher").await;
    sender.join_room(room).await.expect("join");
    watcher.join_room(room).await.expect("join");
    let mut s = watcher.subscribe(room, Seq(0)).await.expect("subscribe");
    catch_up(&mut s).await;
    const N: usize = 300;
    let send = tokio::spawn(async move {
        for i in 0..N {
            sender
                .send(room, IdempotencyKey::random(), &format!("m{i}"), None)
                .await
                .expect("send acked (storage does not need NATS)");
        }
    });
    // Stop nats-server while messages flow, then bring it back.
    let first = messages(&mut s, 20).await;
    nats.stop();
    nats.restart();
    let rest = messages(&mut s, N - 20).await;
    send.await.expect("sender");
    let got: Vec<String> = first.into_iter().chain(rest).map(|(_, t)| t).collect();
    let want: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    assert_eq!(
        got, want,
        "every event once, in order, gaps filled from PostgreSQL"
    );
}

/// A client of a child-process node, trusting its CA.
async fn connect_to(node: &Chatd, dir: &Path) -> Connection {
    let cfg = ClientConfig::new(
        node.addr.clone(),
        Trust::CaFile(ca_path(dir)),
        "cluster-test",
    );
    chat_client::connect(&cfg).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_node_loses_nothing_acked_and_its_clients_catch_up_on_the_other() {
    once!();
    let pg = pg_or_skip!("cluster::a_sigkilled_node_loses_nothing_acked");
    let nats = nats_or_skip!();
    let blobs = tempfile::tempdir().expect("blobs");
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir a"),
        tempfile::tempdir().expect("dir b"),
    );
    let url = pg.url();
    let nats_url = nats.url();
    let blob_dir = blobs.path().to_str().expect("utf-8 temp path").to_string();
    let flags = [
        "--store",
        &url,
        "--bus",
        &nats_url,
        "--blobs",
        &blob_dir,
        "--send-rate-per-sec",
        "10000",
        "--send-burst",
        "10000",
    ];
    let node_a = Chatd::start_with(dir_a.path(), "127.0.0.1:0", &flags);
    // The second node gets the first one's admin token file.
    std::fs::create_dir_all(dir_b.path().join("data")).expect("data dir b");
    std::fs::copy(
        dir_a
            .path()
            .join("data")
            .join(chatd::bootstrap::ADMIN_TOKEN_FILE),
        dir_b
            .path()
            .join("data")
            .join(chatd::bootstrap::ADMIN_TOKEN_FILE),
    )
    .expect("copy the admin token");
    let node_b = Chatd::start_with(dir_b.path(), "127.0.0.1:0", &flags);
    let token = chat_e2e::read_token(&dir_a.path().join("data"));
    let admin = connect_to(&node_b, dir_b.path()).await;
    admin.authenticate(&token).await.expect("admin on B");
    for name in ["sender", "watcher"] {
        admin
            .create_user(name, Some(PASSWORD), "", "", false)
            .await
            .expect("user");
    }
    let room: RoomId = public_room(&admin, "theatre").await;
    let sender = connect_to(&node_a, dir_a.path()).await;
    sender.login("sender", PASSWORD).await.expect("login");
    sender.join_room(room).await.expect("join");
    let watcher = connect_to(&node_a, dir_a.path()).await;
    watcher.login("watcher", PASSWORD).await.expect("login");
    watcher.join_room(room).await.expect("join");
    let mut s = watcher.subscribe(room, Seq(0)).await.expect("subscribe");
    let (_, start) = catch_up(&mut s).await;

    // Send until node A dies under us; remember every acked seq.
    let mut acked = Vec::new();
    let mut seen = Vec::new();
    for i in 0..200 {
        let seq = sender
            .send(room, IdempotencyKey::random(), &format!("before {i}"), None)
            .await
            .expect("send")
            .seq;
        acked.push((seq, format!("before {i}")));
        if i == 99 {
            seen = messages(&mut s, 50).await;
        }
    }
    node_a.kill();

    // Both clients move to node B and resume by seq.
    let sender = connect_to(&node_b, dir_b.path()).await;
    sender.login("sender", PASSWORD).await.expect("login on B");
    for i in 0..50 {
        let seq = sender
            .send(room, IdempotencyKey::random(), &format!("after {i}"), None)
            .await
            .expect("send on B")
            .seq;
        acked.push((seq, format!("after {i}")));
    }
    let watcher = connect_to(&node_b, dir_b.path()).await;
    watcher
        .login("watcher", PASSWORD)
        .await
        .expect("login on B");
    let resume = Seq(seen.last().map(|(seq, _)| *seq).unwrap_or(start.0));
    let mut s = watcher.subscribe(room, resume).await.expect("resubscribe");
    let rest = messages(&mut s, acked.len() - seen.len()).await;
    let all: Vec<(u64, String)> = seen.into_iter().chain(rest).collect();
    let want: Vec<(u64, String)> = acked.iter().map(|(seq, t)| (seq.0, t.clone())).collect();
    assert_eq!(all, want, "every acked message, once, in seq order");
    drop(node_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_uploaded_on_one_node_downloads_from_the_other() {
    once!();
    let pg = pg_or_skip!("cluster::a_file_uploaded_on_one_node_downloads_from_the_other");
    let nats = nats_or_skip!();
    let two = two_nodes(&pg, &nats).await;
    let admin = two.a.admin().await;
    admin
        .create_user("radiology", Some(PASSWORD), "", "", false)
        .await
        .expect("user");
    let room = public_room(&admin, "scans").await;
    let (up, _) = two.a.login("radiology").await;
    up.join_room(room).await.expect("join");
    let dir = tempfile::tempdir().expect("tmp");
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let path = dir.path().join("scan.bin");
    std::fs::write(&path, &body).expect("write");
    let file = up
        .upload_path(room, &path, None, |_, _| {})
        .await
        .expect("upload on A");
    up.send_with_attachments(
        room,
        IdempotencyKey::random(),
        "scan",
        None,
        vec![file.attachment.id],
    )
    .await
    .expect("send with the file");
    let (down, _) = two.b.login("radiology").await;
    let dest = dir.path().join("copy.bin");
    down.download_to(room, &file.attachment, &dest, |_, _| {})
        .await
        .expect("download on B");
    assert_eq!(std::fs::read(&dest).expect("read"), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_on_one_node_is_found_by_search_on_the_other() {
    once!();
    let pg = pg_or_skip!("cluster::a_message_sent_on_one_node_is_found_by_search_on_the_other");
    let nats = nats_or_skip!();
    let two = two_nodes(&pg, &nats).await;
    let admin = two.a.admin().await;
    admin
        .create_user("pharmacist", Some(PASSWORD), "", "", false)
        .await
        .expect("user");
    let room = public_room(&admin, "pharmacy").await;
    let (on_a, _) = two.a.login("pharmacist").await;
    on_a.join_room(room).await.expect("join");
    let sent = on_a
        .send(
            room,
            IdempotencyKey::random(),
            "haloperidol 2 mg given at 14:00",
            None,
        )
        .await
        .expect("send on A");
    // Node B's own index follows the shared event log.
    let (on_b, _) = two.b.login("pharmacist").await;
    let hits =
        crate::search::search_all(&on_b, chat_protocol::SearchQuery::new("haloperidol", 7)).await;
    let found: Vec<(RoomId, Seq)> = hits.iter().map(|h| (h.room, h.seq)).collect();
    assert_eq!(found, vec![(room, sent.seq)]);
}
