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

use crate::action::{Action, Wheel};
use crate::app::{App, RunState};
use crate::effect::Effect;

pub use live::{TYPING_EVERY, expiry};
pub use nav::INITIAL_BACKLOG;

/// Applies one action to the state and returns the requests it causes.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    match action {
        Action::Key(key) => keys::on_key(app, key, &mut fx),
        Action::Paste(text) => {
            // Keep newlines, turn tabs into spaces, drop other control
            // characters: they would reach the terminal through the input box.
            let clean: String = text
                .replace("\r\n", "\n")
                .chars()
                .filter_map(|c| match c {
                    '\t' => Some(' '),
                    c if chat_protocol::text::is_unsafe(c) => None,
                    c => Some(c),
                })
                .collect();
            app.composer.textarea.insert_str(clean);
        }
        Action::Wheel(Wheel::Up) => nav::scroll(app, -3, &mut fx),
        Action::Wheel(Wheel::Down) => nav::scroll(app, 3, &mut fx),
        Action::Resize { width, height } => {
            app.size = (width, height);
            nav::maybe_load_older(app, &mut fx);
        }
        Action::Tick(now) => {
            app.now = now;
            for room in app.rooms.values_mut() {
                room.typing.expire(now);
            }
        }
        Action::Quit => quit(app, &mut fx),
        other => net::on_network(app, other, &mut fx),
    }
    fx
}

pub(crate) fn quit(app: &mut App, fx: &mut Vec<Effect>) {
    app.run_state = RunState::Quitting;
    fx.push(Effect::Quit);
}
