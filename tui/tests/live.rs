//! Driving the lifecycle from the keyboard (edit, delete, react, reply,
//! selection, away, topic, contacts) and the live state the server pushes
//! (receipts, typing, presence, notifications, delivery acknowledgements).

#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{
    Contact, Notification, NotificationKind, PresenceInfo, RoomEventKind, RoomId, RoomKind, Seq,
    Timestamp, UserEvent,
};
use chat_tui::action::Action;
use chat_tui::effect::AlertKind;
use chat_tui::state::Presence;
use chat_tui::{App, Effect, TYPING_EVERY};
use common::*;
use crossterm::event::{KeyCode, KeyModifiers};
use std::time::Duration;

/// #ops (id 1, active, with messages 1–3) and a DM with bob (id 2).
fn ops() -> App {
    let mut app = app();
    apply(
        &mut app,
        [
            Action::Rooms(vec![
                summary(info(1, "ops", RoomKind::Group, 0), 0, 0, T0 + 10 * MIN),
                summary(info(2, "@bob", RoomKind::Direct, 0), 0, 0, T0),
            ]),
            Action::Room(msg(1, 1, T0, &me(), "mine")),
            Action::Room(msg(1, 2, T0 + MIN, &bob(), "bob one")),
            Action::Room(msg(1, 3, T0 + 2 * MIN, &carol(), "carol")),
        ],
    );
    app
}

fn run(app: &mut App, line: &str) -> Vec<Effect> {
    type_text(app, line);
    apply(app, [key(KeyCode::Enter)])
        .into_iter()
        .filter(|f| !matches!(f, Effect::Typing { .. } | Effect::PersistOutbox(_)))
        .collect()
}

fn alt(code: KeyCode) -> Action {
    key_mod(code, KeyModifiers::ALT)
}

#[test]
fn message_commands_act_on_the_latest_fitting_message() {
    let mut app = ops();
    let room = RoomId(1);
    assert_eq!(
        run(&mut app, "/edit fixed"),
        [Effect::Edit {
            room,
            seq: Seq(1),
            text: "fixed".into()
        }]
    );
    // Deleting asks first; `y` confirms.
    assert!(run(&mut app, "/delete").is_empty());
    assert!(matches!(app.overlay, chat_tui::app::Overlay::Confirm(_)));
    assert_eq!(
        apply(&mut app, [key(KeyCode::Char('y'))]),
        [Effect::Delete { room, seq: Seq(1) }]
    );
    assert_eq!(
        run(&mut app, "/react 👍"),
        [Effect::React {
            room,
            seq: Seq(3),
            emoji: "👍".into()
        }]
    );
    let fx = run(&mut app, "/reply ok");
    assert!(
        matches!(&fx[..], [Effect::Send { reply_to: Some(Seq(3)), text, .. }] if text == "ok"),
        "{fx:?}"
    );
    assert_eq!(
        run(&mut app, "/topic on call: bob"),
        [Effect::SetTopic {
            room,
            topic: "on call: bob".into()
        }]
    );
    assert_eq!(run(&mut app, "/contacts"), [Effect::LoadContacts]);
    assert!(app.composer.is_empty());
}

#[test]
fn away_toggles() {
    let mut app = ops();
    assert_eq!(run(&mut app, "/away"), [Effect::SetAway(true)]);
    assert!(app.status.clone().unwrap().text.contains("you are away"));
    assert_eq!(run(&mut app, "/away"), [Effect::SetAway(false)]);
    assert_eq!(app.status.clone().unwrap().text, "you are back");
}

#[test]
fn edit_without_a_message_of_yours_says_what_to_do() {
    let mut app = ops();
    apply(&mut app, [Action::Room(msg(1, 4, T0, &bob(), "x"))]);
    apply(
        &mut app,
        [Action::Room(chat_protocol::RoomEvent {
            room: RoomId(1),
            seq: Seq(5),
            ts: Timestamp(T0),
            sender: me(),
            kind: RoomEventKind::Deleted { target: Seq(1) },
        })],
    );
    assert!(run(&mut app, "/edit again").is_empty());
    let status = app.status.clone().unwrap().text;
    assert!(
        status.starts_with("/edit: you have no message here"),
        "{status}"
    );
    assert_eq!(app.composer.text(), "/edit again");
}

#[test]
fn selection_moves_with_alt_arrows_and_keys_act_on_it() {
    let mut app = ops();
    apply(&mut app, [alt(KeyCode::Up), alt(KeyCode::Up)]);
    assert_eq!(app.rooms[&RoomId(1)].selected, Some(Seq(2)));
    // The selection is drawn reversed.
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    term.draw(|f| chat_tui::ui::draw(f, &app)).unwrap();
    let buf = term.backend().buffer();
    let row = (0..30)
        .find(|&y| {
            (0..100)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .contains("bob one")
        })
        .unwrap();
    assert!((30..100).any(|x| {
        buf[(x, row)]
            .modifier
            .contains(ratatui::style::Modifier::REVERSED)
    }));
    // `e` starts a reaction to it: the input takes the emoji alone.
    apply(&mut app, [key(KeyCode::Char('e'))]);
    assert!(app.composer.is_empty());
    assert_eq!(
        app.composer.mode,
        chat_tui::composer::ComposeMode::React(Seq(2))
    );
    let fx = run(&mut app, "🎉");
    assert_eq!(
        fx,
        [Effect::React {
            room: RoomId(1),
            seq: Seq(2),
            emoji: "🎉".into()
        }]
    );
    assert_eq!(app.rooms[&RoomId(1)].selected, None);
    // `r` replies to the selection.
    apply(&mut app, [alt(KeyCode::Up), alt(KeyCode::Up)]);
    apply(&mut app, [key(KeyCode::Char('r'))]);
    let fx = run(&mut app, "sure");
    assert!(
        matches!(
            &fx[..],
            [Effect::Send {
                reply_to: Some(Seq(2)),
                ..
            }]
        ),
        "{fx:?}"
    );
    // `d` asks before deleting; Esc keeps the message. Alt-Down past the
    // newest clears the selection.
    apply(&mut app, [alt(KeyCode::Up), key(KeyCode::Char('d'))]);
    assert!(matches!(app.overlay, chat_tui::app::Overlay::Confirm(_)));
    assert!(apply(&mut app, [key(KeyCode::Esc)]).is_empty());
    assert_eq!(app.overlay, chat_tui::app::Overlay::None);
    assert!(app.composer.is_empty());
    assert_eq!(app.rooms[&RoomId(1)].selected, None);
    apply(&mut app, [alt(KeyCode::Up), alt(KeyCode::Down)]);
    assert_eq!(app.rooms[&RoomId(1)].selected, None);
    // Without a selection, `r` is just a letter.
    apply(&mut app, [key(KeyCode::Char('r'))]);
    assert_eq!(app.composer.text(), "r");
}

#[test]
fn receipts_show_seen_by_on_your_latest_message() {
    let mut app = ops();
    apply(
        &mut app,
        [Action::Room(msg(1, 4, T0 + 3 * MIN, &me(), "lunch?"))],
    );
    assert!(!screen(&app, 100, 30).contains("seen by"));
    let receipt = |user: &chat_protocol::Author, seq: u64| Action::Receipt {
        room: RoomId(1),
        user: user.id,
        read_seq: Seq(seq),
    };
    apply(&mut app, [receipt(&bob(), 4), receipt(&carol(), 3)]);
    assert!(screen(&app, 100, 30).contains("✓ seen by Bob"));
    // Markers only move forward; your own marker is not counted.
    apply(
        &mut app,
        [receipt(&carol(), 5), receipt(&bob(), 2), receipt(&me(), 9)],
    );
    let s = screen(&app, 100, 30);
    assert!(s.contains("✓ seen by Bob, Carol Nguyen"), "{s}");
    assert_eq!(app.rooms[&RoomId(1)].read_seq, Seq(9));
}

#[test]
fn typing_is_sent_at_most_every_three_seconds() {
    let mut app = ops();
    let t0 = app.now;
    assert_eq!(
        type_text(&mut app, "hel"),
        [Effect::Typing { room: RoomId(1) }]
    );
    apply(&mut app, [Action::Tick(t0 + Duration::from_secs(2))]);
    assert!(type_text(&mut app, "lo").is_empty());
    apply(&mut app, [Action::Tick(t0 + TYPING_EVERY)]);
    assert_eq!(
        type_text(&mut app, "!"),
        [Effect::Typing { room: RoomId(1) }]
    );
    // Commands are not typing.
    apply(
        &mut app,
        [key(KeyCode::Esc), Action::Tick(t0 + 2 * TYPING_EVERY)],
    );
    assert!(type_text(&mut app, "/away").is_empty());
}

#[test]
fn typing_frames_show_until_they_expire() {
    let mut app = ops();
    let now = app.now;
    let until = chat_tui::expiry(Timestamp(Timestamp::now().0 + 4_000), now);
    assert!(until > now + Duration::from_secs(3) && until <= now + Duration::from_secs(4));
    apply(
        &mut app,
        [Action::Typing {
            room: RoomId(1),
            user: "Bob".into(),
            until,
        }],
    );
    assert!(screen(&app, 100, 30).contains("Bob is typing…"));
    apply(&mut app, [Action::Tick(now + Duration::from_secs(5))]);
    assert!(!screen(&app, 100, 30).contains("typing"));
    // A past expiry shows nothing at all.
    let past = chat_tui::expiry(Timestamp(1), now);
    assert_eq!(past, now);
}

#[test]
fn presence_lights_direct_rooms_and_members() {
    let mut app = app();
    let fx = apply(
        &mut app,
        [Action::Rooms(vec![summary(
            info(2, "@bob", RoomKind::Direct, 0),
            0,
            0,
            T0,
        )])],
    );
    assert!(
        fx.contains(&Effect::LoadPresence {
            usernames: vec!["bob".into()]
        }),
        "{fx:?}"
    );
    apply(
        &mut app,
        [Action::User(UserEvent::Presence(PresenceInfo {
            user: bob(),
            presence: chat_protocol::Presence::Away,
            last_seen: None,
        }))],
    );
    assert_eq!(app.rooms[&RoomId(2)].presence, Presence::Away);
    // A member list loaded later starts from what is known.
    apply(
        &mut app,
        [Action::Members {
            room: RoomId(2),
            members: vec![chat_protocol::MemberInfo {
                user: bob(),
                role: chat_protocol::Role::Member,
                joined_at: Timestamp(T0),
            }],
        }],
    );
    let chat_tui::state::Members::Loaded(list) = &app.rooms[&RoomId(2)].members else {
        panic!("members not loaded");
    };
    assert_eq!(list[0].presence, Presence::Away);
}

#[test]
fn contacts_are_listed_in_the_status_line() {
    let mut app = ops();
    apply(
        &mut app,
        [Action::Contacts(vec![Contact {
            user: bob(),
            presence: chat_protocol::Presence::Online,
            last_seen: None,
        }])],
    );
    assert_eq!(app.status.clone().unwrap().text, "contacts: bob (online)");
    assert_eq!(app.rooms[&RoomId(2)].presence, Presence::Online);
}

#[test]
fn notifications_alert_once_and_only_out_of_view() {
    let mut app = ops();
    let note = |room: u64, seq: u64| {
        Action::User(UserEvent::Notification(Notification {
            id: seq,
            from: bob(),
            kind: NotificationKind::Mention {
                room: RoomId(room),
                seq: Seq(seq),
            },
            at: Timestamp(T0),
            read: false,
        }))
    };
    // In view: no alert.
    assert!(apply(&mut app, [note(1, 3)]).is_empty());
    // Out of view: once, even when the room event also mentions you.
    assert_eq!(
        apply(&mut app, [note(2, 1)]),
        [Effect::Alert {
            room: RoomId(2),
            kind: AlertKind::Mention,
            from: "Bob".into(),
            place: String::new(),
        }]
    );
    let fx = apply(&mut app, [Action::Room(msg(2, 1, T0, &bob(), "@alice hi"))]);
    assert!(
        !fx.iter().any(|f| matches!(f, Effect::Alert { .. })),
        "{fx:?}"
    );
}

#[test]
fn live_events_are_acknowledged_as_delivered() {
    let mut app = ops();
    let fx = apply(
        &mut app,
        [Action::CaughtUp {
            room: RoomId(1),
            head: Seq(3),
        }],
    );
    assert!(fx.contains(&Effect::MarkDelivered {
        room: RoomId(1),
        seq: Seq(3)
    }));
    let fx = apply(&mut app, [Action::Room(msg(1, 4, T0, &bob(), "live"))]);
    assert!(fx.contains(&Effect::MarkDelivered {
        room: RoomId(1),
        seq: Seq(4)
    }));
    // Your own messages need no acknowledgement.
    let fx = apply(&mut app, [Action::Room(msg(1, 5, T0, &me(), "mine"))]);
    assert!(!fx.iter().any(|f| matches!(f, Effect::MarkDelivered { .. })));
}
