//! The PostgreSQL room event log (`chatd::pgstore`) against a real, private
//! PostgreSQL (`chat_e2e::pg`): two pools on one database stand for two
//! nodes. Each test skips with one line naming `apt-get install postgresql`
//! when the server binaries are missing (and fails under CI).

use chat_e2e::pg::{PrivatePostgres, StopMode};
use chat_e2e::{WAIT, pg_or_skip};
use chat_protocol::{IdempotencyKey, Timestamp};
use chatd::pgstore::{AppendJob, Appended, MAX_READ, PgLog, PgLogOptions};
use chatd::store::StoreError;
use chatd::store::records::{AuthorRecord, EventKindRecord, EventRecord, decode};
use chatd::store::writer::WriteError;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::time::timeout;

const ROOM: u64 = 1;

/// A node: its own pool and writer on the shared database.
async fn node(pg: &PrivatePostgres) -> PgLog {
    node_with(pg, PgLogOptions::default()).await
}

async fn node_with(pg: &PrivatePostgres, options: PgLogOptions) -> PgLog {
    timeout(WAIT, PgLog::open(&pg.url(), options))
        .await
        .expect("open in time")
        .expect("open the PostgreSQL log")
}

/// A message event by `sender` whose text is `text`.
fn message(sender: u64, text: String) -> EventRecord {
    EventRecord {
        ts: Timestamp::now().0,
        sender: AuthorRecord {
            id: sender,
            username: format!("user{sender}"),
            display_name: String::new(),
            org: String::new(),
        },
        kind: EventKindRecord::Message {
            id: ulid::Ulid::new().to_string(),
            text,
            reply_to: None,
            mentions: Vec::new(),
            edited_at: None,
            deleted: None,
            reactions: Vec::new(),
            attachments: Vec::new(),
        },
    }
}

/// A send of `text` by `sender` to `room` under `key`.
fn send(room: u64, sender: u64, key: &str, text: String) -> AppendJob {
    AppendJob::new(
        room,
        Some((sender, IdempotencyKey(key.to_string()))),
        &message(sender, text),
    )
    .expect("encode")
}

fn text_of(event: &[u8]) -> String {
    let record: EventRecord = decode(event).expect("a stored EventRecord");
    match record.kind {
        EventKindRecord::Message { text, .. } => text,
        other => panic!("not a message: {other:?}"),
    }
}

/// Every event of `room`, in seq order.
async fn all_events(log: &PgLog, room: u64) -> Vec<chatd::pgstore::LoggedEvent> {
    let mut out = Vec::new();
    loop {
        let from = out.len() as u64 + 1;
        let page = log.read_range(room, from, MAX_READ).await.expect("read");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Sends `count` messages as `sender` through `log`, keeping `window`
/// in flight, and returns the acks in send order.
async fn sender(log: PgLog, sender: u64, count: usize, window: usize) -> Vec<Appended> {
    let mut acks = Vec::with_capacity(count);
    let mut in_flight = std::collections::VecDeque::new();
    for n in 0..count {
        let job = send(
            ROOM,
            sender,
            &format!("{sender}-{n}"),
            format!("{sender}:{n}"),
        );
        in_flight.push_back(log.writer().submit(job));
        if in_flight.len() >= window
            && let Some(rx) = in_flight.pop_front()
        {
            acks.push(rx.await.expect("answered").expect("stored"));
        }
    }
    for rx in in_flight {
        acks.push(rx.await.expect("answered").expect("stored"));
    }
    acks
}

/// Checks that `room` holds exactly seqs 1..=`total` and that each
/// sender's messages appear in its send order, all of them once.
async fn assert_gapless_in_order(log: &PgLog, total: usize, senders: &[u64], per_sender: usize) {
    let events = all_events(log, ROOM).await;
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (1..=total as u64).collect();
    assert_eq!(seqs, expected, "seqs must be exactly 1..={total}");
    assert_eq!(
        log.last_seq(ROOM).await.expect("last seq"),
        Some(total as u64)
    );
    let mut next: HashMap<u64, usize> = senders.iter().map(|s| (*s, 0)).collect();
    for e in &events {
        let text = text_of(&e.event);
        let (who, n) = text.split_once(':').expect("sender:n");
        let who: u64 = who.parse().expect("sender");
        let n: usize = n.parse().expect("n");
        let want = next.get_mut(&who).expect("a known sender");
        assert_eq!(
            n, *want,
            "sender {who}'s messages out of order at seq {}",
            e.seq
        );
        assert_eq!(e.sender, who);
        *want += 1;
    }
    for (who, n) in next {
        assert_eq!(
            n, per_sender,
            "sender {who} has {n} of {per_sender} messages"
        );
    }
}

/// Two nodes, two senders each, 500 messages each, one room: the room's
/// seqs are exactly 1..=2000 and every sender's messages keep their order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_four_senders_one_room_gapless_and_ordered() {
    let pg = pg_or_skip!("pg_log::two_nodes_four_senders_one_room_gapless_and_ordered");
    let (a, b) = (node(&pg).await, node(&pg).await);
    a.ensure_room(ROOM, 0).await.expect("room");
    let senders = [11u64, 12, 21, 22];
    let tasks: Vec<_> = senders
        .iter()
        .map(|&s| {
            let log = if s < 20 { a.clone() } else { b.clone() };
            tokio::spawn(sender(log, s, 500, 16))
        })
        .collect();
    let mut acked = HashSet::new();
    for task in tasks {
        let acks = timeout(WAIT * 4, task)
            .await
            .expect("senders finish")
            .expect("sender");
        let seqs: Vec<u64> = acks.iter().map(|a| a.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "a sender's acks rise");
        for ack in acks {
            assert!(!ack.duplicate);
            assert!(acked.insert(ack.seq), "seq {} acked twice", ack.seq);
        }
    }
    assert_eq!(acked.len(), 2000);
    assert_gapless_in_order(&b, 2000, &senders, 500).await;
    // Both nodes stored: neither did all the work.
    for n in [&a, &b] {
        assert_eq!(n.writer().stats().stored.load(Ordering::Relaxed), 1000);
    }
}

/// A retry through the other node answers the original seq and stores
/// nothing; the same key in another room is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_through_other_node_stores_one_copy() {
    let pg = pg_or_skip!("pg_log::retry_through_other_node_stores_one_copy");
    let (a, b) = (node(&pg).await, node(&pg).await);
    a.ensure_room(ROOM, 0).await.expect("room");
    a.ensure_room(2, 0).await.expect("room");
    let first = a
        .writer()
        .append(send(ROOM, 7, "k-1", "hello".into()))
        .await
        .expect("sent");
    assert_eq!((first.seq, first.duplicate), (1, false));
    let retry = b
        .writer()
        .append(send(ROOM, 7, "k-1", "hello".into()))
        .await
        .expect("retry answered");
    assert_eq!(retry.seq, first.seq);
    assert_eq!(retry.ts, first.ts, "the original's time");
    assert!(retry.duplicate);
    let other_room = b.writer().append(send(2, 7, "k-1", "hello".into())).await;
    match other_room {
        Err(WriteError::Rejected(e)) => {
            assert_eq!(e.code, chat_protocol::ErrorCode::Conflict, "{e:?}")
        }
        other => panic!("a key reused in another room must be refused: {other:?}"),
    }
    // Another user's identical key is a different key.
    let other_user = b
        .writer()
        .append(send(ROOM, 8, "k-1", "hi".into()))
        .await
        .expect("sent");
    assert_eq!((other_user.seq, other_user.duplicate), (2, false));
    let events = all_events(&a, ROOM).await;
    assert_eq!(events.len(), 2, "one copy of the retried message");
    assert_eq!(text_of(&events[0].event), "hello");
    assert_eq!(a.last_seq(2).await.expect("last"), Some(0));
}

/// The same key sent at the same moment through both nodes: one copy,
/// both answered with its seq, exactly one of them as the original.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_from_both_nodes_store_one_copy() {
    let pg = pg_or_skip!("pg_log::concurrent_retries_from_both_nodes_store_one_copy");
    let (a, b) = (node(&pg).await, node(&pg).await);
    a.ensure_room(ROOM, 0).await.expect("room");
    const ROUNDS: usize = 100;
    for round in 0..ROUNDS {
        let key = format!("race-{round}");
        // Queued on both nodes before either is awaited, with unrelated
        // traffic in the same batches.
        let noise_a = a
            .writer()
            .submit(send(ROOM, 1, &format!("a-{round}"), "a".into()));
        let rx_a = a.writer().submit(send(ROOM, 5, &key, format!("r{round}")));
        let rx_b = b.writer().submit(send(ROOM, 5, &key, format!("r{round}")));
        let noise_b = b
            .writer()
            .submit(send(ROOM, 2, &format!("b-{round}"), "b".into()));
        let (x, y) = (rx_a.await.expect("answered"), rx_b.await.expect("answered"));
        let (x, y) = (x.expect("stored"), y.expect("stored"));
        assert_eq!(x.seq, y.seq, "round {round}: both answered with one seq");
        assert_eq!(
            [x.duplicate, y.duplicate].iter().filter(|d| !**d).count(),
            1,
            "round {round}: exactly one original"
        );
        noise_a.await.expect("answered").expect("stored");
        noise_b.await.expect("answered").expect("stored");
    }
    let events = all_events(&a, ROOM).await;
    assert_eq!(events.len(), 3 * ROUNDS, "one copy per key");
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=3 * ROUNDS as u64).collect::<Vec<_>>());
    let raced: Vec<String> = events
        .iter()
        .map(|e| text_of(&e.event))
        .filter(|t| t.starts_with('r'))
        .collect();
    assert_eq!(raced.len(), ROUNDS);
}

/// Concurrent sends share transactions: far fewer commits than sends. An
/// explicit batch is one transaction, its rooms' seqs contiguous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batches_concurrent_sends() {
    let pg = pg_or_skip!("pg_log::group_commit_batches_concurrent_sends");
    let a = node(&pg).await;
    for room in [ROOM, 2, 3] {
        a.ensure_room(room, 0).await.expect("room");
    }
    // 64 senders, each awaiting its ack before its next send.
    let tasks: Vec<_> = (0..64u64)
        .map(|s| {
            let log = a.clone();
            tokio::spawn(async move {
                for n in 0..20 {
                    let job = send(ROOM, 100 + s, &format!("{n}"), format!("{}:{n}", 100 + s));
                    log.writer().append(job).await.expect("stored");
                }
            })
        })
        .collect();
    for t in tasks {
        timeout(WAIT, t).await.expect("in time").expect("sender");
    }
    let stats = a.writer().stats();
    let (commits, jobs) = (
        stats.commits.load(Ordering::Relaxed),
        stats.jobs.load(Ordering::Relaxed),
    );
    assert_eq!(jobs, 64 * 20);
    assert!(
        commits * 4 <= jobs,
        "group commit must batch concurrent sends: {commits} transactions for {jobs} sends"
    );

    // One explicit batch over three rooms: one transaction.
    let before = stats.commits.load(Ordering::Relaxed);
    let jobs: Vec<AppendJob> = (0..90u64)
        .map(|n| send(1 + n % 3, 9, &format!("batch-{n}"), format!("9:{n}")))
        .collect();
    let answers = a.writer().append_batch(jobs).await;
    assert_eq!(stats.commits.load(Ordering::Relaxed), before + 1);
    let mut per_room: HashMap<u64, Vec<u64>> = HashMap::new();
    for answer in answers {
        let ack = answer.expect("stored");
        per_room.entry(ack.room).or_default().push(ack.seq);
    }
    assert_eq!(per_room[&1], (1281..=1310).collect::<Vec<_>>());
    assert_eq!(per_room[&2], (1..=30).collect::<Vec<_>>());
    assert_eq!(per_room[&3], (1..=30).collect::<Vec<_>>());

    // The baseline: max_batch 1 commits once per send.
    let single = node_with(
        &pg,
        PgLogOptions {
            max_batch: 1,
            ..PgLogOptions::default()
        },
    )
    .await;
    let rxs: Vec<_> = (0..20)
        .map(|n| {
            single
                .writer()
                .submit(send(2, 3, &format!("one-{n}"), "3:x".into()))
        })
        .collect();
    for rx in rxs {
        rx.await.expect("answered").expect("stored");
    }
    assert_eq!(single.writer().stats().commits.load(Ordering::Relaxed), 20);
}

/// A send that fails on its own (its key points at an event that is not
/// there) is answered with its error; the rest of its batch commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_send_does_not_fail_its_batch() {
    let pg = pg_or_skip!("pg_log::one_failing_send_does_not_fail_its_batch");
    let a = node(&pg).await;
    a.ensure_room(ROOM, 0).await.expect("room");
    // A key no chatd would write: it names seq 99 of a room with none.
    pg.psql(
        "INSERT INTO idempotency (owner, key, room, seq, expires_at) \
         VALUES (6, 'broken', 1, 99, 9000000000000000)",
    );
    let answers = a
        .writer()
        .append_batch(vec![
            send(ROOM, 6, "fine-1", "6:0".into()),
            send(ROOM, 6, "broken", "6:x".into()),
            send(ROOM, 6, "fine-2", "6:1".into()),
        ])
        .await;
    let seqs: Vec<u64> = [&answers[0], &answers[2]]
        .iter()
        .map(|a| a.as_ref().expect("the others commit").seq)
        .collect();
    assert_eq!(seqs, [1, 2]);
    match &answers[1] {
        Err(WriteError::Store(StoreError::Corrupt(why))) => {
            assert!(why.contains("holds no event"), "{why}")
        }
        other => panic!("the broken send gets its own error: {other:?}"),
    }
    assert_eq!(a.writer().stats().failed_jobs.load(Ordering::Relaxed), 1);
    assert_eq!(all_events(&a, ROOM).await.len(), 2);
}

/// An expired key may be used again (a new message); the sweep forgets
/// expired keys only. Catch-up reads return the asked range in seq order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_are_reusable_and_reads_page_by_seq() {
    let pg = pg_or_skip!("pg_log::expired_keys_are_reusable_and_reads_page_by_seq");
    let a = node(&pg).await;
    a.ensure_room(ROOM, 0).await.expect("room");
    let first = a
        .writer()
        .append(send(ROOM, 3, "old", "3:0".into()))
        .await
        .expect("sent");
    let live = a
        .writer()
        .append(send(ROOM, 3, "live", "3:1".into()))
        .await
        .expect("sent");
    // Age the first key past its expiry, as a week would.
    pg.psql("UPDATE idempotency SET expires_at = 1 WHERE key = 'old'");
    let again = a
        .writer()
        .append(send(ROOM, 3, "old", "3:2".into()))
        .await
        .expect("sent");
    assert!(!again.duplicate, "an expired key stores a new message");
    assert_eq!((first.seq, live.seq, again.seq), (1, 2, 3));
    let retry = a
        .writer()
        .append(send(ROOM, 3, "old", "3:2".into()))
        .await
        .expect("sent");
    assert_eq!((retry.seq, retry.duplicate), (3, true));
    pg.psql("UPDATE idempotency SET expires_at = 1 WHERE key = 'live'");
    let now = Timestamp::now().0;
    assert_eq!(a.sweep_keys(now).await.expect("sweep"), 1);
    assert_eq!(pg.psql("SELECT key FROM idempotency ORDER BY key"), "old");

    for n in 4..=10 {
        a.writer()
            .append(send(ROOM, 3, &format!("k{n}"), format!("3:{n}")))
            .await
            .expect("sent");
    }
    let page = a.read_range(ROOM, 4, 3).await.expect("read");
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5, 6]);
    assert_eq!(text_of(&page[0].event), "3:4");
    assert!(a.read_range(ROOM, 11, 10).await.expect("read").is_empty());
    assert!(a.read_range(99, 1, 10).await.expect("read").is_empty());
    assert_eq!(a.last_seq(99).await.expect("last"), None);
    // An unknown room is refused, not created.
    match a
        .writer()
        .append(send(99, 3, "nowhere", "3:x".into()))
        .await
    {
        Err(WriteError::Rejected(e)) => assert_eq!(e.code, chat_protocol::ErrorCode::NotFound),
        other => panic!("a send to an unknown room must be refused: {other:?}"),
    }
}

/// What one send of the interrupted stream ended as.
#[derive(Default)]
struct StreamLog {
    /// key number -> acked seq.
    acked: HashMap<usize, u64>,
    unavailable: usize,
}

/// PostgreSQL stopped (as in a crash) mid-stream: sends fail with the
/// retryable `Unavailable`, nothing panics; restarted, the same sender's
/// retries (same keys) succeed, and every acked message is there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_stream_fails_retryable_and_loses_nothing_acked() {
    let mut pg =
        pg_or_skip!("pg_log::postgres_stopped_mid_stream_fails_retryable_and_loses_nothing_acked");
    let a = node(&pg).await;
    a.ensure_room(ROOM, 0).await.expect("room");
    const TOTAL: usize = 600;
    let (progress_tx, progress) = tokio::sync::watch::channel((0usize, 0usize));
    let log = a.clone();
    let stream = tokio::spawn(async move {
        let mut out = StreamLog::default();
        for n in 0..TOTAL {
            let mut failures_in_a_row = 0;
            loop {
                // The same key on every retry, as a client does.
                let job = send(ROOM, 4, &format!("s-{n}"), format!("4:{n}"));
                match log.writer().append(job).await {
                    Ok(ack) => {
                        out.acked.insert(n, ack.seq);
                        break;
                    }
                    Err(WriteError::Store(StoreError::Unavailable(why))) => {
                        assert!(why.contains("retry"), "says to retry: {why}");
                        out.unavailable += 1;
                        failures_in_a_row += 1;
                        assert!(failures_in_a_row < 10_000, "PostgreSQL never came back");
                        // A client's retry_after, not a synchronisation.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(other) => panic!("send {n}: not the retryable error: {other:?}"),
                }
                let _ = progress_tx.send((out.acked.len(), out.unavailable));
            }
            let _ = progress_tx.send((out.acked.len(), out.unavailable));
        }
        out
    });
    let deadline = Instant::now() + WAIT;
    let wait_for = |want: fn(&(usize, usize)) -> bool| {
        let mut rx = progress.clone();
        async move {
            timeout(
                deadline.saturating_duration_since(Instant::now()),
                rx.wait_for(want),
            )
            .await
            .expect("the stream got there in time")
            .map(|v| *v)
            .expect("stream alive")
        }
    };
    wait_for(|p| p.0 >= 200).await;
    let mut pg = tokio::task::spawn_blocking(move || {
        pg.stop(StopMode::Immediate);
        pg
    })
    .await
    .expect("stop");
    wait_for(|p| p.1 >= 5).await;
    let pg = tokio::task::spawn_blocking(move || {
        pg.restart();
        pg
    })
    .await
    .expect("restart");
    let out = timeout(WAIT * 2, stream)
        .await
        .expect("stream ends")
        .expect("no panic");
    assert!(out.unavailable >= 5);
    assert_eq!(out.acked.len(), TOTAL);
    // Every acked message is stored once, at its acked seq, and the room
    // has no gap.
    let events = all_events(&a, ROOM).await;
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=TOTAL as u64).collect::<Vec<_>>(),
        "no gap, no extra copy"
    );
    for (n, seq) in &out.acked {
        let event = &events[(*seq - 1) as usize];
        assert_eq!(
            text_of(&event.event),
            format!("4:{n}"),
            "acked send {n} at seq {seq}"
        );
    }
    // A fresh node after the restart sees the same.
    let c = node(&pg).await;
    assert_eq!(c.last_seq(ROOM).await.expect("last"), Some(TOTAL as u64));
}

/// The harness stops its server on drop: the port refuses connections.
#[tokio::test]
async fn private_postgres_stops_on_drop() {
    let pg = pg_or_skip!("pg_log::private_postgres_stops_on_drop");
    let port = pg.port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(pg);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "PostgreSQL still listens after drop"
    );
}

/// Acked msgs/s through the PostgreSQL log, 1 node vs 2 nodes (both in
/// this process, each with its own pool and writer), one busy room and
/// one room per sender; 64 senders, each awaiting its ack before its next
/// send. Prints one line per run and the medians (BENCHMARKS.md):
///
/// `cargo test -p chat-e2e --test e2e measure_pg_log -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check; run it by name"]
async fn measure_pg_log_throughput_one_vs_two_nodes() {
    let pg = pg_or_skip!("pg_log::measure_pg_log_throughput_one_vs_two_nodes");
    const SENDERS: u64 = 64;
    const PER_SENDER: usize = 100;
    const RUNS: usize = 5;
    let nodes = [node(&pg).await, node(&pg).await];
    let mut next_room = 1u64;
    let mut results: HashMap<(usize, bool), Vec<(f64, f64)>> = HashMap::new();
    for run in 0..RUNS {
        for node_count in [1usize, 2] {
            for one_room in [true, false] {
                let rooms: Vec<u64> = if one_room {
                    vec![next_room]
                } else {
                    (next_room..next_room + SENDERS).collect()
                };
                next_room += rooms.len() as u64;
                for &room in &rooms {
                    nodes[0].ensure_room(room, 0).await.expect("room");
                }
                let commits_before: u64 = nodes
                    .iter()
                    .map(|n| n.writer().stats().commits.load(Ordering::Relaxed))
                    .sum();
                let started = Instant::now();
                let tasks: Vec<_> = (0..SENDERS)
                    .map(|s| {
                        let log = nodes[s as usize % node_count].clone();
                        let room = rooms[s as usize % rooms.len()];
                        tokio::spawn(async move {
                            for n in 0..PER_SENDER {
                                let key = format!("m{room}-{s}-{n}");
                                let job = send(room, 1000 + s, &key, format!("{s}:{n}"));
                                log.writer().append(job).await.expect("stored");
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("sender");
                }
                let secs = started.elapsed().as_secs_f64();
                let commits: u64 = nodes
                    .iter()
                    .map(|n| n.writer().stats().commits.load(Ordering::Relaxed))
                    .sum::<u64>()
                    - commits_before;
                let msgs = (SENDERS as usize * PER_SENDER) as f64;
                let rate = msgs / secs;
                let batch = msgs / commits as f64;
                eprintln!(
                    "run {run}: {node_count} node(s), {}: {rate:.0} acked msgs/s, \
                     {batch:.1} sends per transaction",
                    if one_room { "one room" } else { "64 rooms" }
                );
                results
                    .entry((node_count, one_room))
                    .or_default()
                    .push((rate, batch));
            }
        }
    }
    let mut keys: Vec<_> = results.keys().copied().collect();
    keys.sort();
    for key in keys {
        let mut rates: Vec<f64> = results[&key].iter().map(|r| r.0).collect();
        let mut batches: Vec<f64> = results[&key].iter().map(|r| r.1).collect();
        rates.sort_by(f64::total_cmp);
        batches.sort_by(f64::total_cmp);
        eprintln!(
            "median of {RUNS}: {} node(s), {}: {:.0} acked msgs/s, {:.1} sends per transaction",
            key.0,
            if key.1 { "one room" } else { "64 rooms" },
            rates[RUNS / 2],
            batches[RUNS / 2]
        );
    }
}
