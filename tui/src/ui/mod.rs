//! The view: draws a whole screen from `&App`. Nothing here changes state.
//!
//! Layout by terminal width: ≥ 100 columns shows the room list (24 wide),
//! the conversation, and the member pane when toggled; 80–99 a narrower
//! room list (18) and no member pane; < 80 the conversation alone (its
//! header then counts what is unread elsewhere).
//!
//! The terminal's own cursor is put at the input's caret on every frame
//! (hidden while a popup is open), so an input method draws its preedit
//! (Korean, Japanese, Chinese composition) where the text will go.

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
use crate::state::ConnectionStatus;
use chat_protocol::text::display_safe;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

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
    let problem = match &app.connection {
        ConnectionStatus::Reconnecting {
            problem: Some(p), ..
        } => Some(banner_text(p, true)),
        ConnectionStatus::Offline(why) => Some(banner_text(why, false)),
        _ => None,
    };
    let banner_rows = problem
        .as_deref()
        .map_or(0, |p| banner_height(p, area.width));
    let [main, banner, input, status_row] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(banner_rows),
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
    conversation::render(frame, conv_area, app, rooms_w == 0);
    if members_w > 0 {
        members::render(frame, members_area, app);
    }
    if let Some(problem) = &problem {
        render_banner(frame, banner, problem);
    }
    render_input(frame, input, app);
    status::render(frame, status_row, app);

    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => popup::help(frame, area, app),
        Overlay::Switcher(sw) => popup::switcher(frame, area, app, sw),
        Overlay::Confirm(question) => popup::confirm(frame, area, app, question),
    }
}

/// The words of the connection problem banner, before wrapping; whether
/// chat-tui is `retrying` says what happens next.
fn banner_text(problem: &str, retrying: bool) -> String {
    let next = if retrying {
        "chat-tui keeps trying; /reconnect tries now."
    } else {
        "chat-tui has stopped trying."
    };
    format!(
        "✗ Not connected: {}. {next}",
        display_safe(problem).trim_end_matches('.')
    )
}

/// Rows the banner needs at `cols` columns: its wrapped lines, 1 to 4.
fn banner_height(text: &str, cols: u16) -> u16 {
    let rows = wrap::wrap(text, usize::from(cols), usize::from(cols)).len();
    u16::try_from(rows).unwrap_or(4).clamp(1, 4)
}

/// A problem retrying alone may not fix (a changed certificate, a refused
/// login), in plain words above the input until a connection succeeds.
fn render_banner(frame: &mut Frame, area: Rect, text: &str) {
    let style = theme::error().add_modifier(Modifier::BOLD);
    let text = Paragraph::new(Line::styled(text.to_owned(), style)).wrap(Wrap { trim: true });
    frame.render_widget(text, area);
}

fn render_input(frame: &mut Frame, area: Rect, app: &App) {
    let title = match (app.composer.mode, app.active_room()) {
        (ComposeMode::Edit(_), _) => " editing your message · Esc cancels ".to_string(),
        (ComposeMode::React(seq), Some(room)) => {
            let who = room
                .timeline
                .get(seq)
                .map(|i| message::name(&i.actor))
                .unwrap_or_default();
            format!(" react to {who}'s message: type an emoji, Enter · Esc cancels ")
        }
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
    if app.password_change.is_some() {
        // `/password` never shows the passwords typed (one `•` per
        // character, so the caret stays where the text ends).
        let mut masked = app.composer.textarea.clone();
        masked.set_mask_char('•');
        frame.render_widget(&masked, inner);
    } else {
        frame.render_widget(&app.composer.textarea, inner);
    }
    if app.overlay == Overlay::None
        && let Some(caret) = caret(app, inner)
    {
        frame.set_cursor_position(caret);
    }
}

/// Where the input's caret is on screen, once the text area has been drawn
/// into `inner` (its wrapping and scrolling are known then); `None` if it
/// falls outside.
fn caret(app: &App, inner: Rect) -> Option<Position> {
    let textarea = &app.composer.textarea;
    let at = textarea.screen_cursor();
    let (top, left) = textarea.scroll_offset();
    let row = u16::try_from(at.row).ok()?.checked_sub(top)?;
    let col = u16::try_from(at.col).ok()?.checked_sub(left)?;
    (row < inner.height && col < inner.width).then(|| Position {
        x: inner.x + col,
        y: inner.y + row,
    })
}
