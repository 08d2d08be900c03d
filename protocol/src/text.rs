//! The control-character policy, shared by every client.
//!
//! **Policy: store as sent, render harmlessly.** The server stores message
//! text exactly as sent, control characters included, because real chat
//! text carries them (IRC colour codes such as `\x03` and `\x0f` occur in
//! the Ubuntu IRC transcripts) and an audit export must give back what was
//! written. Every client that draws text on a terminal passes it through
//! [`display_safe`] first, which makes each character that could move the
//! cursor, start an ANSI/OSC escape sequence or reorder text visible and inert:
//!
//! * C0 controls (U+0000–U+001F) other than newline, and DEL (U+007F), become
//!   their Unicode Control Pictures (U+2400–U+2421), so ESC shows as `␛`.
//!   Tab becomes a space.
//! * C1 controls (U+0080–U+009F), which include the 8-bit CSI and OSC
//!   introducers, become U+FFFD.
//! * Bidirectional formatting characters (U+061C, U+200E, U+200F,
//!   U+202A–U+202E, U+2066–U+2069), the "Trojan Source" characters of
//!   CVE-2021-42574, become U+FFFD.
//!
//! Newlines are kept; each client decides how to lay out lines. Programs that
//! emit machine-readable output (JSON) emit the stored text unchanged, since
//! JSON escapes control characters itself.

use std::borrow::Cow;

/// Whether `c` is neutralised by [`display_safe`].
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n') || is_bidi_control(c)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Text safe to write to a terminal: see the module docs for the mapping.
/// Borrows when nothing needs replacing, which is the common case.
pub fn display_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(neutralise).collect())
}

fn neutralise(c: char) -> char {
    match c {
        '\t' => ' ',
        '\u{7f}' => '\u{2421}',
        c if (c as u32) < 0x20 && c != '\n' => {
            char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}')
        }
        c if is_unsafe(c) => '\u{FFFD}',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(display_safe("hello\nworld"), Cow::Borrowed(_)));
    }

    #[test]
    fn escapes_become_visible_and_inert() {
        let out = display_safe("\x1b[2J\x1b]0;pwned\x07 \u{9b}31m \u{202e}abc \x03");
        assert!(!out.chars().any(is_unsafe), "{out:?}");
        assert!(out.starts_with("␛[2J␛]0;pwned␇"));
        assert!(out.contains('\u{FFFD}'));
        assert!(out.ends_with('␃'));
    }
}
