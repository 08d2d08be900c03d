//! State shared by every connection of one server.

use crate::fanout::{Effect, Hub};
use crate::handlers::rate::Limiter;
use crate::store::Store;
use chat_protocol as proto;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

/// Everything a session needs from the server.
pub struct Shared {
    /// The redb engine's handle, for what is not stored data: writer
    /// statistics, health, closing and shutdown, the idempotency sweep.
    /// Stored data is read and written through [`Shared::storage`].
    pub store: Store,
    /// The storage boundary: every typed store operation
    /// ([`crate::store::boundary`]). Handlers call this, not `store`.
    pub storage: Arc<dyn crate::store::boundary::Boundary>,
    /// Fan-out to this node's sessions. Handlers hand effects to
    /// [`Shared::fan_out`], not to the hub, so other nodes get them too.
    pub hub: Arc<Hub>,
    /// The cross-node bus (`--bus`), or `None` on a single node.
    pub bus: Option<crate::bus::Bus>,
    /// The running configuration; [`crate::reload::LiveConfig::current`]
    /// reads it, a SIGHUP reload swaps it.
    pub config: crate::reload::LiveConfig,
    /// Per-user write budgets, one per rate class.
    pub limiter: Limiter,
    /// Open connections, counted from accept (handshakes included).
    pub connections: AtomicU64,
    /// Connections in their QUIC/TLS handshake.
    pub handshaking: AtomicU64,
    /// Connections refused at the connection limit since start.
    pub refused: AtomicU64,
    /// Authenticated sessions.
    pub sessions: AtomicU64,
    /// Start time, for uptime.
    pub started: Instant,
    /// Who is online.
    pub presence: crate::presence::Registry,
    /// The argon2 threads (password hashing and verification).
    pub hash_pool: crate::login::HashPool,
    /// Failed-login throttling and counters.
    pub logins: crate::login::Throttle,
    /// The full-text search index; `None` when `config.search` is off.
    pub search: Option<crate::search::SearchIndex>,
    /// This server's metrics (its own registry).
    pub metrics: crate::metrics::Metrics,
    /// Files: blob store, partial uploads, limits.
    pub files: crate::files::Files,
    /// Backups in progress (one at a time).
    pub backups: crate::backup::serve::Backups,
    /// The key that signs the audit log's tree heads.
    pub audit_key: crate::audit_key::AuditKey,
}

impl Shared {
    /// Hands effects made outside the writer (typing, presence hidden by a
    /// block) to every session they concern: through the bus when there
    /// is one (it publishes them for the other nodes and delivers them
    /// here), else to this node's hub. Committed effects take the same
    /// path from the writer's tap. Never blocks.
    pub fn fan_out(&self, effects: Vec<Effect>) {
        match &self.bus {
            Some(bus) => bus.fan_out(effects),
            None => self.hub.apply(effects),
        }
    }

    /// The limits announced to clients in `Welcome`.
    pub fn wire_limits(&self) -> proto::Limits {
        self.config.current().limits.to_wire()
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Where the hub's publishing methods may be called, and why: every
    /// other effect goes through [`super::Shared::fan_out`], so with a bus
    /// it reaches the other nodes too.
    const ALLOWED: &[(&str, &str)] = &[
        ("fanout.rs", "the hub itself"),
        ("shared.rs", "Shared::fan_out without a bus"),
        ("store/writer.rs", "the writer's publisher without a tap"),
        ("bus/mod.rs", "the bus delivering this node's effects here"),
        (
            "bus/relay.rs",
            "the bus delivering other nodes' effects here",
        ),
        ("bus/delivery.rs", "the gap rule's door into the hub"),
        (
            "handlers/social.rs",
            "presence announcements, which each node makes for its own watchers",
        ),
    ];

    const CALLS: &[&str] = &[
        "hub.apply(",
        "hub.publish_user(",
        "hub.publish_ephemeral(",
        "hub.publish_live(",
        "hub.account_changed(",
        "hub.all_accounts_changed(",
    ];

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn only_fan_out_the_bus_and_the_writer_publish_to_the_hub() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let mut offenders = Vec::new();
        for path in files {
            let rel = path
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            if ALLOWED.iter().any(|(f, _)| *f == rel) {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let flat: String = text.split_whitespace().collect();
            for call in CALLS {
                if flat.contains(call) {
                    offenders.push(format!("{rel}: {call}"));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "hand effects to Shared::fan_out (so other nodes get them), not to the hub: {offenders:?}"
        );
    }
}
