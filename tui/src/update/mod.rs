//! [`update`]: the one function that changes the [`App`], returning the
//! [`Effect`]s the network task should carry out.
//!
//! Split by where actions come from: `keys` (keyboard and popups),
//! `compose` (submitting input and slash commands), `nav` (switching rooms,
//! scrolling, read markers, message selection), `net` (what the network
//! task reports) and `live` (presence, receipts, typing, notifications).

mod compose;
mod keys;
mod live;
mod nav;
mod net;
mod search;

use crate::action::{Action, Wheel};
use crate::app::{App, Confirm, Overlay, RunState};
use crate::effect::Effect;

pub use live::{TYPING_EVERY, expiry};
pub use nav::INITIAL_BACKLOG;

/// Applies one action to the state and returns the requests it causes.
/// Whenever the unsent messages change, the last effect is
/// [`Effect::PersistOutbox`] with all of them, so they survive a quit.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    let outbox = app.outbox.revision();
    apply(app, action, &mut fx);
    crate::preview::request(app, &mut fx);
    if app.outbox.revision() != outbox {
        fx.push(Effect::PersistOutbox(
            app.outbox.unsent().cloned().collect(),
        ));
    }
    fx
}

fn apply(app: &mut App, action: Action, fx: &mut Vec<Effect>) {
    match action {
        Action::Key(key) => keys::on_key(app, key, fx),
        Action::Paste(text) => {
            app.completion = None;
            if let Some(r) = app.active_room_mut() {
                r.selected = None;
            }
            app.composer.textarea.insert_str(clean_paste(&text));
            live::typed(app, fx);
        }
        Action::Wheel(Wheel::Up) => nav::scroll(app, -3, fx),
        Action::Wheel(Wheel::Down) => nav::scroll(app, 3, fx),
        Action::Resize { width, height } => {
            app.size = (width, height);
            nav::maybe_load_older(app, fx);
        }
        Action::Tick(now) => {
            app.now = now;
            for room in app.rooms.values_mut() {
                room.typing.expire(now);
            }
            app.expire_status();
        }
        // A signal (the window closed, SIGTERM): no one is there to ask,
        // and unsent messages are on disk already.
        Action::Quit => quit_now(app, fx),
        other => net::on_network(app, other, fx),
    }
}

/// Pasted text as the input takes it: line breaks of every convention
/// (`\r\n`, and the bare `\r` that tmux and many terminals send) become
/// `\n`, tabs become spaces, and other control characters are dropped,
/// since they would reach the terminal through the input box.
fn clean_paste(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if chat_protocol::text::is_unsafe(c) => None,
            c => Some(c),
        })
        .collect()
}

/// Ctrl-C or `/quit`: quits, after asking when messages are still unsent
/// (they are kept on disk and sent on the next start either way).
pub(crate) fn quit(app: &mut App, fx: &mut Vec<Effect>) {
    let unsent = app.outbox.unsent().count();
    if unsent > 0 {
        app.overlay = Overlay::Confirm(Confirm::Quit { unsent });
        return;
    }
    quit_now(app, fx);
}

/// Quits without asking.
pub(crate) fn quit_now(app: &mut App, fx: &mut Vec<Effect>) {
    app.run_state = RunState::Quitting;
    fx.push(Effect::Quit);
}
