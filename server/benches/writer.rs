//! The storage writer: acknowledged (committed, fsynced) messages per second
//! with group commit against one commit per message, at 1, 16 and 256
//! concurrent senders. Each sender waits for each ack before sending the
//! next, as a chat client awaiting `Sent` does. Two shapes: every sender in
//! its own room (`group_commit`, `commit_per_msg`: each commit touches as
//! many rooms as it carries messages, the worst case for page writes) and
//! every sender in one busy room (`group_commit_one_room`). Each
//! message runs chatd's own send job (`chatd::send_job`: idempotency
//! lookup, sender and room load, membership check, mentions, append,
//! idempotency record), so this measures the server's write path minus the
//! network.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use chat_protocol::{IdempotencyKey, RoomId};
use chatd::store::Store;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use std::time::{Duration, Instant};

const SENDERS: [u64; 3] = [1, 16, 256];

/// The room all senders share in the one-room shape.
const SHARED_ROOM: u64 = 1000;

/// Sends `total` messages split over `senders` concurrent tasks and returns
/// the elapsed time until the last ack.
async fn run(store: &Store, senders: u64, total: u64, shared: bool) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let n = total / senders + u64::from(s < total % senders);
        let writer = store.writer().clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                let text = support::TEXTS[(i as usize) % support::TEXTS.len()];
                let key = IdempotencyKey::random();
                let room = RoomId(if shared { SHARED_ROOM } else { s + 1 });
                writer
                    .write(move |ctx| {
                        chatd::send_job(ctx, s + 1, room, &key, text.to_owned(), None)
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

/// (writes, commits) so far.
fn counts(store: &Store) -> (u64, u64) {
    let stats = store.writer().stats();
    (
        stats.writes.load(std::sync::atomic::Ordering::Relaxed),
        stats.commits.load(std::sync::atomic::Ordering::Relaxed),
    )
}

fn bench_writer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("writer");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(1));
    for (mode, max_batch, shared) in [
        ("group_commit", chatd::store::writer::MAX_BATCH, false),
        (
            "group_commit_one_room",
            chatd::store::writer::MAX_BATCH,
            true,
        ),
        ("commit_per_msg", 1, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = support::open(dir.path(), max_batch);
        rt.block_on(store.writer().write(|ctx| {
            support::seed_rooms(ctx, 256)?;
            support::seed_shared_room(ctx, SHARED_ROOM, 256)?;
            Ok(())
        }))
        .unwrap();
        for senders in SENDERS {
            let (writes0, commits0) = counts(&store);
            group.bench_with_input(BenchmarkId::new(mode, senders), &senders, |b, &senders| {
                b.iter_custom(|iters| rt.block_on(run(&store, senders, iters, shared)));
            });
            let (writes, commits) = counts(&store);
            let (writes, commits) = (writes - writes0, commits - commits0);
            eprintln!(
                "writer/{mode}/{senders}: {writes} writes in {commits} commits ({:.1} per commit)",
                writes as f64 / commits.max(1) as f64
            );
        }
        rt.block_on(store.shutdown());
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_writer
}
criterion_main!(benches);
