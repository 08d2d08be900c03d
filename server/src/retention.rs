//! Retention: the `[retention]` settings, the purge job's clock, and the
//! loop that runs a purge pass at every interval.
//!
//! The rules live elsewhere: `store::retention` keeps the policies and
//! purges one bounded batch inside a writer job; `handlers::retention`
//! answers the admin requests and runs a pass (a batch per writer job,
//! room by room, each batch audited in its own transaction). This module
//! only paces the pass.

use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Default of [`RetentionConfig::interval_ms`]: one hour.
pub const DEFAULT_INTERVAL_MS: u64 = 3_600_000;

/// Default of [`RetentionConfig::batch`]: messages purged per writer job.
pub const DEFAULT_BATCH: u32 = 500;

/// Largest [`RetentionConfig::batch`] accepted.
pub const MAX_BATCH: u32 = 10_000;

/// The `[retention]` table of the config file: how the purge job is paced.
/// Policies themselves are data, set with `chatctl retention`.
///
/// ```toml
/// [retention]
/// interval_ms = 3600000  # a pass every hour (the default)
/// batch = 500            # messages per writer transaction (the default)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Time between the end of one purge pass and the start of the next,
    /// in ms, at least 10. Default [`DEFAULT_INTERVAL_MS`].
    pub interval_ms: u64,
    /// Most messages one writer transaction purges, 1 to [`MAX_BATCH`]. A
    /// pass that has more runs several transactions, so other writes wait
    /// at most one batch. Default [`DEFAULT_BATCH`].
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> RetentionConfig {
        RetentionConfig {
            interval_ms: DEFAULT_INTERVAL_MS,
            batch: DEFAULT_BATCH,
        }
    }
}

impl RetentionConfig {
    /// Checks the ranges documented on the fields.
    ///
    /// # Errors
    /// A sentence naming the setting, its value and the allowed range.
    pub fn check(&self) -> Result<(), String> {
        if self.interval_ms < 10 {
            return Err(format!(
                "retention.interval_ms = {} is too short; use at least 10 (default {})",
                self.interval_ms, DEFAULT_INTERVAL_MS
            ));
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(format!(
                "retention.batch = {} is out of range; use 1 to {MAX_BATCH} (default {})",
                self.batch, DEFAULT_BATCH
            ));
        }
        Ok(())
    }
}

/// Test hook: milliseconds added to the wall clock when the purge job
/// measures ages, so a test can let days pass without waiting. Not
/// settable from flags or files; `None` in service. Clones share the
/// offset.
#[derive(Debug, Clone, Default)]
pub struct RetentionClock(Arc<AtomicU64>);

impl RetentionClock {
    /// Moves the purge job's clock `days` days (of 24 h) further ahead.
    pub fn advance_days(&self, days: u64) {
        self.0.fetch_add(
            days.saturating_mul(crate::store::retention::DAY_MS),
            Ordering::SeqCst,
        );
    }

    /// The offset now, in ms.
    pub fn offset_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl PartialEq for RetentionClock {
    fn eq(&self, other: &RetentionClock) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RetentionClock {}

/// "Now" for the purge job, UTC ms: the wall clock plus the test offset.
pub fn now(clock: Option<&RetentionClock>) -> u64 {
    let wall = chat_protocol::Timestamp::now().0;
    wall.saturating_add(clock.map_or(0, RetentionClock::offset_ms))
}

/// Longest the purge job sleeps before looking at the running
/// configuration again, in ms: a reload (SIGHUP) that shortens
/// `interval_ms` applies within this long, not after the old interval.
pub const RELOAD_CHECK_MS: u64 = 1_000;

/// Runs a purge pass every `interval_ms` until the store stops. A pass
/// that fails (a disk fault) is logged and retried at the next interval.
/// The interval is read from the running configuration at least every
/// [`RELOAD_CHECK_MS`], so a reload applies without waiting out the old
/// interval (test:
/// `e2e::reload::sighup_applies_a_new_retention_interval_to_the_purge_job`).
pub(crate) async fn purge_forever(shared: Arc<crate::shared::Shared>) {
    let mut last = tokio::time::Instant::now();
    loop {
        let every = Duration::from_millis(shared.config.current().retention.interval_ms.max(10));
        let due = last + every;
        let now = tokio::time::Instant::now();
        if now < due {
            let nap = (due - now).min(Duration::from_millis(RELOAD_CHECK_MS));
            tokio::time::sleep(nap).await;
            continue;
        }
        last = tokio::time::Instant::now();
        let actor = crate::handlers::retention_actor();
        match crate::handlers::purge_pass(&shared, &actor).await {
            Ok(report) if report.rooms.is_empty() => {}
            Ok(report) => tracing::info!(
                messages = report.messages(),
                rooms = report.rooms.len(),
                "retention purge removed messages past their policy"
            ),
            Err(crate::store::WriteError::Store(crate::store::StoreError::WriterGone)) => return,
            Err(e) => {
                tracing::warn!(error = %e, "retention purge failed; retrying at the next interval")
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;
    use crate::config::{Args, Config, ConfigError, FileConfig};

    fn merged(text: &str) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).unwrap();
        Config::merge(&Args::default(), Some(&file))
    }

    #[test]
    fn the_retention_table_is_read_defaulted_and_checked() {
        let c = merged("[retention]\ninterval_ms = 60000\n").unwrap();
        assert_eq!(c.retention.interval_ms, 60_000);
        assert_eq!(c.retention.batch, DEFAULT_BATCH);
        assert_eq!(merged("").unwrap().retention, RetentionConfig::default());
        let e = merged("[retention]\ninterval_ms = 5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("retention.interval_ms = 5"), "{e}");
        let e = merged("[retention]\nbatch = 0\n").unwrap_err().to_string();
        assert!(e.contains("retention.batch = 0"), "{e}");
        assert!(
            toml::from_str::<FileConfig>("[retention]\nkeep_days = 5\n").is_err(),
            "policies are data set with chatctl, not config: an unknown key is refused"
        );
    }

    #[test]
    fn the_clock_hook_moves_now_ahead_by_whole_days() {
        let clock = RetentionClock::default();
        let before = now(Some(&clock));
        clock.advance_days(2);
        assert!(now(Some(&clock)) >= before + 2 * crate::store::retention::DAY_MS);
        assert_eq!(clock, clock.clone(), "clones share the offset");
        assert_ne!(clock, RetentionClock::default());
    }
}
