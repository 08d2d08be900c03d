//! Popups drawn over the main screen: the help screen, the quick switcher
//! and yes/no questions.

use super::theme;
use super::wrap::truncate;
use crate::app::{App, Confirm, Switcher};
use crate::command::COMMANDS;
use crate::keymap::KeyAction;
use chat_protocol::text::display_safe;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

/// A rectangle of at most `w`×`h` centred in `area`.
pub(super) fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub(super) fn frame_block(title: &str) -> Block<'_> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Span::styled(
            format!(" {title} "),
            Style::default().add_modifier(Modifier::BOLD),
        ))
}

/// Draws the help screen: keys on the left, commands on the right.
pub fn help(frame: &mut Frame, area: Rect, app: &App) {
    let rect = centred(area, 98, 28);
    frame.render_widget(Clear, rect);
    let block = frame_block("Help").title_bottom(Line::styled(" Esc closes ", theme::dim()));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [keys_area, cmds_area] =
        Layout::horizontal([Constraint::Length(46), Constraint::Min(0)]).areas(inner);
    let key_style = Style::default().fg(Color::Cyan);
    let head = |s: &str| {
        Line::styled(
            format!(" {s}"),
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )
    };
    let mut keys = vec![head("Keys"), Line::raw("")];
    let row = |k: String, what: &str| {
        Line::from(vec![
            Span::styled(format!(" {k:<17} "), key_style),
            Span::raw(what.to_string()),
        ])
    };
    for action in KeyAction::ALL {
        let bound: Vec<String> = app
            .keymap
            .keys(action)
            .iter()
            .map(ToString::to_string)
            .collect();
        let bound = if bound.is_empty() {
            "(unbound)".to_string()
        } else {
            bound.join(", ")
        };
        keys.push(row(bound, action.describe()));
    }
    keys.push(row("Alt-1..9".into(), "room 1–9 of the list"));
    keys.push(row("Up (empty input)".into(), "edit your last message"));
    keys.push(row("Alt-Up, Alt-Down".into(), "select a message"));
    keys.push(row("r/e/d (selected)".into(), "reply, react, delete"));
    keys.push(row("s/o (selected)".into(), "save files / open one"));
    keys.push(row("Esc".into(), "clear input, cancel"));
    keys.push(row("Mouse wheel".into(), "scroll"));
    keys.push(Line::raw(""));
    keys.push(Line::styled(
        " Change keys in the config file:",
        theme::dim(),
    ));
    keys.push(Line::styled(
        " [keys] next_room = [\"ctrl-n\", \"alt-right\"]",
        theme::dim(),
    ));
    frame.render_widget(Paragraph::new(keys), keys_area);

    let mut cmds = vec![head("Commands"), Line::raw("")];
    let mut compact = Vec::new();
    for (name, usage, what) in COMMANDS {
        // Moderation and account commands are listed by name only, below
        // the others, so the whole list fits a 30-row terminal; `/name`
        // shows its usage when typed without it.
        if name.compact_in_help() {
            compact.push(format!("/{}", name.as_str()));
            continue;
        }
        let mark = if name.supported() { " " } else { "*" };
        cmds.push(Line::from(vec![
            Span::styled(format!("{usage:<23}"), key_style),
            Span::raw(format!("{mark}{what}")),
        ]));
    }
    cmds.push(Line::from(vec![
        Span::styled("Moderation, account: ", theme::dim()),
        Span::styled(compact.join(" "), key_style),
    ]));
    cmds.push(Line::styled(
        "* not supported by the server yet",
        theme::dim(),
    ));
    frame.render_widget(
        Paragraph::new(cmds).wrap(ratatui::widgets::Wrap { trim: true }),
        cmds_area,
    );
}

/// Draws the quick switcher: the query and the matching rooms.
pub fn switcher(frame: &mut Frame, area: Rect, app: &App, sw: &Switcher) {
    let matches = app.switcher_matches(&sw.query);
    let height = u16::try_from(matches.len().min(10)).unwrap_or(10) + 4;
    let rect = centred(area, 44, height);
    frame.render_widget(Clear, rect);
    let block = frame_block("Switch room");
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let cols = inner.width as usize;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(" > ", theme::dim()),
            Span::raw(display_safe(&sw.query).into_owned()),
            Span::styled("▏", theme::dim()),
        ]),
        Line::raw(""),
    ];
    if matches.is_empty() {
        lines.push(Line::styled(" no room matches", theme::dim()));
    }
    for (i, id) in matches.iter().take(10).enumerate() {
        let Some(room) = app.rooms.get(id) else {
            continue;
        };
        let sigil = if room.is_direct() { "" } else { "#" };
        let text = truncate(&format!(" {sigil}{}", display_safe(&room.name)), cols);
        let style = if i == sw.selected {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        lines.push(Line::styled(text, style));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Draws a yes/no question: what will happen and which key does it.
pub fn confirm(frame: &mut Frame, area: Rect, app: &App, question: &Confirm) {
    let (title, lines) = match question {
        Confirm::Delete { room, seq } => {
            let preview = app
                .rooms
                .get(room)
                .and_then(|r| r.timeline.get(*seq))
                .and_then(|i| i.message().map(|m| (super::message::name(&m.sender), m)))
                .map(|(who, m)| {
                    let first = display_safe(&m.text)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    format!("{who}: {first}")
                })
                .unwrap_or_default();
            (
                "Delete message",
                vec![
                    " Delete this message for everyone?".to_string(),
                    format!(" {}", truncate(&preview, 54)),
                ],
            )
        }
        Confirm::Quit { unsent } => (
            "Quit",
            vec![
                if *unsent == 1 {
                    " 1 message is not sent yet.".to_string()
                } else {
                    format!(" {unsent} messages are not sent yet.")
                },
                " They are saved and will be sent the next time".to_string(),
                " you start chat-tui. Quit now?".to_string(),
            ],
        ),
    };
    let rect = centred(area, 62, u16::try_from(lines.len()).unwrap_or(3) + 4);
    frame.render_widget(Clear, rect);
    let block = frame_block(title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let mut text: Vec<Line> = lines.into_iter().map(Line::raw).collect();
    text.push(Line::raw(""));
    text.push(Line::from(vec![
        Span::styled(" y", Style::default().fg(Color::Cyan)),
        Span::raw(" yes   "),
        Span::styled("n, Esc", Style::default().fg(Color::Cyan)),
        Span::raw(" no"),
    ]));
    frame.render_widget(Paragraph::new(text), inner);
}
