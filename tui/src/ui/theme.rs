//! Colours and symbols shared by the panes.

use crate::state::Presence;
use chat_protocol::UserId;
use ratatui::style::{Color, Modifier, Style};

/// Sender colours: distinct on dark and light backgrounds, avoiding red
/// (used for errors) and dark grey (used for metadata).
const SENDER_COLOURS: [Color; 10] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::LightCyan,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
];

/// A user's colour: a stable function of the user id (a 64-bit mix, so
/// consecutive ids get unrelated colours), the same in every session.
pub fn sender_colour(id: UserId) -> Color {
    // SplitMix64 finaliser (Steele, Lea, Flood 2014).
    let mut x = id.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    SENDER_COLOURS[(x % SENDER_COLOURS.len() as u64) as usize]
}

/// Style of a sender's name.
pub fn sender(id: UserId) -> Style {
    Style::default()
        .fg(sender_colour(id))
        .add_modifier(Modifier::BOLD)
}

/// Style of times, markers and other metadata.
pub fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

/// Style of error text.
pub fn error() -> Style {
    Style::default().fg(Color::Red)
}

/// The presence dot and its colour.
pub fn presence_dot(p: Presence) -> (&'static str, Style) {
    match p {
        Presence::Online => ("●", Style::default().fg(Color::Green)),
        Presence::Away => ("◐", Style::default().fg(Color::Yellow)),
        Presence::Offline => ("○", dim()),
        Presence::Unknown => ("·", dim()),
    }
}
