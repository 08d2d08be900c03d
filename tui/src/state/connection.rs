//! The connection state shown in the status line, and presence.

use std::time::Instant;

/// The state of the link to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// First connection attempt in progress.
    Connecting,
    /// Connected and logged in.
    Connected {
        /// The server's address as given by the user.
        server: String,
        /// Last measured round trip, in ms; `None` before the first ping.
        rtt_ms: Option<u32>,
    },
    /// The link was lost; the next attempt starts at `retry_at`.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
        /// When the next attempt starts.
        retry_at: Instant,
        /// Why the last attempt failed, in words, when retrying alone may
        /// not fix it (a changed or untrusted certificate, a refusal): the
        /// interface shows it until a connection succeeds.
        problem: Option<String>,
    },
    /// Not connected and not retrying (the login was refused), with the
    /// reason and what to do.
    Offline(String),
}

/// Whether a user is around, as the server reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Presence {
    /// Not reported yet.
    #[default]
    Unknown,
    /// Connected and active.
    Online,
    /// Connected but marked away.
    Away,
    /// Not connected.
    Offline,
}
