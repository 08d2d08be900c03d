//! Live state from the server that is not a stored event: presence,
//! receipts, typing, notifications and contacts.

use crate::action::Level;
use crate::app::App;
use crate::effect::{AlertKind, Effect};
use crate::state::{Members, Presence};
use chat_protocol::text::display_safe;
use chat_protocol::{Author, Contact, Notification, NotificationKind, RoomId, Seq, UserId};
use std::time::{Duration, Instant};

/// The least time between two typing notices for one room (3 s): the
/// server shows the indicator for a few seconds, so a notice every 3 s keeps
/// it lit while the user types without a request per key.
pub const TYPING_EVERY: Duration = Duration::from_secs(3);

/// Wire presence as the client shows it.
pub(crate) fn presence_of(p: chat_protocol::Presence) -> Presence {
    match p {
        chat_protocol::Presence::Online => Presence::Online,
        chat_protocol::Presence::Away => Presence::Away,
        chat_protocol::Presence::Offline => Presence::Offline,
    }
}

/// Records `user`'s presence and shows it in member lists and their direct room.
pub(crate) fn on_presence(app: &mut App, user: &Author, presence: Presence) {
    app.presence.insert(user.username.clone(), presence);
    for room in app.rooms.values_mut() {
        if let Members::Loaded(list) = &mut room.members {
            for m in list.iter_mut().filter(|m| m.user.id == user.id) {
                m.presence = presence;
            }
        }
        if room.peer() == Some(user.username.as_str()) {
            room.presence = presence;
        }
    }
}

/// Asks for the presence of every direct-room peer whose presence is not
/// known yet (after the room list arrives or a direct room is added).
pub(crate) fn load_peer_presence(app: &App, fx: &mut Vec<Effect>) {
    let usernames: Vec<String> = app
        .rooms
        .values()
        .filter_map(|r| r.peer())
        .filter(|p| !app.presence.contains_key(*p))
        .map(str::to_owned)
        .collect();
    if !usernames.is_empty() {
        fx.push(Effect::LoadPresence { usernames });
    }
}

/// A member's read marker moved. The caller's own marker (from another of
/// their devices) moves `read_seq` instead.
pub(crate) fn on_receipt(app: &mut App, room: RoomId, user: UserId, read_seq: Seq) {
    let me = app.me.as_ref().map(|m| m.id);
    let Some(r) = app.rooms.get_mut(&room) else {
        return;
    };
    if me == Some(user) {
        r.read_seq = r.read_seq.max(read_seq);
    } else {
        r.set_read(user, read_seq);
    }
}

/// The user typed into the input: tell the active room, at most once per
/// [`TYPING_EVERY`]. Commands (`/…`) are not typing.
pub(crate) fn typed(app: &mut App, fx: &mut Vec<Effect>) {
    let Some(room) = app.active else {
        return;
    };
    if !matches!(
        app.connection,
        crate::state::ConnectionStatus::Connected { .. }
    ) {
        return;
    }
    let text = app.composer.text();
    if text.trim().is_empty() || (text.starts_with('/') && !text.starts_with("//")) {
        return;
    }
    let now = app.now;
    let due = match app.typing_sent {
        Some((r, at)) if r == room => now.saturating_duration_since(at) >= TYPING_EVERY,
        _ => true,
    };
    if due {
        app.typing_sent = Some((room, now));
        fx.push(Effect::Typing { room });
    }
}

/// Converts a server expiry (UTC ms) to an instant on the local clock.
pub fn expiry(expires_at: chat_protocol::Timestamp, now: Instant) -> Instant {
    let left = expires_at
        .0
        .saturating_sub(chat_protocol::Timestamp::now().0);
    now + Duration::from_millis(left)
}

/// Alerts once per message for a mention or a direct message in a room
/// that is not in view, naming the sender and the room.
pub(crate) fn alert(
    app: &mut App,
    room: RoomId,
    seq: Seq,
    kind: AlertKind,
    from: &Author,
    fx: &mut Vec<Effect>,
) {
    if app.active == Some(room) || !app.alerted.insert((room, seq)) {
        return;
    }
    let place = match app.rooms.get(&room) {
        Some(r) if !r.is_direct() => format!("#{}", r.name),
        _ => String::new(),
    };
    let from = if from.display_name.is_empty() {
        from.username.clone()
    } else {
        from.display_name.clone()
    };
    fx.push(Effect::Alert {
        room,
        kind,
        from,
        place,
    });
}

/// A stored notification: mentions and direct messages alert when their
/// room is not in view.
pub(crate) fn on_notification(app: &mut App, n: Notification, fx: &mut Vec<Effect>) {
    match n.kind {
        NotificationKind::Mention { room, seq } => {
            alert(app, room, seq, AlertKind::Mention, &n.from, fx);
        }
        NotificationKind::DirectMessage { room, seq } => {
            alert(app, room, seq, AlertKind::Direct, &n.from, fx);
        }
        NotificationKind::Invited { name, .. } => app.set_status(
            Level::Info,
            format!(
                "{} added you to {}",
                crate::ui::message::name(&n.from),
                display_safe(&name)
            ),
        ),
        NotificationKind::ContactAdded => app.set_status(
            Level::Info,
            format!(
                "{} added you as a contact",
                crate::ui::message::name(&n.from)
            ),
        ),
    }
}

/// The contact list, shown in the status line with each contact's presence.
pub(crate) fn on_contacts(app: &mut App, contacts: Vec<Contact>) {
    if contacts.is_empty() {
        app.set_status(Level::Info, "no contacts yet");
        return;
    }
    let list: Vec<String> = contacts
        .iter()
        .map(|c| {
            let state = match c.presence {
                chat_protocol::Presence::Online => "online",
                chat_protocol::Presence::Away => "away",
                chat_protocol::Presence::Offline => "offline",
            };
            format!("{} ({state})", c.user.username)
        })
        .collect();
    for c in &contacts {
        on_presence(app, &c.user, presence_of(c.presence));
    }
    app.set_status(Level::Info, format!("contacts: {}", list.join(", ")));
}
