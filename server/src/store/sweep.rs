//! The idempotency sweep: removes idempotency records whose window
//! ([`chat_protocol::IDEMPOTENCY_TTL_MS`], 7 days) has passed, so the
//! table does not grow with every message ever sent.
//!
//! Each pass is one writer job that looks at no more than
//! [`Sweep::per_pass`] records, starting where the last pass stopped, so a
//! pass never holds the writer long. Passes follow each other every
//! [`Sweep::busy_ms`] while a scan of the table is in progress and every
//! [`Sweep::idle_ms`] once one finished
//! (test: `e2e::faults::expired_idempotency_records_are_swept`).

use super::records::{IdempotencyRecord, decode};
use super::{Store, WriteError};
use crate::store::kv::KvRead;
use std::time::Duration;

/// How the sweep paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Most records one pass looks at. Default 1,000.
    pub per_pass: usize,
    /// Pause between passes while a scan is in progress, in ms. Default 1,000.
    pub busy_ms: u64,
    /// Pause after a scan reached the end of the table, in ms. Default 60,000.
    pub idle_ms: u64,
    /// How long a record is kept after its message was stored, in ms.
    /// Default [`chat_protocol::IDEMPOTENCY_TTL_MS`], the window the
    /// protocol promises; only tests shorten it.
    pub keep_ms: u64,
}

impl Default for Sweep {
    fn default() -> Sweep {
        Sweep {
            per_pass: 1_000,
            busy_ms: 1_000,
            idle_ms: 60_000,
            keep_ms: chat_protocol::IDEMPOTENCY_TTL_MS,
        }
    }
}

/// Where a scan stands: the last key looked at, or `None` at the start.
type Cursor = Option<(u64, String)>;

/// One pass: looks at up to `limit` records after `cursor` and removes
/// those stored more than `keep_ms` before `now_ms`. Returns the cursor for the next pass
/// (`None` when the scan reached the end) and how many it removed.
///
/// # Errors
/// A storage error.
fn pass(
    ctx: &mut super::WriteCtx<'_>,
    cursor: &Cursor,
    limit: usize,
    keep_ms: u64,
    now_ms: u64,
) -> Result<(Cursor, u64), WriteError> {
    // Records carry their expiry (stored at + the protocol's window).
    let cutoff = now_ms
        .saturating_add(chat_protocol::IDEMPOTENCY_TTL_MS)
        .saturating_sub(keep_ms);
    let mut expired = Vec::new();
    let mut last = None;
    let mut seen = 0;
    {
        let range = match cursor {
            Some((user, key)) => ctx.idempotency.range((*user, key.as_str())..)?,
            None => ctx.idempotency.range::<(u64, &str)>(..)?,
        };
        for entry in range {
            let (k, v) = entry?;
            let (user, key) = k.value();
            if cursor
                .as_ref()
                .is_some_and(|(u, c)| *u == user && c.as_str() == key)
            {
                continue;
            }
            if seen == limit {
                break;
            }
            seen += 1;
            // A record that does not decode is useless: sweep it too.
            let dead = decode::<IdempotencyRecord>(v.value())
                .map(|r| r.expires_at <= cutoff)
                .unwrap_or(true);
            if dead {
                expired.push((user, key.to_string()));
            }
            last = Some((user, key.to_string()));
        }
    }
    let removed = expired.len() as u64;
    for (user, key) in &expired {
        ctx.idempotency.remove((*user, key.as_str()))?;
    }
    let next = if seen == limit { last } else { None };
    Ok((next, removed))
}

/// Runs passes forever, paced by `sweep`. Spawn it; abort it at shutdown.
pub async fn run(store: Store, sweep: Sweep) {
    let mut cursor: Cursor = None;
    loop {
        let from = cursor.clone();
        let limit = sweep.per_pass.max(1);
        let result = store
            .writer()
            .write(move |ctx| {
                let now = chat_protocol::Timestamp::now().0;
                pass(ctx, &from, limit, sweep.keep_ms, now)
            })
            .await;
        match result {
            Ok((next, removed)) => {
                if removed > 0 {
                    tracing::debug!(removed, "swept expired idempotency records");
                }
                cursor = next;
            }
            Err(error) => {
                tracing::warn!(%error, "idempotency sweep pass failed; trying again later")
            }
        }
        let pause = if cursor.is_some() {
            sweep.busy_ms
        } else {
            sweep.idle_ms
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::encode;

    fn record(expires_at: u64) -> IdempotencyRecord {
        IdempotencyRecord {
            room: 1,
            seq: 1,
            expires_at,
        }
    }

    #[tokio::test]
    async fn passes_are_bounded_resume_and_keep_live_records() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("t.redb")).expect("open");
        let now = 10 * chat_protocol::IDEMPOTENCY_TTL_MS;
        store
            .writer()
            .write(move |ctx| {
                for i in 0..10u64 {
                    // Even keys expired an hour ago, odd ones in a day.
                    let at = if i % 2 == 0 {
                        now - 3_600_000
                    } else {
                        now + 86_400_000
                    };
                    ctx.idempotency
                        .insert((i, "k"), encode(&record(at))?.as_slice())?;
                }
                Ok(())
            })
            .await
            .expect("seed");
        let ttl = chat_protocol::IDEMPOTENCY_TTL_MS;
        let mut cursor: Cursor = None;
        let mut passes = 0;
        let mut removed = 0;
        loop {
            let from = cursor.clone();
            let (next, n) = store
                .writer()
                .write(move |ctx| pass(ctx, &from, 3, ttl, now))
                .await
                .expect("pass");
            assert!(n <= 3, "a pass looks at no more than its limit");
            removed += n;
            passes += 1;
            cursor = next;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(passes, 4, "10 records, 3 per pass");
        assert_eq!(removed, 5, "exactly the expired ones");
        let left = store
            .writer()
            .write(|ctx| {
                let mut keys = Vec::new();
                for e in ctx.idempotency.iter()? {
                    keys.push(e?.0.value().0);
                }
                Ok(keys)
            })
            .await
            .expect("read");
        assert_eq!(left, [1, 3, 5, 7, 9]);
        store.shutdown().await;
    }
}
