//! Switching rooms, scrolling, infinite scroll and read markers.

use crate::app::App;
use crate::effect::Effect;
use crate::state::{OlderHistory, Scroll};
use chat_protocol::{RoomId, Seq};

/// How many recent events a first subscription to a room asks for; older
/// ones load as the user scrolls up.
pub const INITIAL_BACKLOG: u64 = 50;

/// Makes `room` the room in view: keeps the input of the room left as its
/// draft and brings back this room's, marks where the unread messages
/// start, clears the counters and marks what is shown read.
pub(crate) fn switch_to(app: &mut App, room: RoomId, fx: &mut Vec<Effect>) {
    if !app.rooms.contains_key(&room) {
        return;
    }
    if app.active != Some(room) {
        if let Some(old) = app.active {
            // A half-typed password is never kept as a draft.
            if app.password_change.take().is_some() {
                app.composer.clear();
                app.set_status(crate::action::Level::Info, "password change cancelled");
            }
            match app.composer.take_draft() {
                Some(draft) => app.drafts.insert(old, draft),
                None => app.drafts.remove(&old),
            };
            if let Some(r) = app.rooms.get_mut(&old) {
                r.new_marker = None;
                r.selected = None;
            }
        }
        if let Some(draft) = app.drafts.remove(&room) {
            app.composer.restore(draft);
        }
        app.completion = None;
    }
    app.active = Some(room);
    if let Some(r) = app.rooms.get_mut(&room) {
        if r.unread > 0 && r.new_marker.is_none() {
            r.new_marker = Some(Seq(r.read_seq.0 + 1));
        }
        r.unread = 0;
        r.mentions = 0;
        if matches!(r.members, crate::state::Members::NotLoaded) && app.show_members {
            r.members = crate::state::Members::Loading;
            fx.push(Effect::LoadMembers { room });
        }
    }
    mark_visible_read(app, fx);
    maybe_load_older(app, fx);
}

/// Moves `delta` rooms along the list (wrapping).
pub(crate) fn cycle(app: &mut App, delta: isize, fx: &mut Vec<Effect>) {
    let order = app.room_order();
    if order.is_empty() {
        return;
    }
    let len = order.len() as isize;
    let pos = app
        .active
        .and_then(|a| order.iter().position(|&r| r == a))
        .map_or(if delta > 0 { -1 } else { 0 }, |p| p as isize);
    let next = (pos + delta).rem_euclid(len) as usize;
    switch_to(app, order[next], fx);
}

/// Jumps to the `n`th room of the list (1-based).
pub(crate) fn jump(app: &mut App, n: usize, fx: &mut Vec<Effect>) {
    if let Some(&room) = app.room_order().get(n.saturating_sub(1)) {
        switch_to(app, room, fx);
    }
}

/// End (on an empty input) or Ctrl-End: back to the newest message,
/// following new ones again.
pub(crate) fn bottom(app: &mut App, fx: &mut Vec<Effect>) {
    let Some(room) = app.active_room_mut() else {
        return;
    };
    room.scroll = Scroll::Bottom;
    room.selected = None;
    room.unread = 0;
    room.mentions = 0;
    mark_visible_read(app, fx);
}

/// Scrolls the active room by `delta` items (negative: towards older).
pub(crate) fn scroll(app: &mut App, delta: isize, fx: &mut Vec<Effect>) {
    let Some(room) = app.active_room_mut() else {
        return;
    };
    let Some(bottom) = room.bottom_seq() else {
        return;
    };
    let seqs: Vec<Seq> = room.timeline.visible().map(|i| i.seq).collect();
    let pos = seqs
        .iter()
        .position(|&s| s == bottom)
        .unwrap_or(seqs.len().saturating_sub(1));
    let target = (pos as isize + delta).clamp(0, seqs.len() as isize - 1) as usize;
    room.scroll = if target + 1 >= seqs.len() {
        Scroll::Bottom
    } else {
        Scroll::Anchored(seqs[target])
    };
    if room.scroll == Scroll::Bottom {
        room.unread = 0;
        room.mentions = 0;
    }
    mark_visible_read(app, fx);
    maybe_load_older(app, fx);
}

/// Alt-Up (`older`) / Alt-Down: moves the selection to the next message.
/// Moving down past the newest clears it and follows the bottom again; a
/// selection further up than half a page from the view's bottom scrolls the
/// view to it.
pub(crate) fn select(app: &mut App, older: bool) {
    let half = (app.conversation_rows() / 2).max(1);
    let Some(room) = app.active_room_mut() else {
        return;
    };
    let next = room.timeline.next_message(room.selected, older);
    if next.is_none() && older {
        return;
    }
    room.selected = next;
    let Some(sel) = next else {
        return;
    };
    let bottom = room.bottom_seq().unwrap_or(sel);
    let below = room
        .timeline
        .items_through(bottom)
        .take_while(|i| i.seq > sel)
        .count();
    let newest = room.timeline.next_message(Some(sel), false).is_none();
    if newest {
        room.scroll = Scroll::Bottom;
    } else if sel > bottom || below >= half {
        room.scroll = Scroll::Anchored(sel);
    }
}

/// Items per page: half the conversation height, since a message with its
/// time, wrapping and reactions takes about two rows.
pub(crate) fn page(app: &App) -> isize {
    (app.conversation_rows() / 2).max(1) as isize
}

/// Emits `LoadOlder` when the top of the loaded history could be on screen
/// (fewer items at or above the view's bottom than rows) and older events exist.
pub(crate) fn maybe_load_older(app: &mut App, fx: &mut Vec<Effect>) {
    let rows = app.conversation_rows();
    let Some(room) = app.active_room_mut() else {
        return;
    };
    if !room.timeline.has_older() || matches!(room.timeline.older, OlderHistory::Loading { .. }) {
        return;
    }
    let Some(bottom) = room.bottom_seq() else {
        return;
    };
    if room.timeline.items_through(bottom).count() >= rows {
        return;
    }
    if let Some(before) = room.timeline.oldest() {
        room.timeline.older = OlderHistory::Loading { before };
        fx.push(Effect::LoadOlder {
            room: room.id,
            before,
        });
    }
}

/// Moves the active room's read marker to the newest item on screen.
pub(crate) fn mark_visible_read(app: &mut App, fx: &mut Vec<Effect>) {
    let Some(room) = app.active_room_mut() else {
        return;
    };
    let Some(seen) = room.bottom_seq() else {
        return;
    };
    if seen > room.read_seq {
        room.read_seq = seen;
        fx.push(Effect::MarkRead {
            room: room.id,
            seq: seen,
        });
    }
}
