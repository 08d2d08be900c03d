//! Parsing a `HOST:PORT` server address into its parts.

use crate::ClientError;

/// A parsed server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Host without IPv6 brackets, for SNI.
    pub(crate) host: String,
    /// The known-hosts key: lowercased `host:port`, IPv6 in brackets.
    pub(crate) key: String,
}

impl Target {
    /// Splits `server` (`host:port` or `[v6]:port`).
    ///
    /// # Errors
    /// [`ClientError::Address`] when the port is missing or not a number.
    pub(crate) fn parse(server: &str) -> Result<Target, ClientError> {
        let bad = |reason: &str| ClientError::Address {
            server: server.to_owned(),
            reason: reason.to_owned(),
        };
        let (host, port) = server.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        port.parse::<u16>()
            .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if bare.is_empty() || (bare.contains(':') && bare == host) {
            return Err(bad(
                "bad host; write IPv6 addresses in brackets, e.g. [::1]:4433",
            ));
        }
        Ok(Target {
            host: bare.to_ascii_lowercase(),
            key: format!("{}:{port}", host.to_ascii_lowercase()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_v4_and_v6() {
        let t = Target::parse("Chat.Example:4433").unwrap();
        assert_eq!(
            (t.host.as_str(), t.key.as_str()),
            ("chat.example", "chat.example:4433")
        );
        let t = Target::parse("[::1]:9").unwrap();
        assert_eq!((t.host.as_str(), t.key.as_str()), ("::1", "[::1]:9"));
        assert_eq!(Target::parse("127.0.0.1:1").unwrap().key, "127.0.0.1:1");
        for bad in ["host", "host:x", ":1", "::1:5", "host:70000"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
