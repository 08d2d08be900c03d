//! One group-commit transaction: a batch of sends, their idempotency keys
//! and their seqs, in a fixed order of statements.
//!
//! 1. Lock the batch's rooms in ascending id (`SELECT ... ORDER BY id FOR
//!    UPDATE`); the locks are held to COMMIT, so another node's batch for
//!    the same room waits, and a room's seqs commit in seq order on every
//!    node: no gap, no duplicate.
//! 2. Claim the batch's idempotency keys (sorted by owner, key) with one
//!    `INSERT ... ON CONFLICT DO UPDATE ... WHERE expired RETURNING`. A key
//!    another transaction inserted and has not committed makes this wait
//!    for it; a key that is live afterwards is not returned.
//! 3. Re-read the keys not claimed (a fresh snapshot: READ COMMITTED): the
//!    original (room, seq) is the answer, and the send stores nothing.
//! 4. Take the seqs: `UPDATE rooms SET last_seq = last_seq + n ...
//!    RETURNING`, n the room's new events in this batch, numbered in job
//!    order.
//! 5. Insert the events, then write their seqs into the claimed keys.
//!
//! Locks are taken in one global order (rooms sorted, then keys sorted), so
//! two nodes' batches cannot deadlock each other; PostgreSQL's deadlock
//! detector remains the backstop and its error makes the writer re-run the
//! batch.

use super::{PgError, from_i64, is_transient};
use crate::store::StoreError;
use crate::store::records::{EventRecord, encode};
use chat_protocol::{ErrorBody, ErrorCode, IDEMPOTENCY_TTL_MS, IdempotencyKey};
use std::collections::{BTreeMap, HashMap};

/// One send to append: an encoded event for a room, with the idempotency
/// key that makes a retry store nothing new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendJob {
    /// The room (must exist: [`super::PgLog::ensure_room`]).
    pub room: u64,
    /// Who caused the event (user id).
    pub sender: u64,
    /// Event time, ms since the epoch.
    pub ts: u64,
    /// The key's owner (the sender, or the admin running an import) and
    /// the key; `None` for events that no client retries.
    pub key: Option<(u64, IdempotencyKey)>,
    /// The encoded `EventRecord`.
    pub event: Vec<u8>,
}

impl AppendJob {
    /// A job storing `record` in `room` under `key_owner`'s `key`, with the
    /// record's sender and time.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the record does not encode.
    pub fn new(
        room: u64,
        key: Option<(u64, IdempotencyKey)>,
        record: &EventRecord,
    ) -> Result<AppendJob, StoreError> {
        Ok(AppendJob {
            room,
            sender: record.sender.id,
            ts: record.ts,
            key,
            event: encode(record)?,
        })
    }

    /// Refuses what PostgreSQL cannot store as given: ids and times above
    /// `i64::MAX`, and keys that are empty, too long or hold a NUL byte.
    pub(super) fn check(&self) -> Result<(), ErrorBody> {
        let bad = |what: &str| ErrorBody::new(ErrorCode::BadRequest, what.to_string());
        for (v, what) in [
            (self.room, "room id"),
            (self.sender, "sender"),
            (self.ts, "ts"),
        ] {
            if i64::try_from(v).is_err() {
                return Err(bad(&format!(
                    "{what} {v} is out of range: at most {}",
                    i64::MAX
                )));
            }
        }
        if let Some((owner, key)) = &self.key {
            if i64::try_from(*owner).is_err() {
                return Err(bad(&format!("key owner {owner} is out of range")));
            }
            if key.0.is_empty() || key.0.len() > IdempotencyKey::MAX_LEN {
                return Err(bad(&format!(
                    "an idempotency key must be 1 to {} bytes; use a fresh ULID",
                    IdempotencyKey::MAX_LEN
                )));
            }
            if key.0.contains('\0') {
                return Err(bad("an idempotency key must not contain a NUL character"));
            }
        }
        Ok(())
    }
}

/// A committed send's acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The room.
    pub room: u64,
    /// The event's seq in the room.
    pub seq: u64,
    /// The stored event's time, ms (the original's, for a duplicate).
    pub ts: u64,
    /// True when the key had stored this event before: nothing new was
    /// stored.
    pub duplicate: bool,
}

/// How one attempt at a batch ended. Nothing is answered by the attempt.
pub(super) enum Attempt {
    /// COMMIT returned: each job's answer, in job order.
    Committed(Vec<Result<Appended, ErrorBody>>),
    /// A deadlock or serialisation failure: re-run the batch.
    Retry(PgError),
    /// The connection is lost or the server refuses work: nothing of the
    /// batch is known to be stored.
    Down(PgError),
    /// A statement failed for another reason; which job caused it is not
    /// known, so the writer splits the batch to find it.
    Failed(PgError),
}

fn classify(e: &tokio_postgres::Error, what: &str) -> Attempt {
    let error = PgError::from_pg(e, what);
    match e.code().map(|c| c.code()) {
        Some("40001" | "40P01") => Attempt::Retry(error),
        _ if is_transient(e) => Attempt::Down(error),
        _ => Attempt::Failed(error),
    }
}

/// What each job of the batch turns into before the seqs are taken.
enum Slot {
    /// Stores a new event.
    New,
    /// Its key stored this event before.
    Dup(Appended),
    /// Refused; nothing stored.
    Refused(ErrorBody),
    /// Same owner and key as an earlier job of this batch.
    SameAs(usize),
}

macro_rules! sql {
    ($e:expr, $what:expr) => {
        match $e.await {
            Ok(v) => v,
            Err(e) => return classify(&e, $what),
        }
    };
}

/// Runs `jobs` (already [`AppendJob::check`]ed) in one transaction on
/// `client` and commits; `now` is the time keys expire against, ms.
///
/// The `as i64` casts below are exact: `check` refused every value above
/// `i64::MAX`, and seqs come from BIGINT columns.
pub(super) async fn attempt(
    client: &mut deadpool_postgres::Object,
    jobs: &[&AppendJob],
    now: u64,
) -> Attempt {
    let now_i = i64::try_from(now).unwrap_or(i64::MAX);
    let expires = i64::try_from(now.saturating_add(IDEMPOTENCY_TTL_MS)).unwrap_or(i64::MAX);
    let tx = sql!(client.transaction(), "beginning a transaction");

    // 1. Lock the batch's rooms, in ascending id (ORDER BY sorts below the
    // row locking, so the locks are taken in that order), and learn which
    // exist. The locks are held to COMMIT: another transaction taking seqs
    // in these rooms waits, so a room's seqs commit in seq order.
    let mut room_ids: Vec<i64> = jobs.iter().map(|j| j.room as i64).collect();
    room_ids.sort_unstable();
    room_ids.dedup();
    let rows = sql!(
        tx.query(
            "SELECT id FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            &[&room_ids]
        ),
        "locking rooms"
    );
    let known: std::collections::HashSet<i64> = rows.iter().map(|r| r.get(0)).collect();

    // Refusals and keys repeated within the batch first.
    let mut slots: Vec<Slot> = Vec::with_capacity(jobs.len());
    let mut first_with_key: HashMap<(u64, &str), usize> = HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        if !known.contains(&(job.room as i64)) {
            slots.push(Slot::Refused(ErrorBody::new(
                ErrorCode::NotFound,
                format!(
                    "room {} is not in the PostgreSQL event log; create it first",
                    job.room
                ),
            )));
            continue;
        }
        match &job.key {
            Some((owner, key)) => match first_with_key.entry((*owner, key.0.as_str())) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    slots.push(Slot::SameAs(*e.get()))
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(i);
                    slots.push(Slot::New);
                }
            },
            None => slots.push(Slot::New),
        }
    }

    // 2. Claim keys, in (owner, key) order.
    let mut keyed: Vec<(u64, &str, usize)> = first_with_key
        .iter()
        .map(|(&(owner, key), &i)| (owner, key, i))
        .collect();
    keyed.sort_unstable();
    if !keyed.is_empty() {
        let owners: Vec<i64> = keyed.iter().map(|k| k.0 as i64).collect();
        let keys: Vec<&str> = keyed.iter().map(|k| k.1).collect();
        let rooms: Vec<i64> = keyed.iter().map(|k| jobs[k.2].room as i64).collect();
        let claimed = sql!(
            tx.query(
                "INSERT INTO idempotency (owner, key, room, seq, expires_at) \
                 SELECT u.owner, u.key, u.room, 0, $4 \
                 FROM UNNEST($1::int8[], $2::text[], $3::int8[]) WITH ORDINALITY \
                      AS u(owner, key, room, ord) \
                 ORDER BY u.ord \
                 ON CONFLICT (owner, key) DO UPDATE \
                 SET room = EXCLUDED.room, seq = 0, expires_at = EXCLUDED.expires_at \
                 WHERE idempotency.expires_at <= $5 \
                 RETURNING owner, key",
                &[&owners, &keys, &rooms, &expires, &now_i],
            ),
            "claiming idempotency keys"
        );
        let claimed: std::collections::HashSet<(i64, String)> =
            claimed.iter().map(|r| (r.get(0), r.get(1))).collect();
        let unclaimed: Vec<&(u64, &str, usize)> = keyed
            .iter()
            .filter(|k| !claimed.contains(&(k.0 as i64, k.1.to_string())))
            .collect();

        // 3. The keys a committed transaction holds: their originals.
        if !unclaimed.is_empty() {
            let owners: Vec<i64> = unclaimed.iter().map(|k| k.0 as i64).collect();
            let keys: Vec<&str> = unclaimed.iter().map(|k| k.1).collect();
            let rows = sql!(
                tx.query(
                    "SELECT i.owner, i.key, i.room, i.seq, e.ts \
                     FROM idempotency i \
                     LEFT JOIN room_events e ON e.room = i.room AND e.seq = i.seq \
                     WHERE (i.owner, i.key) IN \
                           (SELECT * FROM UNNEST($1::int8[], $2::text[]))",
                    &[&owners, &keys],
                ),
                "reading the originals of repeated idempotency keys"
            );
            let mut found: HashMap<(i64, String), (i64, i64, Option<i64>)> = rows
                .iter()
                .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3), r.get(4))))
                .collect();
            for k in unclaimed {
                let Some((room, seq, ts)) = found.remove(&(k.0 as i64, k.1.to_string())) else {
                    // Swept between the claim and the re-read: run again.
                    return Attempt::Retry(PgError::Unavailable(super::UNREACHABLE.into()));
                };
                let i = k.2;
                slots[i] = if room != jobs[i].room as i64 {
                    Slot::Refused(conflict())
                } else {
                    let (Some(ts), Ok(seq)) = (ts, from_i64(seq, "idempotency.seq")) else {
                        return Attempt::Failed(PgError::Corrupt(format!(
                            "idempotency key of user {} points at room {room} seq {seq}, \
                             which holds no event",
                            k.0
                        )));
                    };
                    Slot::Dup(Appended {
                        room: jobs[i].room,
                        seq,
                        ts: ts as u64,
                        duplicate: true,
                    })
                };
            }
        }
    }

    // 4. Seqs: each room's last_seq moves by its count of new events.
    let mut by_room: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, slot) in slots.iter().enumerate() {
        if matches!(slot, Slot::New) {
            by_room.entry(jobs[i].room).or_default().push(i);
        }
    }
    // The rows are locked already (above); one statement for all rooms.
    let room_col: Vec<i64> = by_room.keys().map(|r| *r as i64).collect();
    let counts: Vec<i64> = by_room.values().map(|m| m.len() as i64).collect();
    let mut seqs: Vec<u64> = vec![0; jobs.len()];
    if !room_col.is_empty() {
        let rows = sql!(
            tx.query(
                "UPDATE rooms AS r SET last_seq = r.last_seq + u.n \
                 FROM UNNEST($1::int8[], $2::int8[]) AS u(id, n) \
                 WHERE r.id = u.id RETURNING r.id, r.last_seq",
                &[&room_col, &counts],
            ),
            "taking the rooms' seqs"
        );
        let last: HashMap<i64, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        for (room, members) in &by_room {
            let n = members.len() as i64;
            let Some(&last) = last.get(&(*room as i64)) else {
                return Attempt::Failed(PgError::Corrupt(format!(
                    "room {room} vanished from the log inside a transaction"
                )));
            };
            let first = last - n + 1;
            if first < 1 {
                return Attempt::Failed(PgError::Corrupt(format!(
                    "room {room} has a negative last_seq"
                )));
            }
            for (k, &i) in members.iter().enumerate() {
                seqs[i] = (first + k as i64) as u64;
            }
        }
    }

    // 5. The events, then the keys' seqs.
    let new: Vec<usize> = by_room.values().flatten().copied().collect();
    if !new.is_empty() {
        let rooms: Vec<i64> = new.iter().map(|&i| jobs[i].room as i64).collect();
        let seq_col: Vec<i64> = new.iter().map(|&i| seqs[i] as i64).collect();
        let ts: Vec<i64> = new.iter().map(|&i| jobs[i].ts as i64).collect();
        let senders: Vec<i64> = new.iter().map(|&i| jobs[i].sender as i64).collect();
        let events: Vec<&[u8]> = new.iter().map(|&i| jobs[i].event.as_slice()).collect();
        sql!(
            tx.execute(
                "INSERT INTO room_events (room, seq, ts, sender, event) \
                 SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::bytea[])",
                &[&rooms, &seq_col, &ts, &senders, &events],
            ),
            "inserting room events"
        );
        let keyed_new: Vec<usize> = new
            .iter()
            .copied()
            .filter(|&i| jobs[i].key.is_some())
            .collect();
        if !keyed_new.is_empty() {
            let owners: Vec<i64> = keyed_new.iter().map(|&i| key_of(jobs[i]).0).collect();
            let keys: Vec<&str> = keyed_new.iter().map(|&i| key_of(jobs[i]).1).collect();
            let seq_col: Vec<i64> = keyed_new.iter().map(|&i| seqs[i] as i64).collect();
            sql!(
                tx.execute(
                    "UPDATE idempotency AS i SET seq = u.seq \
                     FROM UNNEST($1::int8[], $2::text[], $3::int8[]) AS u(owner, key, seq) \
                     WHERE i.owner = u.owner AND i.key = u.key",
                    &[&owners, &keys, &seq_col],
                ),
                "recording the seqs of idempotency keys"
            );
        }
    }

    sql!(tx.commit(), "committing");

    // Answers, in job order; a repeated key answers as its first job.
    let mut answers: Vec<Result<Appended, ErrorBody>> = Vec::with_capacity(jobs.len());
    for (i, slot) in slots.iter().enumerate() {
        let answer = match slot {
            Slot::New => Ok(Appended {
                room: jobs[i].room,
                seq: seqs[i],
                ts: jobs[i].ts,
                duplicate: false,
            }),
            Slot::Dup(a) => Ok(*a),
            Slot::Refused(e) => Err(e.clone()),
            Slot::SameAs(first) => match &answers[*first] {
                Ok(a) if a.room == jobs[i].room => Ok(Appended {
                    duplicate: true,
                    ..*a
                }),
                Ok(_) => Err(conflict()),
                Err(e) => Err(e.clone()),
            },
        };
        answers.push(answer);
    }
    Attempt::Committed(answers)
}

fn key_of(job: &AppendJob) -> (i64, &str) {
    match &job.key {
        Some((owner, key)) => (*owner as i64, key.0.as_str()),
        None => (0, ""),
    }
}

fn conflict() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Conflict,
        "this idempotency key was already used for a message in another room; use a fresh key",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(room: u64, key: &str) -> AppendJob {
        AppendJob {
            room,
            sender: 1,
            ts: 1,
            key: Some((1, IdempotencyKey(key.into()))),
            event: vec![0x80],
        }
    }

    #[test]
    fn check_refuses_what_postgres_cannot_store() {
        assert!(job(1, "k").check().is_ok());
        let refusal = |j: AppendJob| j.check().expect_err("refused");
        let e = refusal(job(u64::MAX, "k"));
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains("room id"), "{}", e.message);
        assert!(refusal(job(1, "")).message.contains("1 to 128 bytes"));
        assert!(
            refusal(job(1, &"k".repeat(129)))
                .message
                .contains("1 to 128 bytes")
        );
        assert!(refusal(job(1, "a\0b")).message.contains("NUL"));
        let mut owner = job(1, "k");
        owner.key = Some((u64::MAX, IdempotencyKey("k".into())));
        assert!(refusal(owner).message.contains("key owner"));
    }
}
