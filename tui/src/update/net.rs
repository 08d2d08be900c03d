//! What the network task reports: connection changes, rooms, events, acks.

use super::live;
use super::nav::{self, INITIAL_BACKLOG};
use crate::action::{Action, Level};
use crate::app::App;
use crate::effect::{AlertKind, Effect};
use crate::state::{Applied, ConnectionStatus, Members, OlderHistory, Room, Scroll, mention};
use chat_protocol::text::display_safe;
use chat_protocol::{RoomEvent, RoomEventKind, Seq, UserEvent};

pub(super) fn on_network(app: &mut App, action: Action, fx: &mut Vec<Effect>) {
    match action {
        Action::Connection(status) => on_connection(app, status, fx),
        Action::LoggedIn(me) => app.me = Some(me),
        Action::Rooms(list) => {
            for summary in list {
                let id = summary.room.id;
                match app.rooms.get_mut(&id) {
                    // The room in view, at the bottom, was read as it
                    // arrived: the server's count may be from before that.
                    Some(room) if app.active == Some(id) && room.scroll == Scroll::Bottom => {
                        room.read_seq = room.read_seq.max(summary.read_seq);
                        room.counted_through = room.counted_through.max(summary.room.head);
                        room.last_activity = room.last_activity.max(summary.last_activity);
                    }
                    Some(room) => {
                        room.unread = summary.unread;
                        room.mentions = summary.mentions;
                        if room.is_direct() {
                            room.mentions = room.mentions.max(room.unread);
                        }
                        room.read_seq = room.read_seq.max(summary.read_seq);
                        room.counted_through = room.counted_through.max(summary.room.head);
                        room.last_activity = room.last_activity.max(summary.last_activity);
                    }
                    None => {
                        let room = Room::from_summary(summary);
                        fx.push(first_subscribe(&room));
                        app.rooms.insert(id, room);
                    }
                }
            }
            live::load_peer_presence(app, fx);
            if app.active.is_none()
                && let Some(&first) = app.room_order().first()
            {
                nav::switch_to(app, first, fx);
            }
        }
        Action::User(UserEvent::RoomAdded { room, role }) => add_room(app, room, role, fx),
        Action::User(UserEvent::RoomRemoved { room }) => {
            let name = app.rooms.remove(&room).map(|r| r.name);
            app.drafts.remove(&room);
            if app.active == Some(room) {
                app.active = None;
                // What was typed for the room must not become a message to
                // whichever room comes into view next.
                if app.composer.take_draft().is_some() {
                    app.set_status(
                        Level::Info,
                        format!(
                            "you are no longer in {}; what you were typing there was discarded",
                            name.as_deref().map(display_safe).unwrap_or_default()
                        ),
                    );
                }
                if let Some(&first) = app.room_order().first() {
                    nav::switch_to(app, first, fx);
                }
            }
        }
        Action::Opened { room, role } => {
            let id = room.id;
            add_room(app, room, role, fx);
            nav::switch_to(app, id, fx);
        }
        Action::Room(event) => on_event(app, event, fx),
        Action::CaughtUp { room, head } => {
            if let Some(r) = app.rooms.get_mut(&room) {
                r.head = r.head.max(head);
                r.live = true;
                if head > Seq::ZERO {
                    fx.push(Effect::MarkDelivered { room, seq: head });
                }
            }
            if app.active == Some(room) {
                // What catch-up showed in the room in view is read now
                // (at start-up, and after a reconnect).
                nav::mark_visible_read(app, fx);
                nav::maybe_load_older(app, fx);
            }
        }
        Action::OutboxRestored(saved) => {
            let restored = app.outbox.restore(saved);
            if restored.is_empty() {
                return;
            }
            app.set_status(
                Level::Info,
                format!(
                    "{} unsent message(s) from last time are queued and will be sent",
                    restored.len()
                ),
            );
            if matches!(app.connection, ConnectionStatus::Connected { .. }) {
                for o in restored {
                    fx.push(Effect::Send {
                        room: o.room,
                        key: o.key,
                        text: o.text,
                        reply_to: o.reply_to,
                    });
                }
            }
        }
        Action::OlderLoaded { room, events } => {
            if let Some(r) = app.rooms.get_mut(&room) {
                r.timeline.older = OlderHistory::Idle;
                for ev in events {
                    // History is older than anything counted, so only the
                    // timeline changes; the view stays anchored by seq.
                    r.timeline.apply(ev);
                }
            }
            if app.active == Some(room) {
                nav::maybe_load_older(app, fx);
            }
        }
        Action::SearchResults { query, hits, total } => {
            super::search::loaded(app, &query, hits, total);
        }
        Action::SearchFailed { query, error } => super::search::failed(app, &query, error),
        Action::OlderFailed { room, error } => {
            if let Some(r) = app.rooms.get_mut(&room) {
                r.timeline.older = OlderHistory::Failed(error.clone());
            }
            app.set_status(
                Level::Error,
                format!("could not load older messages: {error}"),
            );
        }
        Action::Members { room, members } => {
            if let Some(r) = app.rooms.get_mut(&room) {
                let mut list: Vec<crate::state::MemberView> =
                    members.into_iter().map(Into::into).collect();
                for m in &mut list {
                    if let Some(&p) = app.presence.get(&m.user.username) {
                        m.presence = p;
                    }
                }
                list.sort_by(|a, b| {
                    b.role
                        .cmp(&a.role)
                        .then_with(|| a.user.username.cmp(&b.user.username))
                });
                r.members = Members::Loaded(list);
            }
        }
        Action::Sent { key, ack } => {
            app.outbox.acked(&key, &ack);
            let delivered = app
                .rooms
                .get(&ack.room)
                .is_some_and(|r| r.timeline.get(ack.seq).is_some());
            if delivered {
                app.outbox.delivered(ack.room, ack.seq);
            }
        }
        Action::SendFailed { key, error } => {
            app.outbox.failed(&key, error.clone());
            app.set_status(
                Level::Error,
                format!("message not sent yet: {error}; it will be retried"),
            );
        }
        Action::Typing { room, user, until } => {
            if let Some(r) = app.rooms.get_mut(&room) {
                r.typing.set(user, until);
            }
        }
        Action::Presence { user, presence } => live::on_presence(app, &user, presence),
        Action::User(UserEvent::Presence(info)) => {
            live::on_presence(app, &info.user, live::presence_of(info.presence));
        }
        Action::User(UserEvent::Notification(n)) => live::on_notification(app, n, fx),
        Action::Receipt {
            room,
            user,
            read_seq,
        } => live::on_receipt(app, room, user, read_seq),
        Action::Contacts(list) => live::on_contacts(app, list),
        Action::Status(level, text) => app.set_status(level, text),
        Action::Preview { id, result } => crate::preview::loaded(app, id, result),
        // Terminal actions are handled in `update`.
        Action::Key(_)
        | Action::Paste(_)
        | Action::Wheel(_)
        | Action::Resize { .. }
        | Action::Tick(_)
        | Action::Quit => {}
    }
}

/// The first subscription to a room: the last [`INITIAL_BACKLOG`] events,
/// then live ones.
fn first_subscribe(room: &Room) -> Effect {
    Effect::Subscribe {
        room: room.id,
        since: Seq(room.head.0.saturating_sub(INITIAL_BACKLOG)),
    }
}

fn add_room(
    app: &mut App,
    info: chat_protocol::RoomInfo,
    role: chat_protocol::Role,
    fx: &mut Vec<Effect>,
) {
    if app.rooms.contains_key(&info.id) {
        return;
    }
    let room = Room::from_info(info, role);
    fx.push(first_subscribe(&room));
    app.rooms.insert(room.id, room);
    live::load_peer_presence(app, fx);
}

/// On (re)connecting: resume every room from its last contiguous seq and
/// resend the outbox with the same keys.
fn on_connection(app: &mut App, status: ConnectionStatus, fx: &mut Vec<Effect>) {
    let was_connected = matches!(app.connection, ConnectionStatus::Connected { .. });
    let now_connected = matches!(status, ConnectionStatus::Connected { .. });
    app.connection = status;
    if !now_connected {
        // The streams are gone; each resubscription catches up again.
        for room in app.rooms.values_mut() {
            room.live = false;
        }
    }
    if now_connected && !was_connected {
        crate::preview::retry_failed(app);
        for room in app.rooms.values() {
            fx.push(if room.timeline.is_empty() {
                first_subscribe(room)
            } else {
                Effect::Subscribe {
                    room: room.id,
                    since: room.timeline.resume_from(),
                }
            });
        }
        for o in app.outbox.retry_all() {
            fx.push(Effect::Send {
                room: o.room,
                key: o.key,
                text: o.text,
                reply_to: o.reply_to,
            });
        }
    }
}

/// A room event: apply it once, update counters, maybe alert. In the room
/// in view, following the bottom, a live event is read as it arrives.
fn on_event(app: &mut App, event: RoomEvent, fx: &mut Vec<Effect>) {
    let me = app.me.clone();
    let active = app.active;
    let Some(room) = app.rooms.get_mut(&event.room) else {
        tracing::debug!(room = %event.room, "event for a room not in the list");
        return;
    };
    let (seq, ts, sender) = (event.seq, event.ts, event.sender.clone());
    let mention = match &event.kind {
        RoomEventKind::Message(m) => me.as_ref().is_some_and(|me| {
            m.mentions.contains(&me.id) || mention::mentions(&m.text, &me.username)
        }),
        _ => false,
    };
    let is_message = matches!(event.kind, RoomEventKind::Message(_));
    if let RoomEventKind::TopicChanged { topic } = &event.kind {
        room.topic.clone_from(topic);
    }
    if room.timeline.apply(event) == Applied::Duplicate {
        return;
    }
    room.head = room.head.max(seq);
    room.last_activity = room.last_activity.max(ts);
    room.typing.clear(&sender.display_name);
    app.outbox.delivered(room.id, seq);
    let own = me.as_ref().is_some_and(|me| me.id == sender.id);
    let in_view = active == Some(room.id) && room.scroll == Scroll::Bottom;
    if room.live && !own {
        fx.push(Effect::MarkDelivered { room: room.id, seq });
    }
    let counted = seq <= room.counted_through;
    if in_view && (room.live || !counted) {
        if !counted {
            room.counted_through = seq;
        }
        nav::mark_visible_read(app, fx);
        return;
    }
    if !is_message || own || counted || in_view {
        return;
    }
    room.counted_through = seq;
    room.unread += 1;
    // Every message in a direct conversation is addressed to the user.
    let highlight = mention || room.is_direct();
    if highlight {
        room.mentions += 1;
    }
    let alert = if mention {
        Some(AlertKind::Mention)
    } else if room.is_direct() {
        Some(AlertKind::Direct)
    } else {
        None
    };
    let id = room.id;
    if let Some(kind) = alert {
        live::alert(app, id, seq, kind, &sender, fx);
    }
}
