//! The bottom status line: connection state, server, round trip, queued
//! messages, the latest status message, and who is typing.

use super::theme;
use super::wrap::{truncate, width};
use crate::action::Level;
use crate::app::App;
use crate::state::ConnectionStatus;
use chat_protocol::text::display_safe;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Draws the status line into `area` (one row).
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let cols = area.width as usize;
    let base = Style::default().bg(Color::Black).fg(Color::Gray);
    let mut left = connection_spans(app);
    let queued = app
        .outbox
        .iter()
        .filter(|o| !matches!(o.state, crate::state::OutgoingState::Acked(_)))
        .count();
    if queued > 0 {
        left.push(Span::styled(
            format!(" · {queued} queued"),
            Style::default().fg(Color::Yellow),
        ));
    }
    let typing = typing_text(app);
    let left_w: usize = left.iter().map(|s| s.width()).sum();
    if let Some(msg) = &app.status {
        let room = cols.saturating_sub(left_w + width(&typing) + 4);
        let style = match msg.level {
            Level::Info => Style::default().fg(Color::White),
            Level::Error => Style::default().fg(Color::LightRed),
        };
        left.push(Span::raw(" │ "));
        left.push(Span::styled(
            truncate(&display_safe(&msg.text), room),
            style,
        ));
    }
    let used: usize = left.iter().map(|s| s.width()).sum();
    if !typing.is_empty() {
        left.push(Span::raw(
            " ".repeat(cols.saturating_sub(used + width(&typing) + 1)),
        ));
        left.push(Span::styled(
            typing,
            Style::default().add_modifier(Modifier::ITALIC),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(left)).style(base), area);
}

fn connection_spans(app: &App) -> Vec<Span<'static>> {
    match &app.connection {
        ConnectionStatus::Connecting => vec![Span::styled(
            " … connecting",
            Style::default().fg(Color::Yellow),
        )],
        ConnectionStatus::Connected { server, rtt_ms } => {
            let mut spans = vec![
                Span::styled(" ● connected", Style::default().fg(Color::Green)),
                Span::raw(format!(" · {}", display_safe(server))),
            ];
            if let Some(rtt) = rtt_ms {
                spans.push(Span::raw(format!(" · {rtt} ms")));
            }
            spans
        }
        ConnectionStatus::Reconnecting {
            attempt, retry_at, ..
        } => {
            let secs = retry_at
                .saturating_duration_since(app.now)
                .as_millis()
                .div_ceil(1000);
            let when = if secs == 0 {
                "now".to_string()
            } else {
                format!("in {secs}s")
            };
            vec![Span::styled(
                format!(" ⟳ reconnecting {when} (attempt {attempt})"),
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            )]
        }
        ConnectionStatus::Offline(why) => vec![Span::styled(
            format!(" ✗ offline: {}", display_safe(why)),
            theme::error().add_modifier(Modifier::BOLD),
        )],
    }
}

fn typing_text(app: &App) -> String {
    let Some(room) = app.active_room() else {
        return String::new();
    };
    let names: Vec<String> = room
        .typing
        .active(app.now)
        .into_iter()
        .map(|n| truncate(&display_safe(n), 20))
        .collect();
    match names.as_slice() {
        [] => String::new(),
        [a] => format!("{a} is typing…"),
        [a, b] => format!("{a} and {b} are typing…"),
        more => format!("{} people are typing…", more.len()),
    }
}
