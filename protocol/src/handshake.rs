//! Version negotiation: the first frames on the control stream.

use serde::{Deserialize, Serialize};

/// The client's first frame on the control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Lowest protocol version the client speaks.
    pub min_version: u32,
    /// Highest protocol version the client speaks.
    pub max_version: u32,
    /// Free-form client name and version, for server logs (e.g. `chatctl/0.1.0`).
    pub client: String,
}

impl Hello {
    /// A hello offering exactly this build's [`crate::PROTOCOL_VERSION`].
    pub fn current(client: impl Into<String>) -> Hello {
        Hello {
            min_version: crate::PROTOCOL_VERSION,
            max_version: crate::PROTOCOL_VERSION,
            client: client.into(),
        }
    }
}

/// The server's answer to a [`Hello`] that it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The negotiated version: the highest both sides speak.
    pub version: u32,
    /// Server software name and version, e.g. `chatd/0.1.0`.
    pub server: String,
    /// Limits the client should respect to avoid refusals.
    pub limits: Limits,
}

/// Limits a server enforces, announced in [`Welcome`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Longest message text, in bytes of UTF-8.
    pub max_message_bytes: u32,
    /// Largest history page, in events.
    pub max_history_page: u32,
    /// Sustained sends allowed per user, in messages per second.
    pub send_rate_per_sec: u32,
    /// Burst of sends allowed above the sustained rate, in messages.
    pub send_burst: u32,
}

/// Picks the version both sides speak, or explains why there is none.
///
/// # Errors
/// An [`crate::ErrorBody`] with [`crate::ErrorCode::UnsupportedVersion`]
/// naming both ranges when they do not overlap.
pub fn negotiate(hello: &Hello, min: u32, max: u32) -> Result<u32, crate::ErrorBody> {
    let lo = hello.min_version.max(min);
    let hi = hello.max_version.min(max);
    if lo > hi || hello.min_version > hello.max_version {
        return Err(crate::ErrorBody::new(
            crate::ErrorCode::UnsupportedVersion,
            format!(
                "client speaks protocol versions {}..={}, server speaks {min}..={max}; \
                 upgrade the older side",
                hello.min_version, hello.max_version
            ),
        ));
    }
    Ok(hi)
}
