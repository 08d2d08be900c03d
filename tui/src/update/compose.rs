//! Submitting the input: sending a message or running a slash command.

use super::{keys, quit};
use crate::action::Level;
use crate::app::{App, Confirm, Overlay, PasswordChange};
use crate::command::{Command, CommandName, unescape};
use crate::composer::ComposeMode;
use crate::effect::{Effect, Secret};
use chat_protocol::names::{canonical, normalize};
use chat_protocol::{ModAction, Role, Seq, Timestamp, Visibility};

/// Enter: run the command or send the text.
pub(super) fn submit(app: &mut App, fx: &mut Vec<Effect>) {
    if let Some(step) = app.password_change.take() {
        let typed = Secret(app.composer.text());
        app.composer.clear();
        return password_step(app, step, typed, fx);
    }
    let text = app.composer.text();
    if text.trim().is_empty() {
        return;
    }
    match (Command::parse(&text), app.composer.mode) {
        (Some(Ok(cmd)), _) => run(app, cmd, fx),
        (Some(Err(e)), _) => app.set_status(Level::Error, e.to_string()),
        (None, ComposeMode::Edit(seq)) => edit(app, seq, text, fx),
        (None, ComposeMode::Reply(seq)) => send(app, unescape(&text).to_string(), Some(seq), fx),
        (None, ComposeMode::React(seq)) => react(app, seq, text.trim(), fx),
        (None, ComposeMode::New) => send(app, unescape(&text).to_string(), None, fx),
    }
}

/// Enter in react mode (`e` on a selected message): the input is the emoji.
fn react(app: &mut App, seq: Seq, emoji: &str, fx: &mut Vec<Effect>) {
    let Some(room) = app.active else {
        return;
    };
    if emoji.chars().any(char::is_whitespace) {
        app.set_status(
            Level::Error,
            "a reaction is one emoji, with no spaces; Esc cancels",
        );
        return;
    }
    fx.push(Effect::React {
        room,
        seq,
        emoji: emoji.to_owned(),
    });
    app.composer.clear();
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
        r.selected = None;
        r.new_marker = None;
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
        Command::Upload(path) => match need_room(app) {
            Some(room) => {
                let path = expand_home(path.trim());
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                app.set_status(
                    Level::Info,
                    format!("uploading {}…", chat_protocol::text::display_safe(&name)),
                );
                fx.push(Effect::Upload { room, path });
            }
            None => return,
        },
        Command::Join(name) => fx.push(Effect::Join {
            name: normalize(&name),
        }),
        Command::Leave(None) => match need_room(app) {
            Some(room) => fx.push(Effect::Leave { room }),
            None => return,
        },
        Command::Leave(Some(name)) => {
            let wanted = canonical(&name);
            match app.rooms.values().find(|r| canonical(&r.name) == wanted) {
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
        Command::Create { name, private } => fx.push(Effect::Create {
            name: normalize(&name),
            private,
        }),
        Command::Invite(username) => match need_room(app) {
            Some(room) => fx.push(Effect::Invite { room, username }),
            None => return,
        },
        Command::Dm(username) => fx.push(Effect::OpenDirect { username }),
        Command::Reply(text) => match target(app, Target::Reply) {
            Some(seq) => return send(app, text, Some(seq), fx),
            None => {
                return app.set_status(
                    Level::Error,
                    "/reply: there is no message from someone else to answer",
                );
            }
        },
        Command::Edit(text) => match target(app, Target::Own) {
            Some(seq) => return edit(app, seq, text, fx),
            None => {
                return app.set_status(
                    Level::Error,
                    "/edit: you have no message here to edit (select one of yours with Alt-Up)",
                );
            }
        },
        Command::Delete => match (room, target(app, Target::Delete)) {
            (Some(room), Some(seq)) => {
                app.overlay = Overlay::Confirm(Confirm::Delete { room, seq })
            }
            _ => {
                return app.set_status(
                    Level::Error,
                    "/delete: you have no message here to delete (select one with Alt-Up)",
                );
            }
        },
        Command::React(emoji) => match (room, target(app, Target::Any)) {
            (Some(room), Some(seq)) => fx.push(Effect::React { room, seq, emoji }),
            _ => {
                return app.set_status(Level::Error, "/react: there is no message to react to");
            }
        },
        Command::Topic(topic) => match need_room(app) {
            Some(room) => fx.push(Effect::SetTopic { room, topic }),
            None => return,
        },
        Command::Mute(_)
        | Command::Unmute(_)
        | Command::Unban(_)
        | Command::Role { .. }
        | Command::Transfer(_)
        | Command::Visibility { .. } => match need_room(app) {
            Some(room) => {
                if let Some((action, done)) = moderation(cmd) {
                    fx.push(Effect::Moderate { room, action, done });
                }
            }
            None => return,
        },
        Command::Name(name) => fx.push(Effect::SetDisplayName(name)),
        Command::Password => {
            app.password_change = Some(PasswordChange::Current);
            app.set_status(
                Level::Info,
                "your current password, then Enter (hidden; Esc cancels)",
            );
        }
        Command::Away => {
            app.away = !app.away;
            fx.push(Effect::SetAway(app.away));
            let now = if app.away {
                "you are away; /away again when back"
            } else {
                "you are back"
            };
            app.set_status(Level::Info, now);
        }
        Command::Contacts => fx.push(Effect::LoadContacts),
        Command::Reconnect => {
            fx.push(Effect::Reconnect);
            app.set_status(Level::Info, "reconnecting now");
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
        Command::Search(query) => {
            app.overlay = Overlay::Search(crate::app::SearchPane::loading(query.clone()));
            fx.push(Effect::Search { query });
        }
        Command::Download | Command::Open => {
            let open = matches!(cmd, Command::Open);
            if !download(app, open, fx) {
                return;
            }
        }
    }
    app.composer.clear();
    if let Some(r) = app.active_room_mut() {
        r.selected = None;
    }
}

/// Enter during `/password`: takes the masked line for this step and asks
/// for the next, or sends the change once the new password was typed the
/// same way twice. An empty line cancels.
fn password_step(app: &mut App, step: PasswordChange, typed: Secret, fx: &mut Vec<Effect>) {
    if typed.0.is_empty() {
        return app.set_status(Level::Info, "password change cancelled");
    }
    match step {
        PasswordChange::Current => {
            app.password_change = Some(PasswordChange::New { old: typed });
            app.set_status(Level::Info, "your new password, then Enter (hidden)");
        }
        PasswordChange::New { old } => {
            app.password_change = Some(PasswordChange::Again { old, new: typed });
            app.set_status(Level::Info, "your new password again, then Enter (hidden)");
        }
        PasswordChange::Again { old, new } if new == typed => {
            fx.push(Effect::ChangePassword { old, new });
            app.set_status(Level::Info, "changing your password…");
        }
        PasswordChange::Again { .. } => app.set_status(
            Level::Error,
            "the two new passwords differ; nothing was changed (/password to try again)",
        ),
    }
}

/// The request a moderation command stands for, and the status line
/// shown once the server accepts it.
fn moderation(cmd: Command) -> Option<(ModAction, String)> {
    Some(match cmd {
        Command::Mute(user) => (
            ModAction::Mute {
                username: user.clone(),
                muted: true,
            },
            format!("muted {user}"),
        ),
        Command::Unmute(user) => (
            ModAction::Mute {
                username: user.clone(),
                muted: false,
            },
            format!("unmuted {user}"),
        ),
        Command::Unban(user) => (
            ModAction::Unban {
                username: user.clone(),
            },
            format!("lifted the ban on {user}"),
        ),
        Command::Role { user, admin } => {
            let (role, name) = if admin {
                (Role::Admin, "an admin")
            } else {
                (Role::Member, "a member")
            };
            (
                ModAction::SetRole {
                    username: user.clone(),
                    role,
                },
                format!("{user} is now {name}"),
            )
        }
        Command::Transfer(user) => (
            ModAction::TransferOwnership {
                username: user.clone(),
            },
            format!("{user} now owns this room; you are an admin of it"),
        ),
        Command::Visibility { private: true } => (
            ModAction::SetVisibility {
                visibility: Visibility::Private,
            },
            "the room is now private".to_owned(),
        ),
        Command::Visibility { private: false } => (
            ModAction::SetVisibility {
                visibility: Visibility::Public,
            },
            "the room is now public".to_owned(),
        ),
        _ => return None,
    })
}

/// Which message a message command acts on when nothing qualifying is
/// selected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Your own newest message (`/edit`); a selection must be yours.
    Own,
    /// Your own newest message (`/delete`); any selection (the server
    /// checks whether you may delete it).
    Delete,
    /// The newest message from someone else (`/reply`).
    Reply,
    /// The newest message (`/react`).
    Any,
}

/// The message a command acts on: the selection if it qualifies, else the
/// latest message of the right kind.
fn target(app: &App, kind: Target) -> Option<Seq> {
    let me = app.me.as_ref()?.id;
    let room = app.active_room()?;
    let selected = room
        .selected
        .and_then(|s| room.timeline.get(s))
        .and_then(|i| i.message().map(|m| (i.seq, m)))
        .filter(|(_, m)| m.deleted_by.is_none())
        .filter(|(_, m)| kind != Target::Own || m.sender.id == me);
    if let Some((seq, _)) = selected {
        return Some(seq);
    }
    match kind {
        Target::Own | Target::Delete => room.timeline.last_message_by(me).map(|(s, _)| s),
        Target::Reply => room.timeline.last_message_not_by(me),
        Target::Any => room.timeline.last_message(),
    }
}

/// Replaces the text of the message at `seq`; the change shows when the
/// server's `Edited` event arrives.
fn edit(app: &mut App, seq: Seq, text: String, fx: &mut Vec<Effect>) {
    let Some(room) = app.active else {
        return;
    };
    fx.push(Effect::Edit { room, seq, text });
    app.composer.clear();
    if let Some(r) = app.active_room_mut() {
        r.selected = None;
    }
}

/// Asks the network task to save the files of the selected message (or,
/// with none selected, of the newest message that has files); with `open`
/// only the first file, which is then handed to `xdg-open`. Returns false
/// (with an error in the status line) when there is nothing to save.
pub(super) fn download(app: &mut App, open: bool, fx: &mut Vec<Effect>) -> bool {
    let verb = if open { "/open" } else { "/download" };
    let Some(room) = app.active_room() else {
        app.set_status(
            Level::Error,
            format!("{verb}: no room selected; switch to one first"),
        );
        return false;
    };
    let with_files = |seq: Seq| {
        room.timeline
            .get(seq)
            .and_then(|i| i.message())
            .filter(|m| m.deleted_by.is_none() && !m.attachments.is_empty())
            .map(|m| m.attachments.clone())
    };
    let files = match room.selected {
        Some(seq) => with_files(seq),
        None => room.timeline.newest_with_attachments().and_then(with_files),
    };
    let Some(mut files) = files else {
        let problem = if room.selected.is_some() {
            "the selected message has no files; select one with a 📎 line (Alt-Up)"
        } else {
            "no message with files in this room yet"
        };
        app.set_status(Level::Error, format!("{verb}: {problem}"));
        return false;
    };
    if open {
        files.truncate(1);
    }
    let room = room.id;
    let names: Vec<String> = files
        .iter()
        .map(|f| chat_protocol::text::display_safe(&f.name).into_owned())
        .collect();
    app.set_status(Level::Info, format!("downloading {}…", names.join(", ")));
    fx.push(Effect::Download { room, files, open });
    true
}

/// `~/x` as a path under `$HOME`; anything else as given.
fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(path),
    }
}

/// The feature a command needs, for the "not supported yet" message.
fn feature(name: CommandName) -> &'static str {
    match name {
        CommandName::Search => "search",
        _ => "this command",
    }
}
