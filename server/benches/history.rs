//! A history page: the newest 100 messages (then a page in the middle)
//! from a room of 1,000,000, read with `query::events_rev` in a read
//! transaction, as a `History` request does. The room is built once in
//! large write transactions, then reopened with the start-up integrity
//! check, whose time it prints.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use chatd::store::records::{RoomRecord, encode};
use chatd::store::{StoreError, query};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};

const ROOM_SIZE: u64 = 1_000_000;
const PAGE: usize = 100;
/// Events written per write transaction while building the room.
const CHUNK: u64 = 100_000;

fn bench_history(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::open(dir.path(), chatd::store::writer::MAX_BATCH);
    let built = Instant::now();
    rt.block_on(store.writer().write(|ctx| {
        support::seed_rooms(ctx, 1)?;
        Ok(())
    }))
    .unwrap();
    for chunk in 0..ROOM_SIZE / CHUNK {
        rt.block_on(store.writer().write(move |ctx| {
            for i in 0..CHUNK {
                let seq = chunk * CHUNK + i + 1;
                let text = support::TEXTS[(seq as usize) % support::TEXTS.len()];
                let rec = support::message_record(1, 1_700_000_000_000 + seq, text);
                ctx.events.insert((1, seq), encode(&rec)?.as_slice())?;
            }
            // Keep the room record's head in step, as `query::append` would.
            let mut room: RoomRecord = ctx.room(1)?.unwrap();
            room.head = (chunk + 1) * CHUNK;
            ctx.put_room(1, &room);
            Ok(())
        }))
        .unwrap();
    }
    eprintln!(
        "history: built a room of {ROOM_SIZE} messages in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    // Reopen it as chatd starts: with the integrity check of every page.
    rt.block_on(store.shutdown());
    drop(store);
    let size = std::fs::metadata(dir.path().join("bench.redb"))
        .unwrap()
        .len();
    let checked = Instant::now();
    let store = support::open(dir.path(), chatd::store::writer::MAX_BATCH);
    eprintln!(
        "history: opened and checked the integrity of {:.0} MiB in {:.2} s",
        size as f64 / (1024.0 * 1024.0),
        checked.elapsed().as_secs_f64()
    );

    let mut group = c.benchmark_group("history");
    group.throughput(Throughput::Elements(PAGE as u64));
    for (name, to) in [
        ("newest_100_of_1m", ROOM_SIZE),
        ("middle_100_of_1m", ROOM_SIZE / 2),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                store
                    .read_blocking(|txn| {
                        let events = txn
                            .open_table(chatd::store::tables::EVENTS)
                            .map_err(|e| StoreError::Redb(e.to_string()))?;
                        let page = query::events_rev(&events, 1, 1, to, PAGE)?;
                        // What the handler does next: records to wire events.
                        page.iter()
                            .map(|(seq, ev)| ev.to_wire(1, *seq))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_history
}
criterion_main!(benches);
