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
