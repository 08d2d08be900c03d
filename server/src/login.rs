//! What a password login may cost the server: argon2 runs on its own small
//! pool, never more at once than the pool has threads, and failed logins
//! are throttled per client address and per account with exponential
//! backoff, so a flood makes logins slower for the flooder and never grows
//! the server's memory.
//!
//! Each argon2id verification holds about 19 MiB (m = 19 MiB, see
//! [`crate::auth`]) for tens of ms. Before this pool, one connection with
//! 256 wrong-password logins in flight grew chatd to 4.8 GiB and stalled
//! history reads that share tokio's blocking pool (issue 11). Now at most
//! [`HashPool::threads`] hashes exist at once (`threads` × 19 MiB), waiting
//! logins cost a small future each, and a throttled login costs no hash.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, oneshot};

/// Most argon2 threads, whatever the core count: each hash holds 19 MiB.
pub const MAX_HASH_THREADS: usize = 4;

/// Failed logins from one address before backoff starts. Generous: a
/// hospital ward behind one NAT address shares it.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 50;
/// Failed logins for one account before backoff starts (OWASP
/// Authentication Cheat Sheet: throttle per account as well as per source).
pub const FREE_FAILURES_PER_ACCOUNT: u32 = 5;
/// The first backoff, doubled with each further failure, in ms.
pub const FIRST_BACKOFF_MS: u64 = 1_000;
/// The longest backoff, in ms. Bounded so an attacker can delay an
/// account's owner by at most this much, never lock them out for good.
pub const MAX_BACKOFF_MS: u64 = 60_000;
/// A record with no failure for this long is forgotten, in ms.
pub const FORGET_AFTER_MS: u64 = 15 * 60_000;
/// Password logins one address may have in flight at once.
pub const MAX_IN_FLIGHT_PER_ADDRESS: u32 = 8;
/// Most addresses and most accounts remembered (each map), so a flood
/// with many addresses or usernames stays within a few MiB.
pub const MAX_RECORDS: usize = 65_536;

/// A dedicated argon2 pool: `threads` OS threads fed one job per permit.
pub struct HashPool {
    jobs: Mutex<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
    permits: Arc<Semaphore>,
    threads: usize,
}

impl HashPool {
    /// Starts a pool of one thread per core, at most [`MAX_HASH_THREADS`].
    ///
    /// # Errors
    /// The OS refused to start a thread.
    pub fn start() -> std::io::Result<HashPool> {
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_HASH_THREADS);
        let (tx, rx) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("chatd-argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the pool was dropped
                        }
                    }
                })?;
        }
        Ok(HashPool {
            jobs: Mutex::new(tx),
            permits: Arc::new(Semaphore::new(threads)),
            threads,
        })
    }

    /// Threads in the pool, which is also the most hashes at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on the pool once a thread is free, and returns its result.
    /// Waiting costs no thread and no hash memory.
    ///
    /// # Errors
    /// `None` if the pool is gone (the server is stopping).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        let (tx, rx) = oneshot::channel();
        let job = Box::new(move || {
            let _ = tx.send(f());
            drop(permit);
        });
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .ok()?;
        rx.await.ok()
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

impl Record {
    fn fresh(now: Instant) -> Record {
        Record {
            failures: 0,
            last_failure: now,
            blocked_until: None,
        }
    }

    fn stale(&self, now: Instant) -> bool {
        now.duration_since(self.last_failure) > Duration::from_millis(FORGET_AFTER_MS)
    }

    fn wait(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .and_then(|t| t.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    fn fail(&mut self, now: Instant, free: u32) {
        if self.stale(now) {
            *self = Record::fresh(now);
        }
        self.failures = self.failures.saturating_add(1);
        self.last_failure = now;
        if self.failures > free {
            let doublings = (self.failures - free - 1).min(16);
            let ms = FIRST_BACKOFF_MS
                .saturating_mul(1 << doublings)
                .min(MAX_BACKOFF_MS);
            self.blocked_until = Some(now + Duration::from_millis(ms));
        }
    }
}

#[derive(Default)]
struct State {
    addresses: HashMap<IpAddr, Record>,
    accounts: HashMap<String, Record>,
    in_flight: HashMap<IpAddr, u32>,
}

/// Remembers failed logins and says when the next attempt may be made.
#[derive(Default)]
pub struct Throttle {
    state: Mutex<State>,
    /// Failed password logins since start.
    pub failed: AtomicU64,
    /// Logins refused by the throttle since start (no hash was computed).
    pub throttled: AtomicU64,
}

/// A login in progress from one address; ends it when dropped.
pub struct Attempt<'t> {
    throttle: &'t Throttle,
    address: IpAddr,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut state = self.throttle.lock();
        if let Some(n) = state.in_flight.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.in_flight.remove(&self.address);
            }
        }
    }
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a login attempt from `address` for `account` (its canonical
    /// username), or says how long to wait, in ms.
    ///
    /// # Errors
    /// The wait in ms when the address or the account is backing off, or
    /// the address has [`MAX_IN_FLIGHT_PER_ADDRESS`] logins in flight.
    pub fn begin(&self, address: IpAddr, account: &str, now: Instant) -> Result<Attempt<'_>, u64> {
        let mut state = self.lock();
        let wait = [
            state.addresses.get(&address).and_then(|r| r.wait(now)),
            state.accounts.get(account).and_then(|r| r.wait(now)),
        ]
        .into_iter()
        .flatten()
        .max();
        let busy = state.in_flight.get(&address).copied().unwrap_or(0) >= MAX_IN_FLIGHT_PER_ADDRESS;
        if wait.is_some() || busy {
            drop(state);
            self.throttled.fetch_add(1, Ordering::Relaxed);
            let ms = wait.map_or(FIRST_BACKOFF_MS, |d| {
                u64::try_from(d.as_millis())
                    .unwrap_or(MAX_BACKOFF_MS)
                    .max(1)
            });
            return Err(ms);
        }
        *state.in_flight.entry(address).or_default() += 1;
        Ok(Attempt {
            throttle: self,
            address,
        })
    }

    /// Records a failed login.
    pub fn failed(&self, address: IpAddr, account: &str, now: Instant) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let state = &mut *state;
        bounded(&mut state.addresses, now);
        bounded(&mut state.accounts, now);
        state
            .addresses
            .entry(address)
            .or_insert_with(|| Record::fresh(now))
            .fail(now, FREE_FAILURES_PER_ADDRESS);
        state
            .accounts
            .entry(account.to_owned())
            .or_insert_with(|| Record::fresh(now))
            .fail(now, FREE_FAILURES_PER_ACCOUNT);
    }

    /// Records a successful login: the account's failures are forgiven.
    pub fn succeeded(&self, account: &str) {
        self.lock().accounts.remove(account);
    }

    /// Addresses and accounts remembered now (for tests of the bound).
    pub fn remembered(&self) -> (usize, usize) {
        let state = self.lock();
        (state.addresses.len(), state.accounts.len())
    }
}

/// Makes room for one more record: drops stale records, then (if still
/// full) the one whose last failure is oldest.
fn bounded<K: Clone + Eq + std::hash::Hash>(map: &mut HashMap<K, Record>, now: Instant) {
    if map.len() < MAX_RECORDS {
        return;
    }
    map.retain(|_, r| !r.stale(now) || r.wait(now).is_some());
    if map.len() >= MAX_RECORDS
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, r)| r.last_failure)
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn an_account_backs_off_exponentially_after_its_free_failures() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES_PER_ACCOUNT {
            drop(t.begin(A, "alice", now).expect("free"));
            t.failed(A, "alice", now);
        }
        drop(t.begin(A, "alice", now).expect("still free"));
        t.failed(A, "alice", now);
        assert_eq!(t.begin(B, "alice", now).err(), Some(FIRST_BACKOFF_MS));
        assert!(
            t.begin(B, "bob", now).is_ok(),
            "other accounts are not slowed"
        );
        let later = now + Duration::from_millis(FIRST_BACKOFF_MS);
        drop(t.begin(A, "alice", later).expect("after the wait"));
        t.failed(A, "alice", later);
        assert_eq!(t.begin(A, "alice", later).err(), Some(2 * FIRST_BACKOFF_MS));
        t.succeeded("alice");
        assert!(t.begin(A, "alice", later).is_ok());
    }

    #[test]
    fn the_backoff_is_capped() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..100 {
            t.failed(A, "carol", now);
        }
        assert_eq!(t.begin(B, "carol", now).err(), Some(MAX_BACKOFF_MS));
    }

    #[test]
    fn an_address_may_have_only_so_many_logins_in_flight() {
        let t = Throttle::default();
        let now = Instant::now();
        let held: Vec<_> = (0..MAX_IN_FLIGHT_PER_ADDRESS)
            .map(|i| t.begin(A, &format!("u{i}"), now).expect("free"))
            .collect();
        assert!(t.begin(A, "x", now).is_err());
        assert!(t.begin(B, "x", now).is_ok());
        drop(held);
        assert!(t.begin(A, "x", now).is_ok());
    }

    #[test]
    fn memory_is_bounded_whatever_the_flood() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..(MAX_RECORDS as u32 + 1_000) {
            let ip = IpAddr::V4(Ipv4Addr::from(i));
            t.failed(ip, &format!("user{i}"), now);
        }
        let (addresses, accounts) = t.remembered();
        assert!(addresses <= MAX_RECORDS && accounts <= MAX_RECORDS);
    }

    #[tokio::test]
    async fn the_pool_runs_no_more_than_its_threads_at_once() {
        let pool = Arc::new(HashPool::start().expect("pool"));
        let running = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    // Real work, long enough for jobs to overlap.
                    let _ = crate::auth::hash_password("a password to hash");
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .expect("pool alive");
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        assert!(peak.load(Ordering::SeqCst) <= pool.threads() as u64);
    }
}
