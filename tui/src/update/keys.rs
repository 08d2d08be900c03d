//! Keyboard handling: popups first, then the keymap, then the input box.

use super::{compose, nav, quit, quit_now};
use crate::app::{App, Confirm, Overlay};
use crate::composer::ComposeMode;
use crate::effect::Effect;
use crate::keymap::KeyAction;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

pub(super) fn on_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    if key.kind == KeyEventKind::Release {
        return;
    }
    match app.overlay {
        Overlay::Help => return on_help_key(app, key, fx),
        Overlay::Switcher(_) => return on_switcher_key(app, key, fx),
        Overlay::Confirm(_) => return on_confirm_key(app, key, fx),
        Overlay::Search(_) => return super::search::on_key(app, key, fx),
        Overlay::None => {}
    }
    let bound = app.keymap.lookup(&key);
    if !matches!(bound, Some(KeyAction::Complete | KeyAction::CompleteBack)) {
        app.completion = None;
    }
    if let Some(action) = bound {
        return on_bound(app, action, fx);
    }
    // During `/password` every key is typing: `?`, Up and the selection
    // keys must not act on what is really a password's first character.
    let empty = app.composer.is_empty() && app.password_change.is_none();
    let selected = app.active_room().and_then(|r| r.selected);
    match (key.code, key.modifiers) {
        (KeyCode::Char('f'), KeyModifiers::CONTROL) => super::search::reopen(app),
        (KeyCode::Up, KeyModifiers::ALT) => nav::select(app, true),
        (KeyCode::Down, KeyModifiers::ALT) => nav::select(app, false),
        (KeyCode::Char(c @ ('r' | 'e' | 'd')), KeyModifiers::NONE)
            if empty && selected.is_some() =>
        {
            on_selection_key(app, c);
        }
        (KeyCode::Char(c @ ('s' | 'o')), KeyModifiers::NONE) if empty && selected.is_some() => {
            // Save (or save and open) the selected message's files; the
            // selection stays when there are none, so the error names it.
            if compose::download(app, c == 'o', fx)
                && let Some(r) = app.active_room_mut()
            {
                r.selected = None;
            }
        }
        (KeyCode::Char(c @ '1'..='9'), KeyModifiers::ALT) => {
            nav::jump(app, (c as u8 - b'0') as usize, fx);
        }
        (KeyCode::Char('?'), m)
            if empty && !m.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            app.overlay = Overlay::Help;
        }
        (KeyCode::Up, KeyModifiers::NONE) if empty => edit_last(app),
        (KeyCode::End, KeyModifiers::NONE) if empty => nav::bottom(app, fx),
        (KeyCode::Esc, _) => {
            app.composer.clear();
            app.status = None;
            app.password_change = None;
            if let Some(r) = app.active_room_mut() {
                r.selected = None;
            }
        }
        (code, mods) => {
            // Typing starts ordinary input: a selection only catches the
            // action keys on an empty input.
            if matches!(code, KeyCode::Char(_))
                && !mods.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                && let Some(r) = app.active_room_mut()
            {
                r.selected = None;
            }
            if app.composer.textarea.input(key) {
                super::live::typed(app, fx);
            }
        }
    }
}

/// `r`, `e` or `d` with a message selected and the input empty: reply to
/// it, react to it (the input takes the emoji), or ask before deleting it.
/// The selection is cleared, so what is typed next goes into the input.
fn on_selection_key(app: &mut App, c: char) {
    let Some(room) = app.active_room_mut() else {
        return;
    };
    let Some(seq) = room.selected.take() else {
        return;
    };
    let room = room.id;
    match c {
        'r' => app.composer.set_text("", ComposeMode::Reply(seq)),
        'e' => app.composer.set_text("", ComposeMode::React(seq)),
        _ => app.overlay = Overlay::Confirm(Confirm::Delete { room, seq }),
    }
}

/// A confirmation popup: `y` does it; `n`, Esc, Enter or anything else
/// cancels. Ctrl-C at the quit question quits.
fn on_confirm_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Overlay::Confirm(question) = std::mem::take(&mut app.overlay) else {
        return;
    };
    let yes = matches!(key.code, KeyCode::Char('y' | 'Y'))
        && !key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    let again = app.keymap.lookup(&key) == Some(KeyAction::Quit);
    match question {
        Confirm::Delete { room, seq } if yes => fx.push(Effect::Delete { room, seq }),
        Confirm::Quit { .. } if yes || again => quit_now(app, fx),
        Confirm::Delete { .. } | Confirm::Quit { .. } => {}
    }
}

fn on_bound(app: &mut App, action: KeyAction, fx: &mut Vec<Effect>) {
    match action {
        KeyAction::Send => compose::submit(app, fx),
        KeyAction::Newline => app.composer.textarea.insert_newline(),
        KeyAction::NextRoom => nav::cycle(app, 1, fx),
        KeyAction::PrevRoom => nav::cycle(app, -1, fx),
        KeyAction::QuickSwitch => app.overlay = Overlay::Switcher(Default::default()),
        KeyAction::Help => app.overlay = Overlay::Help,
        KeyAction::ToggleMembers => toggle_members(app, fx),
        KeyAction::PageUp => {
            let page = nav::page(app);
            nav::scroll(app, -page, fx);
        }
        KeyAction::PageDown => {
            let page = nav::page(app);
            nav::scroll(app, page, fx);
        }
        KeyAction::Bottom => nav::bottom(app, fx),
        KeyAction::Complete => crate::complete::complete(app, false, fx),
        KeyAction::CompleteBack => crate::complete::complete(app, true, fx),
        KeyAction::Quit => quit(app, fx),
    }
}

/// Shows or hides the member pane, loading the list the first time.
pub(super) fn toggle_members(app: &mut App, fx: &mut Vec<Effect>) {
    app.show_members = !app.show_members;
    if app.show_members
        && let Some(room) = app.active_room_mut()
        && matches!(
            room.members,
            crate::state::Members::NotLoaded | crate::state::Members::Failed(_)
        )
    {
        room.members = crate::state::Members::Loading;
        fx.push(Effect::LoadMembers { room: room.id });
    }
}

/// Up on an empty input: put your last message in the input for editing.
fn edit_last(app: &mut App) {
    let Some(me) = app.me.as_ref().map(|m| m.id) else {
        return;
    };
    let Some(room) = app.active_room() else {
        return;
    };
    if let Some((seq, msg)) = room.timeline.last_message_by(me) {
        let text = msg.text.clone();
        app.composer.set_text(&text, ComposeMode::Edit(seq));
    }
}

fn on_help_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    if app.keymap.lookup(&key) == Some(KeyAction::Quit) {
        return quit(app, fx);
    }
    if matches!(
        key.code,
        KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::F(1)
    ) {
        app.overlay = Overlay::None;
    }
}

fn on_switcher_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Overlay::Switcher(mut sw) = std::mem::take(&mut app.overlay) else {
        return;
    };
    let matches = app.switcher_matches(&sw.query);
    match key.code {
        KeyCode::Esc => return,
        KeyCode::Enter => {
            if let Some(&room) = matches.get(sw.selected) {
                nav::switch_to(app, room, fx);
            }
            return;
        }
        KeyCode::Up => sw.selected = sw.selected.saturating_sub(1),
        KeyCode::Down | KeyCode::Tab => {
            sw.selected = (sw.selected + 1).min(matches.len().saturating_sub(1));
        }
        KeyCode::Backspace => {
            sw.query.pop();
            sw.selected = 0;
        }
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            return quit(app, fx);
        }
        KeyCode::Char(c)
            if !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            sw.query.push(c);
            sw.selected = 0;
        }
        _ => {}
    }
    app.overlay = Overlay::Switcher(sw);
}
