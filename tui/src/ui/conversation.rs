//! The centre pane: the active room's header and its timeline, laid out
//! from the bottom up so the item at the scroll anchor sits on the last row.

use super::message::{self, day, day_label, separator};
use super::theme;
use super::wrap::truncate;
use crate::app::App;
use crate::state::{OlderHistory, OutgoingState, Room, Scroll};
use chat_protocol::text::display_safe;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Draws the conversation pane into `area` (header row + timeline). With
/// `rooms_hidden` (no room list on a narrow terminal) the header says what
/// is unread in other rooms.
pub fn render(frame: &mut Frame, area: Rect, app: &App, rooms_hidden: bool) {
    if area.height == 0 {
        return;
    }
    let Some(room) = app.active_room() else {
        let hint = Paragraph::new(vec![
            Line::raw(""),
            Line::styled("  No room selected.", theme::dim()),
            Line::styled(
                "  /join ROOM or /dm USER to start, F1 for help.",
                theme::dim(),
            ),
        ]);
        frame.render_widget(hint, area);
        return;
    };
    let header = Rect { height: 1, ..area };
    frame.render_widget(
        Paragraph::new(header_line(app, room, area.width as usize, rooms_hidden)),
        header,
    );
    let body = Rect {
        y: area.y + 1,
        height: area.height - 1,
        ..area
    };
    let lines = body_lines(app, room, body.width as usize, body.height as usize);
    let top = body
        .height
        .saturating_sub(u16::try_from(lines.len()).unwrap_or(u16::MAX));
    let target = Rect {
        y: body.y + top,
        height: body.height - top,
        ..body
    };
    frame.render_widget(Paragraph::new(lines), target);
}

fn header_line(app: &App, room: &Room, cols: usize, rooms_hidden: bool) -> Line<'static> {
    let sigil = if room.is_direct() { "" } else { "#" };
    let title = format!("{sigil}{}", display_safe(&room.name));
    let mut spans = vec![Span::styled(
        format!(" {title}"),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    let mut right = match room.scroll {
        Scroll::Anchored(_) if room.unread > 0 => format!("↓ {} new below · End ", room.unread),
        Scroll::Anchored(_) => "↓ scrolled up · End ".to_string(),
        Scroll::Bottom => String::new(),
    };
    let (rooms, unread, mentions) = app.unread_elsewhere();
    if rooms_hidden && rooms > 0 {
        let at = if mentions > 0 {
            format!(" @{mentions}")
        } else {
            String::new()
        };
        let plural = if rooms == 1 { "" } else { "s" };
        right.push_str(&format!(
            "{unread} new in {rooms} room{plural}{at} · Ctrl-K "
        ));
    }
    let used = super::wrap::width(&title) + 1 + super::wrap::width(&right);
    if !room.topic.is_empty() && cols > used + 4 {
        let topic = truncate(&display_safe(&room.topic), cols - used - 4);
        spans.push(Span::styled(format!(" · {topic}"), theme::dim()));
    }
    let width: usize = spans.iter().map(|s| s.width()).sum();
    if !right.is_empty() {
        spans.push(Span::raw(
            " ".repeat(cols.saturating_sub(width + super::wrap::width(&right))),
        ));
        spans.push(Span::styled(
            right,
            Style::default().add_modifier(Modifier::REVERSED),
        ));
    }
    Line::from(spans)
}

/// The last `rows` lines of the timeline up to the scroll anchor, plus the
/// outbox when following the bottom.
fn body_lines(app: &App, room: &Room, cols: usize, rows: usize) -> Vec<Line<'static>> {
    // Blocks of lines, newest first; each block is in reading order.
    let mut blocks: Vec<Vec<Line<'static>>> = Vec::new();
    let mut total = 0;
    if room.scroll == Scroll::Bottom
        && let Some(me) = &app.me
    {
        let pending: Vec<_> = app.outbox.for_room(room.id).collect();
        for o in pending.into_iter().rev() {
            if matches!(o.state, OutgoingState::Acked(seq) if room.timeline.get(seq).is_some()) {
                continue;
            }
            let lines = message::pending_lines(o, me, cols);
            total += lines.len();
            blocks.push(lines);
        }
    }
    let own_latest = app
        .me
        .as_ref()
        .and_then(|me| room.timeline.last_message_by(me.id))
        .map(|(seq, _)| seq);
    let me = app.me.as_ref().map(|m| m.username.as_str());
    if let Some(bottom) = room.bottom_seq() {
        let mut items = room.timeline.items_through(bottom).peekable();
        while total < rows
            && let Some(item) = items.next()
        {
            // Who read it: under your newest message, and under the
            // selected one.
            let seen = (own_latest == Some(item.seq) || room.selected == Some(item.seq))
                .then(|| room.seen_names(item.seq));
            let mut lines =
                message::item_lines(item, &room.timeline, cols, me, seen, &app.previews);
            if room.selected == Some(item.seq) {
                for line in &mut lines {
                    line.style = line.style.add_modifier(Modifier::REVERSED);
                }
            }
            let older = items.peek();
            if let Some(mark) = room.new_marker
                && item.seq >= mark
                && older.is_none_or(|o| o.seq < mark)
            {
                lines.insert(0, new_messages(cols));
            }
            if older.map(|o| day(o.ts)) != Some(day(item.ts)) {
                lines.insert(0, separator(&day_label(day(item.ts)), cols));
            }
            if older.is_none() {
                lines.insert(0, top_marker(room, cols));
            }
            total += lines.len();
            blocks.push(lines);
        }
    } else {
        blocks.push(vec![top_marker(room, cols)]);
    }
    let mut lines: Vec<Line<'static>> = blocks.into_iter().rev().flatten().collect();
    let skip = lines.len().saturating_sub(rows);
    lines.drain(..skip);
    lines
}

/// The line above the first message that was unread when the room was
/// opened.
fn new_messages(cols: usize) -> Line<'static> {
    let text = "── new messages ──";
    let pad = cols.saturating_sub(super::wrap::width(text)) / 2;
    Line::from(vec![
        Span::raw(" ".repeat(pad)),
        Span::styled(
            text,
            Style::default()
                .fg(ratatui::style::Color::LightRed)
                .add_modifier(Modifier::BOLD),
        ),
    ])
}

/// What sits above the oldest loaded item.
fn top_marker(room: &Room, cols: usize) -> Line<'static> {
    match &room.timeline.older {
        OlderHistory::Loading { .. } => separator("loading older messages…", cols),
        OlderHistory::Failed(_) => separator("could not load older messages; PgUp to retry", cols),
        OlderHistory::Idle if room.timeline.has_older() => {
            separator("PgUp for older messages", cols)
        }
        OlderHistory::Idle => {
            let name = display_safe(&room.name).into_owned();
            let sigil = if room.is_direct() { "" } else { "#" };
            separator(&format!("start of {sigil}{name}"), cols)
        }
    }
}
