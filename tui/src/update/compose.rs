//! Submitting the input: sending a message or running a slash command.

use super::{keys, quit};
use crate::action::Level;
use crate::app::{App, Overlay};
use crate::command::{Command, CommandName, unescape};
use crate::composer::ComposeMode;
use crate::effect::Effect;
use chat_protocol::{Seq, Timestamp};

/// Enter: run the command or send the text.
pub(super) fn submit(app: &mut App, fx: &mut Vec<Effect>) {
    let text = app.composer.text();
    if text.trim().is_empty() {
        return;
    }
    match (Command::parse(&text), app.composer.mode) {
        (Some(Ok(cmd)), _) => run(app, cmd, fx),
        (Some(Err(e)), _) => app.set_status(Level::Error, e.to_string()),
        (None, ComposeMode::Edit(_)) => run(app, Command::Edit(text), fx),
        (None, ComposeMode::Reply(seq)) => send(app, unescape(&text).to_string(), Some(seq), fx),
        (None, ComposeMode::New) => send(app, unescape(&text).to_string(), None, fx),
    }
}

/// Queues a message in the outbox and asks the network task to send it.
fn send(app: &mut App, text: String, reply_to: Option<Seq>, fx: &mut Vec<Effect>) {
    let Some(room) = app.active else {
        app.set_status(
            Level::Error,
            "no room selected; join one with /join ROOM or /dm USER",
        );
        return;
    };
    let out = app.outbox.push(room, text, reply_to, Timestamp::now());
    fx.push(Effect::Send {
        room,
        key: out.key,
        text: out.text,
        reply_to,
    });
    app.composer.clear();
    if let Some(r) = app.active_room_mut() {
        r.scroll = crate::state::Scroll::Bottom;
    }
}

/// Runs a parsed command. Commands whose feature the server lacks say so and
/// leave the input as typed.
fn run(app: &mut App, cmd: Command, fx: &mut Vec<Effect>) {
    let name = cmd.name();
    if !name.supported() {
        app.set_status(
            Level::Error,
            format!("{name}: the server does not support {} yet", feature(name)),
        );
        return;
    }
    let room = app.active;
    let need_room = |app: &mut App| {
        if room.is_none() {
            app.set_status(
                Level::Error,
                format!("{name}: no room selected; switch to one first"),
            );
        }
        room
    };
    match cmd {
        Command::Join(name) => fx.push(Effect::Join { name }),
        Command::Leave(None) => match need_room(app) {
            Some(room) => fx.push(Effect::Leave { room }),
            None => return,
        },
        Command::Leave(Some(name)) => {
            match app
                .rooms
                .values()
                .find(|r| r.name.eq_ignore_ascii_case(&name))
            {
                Some(r) => fx.push(Effect::Leave { room: r.id }),
                None => {
                    app.set_status(
                        Level::Error,
                        format!("/leave: you are not in a room named {name:?}"),
                    );
                    return;
                }
            }
        }
        Command::Create { name, private } => fx.push(Effect::Create { name, private }),
        Command::Invite(username) => match need_room(app) {
            Some(room) => fx.push(Effect::Invite { room, username }),
            None => return,
        },
        Command::Dm(username) => fx.push(Effect::OpenDirect { username }),
        Command::Reply(text) => {
            let me = app.me.as_ref().map(|m| m.id);
            let target = app
                .active_room()
                .and_then(|r| me.and_then(|me| r.timeline.last_message_not_by(me)));
            match target {
                Some(seq) => return send(app, text, Some(seq), fx),
                None => {
                    app.set_status(
                        Level::Error,
                        "/reply: there is no message from someone else to answer",
                    );
                    return;
                }
            }
        }
        Command::Who => {
            if !app.show_members {
                keys::toggle_members(app, fx);
            }
        }
        Command::Help => app.overlay = Overlay::Help,
        Command::Quit => return quit(app, fx),
        // Unsupported commands returned above; listed so a new variant
        // must be considered here.
        Command::Topic(_)
        | Command::Edit(_)
        | Command::Delete
        | Command::React(_)
        | Command::Away(_)
        | Command::Contacts
        | Command::Search(_)
        | Command::Upload(_)
        | Command::Download(_) => return,
    }
    app.composer.clear();
}

/// The feature a command needs, for the "not supported yet" message.
fn feature(name: CommandName) -> &'static str {
    match name {
        CommandName::Topic => "changing the topic",
        CommandName::Edit => "editing messages",
        CommandName::Delete => "deleting messages",
        CommandName::React => "reactions",
        CommandName::Away => "presence",
        CommandName::Contacts => "contacts",
        CommandName::Search => "search",
        CommandName::Upload | CommandName::Download => "file transfer",
        _ => "this command",
    }
}
