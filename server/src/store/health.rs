//! Whether the store accepts writes: healthy, or degraded after a disk
//! fault while the writer reopens the database.
//!
//! A write that fails with an I/O error (a full disk, a failing device)
//! latches redb: every later transaction fails with "Previous I/O error
//! occurred" until the file is closed and opened again. The writer thread
//! then marks the store degraded, answers every write `Unavailable` with
//! [`DEGRADED`], and tries to reopen the file with backoff
//! ([`RETRY_FIRST_MS`] doubling to [`RETRY_MAX_MS`]); a reopen that can
//! commit a probe write makes it healthy again. Nothing is acknowledged
//! that did not commit (test: `e2e::faults::a_full_disk_refuses_writes_and_recovers_without_a_restart`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// First wait before reopening the database after a disk fault, in ms.
pub const RETRY_FIRST_MS: u64 = 50;
/// Longest wait between reopen attempts, in ms.
pub const RETRY_MAX_MS: u64 = 2_000;

/// What a client is told when a write is refused while degraded.
pub const DEGRADED: &str = "the server cannot write to its database (disk full or failing) and \
     is not accepting writes; nothing of this request was stored; retry later (the server admin \
     sees this in `chatctl server stats`)";

/// What a client is told when a read finds the database closed for reopening.
pub const RECOVERING: &str = "the server is reopening its database after a disk fault; retry in \
     a few seconds";

/// What a client is told for a write that arrives during a graceful shutdown.
pub const SHUTTING_DOWN: &str = "the server is shutting down; nothing of this request was \
     stored; retry once it is back (chat clients do this by themselves)";

/// The store's state as admins see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Writes are accepted.
    Healthy,
    /// Degraded, not accepting writes: the disk failed and the writer is
    /// reopening the database.
    Degraded {
        /// The error that started it.
        reason: String,
        /// When it started.
        since: SystemTime,
    },
}

impl Health {
    /// The one-line form shown to admins (`ServerStats::storage`).
    pub fn describe(&self) -> String {
        match self {
            Health::Healthy => "healthy".into(),
            Health::Degraded { reason, since } => {
                let secs = since.elapsed().map(|d| d.as_secs()).unwrap_or(0);
                format!("degraded, not accepting writes for {secs} s: {reason}")
            }
        }
    }
}

/// The shared, thread-safe health flag.
#[derive(Debug)]
pub(crate) struct HealthState {
    degraded: AtomicBool,
    detail: Mutex<Health>,
}

impl Default for HealthState {
    fn default() -> HealthState {
        HealthState {
            degraded: AtomicBool::new(false),
            detail: Mutex::new(Health::Healthy),
        }
    }
}

impl HealthState {
    pub(crate) fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    pub(crate) fn get(&self) -> Health {
        self.detail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn degrade(&self, reason: String) {
        let mut d = self.detail.lock().unwrap_or_else(|p| p.into_inner());
        if !matches!(*d, Health::Degraded { .. }) {
            tracing::error!(%reason, "storage degraded: not accepting writes until the database reopens");
            *d = Health::Degraded {
                reason,
                since: SystemTime::now(),
            };
        }
        self.degraded.store(true, Ordering::Release);
    }

    pub(crate) fn heal(&self) {
        let mut d = self.detail.lock().unwrap_or_else(|p| p.into_inner());
        if let Health::Degraded { since, .. } = &*d {
            let secs = since.elapsed().map(|d| d.as_secs_f64()).unwrap_or(0.0);
            tracing::warn!(
                after_secs = secs,
                "storage recovered: accepting writes again"
            );
        }
        *d = Health::Healthy;
        self.degraded.store(false, Ordering::Release);
    }
}
