//! The view: draws a whole screen from `&App`. Nothing here changes state.
//!
//! Layout by terminal width: ≥ 100 columns shows the room list (24 wide),
//! the conversation, and the member pane when toggled; 80–99 a narrower
//! room list (18) and no member pane; < 80 the conversation alone.

mod conversation;
mod members;
pub mod message;
mod popup;
mod rooms;
mod status;
mod theme;
pub mod wrap;

pub use theme::sender_colour;

use crate::app::{App, Overlay};
use crate::composer::ComposeMode;
use chat_protocol::text::display_safe;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};

/// Width of the room list at ≥ 100 columns.
const ROOMS_WIDE: u16 = 24;
/// Width of the room list at 80–99 columns.
const ROOMS_NARROW: u16 = 18;
/// Width of the member pane.
const MEMBERS_WIDTH: u16 = 24;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let input_rows = app.composer.rows() + 1;
    let [main, input, status_row] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(input_rows),
        Constraint::Length(1),
    ])
    .areas(area);

    let (rooms_w, members_w) = match area.width {
        w if w >= 100 => (ROOMS_WIDE, if app.show_members { MEMBERS_WIDTH } else { 0 }),
        w if w >= 80 => (ROOMS_NARROW, 0),
        _ => (0, 0),
    };
    let [rooms_area, conv_area, members_area] = Layout::horizontal([
        Constraint::Length(rooms_w),
        Constraint::Min(20),
        Constraint::Length(members_w),
    ])
    .areas(main);
    if rooms_w > 0 {
        rooms::render(frame, rooms_area, app);
    }
    conversation::render(frame, conv_area, app);
    if members_w > 0 {
        members::render(frame, members_area, app);
    }
    render_input(frame, input, app);
    status::render(frame, status_row, app);

    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => popup::help(frame, area, app),
        Overlay::Switcher(sw) => popup::switcher(frame, area, app, sw),
    }
}

fn render_input(frame: &mut Frame, area: Rect, app: &App) {
    let title = match (app.composer.mode, app.active_room()) {
        (ComposeMode::Edit(_), _) => " editing your message · Esc cancels ".to_string(),
        (ComposeMode::Reply(seq), Some(room)) => {
            let who = room
                .timeline
                .get(seq)
                .map(|i| message::name(&i.actor))
                .unwrap_or_default();
            format!(" replying to {who} · Esc cancels ")
        }
        (_, Some(room)) if room.is_direct() => format!(" message {} ", display_safe(&room.name)),
        (_, Some(room)) => format!(" message #{} ", display_safe(&room.name)),
        (_, None) => " no room ".to_string(),
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(Style::default().fg(ratatui::style::Color::DarkGray))
        .title(Span::styled(
            title,
            Style::default().add_modifier(Modifier::DIM),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(&app.composer.textarea, inner);
}
