//! The left pane: rooms in [`App::room_order`] (pinned, then groups, then
//! direct rooms, each by name; activity never moves a row), numbered for
//! Alt-1..9, with unread and mention badges and a presence dot for direct
//! rooms. In a direct room every unread message is addressed to the user,
//! so its badge is the mention badge alone.

use super::theme;
use super::wrap::{truncate, width};
use crate::app::App;
use chat_protocol::text::display_safe;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// Draws the room list into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::default()
        .borders(Borders::RIGHT)
        .border_style(theme::dim())
        .title(Span::styled(
            " Rooms",
            Style::default().add_modifier(Modifier::BOLD),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let cols = inner.width as usize;
    let lines: Vec<Line> = app
        .room_order()
        .into_iter()
        .filter_map(|id| app.rooms.get(&id))
        .enumerate()
        .map(|(i, room)| {
            let active = app.active == Some(room.id);
            let (dot, dot_style) = if room.is_direct() {
                theme::presence_dot(room.presence)
            } else {
                ("#", theme::dim())
            };
            let mut badges = Vec::new();
            if room.mentions > 0 {
                badges.push(Span::styled(
                    format!("@{}", room.mentions),
                    Style::default()
                        .fg(Color::Magenta)
                        .add_modifier(Modifier::BOLD),
                ));
            }
            let same = room.is_direct() && room.mentions == room.unread;
            if room.unread > 0 && !same {
                if !badges.is_empty() {
                    badges.push(Span::raw(" "));
                }
                badges.push(Span::styled(
                    room.unread.min(999).to_string(),
                    Style::default().add_modifier(Modifier::BOLD),
                ));
            }
            let badge_w: usize = badges.iter().map(|s| s.width()).sum();
            let key = if i < 9 {
                format!("{}", i + 1)
            } else {
                " ".to_string()
            };
            // "1 # name      @2 5 "
            let name_room = cols.saturating_sub(4 + badge_w + usize::from(badge_w > 0) + 1);
            let room_name = if room.is_direct() {
                display_safe(&room.name).trim_start_matches('@').to_string()
            } else {
                display_safe(&room.name).into_owned()
            };
            let name = truncate(&room_name, name_room);
            let pad = name_room.saturating_sub(width(&name));
            let mut name_style = Style::default();
            if room.unread > 0 {
                name_style = name_style.add_modifier(Modifier::BOLD);
            }
            let mut spans = vec![
                Span::styled(key, theme::dim()),
                Span::raw(" "),
                Span::styled(dot, dot_style),
                Span::raw(" "),
                Span::styled(name, name_style),
                Span::raw(" ".repeat(pad + usize::from(badge_w > 0))),
            ];
            spans.extend(badges);
            spans.push(Span::raw(" "));
            let mut line = Line::from(spans);
            if active {
                line = line.style(Style::default().add_modifier(Modifier::REVERSED));
            }
            line
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
