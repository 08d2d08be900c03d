//! Messages go where the person means and never vanish (issue 12): room
//! numbers that stay put, one draft per room, Tab completion, message
//! actions that do not capture typing, unsent messages kept through a quit,
//! connection problems in words, pasted line breaks, and what has been read.

#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{Author, MemberInfo, Role, RoomId, RoomKind, Seq, Timestamp};
use chat_tui::action::{Action, Level};
use chat_tui::app::{Confirm, Overlay};
use chat_tui::composer::ComposeMode;
use chat_tui::effect::AlertKind;
use chat_tui::state::{ConnectionStatus, Scroll};
use chat_tui::{App, Effect};
use common::*;
use crossterm::event::{KeyCode, KeyModifiers};
use std::time::{Duration, Instant};

fn ctrl(c: char) -> Action {
    key_mod(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn alt(code: KeyCode) -> Action {
    key_mod(code, KeyModifiers::ALT)
}

/// #ops (1), #ward (2), a DM with bob (3) and one with carol (4); #ops,
/// the most recently active, in view.
fn four_rooms() -> App {
    let mut app = app();
    apply(
        &mut app,
        [Action::Rooms(vec![
            summary(info(1, "ops", RoomKind::Group, 0), 0, 0, T0 + 30 * MIN),
            summary(info(2, "ward", RoomKind::Group, 0), 0, 0, T0 + 20 * MIN),
            summary(info(3, "@bob", RoomKind::Direct, 0), 0, 0, T0 + 10 * MIN),
            summary(info(4, "@carol", RoomKind::Direct, 0), 0, 0, T0),
        ])],
    );
    app
}

fn sends(fx: &[Effect]) -> Vec<&Effect> {
    fx.iter()
        .filter(|e| matches!(e, Effect::Send { .. }))
        .collect()
}

// ----- 1. room numbers -----

#[test]
fn a_message_arriving_elsewhere_does_not_change_what_alt_n_selects() {
    let mut app = four_rooms();
    let before = app.room_order();
    // Alt-3 is the DM with bob.
    apply(&mut app, [alt(KeyCode::Char('3'))]);
    assert_eq!(app.active, Some(RoomId(3)));
    apply(&mut app, [alt(KeyCode::Char('1'))]);
    // Messages arrive in the other rooms, newest in carol's DM and #ward.
    apply(
        &mut app,
        [
            Action::Room(msg(4, 1, T0 + 60 * MIN, &carol(), "are you there?")),
            Action::Room(msg(2, 1, T0 + 61 * MIN, &bob(), "bed 4 needs a check")),
        ],
    );
    assert_eq!(app.room_order(), before, "activity moved a room");
    apply(&mut app, [alt(KeyCode::Char('3'))]);
    assert_eq!(app.active, Some(RoomId(3)), "Alt-3 went elsewhere");
    // The list says so too: row 3 is still bob.
    let s = screen(&app, 100, 30);
    assert!(
        s.lines().nth(3).unwrap().contains("3 ● bob")
            || s.lines().nth(3).unwrap().contains("3 · bob"),
        "{s}"
    );
    // Activity shows as badges, not moves.
    assert!(s.lines().nth(2).unwrap().contains("2 # ward"), "{s}");
    assert!(s.lines().nth(4).unwrap().contains("@1"), "{s}");
}

#[test]
fn pinned_rooms_come_first_in_the_configured_order() {
    let mut app = four_rooms();
    app.pinned = vec!["@carol".into(), "#WARD".into()];
    let order: Vec<u64> = app.room_order().into_iter().map(|r| r.0).collect();
    assert_eq!(order, [4, 2, 1, 3]);
}

// ----- 2. drafts and Tab -----

#[test]
fn a_draft_stays_in_its_room_and_tab_does_not_switch_rooms() {
    let mut app = four_rooms();
    type_text(&mut app, "half typed for ops");
    apply(&mut app, [key(KeyCode::Tab)]);
    assert_eq!(app.active, Some(RoomId(1)), "Tab switched rooms");
    apply(&mut app, [ctrl('n')]);
    assert_eq!(app.active, Some(RoomId(2)));
    assert!(app.composer.is_empty(), "the draft followed into #ward");
    type_text(&mut app, "for ward");
    let fx = apply(&mut app, [ctrl('p')]);
    assert!(sends(&fx).is_empty());
    assert_eq!(app.active, Some(RoomId(1)));
    assert!(app.composer.text().starts_with("half typed for ops"));
    // Enter sends it to #ops, where it was typed.
    let fx = apply(&mut app, [key(KeyCode::Enter)]);
    assert!(
        matches!(
            sends(&fx)[..],
            [Effect::Send {
                room: RoomId(1),
                ..
            }]
        ),
        "{fx:?}"
    );
    apply(&mut app, [alt(KeyCode::Char('2'))]);
    assert_eq!(app.composer.text(), "for ward");
}

#[test]
fn a_reply_in_progress_keeps_its_target_in_its_room() {
    let mut app = four_rooms();
    apply(
        &mut app,
        [Action::Room(msg(1, 1, T0, &bob(), "who has bed 4?"))],
    );
    apply(&mut app, [alt(KeyCode::Up), key(KeyCode::Char('r'))]);
    type_text(&mut app, "me");
    apply(&mut app, [alt(KeyCode::Char('2')), alt(KeyCode::Char('1'))]);
    assert_eq!(app.composer.mode, ComposeMode::Reply(Seq(1)));
    let fx = apply(&mut app, [key(KeyCode::Enter)]);
    assert!(
        matches!(
            sends(&fx)[..],
            [Effect::Send {
                room: RoomId(1),
                reply_to: Some(Seq(1)),
                ..
            }]
        ),
        "{fx:?}"
    );
}

#[test]
fn tab_completes_nicknames_mentions_commands_and_rooms() {
    let mut app = four_rooms();
    let dave = author(4, "dave", "Dave Kim");
    apply(
        &mut app,
        [
            Action::Room(msg(1, 1, T0, &carol(), "morning")),
            Action::Room(msg(1, 2, T0 + MIN, &bob(), "hi")),
            Action::Room(msg(1, 3, T0 + 2 * MIN, &me(), "hello")),
        ],
    );
    // Not loaded yet: the first Tab asks for the member list.
    type_text(&mut app, "c");
    let fx = apply(&mut app, [key(KeyCode::Tab)]);
    assert!(
        fx.contains(&Effect::LoadMembers { room: RoomId(1) }),
        "{fx:?}"
    );
    assert_eq!(app.composer.text(), "carol: ");
    apply(&mut app, [key(KeyCode::Esc)]);
    let members = [
        (me(), Role::Owner),
        (bob(), Role::Member),
        (carol(), Role::Member),
        (dave.clone(), Role::Member),
    ]
    .into_iter()
    .map(|(user, role)| MemberInfo {
        user,
        role,
        joined_at: Timestamp(T0),
    })
    .collect();
    apply(
        &mut app,
        [Action::Members {
            room: RoomId(1),
            members,
        }],
    );

    // At the start: the most recent speaker first, then members by name;
    // never yourself. Tab cycles, Shift-Tab goes back.
    apply(&mut app, [key(KeyCode::Tab)]);
    assert!(
        app.composer.is_empty(),
        "nothing to complete on an empty input"
    );
    type_text(&mut app, "ask @");
    apply(&mut app, [key(KeyCode::Tab)]);
    assert_eq!(app.composer.text(), "ask @bob ");
    apply(&mut app, [key(KeyCode::Tab)]);
    assert_eq!(app.composer.text(), "ask @carol ");
    apply(&mut app, [key(KeyCode::Tab)]);
    assert_eq!(app.composer.text(), "ask @dave ");
    apply(&mut app, [key_mod(KeyCode::BackTab, KeyModifiers::SHIFT)]);
    assert_eq!(app.composer.text(), "ask @carol ");
    // Typing ends the completion; display names match too.
    type_text(&mut app, "and Da");
    apply(&mut app, [key(KeyCode::Tab)]);
    assert_eq!(app.composer.text(), "ask @carol and dave ");
    apply(&mut app, [key(KeyCode::Esc)]);

    type_text(&mut app, "/jo");
    apply(&mut app, [key(KeyCode::Tab)]);
    assert_eq!(app.composer.text(), "/join ");
    type_text(&mut app, "#wa");
    apply(&mut app, [key(KeyCode::Tab)]);
    assert_eq!(app.composer.text(), "/join #ward ");
    apply(&mut app, [key(KeyCode::Esc)]);
    // Nothing matches: the input stays as typed.
    type_text(&mut app, "zz");
    apply(&mut app, [key(KeyCode::Tab)]);
    assert_eq!(app.composer.text(), "zz");
}

// ----- 5. message actions -----

#[test]
fn action_keys_clear_the_selection_and_never_capture_what_is_typed_next() {
    let mut app = four_rooms();
    apply(
        &mut app,
        [
            Action::Room(msg(1, 1, T0, &bob(), "one")),
            Action::Room(msg(1, 2, T0 + MIN, &carol(), "two")),
            Action::Room(msg(1, 3, T0 + 2 * MIN, &bob(), "three")),
        ],
    );
    // Select "two", press r, then type a reply that starts with r, e, d.
    apply(
        &mut app,
        [alt(KeyCode::Up), alt(KeyCode::Up), key(KeyCode::Char('r'))],
    );
    assert_eq!(app.rooms[&RoomId(1)].selected, None);
    type_text(&mut app, "reply deleted");
    assert_eq!(app.composer.text(), "reply deleted");
    assert_eq!(app.composer.mode, ComposeMode::Reply(Seq(2)));
    let fx = apply(&mut app, [key(KeyCode::Enter)]);
    assert!(
        matches!(sends(&fx)[..], [Effect::Send { reply_to: Some(Seq(2)), text, .. }] if text == "reply deleted"),
        "{fx:?}"
    );
    // The next Alt-Up starts from the newest again, not the stale point.
    apply(&mut app, [alt(KeyCode::Up)]);
    assert_eq!(app.rooms[&RoomId(1)].selected, Some(Seq(3)));
    // `e` reacts; what is typed is the emoji, not a command.
    apply(&mut app, [key(KeyCode::Char('e'))]);
    type_text(&mut app, "ply");
    assert_eq!(app.composer.text(), "ply");
    apply(&mut app, [key(KeyCode::Esc)]);
    // Typing a letter with a message selected starts ordinary input.
    apply(&mut app, [alt(KeyCode::Up), key(KeyCode::Char('h'))]);
    assert_eq!(app.rooms[&RoomId(1)].selected, None);
    type_text(&mut app, "ello");
    assert_eq!(app.composer.text(), "hello");
    apply(&mut app, [key(KeyCode::Esc)]);
    // `d` asks; `n` keeps the message, `y` deletes it.
    apply(&mut app, [alt(KeyCode::Up), key(KeyCode::Char('d'))]);
    assert_eq!(
        app.overlay,
        Overlay::Confirm(Confirm::Delete {
            room: RoomId(1),
            seq: Seq(3)
        })
    );
    assert!(screen(&app, 100, 30).contains("Delete this message for everyone?"));
    assert!(apply(&mut app, [key(KeyCode::Char('n'))]).is_empty());
    apply(&mut app, [alt(KeyCode::Up), key(KeyCode::Char('d'))]);
    assert_eq!(
        apply(&mut app, [key(KeyCode::Char('y'))]),
        [Effect::Delete {
            room: RoomId(1),
            seq: Seq(3)
        }]
    );
}

// ----- 3. unsent messages survive a quit -----

#[test]
fn quitting_with_unsent_messages_asks_and_they_come_back_next_time() {
    let mut app = four_rooms();
    apply(
        &mut app,
        [Action::Connection(ConnectionStatus::Reconnecting {
            attempt: 1,
            retry_at: Instant::now(),
            problem: None,
        })],
    );
    type_text(&mut app, "typed while the server is down");
    let fx = apply(&mut app, [key(KeyCode::Enter)]);
    let Some(Effect::PersistOutbox(saved)) = fx.last() else {
        panic!("the outbox was not saved: {fx:?}");
    };
    assert_eq!(saved.len(), 1);
    let saved = saved.clone();
    // Ctrl-C asks first and says the message is kept.
    assert!(apply(&mut app, [ctrl('c')]).is_empty());
    assert_eq!(app.overlay, Overlay::Confirm(Confirm::Quit { unsent: 1 }));
    let s = screen(&app, 100, 30);
    assert!(s.contains("1 message is not sent yet"), "{s}");
    assert!(apply(&mut app, [key(KeyCode::Char('n'))]).is_empty());
    assert_eq!(app.run_state, chat_tui::app::RunState::Running);
    apply(&mut app, [ctrl('c')]);
    assert_eq!(apply(&mut app, [key(KeyCode::Char('y'))]), [Effect::Quit]);

    // The next run: restored as pending, sent once connected, same key.
    let mut next = app_offline();
    apply(&mut next, [Action::OutboxRestored(saved.clone())]);
    assert!(screen(&next, 100, 30).contains("1 queued"));
    let fx = apply(
        &mut next,
        [Action::Connection(ConnectionStatus::Connected {
            server: "s".into(),
            rtt_ms: None,
        })],
    );
    let resent = sends(&fx);
    assert!(
        matches!(resent[..], [Effect::Send { key, .. }] if *key == saved[0].key),
        "{fx:?}"
    );
    // Restoring twice (a second load) queues nothing new.
    let fx = apply(&mut next, [Action::OutboxRestored(saved)]);
    assert!(sends(&fx).is_empty());
}

/// An app that is logged in with rooms but not connected yet.
fn app_offline() -> App {
    let mut app = App::new(chat_tui::keymap::Keymap::default(), Instant::now());
    apply(
        &mut app,
        [
            Action::LoggedIn(me()),
            Action::Rooms(vec![summary(info(1, "ops", RoomKind::Group, 0), 0, 0, T0)]),
        ],
    );
    app
}

#[test]
fn a_signal_quits_without_asking() {
    let mut app = four_rooms();
    type_text(&mut app, "x");
    apply(&mut app, [key(KeyCode::Enter)]);
    let fx = apply(&mut app, [Action::Quit]);
    assert_eq!(fx, [Effect::Quit]);
}

// ----- 4. connection problems -----

#[test]
fn a_certificate_problem_shows_in_words_until_a_connection_succeeds() {
    let mut app = four_rooms();
    let now = app.now;
    let problem = "the certificate of 127.0.0.1:4433 is not trusted: invalid peer certificate";
    apply(
        &mut app,
        [Action::Connection(ConnectionStatus::Reconnecting {
            attempt: 2,
            retry_at: now + Duration::from_secs(1),
            problem: Some(problem.into()),
        })],
    );
    let s = screen(&app, 100, 30);
    assert!(
        s.contains("Not connected: the certificate of 127.0.0.1:4433"),
        "{s}"
    );
    assert!(s.contains("/reconnect"), "{s}");
    assert_eq!(
        apply(
            &mut app,
            [Action::Connection(ConnectionStatus::Connected {
                server: "s".into(),
                rtt_ms: None
            })]
        )
        .iter()
        .filter(|e| matches!(e, Effect::Reconnect))
        .count(),
        0
    );
    assert!(!screen(&app, 100, 30).contains("Not connected"));
    type_text(&mut app, "/reconnect");
    assert_eq!(apply(&mut app, [key(KeyCode::Enter)]), [Effect::Reconnect]);
}

// ----- 7. paste -----

#[test]
fn pasted_carriage_returns_are_line_breaks_and_nothing_is_sent() {
    let mut app = four_rooms();
    let fx = apply(
        &mut app,
        [Action::Paste("line one\rline two\r\nthree\n병동".into())],
    );
    assert!(sends(&fx).is_empty());
    assert_eq!(app.composer.text(), "line one\nline two\nthree\n병동");
}

// ----- 8. reading state -----

#[test]
fn the_room_open_at_startup_is_marked_read_after_catch_up() {
    let mut app = app();
    apply(
        &mut app,
        [Action::Rooms(vec![summary(
            info(1, "ops", RoomKind::Group, 3),
            3,
            0,
            T0,
        )])],
    );
    apply(
        &mut app,
        (1..=3).map(|s| Action::Room(msg(1, s, T0 + s, &bob(), "m"))),
    );
    let fx = apply(
        &mut app,
        [Action::CaughtUp {
            room: RoomId(1),
            head: Seq(3),
        }],
    );
    assert!(
        fx.contains(&Effect::MarkRead {
            room: RoomId(1),
            seq: Seq(3)
        }),
        "{fx:?}"
    );
    // And the first unread message has a "new messages" line above it.
    let s = screen(&app, 100, 30);
    let marker = s
        .lines()
        .position(|l| l.contains("new messages"))
        .expect("marker");
    let first = s.lines().position(|l| l.contains("Bob: m")).unwrap();
    assert_eq!(marker + 1, first, "{s}");
}

#[test]
fn no_stale_badge_on_the_open_room_after_a_reconnect() {
    let mut app = four_rooms();
    apply(&mut app, [Action::Room(msg(1, 1, T0, &bob(), "seen"))]);
    apply(
        &mut app,
        [
            Action::Connection(ConnectionStatus::Reconnecting {
                attempt: 1,
                retry_at: Instant::now(),
                problem: None,
            }),
            Action::Connection(ConnectionStatus::Connected {
                server: "s".into(),
                rtt_ms: None,
            }),
            // The server's list still counts #ops's message as unread.
            Action::Rooms(vec![summary(info(1, "ops", RoomKind::Group, 1), 1, 0, T0)]),
        ],
    );
    assert_eq!(app.rooms[&RoomId(1)].unread, 0);
    assert!(
        !screen(&app, 100, 30)
            .lines()
            .nth(1)
            .unwrap()
            .contains(" 1 ")
    );
}

#[test]
fn end_jumps_to_the_newest_message() {
    let mut app = four_rooms();
    apply(
        &mut app,
        (1..=80).map(|s| Action::Room(msg(1, s, T0 + s, &bob(), &format!("m{s}")))),
    );
    apply(&mut app, [key(KeyCode::PageUp), key(KeyCode::PageUp)]);
    assert!(matches!(app.rooms[&RoomId(1)].scroll, Scroll::Anchored(_)));
    apply(&mut app, [key(KeyCode::End)]);
    assert_eq!(app.rooms[&RoomId(1)].scroll, Scroll::Bottom);
    assert!(screen(&app, 100, 30).contains("Bob: m80"));
}

#[test]
fn a_narrow_terminal_still_says_what_is_unread_elsewhere() {
    let mut app = four_rooms();
    apply(
        &mut app,
        [
            Action::Room(msg(2, 1, T0, &bob(), "x")),
            Action::Room(msg(3, 1, T0, &bob(), "y")),
        ],
    );
    let s = screen(&app, 60, 24);
    assert!(!s.contains("Rooms"));
    assert!(
        s.lines().next().unwrap().contains("2 new in 2 rooms @1"),
        "{s}"
    );
}

#[test]
fn addressing_someone_and_direct_messages_are_highlights() {
    let mut app = four_rooms();
    let fx = apply(
        &mut app,
        [
            Action::Room(msg(2, 1, T0, &bob(), "alice: can you check bed 4?")),
            Action::Room(msg(3, 1, T0, &bob(), "quick question")),
        ],
    );
    assert_eq!(app.rooms[&RoomId(2)].mentions, 1);
    assert_eq!(app.rooms[&RoomId(3)].mentions, 1);
    // The alert names who and where.
    assert!(fx.contains(&Effect::Alert {
        room: RoomId(2),
        kind: AlertKind::Mention,
        from: "Bob".into(),
        place: "#ward".into(),
    }));
}

#[test]
fn mentions_are_highlighted_in_the_text() {
    let mut app = four_rooms();
    apply(
        &mut app,
        [Action::Room(msg(
            1,
            1,
            T0,
            &bob(),
            "ping @alice about bed 4",
        ))],
    );
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    term.draw(|f| chat_tui::ui::draw(f, &app)).unwrap();
    let buf = term.backend().buffer();
    let (x, y) = (0..30)
        .flat_map(|y| (0..100).map(move |x| (x, y)))
        .find(|&(x, y)| buf[(x, y)].symbol() == "@" && buf[(x + 1, y)].symbol() == "a")
        .expect("the mention on screen");
    assert_eq!(buf[(x, y)].fg, ratatui::style::Color::LightMagenta);
    assert_ne!(buf[(x - 2, y)].fg, ratatui::style::Color::LightMagenta);
}

#[test]
fn the_selected_message_names_who_has_seen_it() {
    let mut app = four_rooms();
    apply(
        &mut app,
        [
            Action::Room(msg(1, 1, T0, &bob(), "first")),
            Action::Room(msg(1, 2, T0 + MIN, &carol(), "second")),
            Action::Receipt {
                room: RoomId(1),
                user: bob().id,
                read_seq: Seq(2),
            },
            Action::Receipt {
                room: RoomId(1),
                user: carol().id,
                read_seq: Seq(1),
            },
        ],
    );
    apply(&mut app, [alt(KeyCode::Up), alt(KeyCode::Up)]);
    assert!(screen(&app, 100, 30).contains("✓ seen by Bob, Carol Nguyen"));
    apply(&mut app, [alt(KeyCode::Down)]);
    assert!(screen(&app, 100, 30).contains("✓ seen by Bob"));
}

#[test]
fn status_messages_clear_by_themselves() {
    let mut app = four_rooms();
    let t = app.now;
    apply(&mut app, [Action::Status(Level::Info, "added bob".into())]);
    apply(&mut app, [Action::Tick(t + Duration::from_secs(2))]);
    assert!(app.status.is_some());
    apply(&mut app, [Action::Tick(t + chat_tui::app::INFO_FOR)]);
    assert!(app.status.is_none());
    apply(
        &mut app,
        [Action::Status(Level::Error, "cannot add bob".into())],
    );
    apply(&mut app, [Action::Tick(t + chat_tui::app::INFO_FOR * 2)]);
    assert!(app.status.is_some(), "errors stay longer");
    apply(
        &mut app,
        [Action::Tick(
            t + chat_tui::app::INFO_FOR + chat_tui::app::ERROR_FOR,
        )],
    );
    assert!(app.status.is_none());
}

// ----- 6. the cursor and Korean input -----

#[test]
fn the_terminal_cursor_sits_at_the_caret_while_typing_korean() {
    let mut app = four_rooms();
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    let mut caret = |app: &App| {
        term.draw(|f| chat_tui::ui::draw(f, app)).unwrap();
        ratatui::backend::Backend::get_cursor_position(term.backend_mut()).unwrap()
    };
    // Input text row: 30 rows − status (1) − input (1).
    assert_eq!(caret(&app), (0, 28).into());
    type_text(&mut app, "안녕");
    assert_eq!(caret(&app), (4, 28).into(), "two wide syllables");
    type_text(&mut app, "하세요 ok");
    assert_eq!(caret(&app), (13, 28).into());
    apply(
        &mut app,
        [key(KeyCode::Left), key(KeyCode::Left), key(KeyCode::Left)],
    );
    assert_eq!(caret(&app), (10, 28).into());
    // A second line grows the input upwards; the caret follows.
    apply(&mut app, [key(KeyCode::End), alt(KeyCode::Enter)]);
    type_text(&mut app, "병동");
    assert_eq!(caret(&app), (4, 28).into());
    assert!(
        screen(&app, 100, 30)
            .lines()
            .nth(27)
            .unwrap()
            .contains("안녕하세요 ok")
    );
}

// ----- 9. emoji width -----

#[test]
fn emoji_sequences_do_not_shift_the_member_pane() {
    let mut app = four_rooms();
    let family = author(5, "kim", "👨\u{200d}👩\u{200d}👧 Kim");
    let flag = author(6, "lee", "🇰🇷 Lee");
    let thumbs = author(7, "park", "Park 👍🏽");
    apply(&mut app, [key(KeyCode::F(2))]);
    let members = [
        (me(), Role::Owner),
        (family.clone(), Role::Admin),
        (flag.clone(), Role::Admin),
        (thumbs.clone(), Role::Admin),
    ]
    .into_iter()
    .map(|(user, role): (Author, Role)| MemberInfo {
        user,
        role,
        joined_at: Timestamp(T0),
    })
    .collect();
    apply(
        &mut app,
        [
            Action::Members {
                room: RoomId(1),
                members,
            },
            Action::Room(msg(
                1,
                1,
                T0,
                &family,
                "🇰🇷🇰🇷 👨\u{200d}👩\u{200d}👧 wrap me",
            )),
        ],
    );
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    term.draw(|f| chat_tui::ui::draw(f, &app)).unwrap();
    let buf = term.backend().buffer();
    let role_x = |y: u16| {
        (0..96).find(|&x| (0..5).map(|i| buf[(x + i, y)].symbol()).collect::<String>() == "admin")
    };
    let xs: Vec<u16> = (1..5).filter_map(role_x).collect();
    assert_eq!(xs.len(), 3, "{}", buffer_text(buf));
    assert!(
        xs.iter().all(|&x| x == xs[0]),
        "roles at columns {xs:?}\n{}",
        buffer_text(buf)
    );
    assert_eq!(xs[0] + 5, 99, "flush with the right edge");
}

#[test]
fn removal_from_the_room_in_view_never_sends_its_draft_elsewhere() {
    let mut app = four_rooms();
    type_text(&mut app, "meant for ops only");
    apply(
        &mut app,
        [Action::User(chat_protocol::UserEvent::RoomRemoved {
            room: RoomId(1),
        })],
    );
    assert_eq!(app.active, Some(RoomId(2)));
    assert!(app.composer.is_empty(), "the draft followed into #ward");
    assert!(
        app.status
            .clone()
            .unwrap()
            .text
            .contains("no longer in ops")
    );
}

#[test]
fn a_refused_login_says_so_above_the_input() {
    let mut app = four_rooms();
    apply(
        &mut app,
        [Action::Connection(ConnectionStatus::Offline(
            "the server refused the login (token revoked)".into(),
        ))],
    );
    let s = screen(&app, 100, 30);
    assert!(
        s.contains("Not connected: the server refused the login"),
        "{s}"
    );
    assert!(s.contains("stopped trying"), "{s}");
}
