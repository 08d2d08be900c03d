//! The search index at scale: the eleven IRC transcripts of
//! `../shared/corpus/ubuntu-irc` (rooms 1 to 11) plus a room of 1,000,000
//! messages sampled from them (room 12) are written to a store; then
//! chatd's index catches up with it from scratch (indexing throughput,
//! size on disk), queries run as the `Search` handler runs them (query
//! build, tantivy, and the hits read back from redb with snippets), and
//! the send→ack latency of chatd's own send job is measured with the
//! index following the writer and without it.
//!
//! `cargo bench -p chatd --bench search`; set `SEARCH_BENCH_CORPUS` to
//! another transcript folder and `SEARCH_BENCH_BIG` to another size of
//! the generated room. Prints one line per figure.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use chat_protocol::{IdempotencyKey, RoomId, SearchOrder};
use chatd::search::SearchIndex;
use chatd::search::query::{self as sq, Filters};
use chatd::store::records::{RoomRecord, encode};
use chatd::store::{Store, query};
use std::time::{Duration, Instant};

const CHUNK: usize = 100_000;

/// A transcript: its file name and its messages (ts, nick, text).
type Transcript = (String, Vec<(u64, String, String)>);

fn corpus() -> Vec<Transcript> {
    let dir = std::env::var("SEARCH_BENCH_CORPUS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/corpus/ubuntu-irc"
        )
        .to_owned()
    });
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {dir}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "txt") && !p.to_string_lossy().contains("LICENSE")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let day = chrono_day(&name[..10]);
            let text = std::fs::read_to_string(&p).unwrap();
            let mut msgs = Vec::new();
            for line in text.lines() {
                let (Some(time), Some(rest)) = (line.get(1..6), line.get(7..)) else {
                    continue;
                };
                let Some(body) = rest.strip_prefix(" <") else {
                    continue;
                };
                let Some((nick, msg)) = body.split_once("> ") else {
                    continue;
                };
                let (h, m) = time.split_once(':').unwrap_or(("0", "0"));
                let ts = day
                    + (h.parse::<u64>().unwrap_or(0) * 60 + m.parse::<u64>().unwrap_or(0)) * 60_000;
                msgs.push((ts, nick.to_owned(), msg.to_owned()));
            }
            (name, msgs)
        })
        .collect()
}

/// Midnight UTC of `YYYY-MM-DD`, ms (civil-from-days, no calendar crate).
fn chrono_day(s: &str) -> u64 {
    let y: i64 = s[0..4].parse().unwrap();
    let m: i64 = s[5..7].parse().unwrap();
    let d: i64 = s[8..10].parse().unwrap();
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    ((era * 146_097 + doe - 719_468) * 86_400_000) as u64
}

fn write_room(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    room: u64,
    msgs: Vec<(u64, String, String)>,
) {
    let mut next = 1u64;
    for chunk in msgs.chunks(CHUNK) {
        let chunk = chunk.to_vec();
        let first = next;
        next += chunk.len() as u64;
        rt.block_on(store.writer().write(move |ctx| {
            for (i, (ts, nick, text)) in chunk.iter().enumerate() {
                let mut rec = support::message_record(1 + (nick.len() as u64 % 3), *ts, text);
                rec.sender.display_name.clone_from(nick);
                ctx.events
                    .insert((room, first + i as u64), encode(&rec)?.as_slice())?;
            }
            let mut r: RoomRecord = ctx.room(room)?.unwrap();
            r.head = first + chunk.len() as u64 - 1;
            ctx.put_room(room, &r);
            Ok(())
        }))
        .unwrap();
    }
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let big: usize = std::env::var("SEARCH_BENCH_BIG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = support::open(dir.path(), chatd::store::writer::MAX_BATCH);
    let transcripts = corpus();
    let rooms = transcripts.len() as u64 + 1;
    rt.block_on(store.writer().write(move |ctx| {
        support::seed_rooms(ctx, rooms)?;
        Ok(())
    }))
    .unwrap();
    let pool: Vec<(String, String)> = transcripts
        .iter()
        .flat_map(|(_, m)| m.iter().map(|(_, n, t)| (n.clone(), t.clone())))
        .collect();
    let small: usize = transcripts.iter().map(|(_, m)| m.len()).sum();
    let built = Instant::now();
    for (i, (_, msgs)) in transcripts.into_iter().enumerate() {
        write_room(&rt, &store, i as u64 + 1, msgs);
    }
    // The generated room: lines drawn from every transcript with a fixed
    // stride, one per second from 2020-01-01.
    let base = chrono_day("2020-01-01");
    let sampled: Vec<(u64, String, String)> = (0..big)
        .map(|i| {
            let (n, t) = &pool[(i * 7919) % pool.len()];
            (base + i as u64 * 1000, n.clone(), t.clone())
        })
        .collect();
    write_room(&rt, &store, rooms, sampled);
    let total = small + big;
    println!(
        "store: {total} messages ({small} in {} transcript rooms, {big} generated) written in {:.1} s",
        rooms - 1,
        built.elapsed().as_secs_f64()
    );

    // Indexing from scratch: the index catches up with the store at open.
    let heads = || {
        store
            .read_blocking(|txn| {
                let r = query::Reader::open(txn)?;
                (1..=rooms)
                    .map(|id| Ok((id, query::room(&r.rooms, id)?.unwrap().head)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap()
    };
    let all_heads = heads();
    let start = Instant::now();
    let index = SearchIndex::open(dir.path(), store.clone()).unwrap();
    while !rt.block_on(index.wait_for(&all_heads, Duration::from_secs(1))) {}
    let secs = start.elapsed().as_secs_f64();
    let status = index.status(&all_heads);
    println!(
        "index: {} documents in {secs:.1} s = {:.0} messages/s; {:.1} MB on disk ({:.0} bytes/message)",
        status.documents,
        status.documents as f64 / secs,
        status.size_bytes as f64 / 1e6,
        status.size_bytes as f64 / status.documents as f64
    );

    // Queries as the handler runs them: 20 newest hits, read back with snippets.
    let run = |text: &str, filters: &Filters, order: SearchOrder| -> (Duration, u64) {
        let t = Instant::now();
        let parts = sq::parse(text).unwrap();
        let (found, hl) = index.with_searcher(|s, f| {
            let (q, hl) = sq::build(f, &parts, filters);
            (sq::run(s, f, q.as_ref(), order, 20, None).unwrap(), hl)
        });
        store
            .read_blocking(|txn| {
                let r = query::Reader::open(txn)?;
                for (room, seq) in &found.hits {
                    let (_, ev) = query::events(&r.events, *room, *seq, *seq, 1)?
                        .pop()
                        .unwrap();
                    if let chatd::store::records::EventKindRecord::Message { text, .. } = &ev.kind {
                        std::hint::black_box(sq::snippet(text, &hl));
                    }
                }
                Ok::<_, chatd::store::StoreError>(())
            })
            .unwrap();
        (t.elapsed(), found.total)
    };
    let every_room = Filters {
        rooms: Some((1..=rooms).collect()),
        ..Filters::default()
    };
    let filtered = Filters {
        rooms: Some(vec![rooms]),
        sender: Some(2),
        from: Some(base + 100_000_000),
        to: Some(base + 600_000_000),
        ..Filters::default()
    };
    let cases: [(&str, &[&str], &Filters, SearchOrder); 5] = [
        (
            "one word, newest first",
            &["ubuntu", "install", "kernel", "grub", "wireless", "thanks"],
            &every_room,
            SearchOrder::Newest,
        ),
        (
            "one word, by relevance",
            &["ubuntu", "install", "kernel", "grub", "wireless", "thanks"],
            &every_room,
            SearchOrder::Relevance,
        ),
        (
            "phrase",
            &[
                "\"apt-get install\"",
                "\"sudo apt-get\"",
                "\"how do i\"",
                "\"live cd\"",
            ],
            &every_room,
            SearchOrder::Newest,
        ),
        (
            "prefix",
            &["instal*", "wire*", "kern*"],
            &every_room,
            SearchOrder::Newest,
        ),
        (
            "word + room, sender and date filters",
            &["ubuntu", "install", "kernel", "grub"],
            &filtered,
            SearchOrder::Newest,
        ),
    ];
    for (name, words, filters, order) in cases {
        for w in words {
            run(w, filters, order); // warm the page cache
        }
        let mut times = Vec::new();
        let mut matched = 0;
        for i in 0..300 {
            let (t, n) = run(words[i % words.len()], filters, order);
            times.push(t);
            matched += n;
        }
        println!(
            "query {name}: p50 {:.2} ms, p99 {:.2} ms (mean {} matches)",
            pct(times.clone(), 0.5).as_secs_f64() * 1e3,
            pct(times, 0.99).as_secs_f64() * 1e3,
            matched / 300
        );
    }

    // The big index and store stop (tantivy finishes its merges) so they
    // do not load the machine during the latency runs.
    rt.block_on(index.shutdown());
    rt.block_on(store.shutdown());

    // send→ack with the index following the writer, and without.
    let ack =
        |with_index: bool| -> Duration {
            let dir = tempfile::tempdir().unwrap();
            let store = support::open(dir.path(), chatd::store::writer::MAX_BATCH);
            rt.block_on(store.writer().write(|ctx| {
                support::seed_rooms(ctx, 1)?;
                Ok(())
            }))
            .unwrap();
            let index = with_index.then(|| {
                let index = SearchIndex::open(dir.path(), store.clone()).unwrap();
                let feed = index.clone();
                store
                    .writer()
                    .attach_follower(Box::new(move |rooms| feed.touched(rooms)));
                index
            });
            let mut times = Vec::new();
            for i in 0..2000 {
                let text = support::TEXTS[i % support::TEXTS.len()];
                let key = IdempotencyKey(format!("k{i}"));
                let t = Instant::now();
                rt.block_on(store.writer().write(move |ctx| {
                    chatd::send_job(ctx, 1, RoomId(1), &key, text.to_owned(), None)
                }))
                .unwrap();
                times.push(t.elapsed());
            }
            if let Some(index) = index {
                rt.block_on(index.shutdown());
            }
            rt.block_on(store.shutdown());
            pct(times, 0.5)
        };
    let mut on = Vec::new();
    let mut off = Vec::new();
    for round in 0..9 {
        // Alternate which goes first, so a drift in the machine's load
        // falls on both.
        if round % 2 == 0 {
            off.push(ack(false));
            on.push(ack(true));
        } else {
            on.push(ack(true));
            off.push(ack(false));
        }
    }
    println!(
        "send→ack p50 per run, ms: off {:?}, on {:?}",
        off.iter()
            .map(|d| (d.as_secs_f64() * 1e4).round() / 10.0)
            .collect::<Vec<_>>(),
        on.iter()
            .map(|d| (d.as_secs_f64() * 1e4).round() / 10.0)
            .collect::<Vec<_>>()
    );
    let (on, off) = (pct(on, 0.5), pct(off, 0.5));
    println!(
        "send→ack p50 (median of 9 runs of 2000 sequential sends): index off {:.3} ms, on {:.3} ms ({:+.1} %)",
        off.as_secs_f64() * 1e3,
        on.as_secs_f64() * 1e3,
        (on.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0
    );
}
