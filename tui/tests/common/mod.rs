//! Shared fixtures: authors, events, an app with rooms, and screen rendering.

#![allow(dead_code, clippy::unwrap_used)]

use chat_protocol::{
    Author, MessageEvent, MessageId, Role, RoomEvent, RoomEventKind, RoomId, RoomInfo, RoomKind,
    RoomSummary, Seq, Timestamp, UserId, Visibility,
};
use chat_tui::keymap::Keymap;
use chat_tui::state::ConnectionStatus;
use chat_tui::{Action, App, Effect, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::Instant;

/// Tuesday 3 March 2026, 09:00:00 UTC, in ms.
pub const T0: u64 = 1_772_528_400_000;
/// One minute in ms.
pub const MIN: u64 = 60_000;

pub fn author(id: u64, username: &str, display: &str) -> Author {
    Author {
        id: UserId(id),
        username: username.into(),
        display_name: display.into(),
        org: String::new(),
    }
}

pub fn me() -> Author {
    author(1, "alice", "Alice")
}
pub fn bob() -> Author {
    author(2, "bob", "Bob")
}
pub fn carol() -> Author {
    author(3, "carol", "Carol Nguyen")
}

pub fn msg(room: u64, seq: u64, ts: u64, sender: &Author, text: &str) -> RoomEvent {
    RoomEvent {
        room: RoomId(room),
        seq: Seq(seq),
        ts: Timestamp(ts),
        sender: sender.clone(),
        kind: RoomEventKind::Message(MessageEvent {
            id: MessageId::new_at(Timestamp(ts)),
            text: text.into(),
            reply_to: None,
            mentions: Vec::new(),
            edited_at: None,
            deleted: None,
            reactions: Vec::new(),
            attachments: Vec::new(),
        }),
    }
}

pub fn reply(room: u64, seq: u64, ts: u64, sender: &Author, text: &str, to: u64) -> RoomEvent {
    let mut ev = msg(room, seq, ts, sender, text);
    if let RoomEventKind::Message(m) = &mut ev.kind {
        m.reply_to = Some(Seq(to));
    }
    ev
}

pub fn info(id: u64, name: &str, kind: RoomKind, head: u64) -> RoomInfo {
    RoomInfo {
        id: RoomId(id),
        kind,
        name: name.into(),
        topic: String::new(),
        visibility: Visibility::Public,
        created_at: Timestamp(T0 - 86_400_000),
        archived: false,
        member_count: 3,
        head: Seq(head),
    }
}

pub fn summary(info: RoomInfo, unread: u64, mentions: u64, last: u64) -> RoomSummary {
    RoomSummary {
        read_seq: Seq(info.head.0.saturating_sub(unread)),
        room: info,
        role: Role::Member,
        unread,
        mentions,
        last_message: None,
        last_activity: Timestamp(last),
    }
}

/// A logged-in, connected app with no rooms, at 100×30.
pub fn app() -> App {
    let mut app = App::new(Keymap::default(), Instant::now());
    update(&mut app, Action::LoggedIn(me()));
    update(
        &mut app,
        Action::Connection(ConnectionStatus::Connected {
            server: "chat.example.org:7443".into(),
            rtt_ms: Some(12),
        }),
    );
    update(
        &mut app,
        Action::Resize {
            width: 100,
            height: 30,
        },
    );
    app
}

/// Applies actions in order and collects every effect.
pub fn apply(app: &mut App, actions: impl IntoIterator<Item = Action>) -> Vec<Effect> {
    actions.into_iter().flat_map(|a| update(app, a)).collect()
}

/// Draws `app` at `w`×`h` and returns the screen as text, one quoted row per
/// line (quotes show trailing spaces); the cell after a wide character is skipped.
pub fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| chat_tui::ui::draw(f, app)).unwrap();
    buffer_text(term.backend().buffer())
}

pub fn buffer_text(buf: &ratatui::buffer::Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        out.push('"');
        let mut skip = 0usize;
        for x in 0..buf.area.width {
            let sym = buf[(x, y)].symbol();
            if skip > 0 {
                skip -= 1;
                continue;
            }
            out.push_str(sym);
            skip = chat_tui::ui::wrap::width(sym).saturating_sub(1);
        }
        out.push_str("\"\n");
    }
    out
}

pub fn key(code: crossterm::event::KeyCode) -> Action {
    Action::Key(crossterm::event::KeyEvent::new(
        code,
        crossterm::event::KeyModifiers::NONE,
    ))
}

pub fn key_mod(code: crossterm::event::KeyCode, mods: crossterm::event::KeyModifiers) -> Action {
    Action::Key(crossterm::event::KeyEvent::new(code, mods))
}

pub fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    let mut fx = Vec::new();
    for c in text.chars() {
        fx.extend(update(app, key(crossterm::event::KeyCode::Char(c))));
    }
    fx
}
