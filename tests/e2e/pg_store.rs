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

use chat_e2e::pg::PrivatePostgres;
use chat_e2e::pg_or_skip;
use chatd::store::kv::pg::{PgEngine, PgOptions, PgTable};
use chatd::store::kv::{KeyKind, KeyPart, KvKey};
use std::collections::BTreeMap;
use std::ops::Bound;

/// A model of one table: keys as their parts, values as bytes.
type Model = BTreeMap<Vec<KeyPart>, Vec<u8>>;

/// The engine on `pg`, opened from a plain thread of this test with a
/// multi-thread runtime's handle (as chatd's blocking threads do).
fn engine(pg: &PrivatePostgres, rt: &tokio::runtime::Runtime) -> PgEngine {
    PgEngine::open(&pg.url(), &PgOptions::default(), rt.handle().clone()).expect("open engine")
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
fn model_range(
    shape: &Shape,
    model: &Model,
    bounds: &(Bound<Vec<KeyPart>>, Bound<Vec<KeyPart>>),
) -> Vec<(Vec<u8>, Vec<u8>)> {
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
fn bounds_to_check(
    shape: &Shape,
    model: &Model,
) -> Vec<(Bound<Vec<KeyPart>>, Bound<Vec<KeyPart>>)> {
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
            let tx = engine.begin_write().expect("begin write");
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
        let tx = engine.begin_write().expect("begin");
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
        let tx2 = engine.begin_write().expect("begin");
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
        let tx = engine.begin_write().expect("begin");
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
