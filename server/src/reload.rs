//! The running configuration and its reload (SIGHUP).
//!
//! [`LiveConfig`] holds the whole resolved [`Config`] behind an
//! [`arc_swap::ArcSwap`]: readers take the current one without locking
//! ([`LiveConfig::current`]), a reload swaps in a new one at once. Code
//! that reads a setting where it is used (a limit when a request is
//! checked, the banned words when a message is) sees a reload from its
//! next use on; nothing needs to register for it.
//!
//! A reload re-reads the file under the flags and environment chatd was
//! started with (`Config::load` with the same `Args`), so the precedence
//! file < environment < flag holds across reloads. A reload that fails
//! (unreadable file, bad TOML, an invalid value) changes nothing, logs why,
//! and chatd keeps serving with the old configuration (test:
//! `e2e::reload::sighup_applies_banned_words_and_limits_and_a_broken_file_changes_nothing`).
//!
//! Settings fixed at start (sockets, directories, certificates, the QUIC
//! transport's timeouts, the fan-out queue size, search on or off; see
//! [`restart_only`]) keep their running values when the file changes
//! them, and the log names each one as needing a restart. Everything else
//! applies at once, including sections added later, as long as their
//! readers read them through [`LiveConfig::current`].

use crate::config::{Config, ConfigError};
use arc_swap::{ArcSwap, Guard};
use std::sync::Arc;

/// The running configuration, swappable as a whole.
#[derive(Debug)]
pub struct LiveConfig {
    current: ArcSwap<Config>,
}

/// What a successful reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Settings now in effect with new values (names as in the file, e.g.
    /// `limits.max_message_bytes`, `banned_words`).
    pub changed: Vec<String>,
    /// Settings the file changed that only a restart applies; their
    /// running values were kept.
    pub need_restart: Vec<&'static str>,
}

impl LiveConfig {
    /// Holds `config` as the running configuration.
    pub fn new(config: Config) -> LiveConfig {
        LiveConfig {
            current: ArcSwap::from_pointee(config),
        }
    }

    /// The running configuration. Cheap (no lock, no allocation); hold the
    /// guard only for the one use, never across an `.await`, so the next
    /// use sees a reload.
    pub fn current(&self) -> Guard<Arc<Config>> {
        self.current.load()
    }

    /// Makes `new` the running configuration, except for the settings
    /// fixed at start, which keep their running values.
    pub fn apply(&self, mut new: Config) -> Applied {
        let old = self.current.load_full();
        let need_restart = restart_only(&old, &mut new);
        let changed = changed_settings(&old, &new);
        self.current.store(Arc::new(new));
        Applied {
            changed,
            need_restart,
        }
    }
}

/// Copies the settings fixed at start from `old` into `new` and returns
/// the names of those `new` had changed.
pub fn restart_only(old: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut kept = Vec::new();
    macro_rules! keep {
        ($($name:literal => $($field:ident).+),* $(,)?) => {$(
            if new.$($field).+ != old.$($field).+ {
                kept.push($name);
                new.$($field).+ = old.$($field).+.clone();
            }
        )*};
    }
    keep!(
        "listen" => listen,
        "data_dir" => data_dir,
        "cert_dir" => cert_dir,
        "cert" => cert,
        "key" => key,
        "hostnames" => hostnames,
        "metrics_listen" => metrics_listen,
        "search" => search,
        "bus" => bus,
        "node_name" => node_name,
        "limits.idle_timeout_ms" => limits.idle_timeout_ms,
        "limits.keep_alive_ms" => limits.keep_alive_ms,
        "limits.subscriber_queue" => limits.subscriber_queue,
        "limits.max_streams_per_connection" => limits.max_streams_per_connection,
    );
    // Never from the file: test hooks and internal pacing stay as started.
    new.deadlines = old.deadlines;
    new.sweep = old.sweep;
    new.disk_fault = old.disk_fault.clone();
    new.presence_heartbeat_ms = old.presence_heartbeat_ms;
    new.account_effects_bus_only = old.account_effects_bus_only;
    kept
}

/// Names of the settings whose values differ, for the log. Compared
/// through their `Debug` forms field by field, so a section added to
/// [`Config`] later is reported without a change here.
fn changed_settings(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let (o, n) = (format!("{old:#?}"), format!("{new:#?}"));
    if o == n {
        return out;
    }
    // `{:#?}` puts one field per line, nested fields indented: report
    // each line that differs by its field path.
    let fields = |s: &str| -> Vec<(String, String)> {
        let mut path: Vec<String> = Vec::new();
        let mut rows = Vec::new();
        for line in s.lines().skip(1) {
            let depth = (line.len() - line.trim_start().len()) / 4;
            let t = line.trim();
            if let Some((name, value)) = t.split_once(": ") {
                path.truncate(depth.saturating_sub(1));
                let full = path
                    .iter()
                    .chain([&name.to_owned()])
                    .cloned()
                    .collect::<Vec<_>>();
                if value.ends_with('{') || value.ends_with('[') || value.ends_with('(') {
                    path.push(name.to_owned());
                }
                rows.push((full.join("."), t.to_owned()));
            } else if let Some(last) = rows.last_mut() {
                last.1.push_str(t);
            }
        }
        rows
    };
    let (fo, fn_) = (fields(&o), fields(&n));
    for (name, value) in &fn_ {
        let before = fo.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        if before != Some(value) && !out.iter().any(|c: &String| name.starts_with(c.as_str())) {
            out.push(name.clone());
        }
    }
    out
}

/// Reloads the configuration of one server; held by the binary's SIGHUP
/// handler (see `Server::reloader`).
#[derive(Clone)]
pub struct Reloader {
    pub(crate) shared: Arc<crate::shared::Shared>,
}

impl Reloader {
    /// Applies the result of re-reading the configuration: a new one
    /// becomes the running one (and the rate limiter and file limits take
    /// its values), an error changes nothing. Both are logged: changes at
    /// info, restart-only changes and failures at warn/error.
    ///
    /// # Errors
    /// Returns the error it was given, after logging it, so callers and
    /// tests can see the reload failed.
    pub fn apply(&self, loaded: Result<Config, ConfigError>) -> Result<Applied, ConfigError> {
        let new = match loaded {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e,
                    "configuration reload failed; still running with the previous configuration. \
                     Fix the file and send SIGHUP again");
                return Err(e);
            }
        };
        let applied = self.shared.config.apply(new);
        let now = self.shared.config.current();
        self.shared.limiter.set_limits(&now.limits);
        self.shared.files.config.store(Arc::new(now.files.clone()));
        for name in &applied.need_restart {
            tracing::warn!(
                setting = name,
                "configuration reload: this setting changed in the file but applies only at \
                 restart; keeping the running value until chatd is restarted"
            );
        }
        tracing::info!(changed = ?applied.changed, "configuration reloaded");
        Ok(applied)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_reload_keeps_restart_only_settings_and_names_the_changes() {
        let old = Config::for_tests(Path::new("/tmp/a"));
        let live = LiveConfig::new(old.clone());
        let mut new = old.clone();
        new.banned_words = vec!["spoiler".into()];
        new.limits.max_message_bytes = 100;
        new.limits.subscriber_queue = 7;
        new.data_dir = "/elsewhere".into();
        let applied = live.apply(new);
        assert_eq!(
            applied.changed,
            ["limits.max_message_bytes", "banned_words"],
            "{applied:?}"
        );
        assert_eq!(
            applied.need_restart,
            ["data_dir", "limits.subscriber_queue"]
        );
        let now = live.current();
        assert_eq!(now.limits.max_message_bytes, 100);
        assert_eq!(now.banned_words, ["spoiler"]);
        assert_eq!(now.data_dir, old.data_dir);
        assert_eq!(now.limits.subscriber_queue, old.limits.subscriber_queue);
    }

    #[test]
    fn nothing_changed_reports_nothing() {
        let old = Config::for_tests(Path::new("/tmp/a"));
        let live = LiveConfig::new(old.clone());
        assert_eq!(live.apply(old), Applied::default());
    }
}
