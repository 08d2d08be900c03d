//! Terminal alerts for mentions and direct messages: the bell (BEL) and an
//! OSC 9 desktop notification (`ESC ] 9 ; text BEL`, understood by iTerm2,
//! kitty, WezTerm, Windows Terminal and others; terminals that do not know
//! it ignore it), each switched by the `[alerts]` config section.

use crate::config::Alerts;
use crate::effect::AlertKind;
use std::io::Write;

/// Writes alerts as configured.
#[derive(Debug, Clone, Copy)]
pub struct Alerter {
    bell: bool,
    osc9: bool,
}

impl Alerter {
    /// An alerter following the config's `[alerts]`.
    pub fn new(config: &Alerts) -> Alerter {
        Alerter {
            bell: config.bell,
            osc9: config.osc9,
        }
    }

    /// The bytes to write for one alert; empty when both kinds are off.
    /// The notification text is fixed ASCII, so nothing from the network
    /// reaches the terminal's control-sequence parser.
    pub fn bytes(&self, kind: AlertKind) -> Vec<u8> {
        let mut out = Vec::new();
        if self.osc9 {
            let text = match kind {
                AlertKind::Mention => "chat-tui: you were mentioned",
                AlertKind::Direct => "chat-tui: new direct message",
            };
            out.extend_from_slice(b"\x1b]9;");
            out.extend_from_slice(text.as_bytes());
            out.push(0x07);
        }
        if self.bell {
            out.push(0x07);
        }
        out
    }

    /// Writes one alert to `out` and flushes.
    ///
    /// # Errors
    /// The writer's I/O error.
    pub fn write(&self, kind: AlertKind, out: &mut impl Write) -> std::io::Result<()> {
        let bytes = self.bytes(kind);
        if bytes.is_empty() {
            return Ok(());
        }
        out.write_all(&bytes)?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bell_and_osc9_as_configured() {
        let both = Alerter::new(&Alerts::default());
        assert_eq!(
            both.bytes(AlertKind::Direct),
            b"\x1b]9;chat-tui: new direct message\x07\x07".to_vec()
        );
        let bell = Alerter::new(&Alerts {
            bell: true,
            osc9: false,
        });
        assert_eq!(bell.bytes(AlertKind::Mention), b"\x07".to_vec());
        let none = Alerter::new(&Alerts {
            bell: false,
            osc9: false,
        });
        let mut out = Vec::new();
        none.write(AlertKind::Mention, &mut out).unwrap();
        assert!(out.is_empty());
    }
}
