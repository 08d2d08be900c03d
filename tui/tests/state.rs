//! State tests without a terminal: apply/dedup/resume, unread counting, the
//! outbox, infinite scroll, commands and keys.

#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{MessageAck, MessageId, RoomId, RoomKind, Seq, Timestamp};
use chat_tui::action::Action;
use chat_tui::effect::AlertKind;
use chat_tui::state::{ConnectionStatus, OutgoingState, Scroll, Timeline};
use chat_tui::{App, Effect};
use common::*;
use crossterm::event::{KeyCode, KeyModifiers};
use std::time::{Duration, Instant};

/// An app with #ops (id 1, active) and a DM with bob (id 2, older).
fn two_rooms() -> App {
    let mut app = app();
    apply(
        &mut app,
        [Action::Rooms(vec![
            summary(info(1, "ops", RoomKind::Group, 0), 0, 0, T0 + 10 * MIN),
            summary(info(2, "@bob", RoomKind::Direct, 0), 0, 0, T0),
        ])],
    );
    assert_eq!(app.active, Some(RoomId(1)));
    app
}

#[test]
fn apply_is_idempotent_and_gaps_are_found() {
    let mut t = Timeline::new();
    for seq in [1, 2, 3] {
        t.apply(msg(1, seq, T0 + seq, &bob(), "x"));
    }
    assert_eq!(
        t.apply(msg(1, 2, T0, &bob(), "replayed")),
        chat_tui::state::Applied::Duplicate
    );
    assert_eq!(
        t.get(Seq(2))
            .and_then(|i| i.message())
            .map(|m| m.text.as_str()),
        Some("x")
    );
    assert!(t.missing_ranges().is_empty());
    assert_eq!(t.resume_from(), Seq(3));

    t.apply(msg(1, 6, T0, &bob(), "after a gap"));
    assert_eq!(t.missing_ranges(), vec![Seq(4)..=Seq(5)]);
    assert_eq!(t.resume_from(), Seq(3));
}

#[test]
fn reconnect_resumes_every_room_with_no_gap_and_no_duplicate() {
    let mut app = two_rooms();
    apply(
        &mut app,
        (1..=5).map(|s| Action::Room(msg(1, s, T0 + s * MIN, &bob(), "m"))),
    );
    let fx = apply(
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
        ],
    );
    assert!(
        fx.contains(&Effect::Subscribe {
            room: RoomId(1),
            since: Seq(5)
        }),
        "{fx:?}"
    );
    assert!(
        fx.contains(&Effect::Subscribe {
            room: RoomId(2),
            since: Seq(0)
        }),
        "{fx:?}"
    );
    // The server replays 4..=7; 4 and 5 are already held.
    apply(
        &mut app,
        (4..=7).map(|s| Action::Room(msg(1, s, T0 + s * MIN, &bob(), "m"))),
    );
    let room = &app.rooms[&RoomId(1)];
    let seqs: Vec<u64> = room.timeline.items().map(|i| i.seq.0).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6, 7]);
    assert!(room.timeline.missing_ranges().is_empty());
}

#[test]
fn unread_counts_others_messages_in_rooms_not_in_view() {
    let mut app = two_rooms();
    let fx = apply(
        &mut app,
        [
            Action::Room(msg(2, 1, T0 + MIN, &bob(), "hi alice")),
            Action::Room(msg(2, 2, T0 + 2 * MIN, &bob(), "you there @alice?")),
            Action::Room(msg(2, 3, T0 + 3 * MIN, &me(), "my own message")),
            Action::Room(msg(2, 2, T0 + 2 * MIN, &bob(), "replay of 2")),
        ],
    );
    let dm = &app.rooms[&RoomId(2)];
    // In a direct room every message from the other person is a highlight.
    assert_eq!((dm.unread, dm.mentions), (2, 2));
    assert!(fx.contains(&Effect::Alert {
        room: RoomId(2),
        kind: AlertKind::Direct,
        from: "Bob".into(),
        place: String::new(),
    }));
    assert!(fx.contains(&Effect::Alert {
        room: RoomId(2),
        kind: AlertKind::Mention,
        from: "Bob".into(),
        place: String::new(),
    }));

    // A message in the room in view is read at once.
    let fx = apply(
        &mut app,
        [Action::Room(msg(1, 1, T0 + 20 * MIN, &bob(), "in view"))],
    );
    assert_eq!(app.rooms[&RoomId(1)].unread, 0);
    assert_eq!(
        fx,
        vec![Effect::MarkRead {
            room: RoomId(1),
            seq: Seq(1)
        }]
    );

    // Switching to the DM clears its counters and marks what is shown read.
    let fx = apply(&mut app, [key_mod(KeyCode::Char('2'), KeyModifiers::ALT)]);
    assert_eq!(app.active, Some(RoomId(2)));
    let dm = &app.rooms[&RoomId(2)];
    assert_eq!((dm.unread, dm.mentions), (0, 0));
    assert!(
        fx.contains(&Effect::MarkRead {
            room: RoomId(2),
            seq: Seq(3)
        }),
        "{fx:?}"
    );
}

#[test]
fn unread_from_the_summary_is_not_counted_twice_on_catch_up() {
    let mut app = app();
    apply(
        &mut app,
        [Action::Rooms(vec![
            summary(info(1, "ops", RoomKind::Group, 0), 0, 0, T0 + MIN),
            summary(info(2, "ward", RoomKind::Group, 4), 2, 0, T0),
        ])],
    );
    assert_eq!(app.active, Some(RoomId(1)));
    // Catch-up replays the last events, including the two unread ones.
    apply(
        &mut app,
        (1..=4).map(|s| Action::Room(msg(2, s, T0 + s, &bob(), "m"))),
    );
    assert_eq!(app.rooms[&RoomId(2)].unread, 2);
    apply(&mut app, [Action::Room(msg(2, 5, T0 + 5, &bob(), "new"))]);
    assert_eq!(app.rooms[&RoomId(2)].unread, 3);
}

#[test]
fn outbox_keeps_its_idempotency_key_across_a_retry() {
    let mut app = two_rooms();
    // Typing tells the room (once per 3 s), nothing else.
    let fx = type_text(&mut app, "hello while offline");
    assert_eq!(fx, vec![Effect::Typing { room: RoomId(1) }]);
    let fx = apply(&mut app, [key(KeyCode::Enter)]);
    let [
        Effect::Send {
            key: first_key,
            room,
            text,
            ..
        },
        Effect::PersistOutbox(saved),
    ] = fx.as_slice()
    else {
        panic!("expected one send and the outbox saved, got {fx:?}")
    };
    assert_eq!(saved.len(), 1);
    assert_eq!(&saved[0].key, first_key);
    assert_eq!((room, text.as_str()), (&RoomId(1), "hello while offline"));
    assert!(app.composer.is_empty());

    apply(
        &mut app,
        [Action::SendFailed {
            key: first_key.clone(),
            error: "connection lost".into(),
        }],
    );
    let o = app.outbox.iter().next().unwrap();
    assert_eq!(o.state, OutgoingState::Failed("connection lost".into()));

    let fx = apply(
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
        ],
    );
    let resent: Vec<_> = fx
        .iter()
        .filter(|e| matches!(e, Effect::Send { .. }))
        .collect();
    assert_eq!(resent.len(), 1);
    let Effect::Send { key: retry_key, .. } = resent[0] else {
        unreachable!()
    };
    assert_eq!(retry_key, first_key, "a retry must carry the same key");

    // The ack, then the event: the message leaves the outbox exactly once.
    let ack = MessageAck {
        room: RoomId(1),
        seq: Seq(1),
        id: MessageId::new_at(Timestamp(T0)),
        ts: Timestamp(T0),
        duplicate: true,
    };
    apply(
        &mut app,
        [Action::Sent {
            key: first_key.clone(),
            ack,
        }],
    );
    assert_eq!(
        app.outbox.iter().count(),
        1,
        "kept until the room stream delivers it"
    );
    apply(
        &mut app,
        [Action::Room(msg(1, 1, T0, &me(), "hello while offline"))],
    );
    assert_eq!(app.outbox.iter().count(), 0);
    assert_eq!(app.rooms[&RoomId(1)].timeline.len(), 1);
}

#[test]
fn scrolling_to_the_top_loads_older_history_and_keeps_the_anchor() {
    let mut app = app();
    let fx = apply(
        &mut app,
        [Action::Rooms(vec![summary(
            info(1, "ops", RoomKind::Group, 200),
            0,
            0,
            T0,
        )])],
    );
    assert!(
        fx.contains(&Effect::Subscribe {
            room: RoomId(1),
            since: Seq(150)
        }),
        "{fx:?}"
    );
    apply(
        &mut app,
        (151..=200).map(|s| Action::Room(msg(1, s, T0 + s * MIN, &bob(), &format!("message {s}")))),
    );
    assert_eq!(app.rooms[&RoomId(1)].scroll, Scroll::Bottom);

    let mut load = None;
    for _ in 0..10 {
        let fx = apply(&mut app, [key(KeyCode::PageUp)]);
        if let Some(e) = fx
            .into_iter()
            .find(|e| matches!(e, Effect::LoadOlder { .. }))
        {
            load = Some(e);
            break;
        }
    }
    assert_eq!(
        load,
        Some(Effect::LoadOlder {
            room: RoomId(1),
            before: Seq(151)
        })
    );
    let anchor = app.rooms[&RoomId(1)].bottom_seq().unwrap();
    assert!(matches!(app.rooms[&RoomId(1)].scroll, Scroll::Anchored(_)));
    // A second PgUp while loading does not ask again.
    let fx = apply(&mut app, [key(KeyCode::PageUp)]);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::LoadOlder { .. })),
        "{fx:?}"
    );
    let anchor_after_pgup = app.rooms[&RoomId(1)].bottom_seq().unwrap();

    let before = screen(&app, 100, 30);
    let older = (101..=150)
        .map(|s| msg(1, s, T0 + s * MIN, &bob(), &format!("message {s}")))
        .collect();
    apply(
        &mut app,
        [Action::OlderLoaded {
            room: RoomId(1),
            events: older,
        }],
    );
    let room = &app.rooms[&RoomId(1)];
    assert_eq!(room.timeline.oldest(), Some(Seq(101)));
    assert_eq!(
        room.bottom_seq(),
        Some(anchor_after_pgup),
        "anchor moved from {anchor:?}"
    );
    // Every message row on screen before the prepend is on the same row after it.
    let after = screen(&app, 100, 30);
    let after_rows: Vec<&str> = after.lines().collect();
    let mut compared = 0;
    for (row, line) in before
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("Bob: message"))
    {
        assert_eq!(
            after_rows[row], line,
            "row {row} moved\nbefore:\n{before}\nafter:\n{after}"
        );
        compared += 1;
    }
    assert!(compared >= 5, "{before}");
    assert!(after.contains(&format!("message {}", anchor_after_pgup.0)));

    // PgDn back down to the bottom follows new messages again.
    for _ in 0..40 {
        apply(&mut app, [key(KeyCode::PageDown)]);
    }
    assert_eq!(app.rooms[&RoomId(1)].scroll, Scroll::Bottom);
}

#[test]
fn escape_sequences_in_a_message_are_neutralised_on_screen() {
    let mut app = two_rooms();
    let evil = "\x1b[2J\x1b]0;x\x07 evil \u{9b}31m \u{202e}txt";
    apply(
        &mut app,
        [Action::Room(msg(
            1,
            1,
            T0,
            &author(9, "mallory", "\x1b[31mMal\x07"),
            evil,
        ))],
    );
    if let Some(r) = app.rooms.get_mut(&RoomId(1)) {
        r.topic = "\x1b]8;;http://x\x07topic".into();
    }
    let text = screen(&app, 100, 30);
    assert!(
        !text.contains('\x1b') && !text.contains('\x07') && !text.contains('\u{9b}'),
        "{text}"
    );
    assert!(!text.contains('\u{202e}'));
    assert!(text.contains("␛[2J␛]0;x␇ evil"), "{text}");
}

#[test]
fn pasted_control_characters_never_reach_the_input() {
    let mut app = two_rooms();
    apply(&mut app, [Action::Paste("a\x1b[2Jb\tc\r\nd".into())]);
    assert_eq!(app.composer.text(), "a[2Jb c\nd");
}

#[test]
fn command_usage_errors_show_in_the_status_line() {
    let mut app = two_rooms();
    type_text(&mut app, "/join");
    apply(&mut app, [key(KeyCode::Enter)]);
    assert_eq!(
        app.status.clone().unwrap().text,
        "/join: missing room name; usage: /join ROOM"
    );
    apply(&mut app, [key(KeyCode::Esc)]);
    type_text(&mut app, "/join #lobby");
    assert_eq!(
        apply(&mut app, [key(KeyCode::Enter)]),
        vec![Effect::Join {
            name: "lobby".into()
        }]
    );
}

#[test]
fn up_on_empty_input_edits_the_last_own_message() {
    let mut app = two_rooms();
    apply(
        &mut app,
        [
            Action::Room(msg(1, 1, T0, &me(), "first")),
            Action::Room(msg(1, 2, T0 + 1, &me(), "typo hre")),
            Action::Room(msg(1, 3, T0 + 2, &bob(), "bob's")),
        ],
    );
    apply(&mut app, [key(KeyCode::Up)]);
    assert_eq!(app.composer.text(), "typo hre");
    assert_eq!(
        app.composer.mode,
        chat_tui::composer::ComposeMode::Edit(Seq(2))
    );
    apply(&mut app, [key(KeyCode::End)]);
    apply(&mut app, [key(KeyCode::Backspace), key(KeyCode::Backspace)]);
    type_text(&mut app, "ere");
    let fx = apply(&mut app, [key(KeyCode::Enter)]);
    assert_eq!(
        fx,
        vec![Effect::Edit {
            room: RoomId(1),
            seq: Seq(2),
            text: "typo here".into()
        }]
    );
    assert!(app.composer.is_empty());
}

#[test]
fn keys_switch_rooms_open_popups_and_quit() {
    let mut app = two_rooms();
    apply(
        &mut app,
        [key_mod(KeyCode::Char('n'), KeyModifiers::CONTROL)],
    );
    assert_eq!(app.active, Some(RoomId(2)));
    apply(
        &mut app,
        [key_mod(KeyCode::Char('p'), KeyModifiers::CONTROL)],
    );
    assert_eq!(app.active, Some(RoomId(1)));

    apply(
        &mut app,
        [key_mod(KeyCode::Char('k'), KeyModifiers::CONTROL)],
    );
    type_text(&mut app, "bo");
    apply(&mut app, [key(KeyCode::Enter)]);
    assert_eq!(app.active, Some(RoomId(2)));
    assert_eq!(app.overlay, chat_tui::app::Overlay::None);

    apply(&mut app, [key(KeyCode::Char('?'))]);
    assert_eq!(app.overlay, chat_tui::app::Overlay::Help);
    apply(&mut app, [key(KeyCode::Esc)]);
    assert_eq!(app.overlay, chat_tui::app::Overlay::None);

    let fx = apply(&mut app, [key(KeyCode::F(2))]);
    assert!(app.show_members);
    assert_eq!(fx, vec![Effect::LoadMembers { room: RoomId(2) }]);

    let fx = apply(
        &mut app,
        [key_mod(KeyCode::Char('c'), KeyModifiers::CONTROL)],
    );
    assert_eq!(fx, vec![Effect::Quit]);
}

#[test]
fn alt_enter_inserts_a_newline_and_enter_sends_both_lines() {
    let mut app = two_rooms();
    type_text(&mut app, "line one");
    apply(&mut app, [key_mod(KeyCode::Enter, KeyModifiers::ALT)]);
    type_text(&mut app, "line two");
    let fx = apply(&mut app, [key(KeyCode::Enter)]);
    assert!(
        matches!(&fx[..], [Effect::Send { text, .. }, Effect::PersistOutbox(_)] if text == "line one\nline two"),
        "{fx:?}"
    );
}

#[test]
fn typing_expires_with_the_clock() {
    let mut app = two_rooms();
    let t = app.now;
    apply(
        &mut app,
        [Action::Typing {
            room: RoomId(1),
            user: "Bob".into(),
            until: t + Duration::from_secs(5),
        }],
    );
    assert!(screen(&app, 100, 30).contains("Bob is typing…"));
    apply(&mut app, [Action::Tick(t + Duration::from_secs(6))]);
    assert!(!screen(&app, 100, 30).contains("typing"));
}

#[test]
fn run_loop_draws_after_each_action_and_stops_on_quit() {
    let mut app = two_rooms();
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    let actions = futures::stream::iter(vec![
        Action::Room(msg(1, 1, T0, &bob(), "through the loop")),
        key_mod(KeyCode::Char('c'), KeyModifiers::CONTROL),
        Action::Room(msg(1, 2, T0, &bob(), "never applied")),
    ]);
    let mut effects = Vec::new();
    futures::executor::block_on(chat_tui::run(&mut term, &mut app, actions, |e| {
        effects.push(e)
    }))
    .unwrap();
    assert_eq!(effects.last(), Some(&Effect::Quit));
    let text = buffer_text(term.backend().buffer());
    assert!(text.contains("through the loop"));
    assert_eq!(app.rooms[&RoomId(1)].timeline.len(), 1);
}

#[test]
fn narrow_terminals_collapse_the_side_panes() {
    let mut app = two_rooms();
    apply(&mut app, [Action::Room(msg(1, 1, T0, &bob(), "hello"))]);
    assert!(screen(&app, 100, 24).contains("Rooms"));
    assert!(screen(&app, 80, 24).contains("Rooms"));
    let narrow = screen(&app, 60, 24);
    assert!(!narrow.contains("Rooms") && narrow.contains("hello"));
}
