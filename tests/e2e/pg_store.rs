//! chatd's PostgreSQL storage engine (`chatd::store::kv::pg`) against a
//! real, private PostgreSQL (tests/pg.rs).
//!
//! - `pg_tables_behave_like_sorted_maps`: every key shape of
//!   `store::tables`, through the engine's table API, against a `BTreeMap`
//!   model (redb's semantics: a sorted map of keys in byte order):
//!   insert (returning the old value), get, remove, len, ranges with every
//!   kind of bound, reversed, and consumed from both ends at once across
//!   several fetch chunks; `u64` elements above `i64::MAX`; commit and
//!   rollback; one snapshot per read transaction.
//! - `pg_store_answers_as_redb_does`: the same writer jobs and reads (every
//!   key shape the write context holds: insert, get, remove, range,
//!   reversed range, len, first, last) and the same boundary calls (send,
//!   idempotent retry, history pages, stored events, heads) on a redb
//!   `Store` and a PostgreSQL `Store` give the same answers.
//! - `pg_batch_with_failing_jobs_commits_the_others`: one batch holding a
//!   job that fails by itself, a key PostgreSQL cannot hold and a row
//!   PostgreSQL refuses (a CHECK constraint): those three are answered
//!   with their errors, the others commit.
//! - `pg_two_nodes_append_to_one_room_without_gaps`: two `Store`s (two
//!   nodes) on one database, four senders split across them, all sending
//!   to one room at once: seqs 1..=N, no gap, no duplicate.
//! - `pg_store_answers_unavailable_while_postgresql_is_down`: writes and
//!   reads fail with a retryable `Unavailable` while PostgreSQL is
//!   stopped, and succeed again once it is back, without reopening.
//! - `pg_chatd_serves_from_postgresql`: a whole chatd with `--store
//!   postgres://…` (accounts, a room, messages, history, idempotent retry)
//!   and a second chatd on the same database with its own data dir: it
//!   serves the same accounts and history.

use chat_e2e::pg::PrivatePostgres;
use chat_e2e::{WAIT, pg_or_skip};
use chat_protocol::{HistoryAnchor, IdempotencyKey, RoomId};
use chatd::store::boundary::RoomEvents;
use chatd::store::kv::pg::{PgEngine, PgOptions, PgTable, WriteLock};
use chatd::store::kv::{KeyKind, KeyPart, KvKey, PartBounds};
use chatd::store::kv::{KvRead, ReadTx};
use chatd::store::records::*;
use chatd::store::tables::*;
use chatd::store::{Store, StoreError, StoreOptions, WriteCtx, WriteError};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, mpsc};

/// A model of one table: keys as their parts, values as bytes.
type Model = BTreeMap<Vec<KeyPart>, Vec<u8>>;

/// The engine on `pg`, opened from a plain thread of this test (as
/// chatd's blocking threads do); it runs its connections on its own
/// runtime, whatever runtime `_rt` the test uses.
fn engine(pg: &PrivatePostgres, _rt: &tokio::runtime::Runtime) -> PgEngine {
    PgEngine::open(&pg.url(), &PgOptions::default()).expect("open engine")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// One table of each key shape, with its key encoder and a key generator.
struct Shape {
    table: &'static str,
    kinds: &'static [KeyKind],
    encode: fn(&[KeyPart]) -> Option<Vec<u8>>,
    key: fn(u64) -> Vec<KeyPart>,
}

fn word(i: u64) -> String {
    // Mixed case, digits and a non-ASCII letter: byte order differs from
    // most locales' collation.
    let alphabet = ["a", "B", "z", "Z", "é", "0", "_", "aa"];
    format!(
        "{}{}{}",
        alphabet[(i % 8) as usize],
        alphabet[(i / 8 % 8) as usize],
        i / 64
    )
}

fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            table: "users",
            kinds: <u64 as KvKey>::KINDS,
            encode: <u64 as KvKey>::encode,
            key: |i| vec![KeyPart::U64(i * 7919 % 1543)],
        },
        Shape {
            table: "usernames",
            kinds: <&str as KvKey>::KINDS,
            encode: <&str as KvKey>::encode,
            key: |i| vec![KeyPart::Str(word(i * 31 % 1201))],
        },
        Shape {
            table: "events",
            kinds: <(u64, u64) as KvKey>::KINDS,
            encode: <(u64, u64) as KvKey>::encode,
            key: |i| vec![KeyPart::U64(i % 3), KeyPart::U64(i * 613 % 1409)],
        },
        Shape {
            table: "idempotency",
            kinds: <(u64, &str) as KvKey>::KINDS,
            encode: <(u64, &str) as KvKey>::encode,
            key: |i| vec![KeyPart::U64(i % 4), KeyPart::Str(word(i * 37 % 997))],
        },
        Shape {
            table: "versions",
            kinds: <(u64, u64, u32) as KvKey>::KINDS,
            encode: <(u64, u64, u32) as KvKey>::encode,
            key: |i| {
                vec![
                    KeyPart::U64(i % 2),
                    KeyPart::U64(i * 17 % 29),
                    KeyPart::U32((i * 101 % 977) as u32 * 4_000_000),
                ]
            },
        },
        Shape {
            table: "file_usage",
            kinds: <(u8, u64) as KvKey>::KINDS,
            encode: <(u8, u64) as KvKey>::encode,
            key: |i| {
                vec![
                    KeyPart::U8((i % 3) as u8 * 120),
                    KeyPart::U64(i * 211 % 1301),
                ]
            },
        },
    ]
}

/// The model's rows in `bounds`, as (redb key bytes, value).
fn model_range(shape: &Shape, model: &Model, bounds: &PartBounds) -> Vec<(Vec<u8>, Vec<u8>)> {
    use std::ops::RangeBounds;
    let bounds = (bounds.0.as_ref(), bounds.1.as_ref());
    model
        .iter()
        .filter(|(k, _)| bounds.contains(k))
        .map(|(k, v)| ((shape.encode)(k).expect("encode"), v.clone()))
        .collect()
}

/// Range bounds to check: every bound kind around keys of the model, and
/// keys that are not in it.
fn bounds_to_check(shape: &Shape, model: &Model) -> Vec<PartBounds> {
    let keys: Vec<&Vec<KeyPart>> = model.keys().collect();
    let pick = |f: usize| keys[(keys.len() - 1) * f / 10].clone();
    let absent = (shape.key)(100_003);
    let mut out = vec![
        (Bound::Unbounded, Bound::Unbounded),
        (Bound::Included(pick(2)), Bound::Excluded(pick(8))),
        (Bound::Excluded(pick(2)), Bound::Included(pick(8))),
        (Bound::Included(pick(5)), Bound::Unbounded),
        (Bound::Unbounded, Bound::Excluded(pick(1))),
        (Bound::Included(pick(5)), Bound::Included(pick(5))),
        (Bound::Excluded(pick(5)), Bound::Excluded(pick(5))),
        (Bound::Included(absent.clone()), Bound::Unbounded),
        (Bound::Unbounded, Bound::Included(absent)),
    ];
    // A u64 element above i64::MAX in a bound: clamped, same rows.
    if shape.kinds[0] == KeyKind::U64 {
        let mut over = pick(3);
        over[0] = KeyPart::U64(u64::MAX);
        out.push((Bound::Included(pick(3)), Bound::Excluded(over.clone())));
        out.push((Bound::Excluded(over.clone()), Bound::Unbounded));
        out.push((Bound::Included(over), Bound::Unbounded));
    }
    if shape.kinds.len() > 1 && shape.kinds[1] == KeyKind::U64 {
        let mut hi = pick(4);
        hi[1] = KeyPart::U64(u64::MAX);
        let mut lo = pick(4);
        lo[1] = KeyPart::U64(0);
        out.push((Bound::Included(lo.clone()), Bound::Included(hi.clone())));
        out.push((Bound::Included(lo.clone()), Bound::Excluded(hi.clone())));
        out.push((Bound::Excluded(hi.clone()), Bound::Unbounded));
        out.push((Bound::Unbounded, Bound::Excluded(lo)));
    }
    out
}

/// Checks every read of `table` against `model`.
fn check_reads(shape: &Shape, table: &PgTable<'_>, model: &Model) {
    let name = shape.table;
    assert_eq!(table.len().expect("len"), model.len() as u64, "{name}: len");
    for i in (0..1500).step_by(7) {
        let key = (shape.key)(i);
        assert_eq!(
            table.get(&key).expect("get"),
            model.get(&key).cloned(),
            "{name}: get {key:?}"
        );
    }
    for bounds in bounds_to_check(shape, model) {
        let want = model_range(shape, model, &bounds);
        let got: Vec<_> = table
            .range(bounds.clone())
            .expect("range")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(got, want, "{name}: range {bounds:?}");
        let got_rev: Vec<_> = table
            .range(bounds.clone())
            .expect("range")
            .rev()
            .collect::<Result<_, _>>()
            .expect("rows");
        let mut want_rev = want.clone();
        want_rev.reverse();
        assert_eq!(got_rev, want_rev, "{name}: reversed range {bounds:?}");
        // Both ends at once, unevenly: 3 from the front per 1 from the back.
        let mut range = table.range(bounds.clone()).expect("range");
        let (mut front, mut back) = (Vec::new(), Vec::new());
        let mut step = 0;
        loop {
            let row = if step % 4 == 3 {
                range.next_back().map(|r| (false, r))
            } else {
                range.next().map(|r| (true, r))
            };
            let Some((from_front, row)) = row else { break };
            let row = row.expect("row");
            if from_front {
                front.push(row);
            } else {
                back.push(row);
            }
            step += 1;
        }
        back.reverse();
        front.extend(back);
        assert_eq!(front, want, "{name}: range {bounds:?} from both ends");
    }
}

#[test]
fn pg_tables_behave_like_sorted_maps() {
    let pg = pg_or_skip!("pg_tables_behave_like_sorted_maps");
    let rt = runtime();
    let engine = engine(&pg, &rt);
    for shape in shapes() {
        let name = shape.table;
        let mut model = Model::new();
        // 1500 inserts with repeats (so some replace), > 2 fetch chunks.
        {
            let tx = engine.begin_write(WriteLock::Shared).expect("begin write");
            let control = tx.control();
            {
                let mut table = tx
                    .table(name, shape.kinds, shape.encode)
                    .expect("open table");
                for i in 0..1500u64 {
                    let key = (shape.key)(i);
                    let value = format!("{name}-{i}").into_bytes();
                    let old = table.insert(&key, &value).expect("insert");
                    assert_eq!(
                        old,
                        model.insert(key, value),
                        "{name}: insert {i} old value"
                    );
                }
                check_reads(&shape, &table, &model);
                // Removes return the value, then the key is gone.
                for i in (0..1500u64).step_by(5) {
                    let key = (shape.key)(i);
                    assert_eq!(
                        table.remove(&key).expect("remove"),
                        model.remove(&key),
                        "{name}: remove {i}"
                    );
                }
                check_reads(&shape, &table, &model);
                // retain: drop the values whose decimal suffix is odd.
                let odd = |v: &[u8]| v.last().is_some_and(|b| b % 2 == 1);
                table.retain(&mut |_, v| !odd(v)).expect("retain");
                model.retain(|_, v| !odd(v));
                check_reads(&shape, &table, &model);
            }
            drop(tx);
            control.commit().expect("commit");
        }
        // A new read transaction sees what committed.
        let read = engine.begin_read().expect("begin read");
        let table = read
            .table(name, shape.kinds, shape.encode)
            .expect("open table");
        check_reads(&shape, &table, &model);
    }
}

#[test]
fn pg_refuses_u64_keys_above_i64_max_and_rolls_back_uncommitted_writes() {
    let pg = pg_or_skip!("pg_refuses_u64_keys_above_i64_max_and_rolls_back_uncommitted_writes");
    let rt = runtime();
    let engine = engine(&pg, &rt);
    let kinds = <(u64, u64) as KvKey>::KINDS;
    let encode = <(u64, u64) as KvKey>::encode;
    let big = vec![KeyPart::U64(1), KeyPart::U64(i64::MAX as u64 + 1)];
    let edge = vec![KeyPart::U64(1), KeyPart::U64(i64::MAX as u64)];
    {
        let tx = engine.begin_write(WriteLock::Shared).expect("begin");
        let control = tx.control();
        {
            let mut t = tx.table("events", kinds, encode).expect("table");
            let err = t
                .insert(&big, b"x")
                .expect_err("a key above i64::MAX is refused");
            assert!(
                err.to_string().contains(&i64::MAX.to_string()),
                "the error names the limit: {err}"
            );
            assert_eq!(t.get(&big).expect("get"), None);
            assert_eq!(t.remove(&big).expect("remove"), None);
        }
        drop(tx);
        // The refusal happened before PostgreSQL saw the key, so the
        // transaction is still usable: the edge value is stored.
        let tx2 = engine.begin_write(WriteLock::Shared).expect("begin");
        let control2 = tx2.control();
        {
            let mut t = tx2.table("events", kinds, encode).expect("table");
            t.insert(&edge, b"edge").expect("i64::MAX itself is stored");
            let all: Vec<_> = t
                .range((
                    Bound::Included(vec![KeyPart::U64(1), KeyPart::U64(0)]),
                    Bound::Excluded(vec![KeyPart::U64(1), KeyPart::U64(u64::MAX)]),
                ))
                .expect("range")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert_eq!(all.len(), 1, "the clamped bound keeps the key at i64::MAX");
        }
        drop(tx2);
        control2.commit().expect("commit");
        control.rollback();
    }
    // An uncommitted write transaction leaves nothing.
    {
        let tx = engine.begin_write(WriteLock::Shared).expect("begin");
        let mut t = tx.table("events", kinds, encode).expect("table");
        t.insert(&[KeyPart::U64(2), KeyPart::U64(2)], b"never")
            .expect("insert");
    }
    let read = engine.begin_read().expect("read");
    let t = read.table("events", kinds, encode).expect("table");
    assert_eq!(t.len().expect("len"), 1, "only the committed row is there");
    assert_eq!(
        t.get(&[KeyPart::U64(2), KeyPart::U64(2)]).expect("get"),
        None
    );
    // A table that is not in the schema, or with other key columns.
    assert!(read.table("no_such_table", kinds, encode).is_err());
    assert!(
        read.table("users", kinds, encode).is_err(),
        "users has one key column"
    );
}

/// The room the Store-level tests write to.
const ROOM: u64 = 1;
/// Users 1..=SENDERS, all members of [`ROOM`].
const SENDERS: u64 = 4;

/// Opens a PostgreSQL `Store` on `pg` (from the blocking pool, as chatd
/// does).
async fn open_pg(pg: &PrivatePostgres) -> Store {
    let url = pg.url();
    tokio::time::timeout(
        WAIT,
        tokio::task::spawn_blocking(move || Store::open_postgres(&url, StoreOptions::default())),
    )
    .await
    .expect("open in time")
    .expect("open task")
    .expect("open the PostgreSQL store")
}

/// Users 1..=[`SENDERS`] and the group room [`ROOM`] with all of them.
fn seed(ctx: &mut WriteCtx<'_>) -> Result<(), StoreError> {
    for id in 1..=SENDERS {
        let user = UserRecord {
            username: format!("sender{id}"),
            display_name: format!("Sender {id}"),
            org: String::new(),
            admin: false,
            disabled: false,
            password_hash: None,
            created_at: 0,
            last_seen: None,
        };
        ctx.users.insert(id, encode(&user)?.as_slice())?;
        ctx.usernames.insert(user.username.as_str(), id)?;
        let member = MemberRecord {
            role: RoleRecord::Member,
            joined_at: 0,
            read_seq: 0,
            delivered_seq: 0,
            muted: false,
        };
        ctx.members
            .insert((ROOM, id), encode(&member)?.as_slice())?;
    }
    ctx.put_room(
        ROOM,
        &RoomRecord {
            kind: RoomKindRecord::Group,
            name: "ward-7".into(),
            topic: String::new(),
            public: true,
            archived: false,
            created_at: 0,
            head: 0,
            last_ts: 0,
            member_count: u32::try_from(SENDERS).unwrap_or(u32::MAX),
            pair: None,
            message_count: 0,
            deleted: false,
            purged_below: 0,
        },
    );
    Ok(())
}

/// Writes a fixed mix of inserts (some replacing) and removes into every
/// key shape the write context holds; returns what each call returned.
fn table_writes(ctx: &mut WriteCtx<'_>) -> Result<Vec<String>, StoreError> {
    let mut log = Vec::new();
    for i in 0..700u64 {
        let v = format!("v{i}").into_bytes();
        let a = (i * 7919 % 1543) + 100;
        log.push(format!(
            "{:?}",
            ctx.modlog
                .insert(a, v.as_slice())?
                .map(|g| g.value().to_vec())
        ));
        let w = format!("k{}", i * 31 % 509);
        log.push(format!(
            "{:?}",
            ctx.meta.insert(w.as_str(), i)?.map(|g| g.value())
        ));
        let k2 = (i % 3 + 10, i * 613 % 1409);
        log.push(format!(
            "{:?}",
            ctx.bans
                .insert(k2, v.as_slice())?
                .map(|g| g.value().to_vec())
        ));
        let ks = (i % 4 + 10, format!("key-{}", i * 37 % 397));
        log.push(format!(
            "{:?}",
            ctx.idempotency
                .insert((ks.0, ks.1.as_str()), v.as_slice())?
                .map(|g| g.value().to_vec())
        ));
        let k3 = (i % 2 + 10, i * 17 % 29, (i * 101 % 977) as u32);
        log.push(format!(
            "{:?}",
            ctx.versions
                .insert(k3, v.as_slice())?
                .map(|g| g.value().to_vec())
        ));
    }
    for i in (0..700u64).step_by(3) {
        let a = (i * 7919 % 1543) + 100;
        log.push(format!(
            "{:?}",
            ctx.modlog.remove(a)?.map(|g| g.value().to_vec())
        ));
        let w = format!("k{}", i * 31 % 509);
        log.push(format!(
            "{:?}",
            ctx.meta.remove(w.as_str())?.map(|g| g.value())
        ));
        let k2 = (i % 3 + 10, i * 613 % 1409);
        log.push(format!(
            "{:?}",
            ctx.bans.remove(k2)?.map(|g| g.value().to_vec())
        ));
    }
    Ok(log)
}

/// Every read the stores are compared on, as text.
fn table_reads(txn: &ReadTx) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    macro_rules! reads {
        ($def:expr, $keys:expr, $ranges:expr) => {{
            let t = txn.open_table($def)?;
            out.push(format!("len {}", t.len()?));
            out.push(format!("empty {}", t.is_empty()?));
            for k in $keys {
                out.push(format!(
                    "get {:?}",
                    t.get(k)?.map(|g| format!("{:?}", g.value()))
                ));
            }
            let row = |r: Result<_, StoreError>| -> Result<String, StoreError> {
                let (k, v): (chatd::store::kv::Guard<_>, chatd::store::kv::Guard<_>) = r?;
                Ok(format!("{:?}={:?}", k.value(), v.value()))
            };
            for (lo, hi) in $ranges {
                let fwd = t.range(lo..hi)?.map(row).collect::<Result<Vec<_>, _>>()?;
                let rev = t
                    .range(lo..=hi)?
                    .rev()
                    .map(row)
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(format!("range {:?}..{:?} {}: {:?}", lo, hi, fwd.len(), fwd));
                out.push(format!("rev {:?}..={:?} {}: {:?}", lo, hi, rev.len(), rev));
            }
            let all = t.iter()?.map(row).collect::<Result<Vec<_>, _>>()?;
            out.push(format!("iter {}: {:?}", all.len(), all));
            out.push(format!(
                "first {:?}",
                t.first()?.map(|(k, _)| format!("{:?}", k.value()))
            ));
            out.push(format!(
                "last {:?}",
                t.last()?.map(|(k, _)| format!("{:?}", k.value()))
            ));
        }};
    }
    reads!(
        MODLOG,
        [100u64, 101, 777, 1642, 5],
        [(0u64, 500u64), (300, 300), (900, u64::MAX)]
    );
    reads!(
        META,
        ["k0", "k31", "k508", "zz"],
        [("k1", "k3"), ("", "k5"), ("k9", "l")]
    );
    reads!(
        BANS,
        [(10u64, 0u64), (11, 613), (12, 5)],
        [
            ((10u64, 0u64), (11u64, 700u64)),
            ((11, 0), (11, u64::MAX)),
            ((12, 50), (13, 0))
        ]
    );
    reads!(
        IDEMPOTENCY,
        [(10u64, "key-0"), (11, "key-37"), (13, "nope")],
        [
            ((10u64, "key-1"), (10u64, "key-3")),
            ((11, ""), (12, "")),
            ((12, "key-9"), (13, "zzz"))
        ]
    );
    reads!(
        VERSIONS,
        [(10u64, 0u64, 0u32), (11, 17, 101), (10, 5, 9)],
        [
            ((10u64, 0u64, 0u32), (10u64, 10u64, 500u32)),
            ((11, 3, u32::MAX), (11, 20, 0))
        ]
    );
    Ok(out)
}

/// What the boundary answers, as text without times and random ids.
async fn boundary_calls(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    let mut acks = Vec::new();
    for i in 0..150u64 {
        let user = i % SENDERS + 1;
        let key = IdempotencyKey(format!("send-{i}"));
        let ack = store
            .send_message(
                user,
                RoomId(ROOM),
                key.clone(),
                format!("message {i}"),
                None,
                vec![],
            )
            .await
            .expect("send");
        out.push(format!("ack seq {:?}", ack.seq));
        if i % 10 == 0 {
            let again = store
                .send_message(
                    user,
                    RoomId(ROOM),
                    key,
                    format!("message {i}"),
                    None,
                    vec![],
                )
                .await
                .expect("retry");
            assert!(again.duplicate, "a retry is answered as a duplicate");
            assert_eq!(
                (again.seq, again.id, again.ts),
                (ack.seq, ack.id, ack.ts),
                "a retry with the same key answers the first ack"
            );
        }
        acks.push(ack);
    }
    for anchor in [
        HistoryAnchor::Latest,
        HistoryAnchor::Before(chat_protocol::Seq(100)),
        HistoryAnchor::After(chat_protocol::Seq(20)),
        HistoryAnchor::After(chat_protocol::Seq(149)),
    ] {
        let (page, _) = store
            .history(1, false, ROOM, anchor, 50, View::default())
            .await
            .expect("history");
        let seqs: Vec<u64> = page.events.iter().map(|e| e.seq.0).collect();
        out.push(format!(
            "history {anchor:?}: {seqs:?} head {:?} more {}",
            page.head, page.has_more
        ));
    }
    let stored = store
        .stored_events(ROOM, 10, 140, 1000)
        .await
        .expect("stored events");
    out.push(format!(
        "stored {:?}",
        stored.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    ));
    out.push(format!(
        "heads {:?}",
        store.heads_of(None).await.expect("heads")
    ));
    out.push(format!(
        "member head {:?}",
        store.member_head(2, ROOM).await.expect("member head")
    ));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_store_answers_as_redb_does() {
    let pg = pg_or_skip!("pg_store_answers_as_redb_does");
    let dir = tempfile::tempdir().expect("temp dir");
    let redb = Store::open(&dir.path().join("chat.redb")).expect("open redb");
    let postgres = open_pg(&pg).await;
    assert!(postgres.is_postgres() && !redb.is_postgres());
    let mut answers = Vec::new();
    for store in [&redb, &postgres] {
        let writes = store
            .writer()
            .write(|ctx| Ok(table_writes(ctx)?))
            .await
            .expect("table writes");
        let reads = store.read(table_reads).await.expect("table reads");
        store
            .writer()
            .write(|ctx| Ok(seed(ctx)?))
            .await
            .expect("seed");
        let calls = boundary_calls(store).await;
        answers.push((writes, reads, calls));
    }
    let (r, p) = (&answers[0], &answers[1]);
    assert!(
        r.1.iter().any(|l| l.contains("k31")),
        "the reads see the writes"
    );
    for (what, a, b) in [
        ("writes", &r.0, &p.0),
        ("reads", &r.1, &p.1),
        ("boundary", &r.2, &p.2),
    ] {
        assert_eq!(a.len(), b.len(), "{what}: as many answers");
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x, y, "{what}: redb (left) and PostgreSQL (right) differ");
        }
    }
    redb.shutdown().await;
    postgres.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_batch_with_failing_jobs_commits_the_others() {
    let pg = pg_or_skip!("pg_batch_with_failing_jobs_commits_the_others");
    let store = open_pg(&pg).await;
    // A row PostgreSQL refuses although chatd would write it.
    pg.psql("ALTER TABLE users ADD CONSTRAINT test_small CHECK (length(v) < 100)");
    let writer = store.writer();
    // The gate holds the writer thread in a first batch until every job
    // below is queued, so they all run in the next batch together.
    let (open, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let held = writer.submit(move |_ctx| {
        let _ = gate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(WAIT);
        Ok(())
    });
    let put = |name: &'static str, n: u64| {
        writer.submit(move |ctx| {
            ctx.meta.insert(name, n)?;
            Ok(n)
        })
    };
    let first = put("test_first", 1);
    let own = writer.submit(|ctx| -> Result<u64, WriteError> {
        ctx.meta.insert("test_own", 2)?;
        Err(StoreError::Corrupt("this job fails by itself".into()).into())
    });
    let middle = put("test_middle", 3);
    let too_big = writer.submit(|ctx| -> Result<u64, WriteError> {
        ctx.events.insert((ROOM, u64::MAX), b"x".as_slice())?;
        Ok(4)
    });
    let refused = writer.submit(|ctx| -> Result<u64, WriteError> {
        ctx.meta.insert("test_refused", 5)?;
        ctx.users.insert(99, vec![0u8; 500].as_slice())?;
        Ok(5)
    });
    let last = put("test_last", 6);
    open.send(()).expect("open the gate");
    // Gone, so that a re-run of the held job does not wait again.
    drop(open);
    let answer = |rx: tokio::sync::oneshot::Receiver<Result<u64, WriteError>>| async move {
        tokio::time::timeout(WAIT, rx)
            .await
            .expect("answered in time")
            .expect("answered")
    };
    held.await.expect("held").expect("the held job commits");
    assert_eq!(answer(first).await.expect("first commits"), 1);
    assert_eq!(answer(middle).await.expect("middle commits"), 3);
    assert_eq!(answer(last).await.expect("last commits"), 6);
    let e = answer(own).await.expect_err("the failing job fails");
    assert!(e.to_string().contains("fails by itself"), "{e}");
    let e = answer(too_big)
        .await
        .expect_err("a key above i64::MAX is refused");
    assert!(e.to_string().contains(&i64::MAX.to_string()), "{e}");
    let e = answer(refused)
        .await
        .expect_err("the refused row fails its job");
    assert!(e.to_string().contains("test_small"), "{e}");
    assert_eq!(
        writer
            .stats()
            .failed_jobs
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    let stored = store
        .read(|txn| {
            let meta = txn.open_table(META)?;
            let mut out = Vec::new();
            for name in [
                "test_first",
                "test_own",
                "test_middle",
                "test_refused",
                "test_last",
            ] {
                out.push((name, meta.get(name)?.map(|g| g.value())));
            }
            Ok(out)
        })
        .await
        .expect("read");
    assert_eq!(
        stored,
        vec![
            ("test_first", Some(1)),
            ("test_own", None),
            ("test_middle", Some(3)),
            ("test_refused", None),
            ("test_last", Some(6)),
        ]
    );
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_two_nodes_append_to_one_room_without_gaps() {
    let pg = pg_or_skip!("pg_two_nodes_append_to_one_room_without_gaps");
    let node_a = open_pg(&pg).await;
    let node_b = open_pg(&pg).await;
    node_a
        .writer()
        .write(|ctx| Ok(seed(ctx)?))
        .await
        .expect("seed");
    const PER_SENDER: u64 = 150;
    let mut tasks = Vec::new();
    for user in 1..=SENDERS {
        // Senders 1 and 2 on node A, 3 and 4 on node B; each sender keeps
        // a window of messages in flight so batches form on both nodes.
        let node = if user <= 2 {
            node_a.clone()
        } else {
            node_b.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            for chunk in 0..PER_SENDER / 10 {
                let pending: Vec<_> = (0..10)
                    .map(|j| {
                        let i = chunk * 10 + j;
                        let key = IdempotencyKey(format!("u{user}-{i}"));
                        node.send_message(
                            user,
                            RoomId(ROOM),
                            key,
                            format!("{user}:{i}"),
                            None,
                            vec![],
                        )
                    })
                    .collect();
                for p in pending {
                    acks.push(
                        tokio::time::timeout(WAIT, p)
                            .await
                            .expect("ack in time")
                            .expect("send commits")
                            .seq
                            .0,
                    );
                }
            }
            acks
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.extend(t.await.expect("sender"));
    }
    let total = SENDERS * PER_SENDER;
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "acked seqs are 1..={total}, each once"
    );
    for node in [&node_a, &node_b] {
        let stored = node
            .stored_events(ROOM, 0, total + 10, 10_000)
            .await
            .expect("stored");
        let stored_seqs: Vec<u64> = stored.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            stored_seqs,
            (1..=total).collect::<Vec<_>>(),
            "stored seqs are gapless"
        );
        let texts: std::collections::BTreeSet<String> = stored
            .iter()
            .filter_map(|(_, e)| match &e.kind {
                EventKindRecord::Message { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(texts.len() as u64, total, "every message stored once");
        assert_eq!(
            node.heads_of(Some(vec![ROOM])).await.expect("heads"),
            vec![(ROOM, total)]
        );
    }
    node_a.shutdown().await;
    node_b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_chatd_serves_from_postgresql() {
    let pg = pg_or_skip!("pg_chatd_serves_from_postgresql");
    let url = pg.url();
    let server = chat_e2e::spawn_server_with(|c| c.store = Some(url.clone())).await;
    let (alice, _) = server.user("alice").await;
    let room = chat_e2e::public_room(&alice, "triage").await;
    let key = IdempotencyKey::random();
    let first = alice
        .send(room, key.clone(), "hello from node one", None)
        .await
        .expect("send");
    let again = alice
        .send(room, key, "hello from node one", None)
        .await
        .expect("retry");
    assert_eq!(
        first.seq, again.seq,
        "an idempotent retry stores nothing new"
    );
    alice
        .send(room, IdempotencyKey::random(), "second", None)
        .await
        .expect("send");
    // Nothing of the tables is in the data dir.
    assert!(
        !server.config.data_dir.join("chat.redb").exists(),
        "no redb file when the store is PostgreSQL"
    );
    // A second node: its own data dir, the same database.
    // The admin account exists in the database already, so the second
    // node writes no token file: it gets the first node's.
    let dir2 = tempfile::tempdir().expect("temp dir");
    let token = chatd::bootstrap::ADMIN_TOKEN_FILE;
    std::fs::copy(server.config.data_dir.join(token), dir2.path().join(token))
        .expect("copy the admin token");
    let other = chat_e2e::spawn_server_with(|c| {
        c.store = Some(url.clone());
        c.data_dir = dir2.path().to_path_buf();
        c.cert_dir = dir2.path().join("certs");
    })
    .await;
    let bob_conn = other.connect().await;
    bob_conn
        .login("alice", chat_e2e::PASSWORD)
        .await
        .expect("alice logs in on the other node");
    let page = bob_conn
        .history(room, HistoryAnchor::Latest, 50)
        .await
        .expect("history on the other node");
    let texts = chat_e2e::texts(&page.events);
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("hello") || *t == "second")
            .count(),
        2,
        "the other node reads the same history: {texts:?}"
    );
    assert_eq!(page.head, first.seq.next(), "same head");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_store_answers_unavailable_while_postgresql_is_down() {
    let mut pg = pg_or_skip!("pg_store_answers_unavailable_while_postgresql_is_down");
    let store = open_pg(&pg).await;
    let put = |n: u64| {
        store.writer().write(move |ctx| {
            ctx.meta.insert("test_counter", n)?;
            Ok(())
        })
    };
    put(1).await.expect("write while up");
    pg.stop(chat_e2e::pg::StopMode::Fast);
    let e = put(2).await.expect_err("no write while PostgreSQL is down");
    assert!(
        matches!(e, WriteError::Store(StoreError::Unavailable(_))),
        "retryable: {e:?}"
    );
    let e = store
        .read(|txn| {
            Ok(txn
                .open_table(META)?
                .get("test_counter")?
                .map(|g| g.value()))
        })
        .await
        .expect_err("no read while PostgreSQL is down");
    assert!(matches!(e, StoreError::Unavailable(_)), "retryable: {e:?}");
    pg.restart();
    // Pooled connections from before the restart are found dead one by
    // one; each costs one Unavailable answer, then writes go through.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match put(3).await {
            Ok(()) => break,
            Err(WriteError::Store(StoreError::Unavailable(_)))
                if std::time::Instant::now() < deadline =>
            {
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("the store did not recover: {e:?}"),
        }
    }
    let value = store
        .read(|txn| {
            Ok(txn
                .open_table(META)?
                .get("test_counter")?
                .map(|g| g.value()))
        })
        .await
        .expect("read after recovery");
    assert_eq!(
        value,
        Some(3),
        "the write after recovery is stored, the one while down is not"
    );
    store.shutdown().await;
}
