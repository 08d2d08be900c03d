//! Terminal alerts for mentions and direct messages: the bell (BEL) and an
//! OSC 9 desktop notification (`ESC ] 9 ; text BEL`, understood by iTerm2,
//! kitty, WezTerm, Windows Terminal and others; terminals that do not know
//! it ignore it), each switched by the `[alerts]` config section.

use crate::config::Alerts;
use crate::effect::AlertKind;
use chat_protocol::text::display_safe;
use std::io::Write;

/// Longest notification text, in columns (100): desktop notifications show
/// about this much.
pub const MAX_NOTICE: usize = 100;

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
    /// The notification says who and where (`from`, `place` as stored;
    /// `place` empty for a direct message). Both pass through
    /// `display_safe`, so no control character, ESC or BEL from the network
    /// can end the OSC sequence early or start another; the text is cut to
    /// [`MAX_NOTICE`] columns.
    pub fn bytes(&self, kind: AlertKind, from: &str, place: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if self.osc9 {
            let from = display_safe(from);
            let text = match kind {
                AlertKind::Mention if place.is_empty() => {
                    format!("chat-tui: {from} mentioned you")
                }
                AlertKind::Mention => {
                    format!("chat-tui: {from} mentioned you in {}", display_safe(place))
                }
                AlertKind::Direct => format!("chat-tui: {from} sent you a direct message"),
            };
            let text = crate::ui::wrap::truncate(&text.replace('\n', " "), MAX_NOTICE);
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
    pub fn write(
        &self,
        kind: AlertKind,
        from: &str,
        place: &str,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let bytes = self.bytes(kind, from, place);
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
            both.bytes(AlertKind::Direct, "Bob", ""),
            b"\x1b]9;chat-tui: Bob sent you a direct message\x07\x07".to_vec()
        );
        assert_eq!(
            both.bytes(AlertKind::Mention, "Bob", "#3병동"),
            "\x1b]9;chat-tui: Bob mentioned you in #3병동\x07\x07".as_bytes()
        );
        let bell = Alerter::new(&Alerts {
            bell: true,
            osc9: false,
        });
        assert_eq!(
            bell.bytes(AlertKind::Mention, "Bob", "#ops"),
            b"\x07".to_vec()
        );
        let none = Alerter::new(&Alerts {
            bell: false,
            osc9: false,
        });
        let mut out = Vec::new();
        none.write(AlertKind::Mention, "Bob", "#ops", &mut out)
            .unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn hostile_names_cannot_end_or_inject_escape_sequences() {
        let both = Alerter::new(&Alerts::default());
        let evil = "Mal\x07\x1b]0;owned\x1b\\\u{9c}\u{202e}\n";
        let bytes = both.bytes(AlertKind::Mention, evil, "#ops\x07");
        // One OSC introducer, one terminator, then the bell; nothing else
        // a terminal would act on.
        let body = &bytes[4..bytes.len() - 2];
        assert!(bytes.starts_with(b"\x1b]9;") && bytes.ends_with(b"\x07\x07"));
        let text = std::str::from_utf8(body).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{text:?}"
        );
        let long = "x".repeat(500);
        let bytes = both.bytes(AlertKind::Direct, &long, "");
        assert!(bytes.len() < MAX_NOTICE + 10, "{}", bytes.len());
    }
}
