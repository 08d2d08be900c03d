//! The right pane: the active room's members with roles and presence.

use super::theme;
use super::wrap::truncate;
use crate::app::App;
use crate::state::Members;
use chat_protocol::Role;
use chat_protocol::text::display_safe;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// Draws the member pane into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let members = app.active_room().map(|r| &r.members);
    let title = match members {
        Some(Members::Loaded(list)) => format!(" Members ({})", list.len()),
        _ => " Members".to_string(),
    };
    let block = Block::default()
        .borders(Borders::LEFT)
        .border_style(theme::dim())
        .title(Span::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let cols = inner.width as usize;
    let lines: Vec<Line> = match members {
        None | Some(Members::NotLoaded) => vec![],
        Some(Members::Loading) => vec![Line::styled(" loading…", theme::dim())],
        Some(Members::Failed(why)) => vec![Line::styled(
            format!(" {}", display_safe(why)),
            theme::error(),
        )],
        Some(Members::Loaded(list)) => list
            .iter()
            .map(|m| {
                let (dot, dot_style) = theme::presence_dot(m.presence);
                let role = match m.role {
                    Role::Owner => "owner",
                    Role::Admin => "admin",
                    Role::Member => "",
                };
                let name = truncate(
                    &super::message::name(&m.user),
                    cols.saturating_sub(4 + role.len() + usize::from(!role.is_empty())),
                );
                let pad = cols.saturating_sub(3 + super::wrap::width(&name) + role.len() + 1);
                Line::from(vec![
                    Span::raw(" "),
                    Span::styled(dot, dot_style),
                    Span::raw(" "),
                    Span::styled(name, theme::sender(m.user.id)),
                    Span::raw(" ".repeat(pad)),
                    Span::styled(role, theme::dim()),
                ])
            })
            .collect(),
    };
    frame.render_widget(Paragraph::new(lines), inner);
}
