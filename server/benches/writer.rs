//! The storage writer: acknowledged (committed, fsynced) messages per second
//! with group commit against one commit per message, at 1, 16 and 256
//! concurrent senders. Each sender has its own room and waits for each ack
//! before sending the next, as a chat client awaiting `Sent` does.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use chat_protocol::IdempotencyKey;
use chatd::store::Store;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use std::time::{Duration, Instant};

const SENDERS: [u64; 3] = [1, 16, 256];

/// Sends `total` messages split over `senders` concurrent tasks and returns
/// the elapsed time until the last ack.
async fn run(store: &Store, senders: u64, total: u64) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let n = total / senders + u64::from(s < total % senders);
        let writer = store.writer().clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                let text = support::TEXTS[(i as usize) % support::TEXTS.len()];
                let key = IdempotencyKey::random();
                writer
                    .write(move |ctx| support::store_message(ctx, s + 1, &key, text))
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

fn bench_writer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("writer");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(1));
    for (mode, max_batch) in [
        ("group_commit", chatd::store::writer::MAX_BATCH),
        ("commit_per_msg", 1),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = support::open(dir.path(), max_batch);
        rt.block_on(store.writer().write(|ctx| {
            support::seed_rooms(ctx, 256)?;
            Ok(())
        }))
        .unwrap();
        for senders in SENDERS {
            group.bench_with_input(BenchmarkId::new(mode, senders), &senders, |b, &senders| {
                b.iter_custom(|iters| rt.block_on(run(&store, senders, iters)));
            });
        }
        let stats = store.writer().stats();
        let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed);
        let writes = stats.writes.load(std::sync::atomic::Ordering::Relaxed);
        eprintln!(
            "writer/{mode}: {writes} writes in {commits} commits ({:.1} per commit)",
            writes as f64 / commits.max(1) as f64
        );
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
