//! Tab completion in the input, as weechat and iamb do it: the word before
//! the caret is completed to
//!
//! * a slash command, when it starts the input with `/`;
//! * a room name, after `#`;
//! * a username, after `@` (a mention);
//! * a username otherwise, followed by `: ` at the start of the input (the
//!   IRC way of addressing someone, which counts as a mention).
//!
//! Users are offered most recent speaker first, then the room's other
//! members by name. Each further Tab (Shift-Tab: backwards) replaces the
//! completion with the next candidate; any other key ends it.

use crate::app::App;
use crate::command::COMMANDS;
use crate::effect::Effect;
use crate::state::{ItemKind, Members};
use chat_protocol::names::canonical;

/// A completion in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// What can replace the word, in the order Tab offers them.
    pub candidates: Vec<String>,
    /// The candidate now in the input.
    pub index: usize,
}

/// What kind of word is being completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Command,
    Room,
    Mention,
    /// A bare username; `true` at the start of the input.
    Nick(bool),
}

/// Tab (or Shift-Tab with `backwards`): start a completion of the word
/// before the caret, or move to the next candidate of the one in progress.
/// Asks for the room's member list when it is not loaded yet, so the next
/// Tab can offer members who have not spoken.
pub fn complete(app: &mut App, backwards: bool, fx: &mut Vec<crate::Effect>) {
    if let Some(mut c) = app.completion.take() {
        let len = c.candidates.len();
        let now = c.candidates[c.index].chars().count();
        c.index = if backwards {
            (c.index + len - 1) % len
        } else {
            (c.index + 1) % len
        };
        replace_before_caret(app, now, &c.candidates[c.index]);
        app.completion = Some(c);
        return;
    }
    let ratatui_textarea::DataCursor(row, col) = app.composer.textarea.cursor();
    let Some(line) = app.composer.textarea.lines().get(row) else {
        return;
    };
    let before: Vec<char> = line.chars().take(col).collect();
    let start = before
        .iter()
        .rposition(|c| c.is_whitespace())
        .map_or(0, |i| i + 1);
    let word: String = before[start..].iter().collect();
    let at_start = row == 0 && start == 0;
    let (kind, prefix) = match word.chars().next() {
        Some('/') if at_start && !word.starts_with("//") => (Kind::Command, &word[1..]),
        Some('#') => (Kind::Room, &word[1..]),
        Some('@') => (Kind::Mention, &word[1..]),
        Some(_) => (Kind::Nick(at_start), word.as_str()),
        None => return,
    };
    let candidates = candidates(app, kind, prefix, fx);
    if candidates.is_empty() {
        return;
    }
    let index = if backwards { candidates.len() - 1 } else { 0 };
    replace_before_caret(app, word.chars().count(), &candidates[index]);
    app.completion = Some(Completion { candidates, index });
}

/// Replaces the `chars` characters before the caret with `with`.
fn replace_before_caret(app: &mut App, chars: usize, with: &str) {
    for _ in 0..chars {
        app.composer.textarea.delete_char();
    }
    app.composer.textarea.insert_str(with);
}

fn candidates(app: &mut App, kind: Kind, prefix: &str, fx: &mut Vec<Effect>) -> Vec<String> {
    let want = canonical(prefix);
    match kind {
        Kind::Command => COMMANDS
            .iter()
            .map(|(name, _, _)| name.as_str())
            .filter(|n| n.starts_with(&want))
            .map(|n| format!("/{n} "))
            .collect(),
        Kind::Room => app
            .room_order()
            .into_iter()
            .filter_map(|id| app.rooms.get(&id))
            .filter(|r| !r.is_direct() && canonical(&r.name).starts_with(&want))
            .map(|r| format!("#{} ", r.name))
            .collect(),
        Kind::Mention | Kind::Nick(_) => {
            let suffix = match kind {
                Kind::Nick(true) => ": ",
                _ => " ",
            };
            let sigil = if kind == Kind::Mention { "@" } else { "" };
            users(app, &want, fx)
                .into_iter()
                .map(|u| format!("{sigil}{u}{suffix}"))
                .collect()
        }
    }
}

/// Usernames in the room in view whose username or display name starts
/// with `want` (canonical form): recent speakers first, then members by
/// name; never the user themself.
fn users(app: &mut App, want: &str, fx: &mut Vec<Effect>) -> Vec<String> {
    let me = app.me.as_ref().map(|m| m.id);
    let Some(room) = app.active_room_mut() else {
        return Vec::new();
    };
    if matches!(room.members, Members::NotLoaded | Members::Failed(_)) {
        room.members = Members::Loading;
        fx.push(Effect::LoadMembers { room: room.id });
    }
    let mut people: Vec<&chat_protocol::Author> = room
        .timeline
        .items()
        .rev()
        .filter_map(|i| match &i.kind {
            ItemKind::Message(m) => Some(&m.sender),
            _ => None,
        })
        .collect();
    let mut members: Vec<&chat_protocol::Author> = match &room.members {
        Members::Loaded(list) => list.iter().map(|m| &m.user).collect(),
        _ => Vec::new(),
    };
    members.sort_by_key(|a| canonical(&a.username));
    people.extend(members);
    let mut out: Vec<String> = Vec::new();
    for a in people {
        let fits = canonical(&a.username).starts_with(want)
            || canonical(&a.display_name).starts_with(want);
        if Some(a.id) != me && fits && !out.contains(&a.username) {
            out.push(a.username.clone());
        }
    }
    if let Some(peer) = room.peer()
        && canonical(peer).starts_with(want)
        && !out.iter().any(|u| u == peer)
    {
        out.push(peer.to_owned());
    }
    out
}
