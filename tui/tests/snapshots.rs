//! Whole-screen snapshots at 100×30 (`TestBackend` + insta). Review changes
//! with `INSTA_UPDATE=always cargo test -p chat-tui` and read the `.snap`
//! files: they are what people look at all day.

#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{
    MemberInfo, Role, RoomEvent, RoomEventKind, RoomId, RoomKind, Seq, Timestamp, UserId,
};
use chat_tui::App;
use chat_tui::action::Action;
use chat_tui::state::{ConnectionStatus, Presence};
use common::*;
use crossterm::event::{KeyCode, KeyModifiers};
use std::time::Duration;

const DAY: u64 = 86_400_000;

fn joined(room: u64, seq: u64, ts: u64, who: &chat_protocol::Author) -> RoomEvent {
    RoomEvent {
        room: RoomId(room),
        seq: Seq(seq),
        ts: Timestamp(ts),
        sender: who.clone(),
        kind: RoomEventKind::Joined {
            user: who.clone(),
            role: Role::Member,
        },
    }
}

/// Six rooms with a mix of unread and mention badges; #ops, pinned to the
/// top of the list, in view.
fn busy_app() -> App {
    let mut app = app();
    app.pinned = vec!["#ops".into()];
    let mut ops = info(1, "ops", RoomKind::Group, 0);
    ops.topic = "Production on-call · runbooks in /wiki/ops".into();
    apply(
        &mut app,
        [Action::Rooms(vec![
            summary(ops, 0, 0, T0 + DAY + 30 * MIN),
            summary(
                info(2, "@bob", RoomKind::Direct, 7),
                3,
                0,
                T0 + DAY + 20 * MIN,
            ),
            summary(
                info(3, "ward-7-handover", RoomKind::Group, 40),
                12,
                2,
                T0 + DAY + 10 * MIN,
            ),
            summary(info(4, "@carol", RoomKind::Direct, 2), 0, 0, T0 + DAY),
            summary(info(5, "random", RoomKind::Group, 300), 120, 0, T0),
            summary(
                info(6, "a-room-with-a-very-long-name-indeed", RoomKind::Group, 9),
                1,
                1,
                T0 - DAY,
            ),
        ])],
    );
    for (id, p) in [(2, Presence::Online), (4, Presence::Away)] {
        app.rooms.get_mut(&RoomId(id)).unwrap().presence = p;
    }
    app
}

#[test]
fn room_list_with_unread_and_mention_badges() {
    let mut app = busy_app();
    apply(
        &mut app,
        [
            Action::Room(joined(1, 1, T0 + DAY + 25 * MIN, &bob())),
            Action::Room(msg(
                1,
                2,
                T0 + DAY + 26 * MIN,
                &bob(),
                "morning — the 02:00 backup job failed again",
            )),
            Action::Room(msg(1, 3, T0 + DAY + 30 * MIN, &me(), "looking at it now")),
        ],
    );
    insta::assert_snapshot!("room_list", screen(&app, 100, 30));
}

#[test]
fn conversation_with_edits_deletes_replies_reactions_and_pending() {
    let mut app = busy_app();
    let d1 = T0;
    let d2 = T0 + DAY;
    apply(
        &mut app,
        [
            Action::Room(joined(1, 1, d1 + 5 * MIN, &carol())),
            Action::Room(msg(
                1,
                2,
                d1 + 6 * MIN,
                &carol(),
                "Is the database migration still planned for tonight?",
            )),
            Action::Room(msg(
                1,
                3,
                d1 + 9 * MIN,
                &bob(),
                "Yes, 22:00 UTC. I'll post the checklist here.",
            )),
            Action::Room(msg(
                1,
                4,
                d2 + 3 * MIN,
                &bob(),
                "Migration done, no errors. Replication lag peaked at 4s and is back to 0.",
            )),
            Action::Room(reply(
                1,
                5,
                d2 + 4 * MIN,
                &carol(),
                "Great, thanks! Closing the change ticket.",
                4,
            )),
            Action::Room(msg(1, 6, d2 + 5 * MIN, &bob(), "wrong channel, sorry")),
            Action::Room(msg(
                1,
                7,
                d2 + 7 * MIN,
                &me(),
                "Nice work both. Post-mortem notes are in the wiki: a long line that has to wrap onto the next row of the conversation pane without losing its indent.",
            )),
            Action::Room(msg(1, 8, d2 + 8 * MIN, &me(), "I'll be back after lunch")),
        ],
    );
    // Edits, reactions and the deletion arrive as their own events, as on
    // the live stream; they fold into their targets and show nothing.
    let ev = |seq: u64, who: &chat_protocol::Author, kind: RoomEventKind| {
        Action::Room(RoomEvent {
            room: RoomId(1),
            seq: Seq(seq),
            ts: Timestamp(d2 + 9 * MIN),
            sender: who.clone(),
            kind,
        })
    };
    let react = |target: u64, emoji: &str| RoomEventKind::Reaction {
        target: Seq(target),
        emoji: emoji.into(),
        added: true,
    };
    apply(
        &mut app,
        [
            ev(
                9,
                &bob(),
                RoomEventKind::Edited {
                    target: Seq(3),
                    text: "Yes, 22:00 UTC. I'll post the checklist here.".into(),
                },
            ),
            ev(10, &me(), react(4, "👍")),
            ev(11, &carol(), react(4, "👍")),
            ev(12, &bob(), react(4, "❤")),
            ev(13, &bob(), RoomEventKind::Deleted { target: Seq(6) }),
        ],
    );
    let room = app.rooms.get_mut(&RoomId(1)).unwrap();
    room.set_read(UserId(2), Seq(8));
    room.set_read(UserId(3), Seq(13));
    type_text(&mut app, "is anyone on call tonight?");
    apply(&mut app, [key(KeyCode::Enter)]);
    type_text(&mut app, "ping @bob");
    apply(&mut app, [key(KeyCode::Enter)]);
    let key = app.outbox.iter().nth(1).unwrap().key.clone();
    apply(
        &mut app,
        [Action::SendFailed {
            key,
            error: "timed out".into(),
        }],
    );
    app.status = None;
    let now = app.now;
    apply(
        &mut app,
        [Action::Typing {
            room: RoomId(1),
            user: "Carol Nguyen".into(),
            until: now + Duration::from_secs(5),
        }],
    );
    // The outbox shows its own creation time; pin it for the snapshot.
    let pinned: Vec<_> = app.outbox.iter().cloned().collect();
    for (i, mut o) in pinned.into_iter().enumerate() {
        o.created = Timestamp(d2 + (9 + i as u64) * MIN);
        app.outbox.replace(o);
    }
    insta::assert_snapshot!("conversation", screen(&app, 100, 30));
}

#[test]
fn member_pane() {
    let mut app = busy_app();
    apply(
        &mut app,
        [Action::Room(msg(
            1,
            1,
            T0 + DAY,
            &bob(),
            "members pane test",
        ))],
    );
    apply(&mut app, [key(KeyCode::F(2))]);
    let members = [
        (me(), Role::Owner),
        (bob(), Role::Admin),
        (carol(), Role::Member),
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
    apply(
        &mut app,
        [Action::Presence {
            user: bob(),
            presence: Presence::Online,
        }],
    );
    apply(
        &mut app,
        [Action::Presence {
            user: carol(),
            presence: Presence::Away,
        }],
    );
    apply(
        &mut app,
        [Action::Presence {
            user: me(),
            presence: Presence::Online,
        }],
    );
    insta::assert_snapshot!("member_pane", screen(&app, 100, 30));
}

#[test]
fn help_screen() {
    let mut app = busy_app();
    apply(&mut app, [key(KeyCode::F(1))]);
    insta::assert_snapshot!("help", screen(&app, 100, 30));
}

#[test]
fn quick_switcher() {
    let mut app = busy_app();
    apply(
        &mut app,
        [key_mod(KeyCode::Char('k'), KeyModifiers::CONTROL)],
    );
    type_text(&mut app, "r");
    apply(&mut app, [key(KeyCode::Down)]);
    insta::assert_snapshot!("quick_switcher", screen(&app, 100, 30));
}

#[test]
fn reconnecting_status() {
    let mut app = busy_app();
    apply(
        &mut app,
        [Action::Room(msg(
            1,
            1,
            T0 + DAY,
            &bob(),
            "see you after the restart",
        ))],
    );
    type_text(&mut app, "typed during the outage");
    apply(&mut app, [key(KeyCode::Enter)]);
    let first = app.outbox.iter().next().unwrap().clone();
    app.outbox.replace(chat_tui::state::Outgoing {
        created: Timestamp(T0 + DAY + MIN),
        ..first
    });
    let retry_at = app.now + Duration::from_millis(2_400);
    apply(
        &mut app,
        [Action::Connection(ConnectionStatus::Reconnecting {
            attempt: 3,
            retry_at,
            problem: None,
        })],
    );
    insta::assert_snapshot!("reconnecting", screen(&app, 100, 30));
}

#[test]
fn small_terminal_80x24() {
    let mut app = busy_app();
    apply(
        &mut app,
        [Action::Room(msg(
            1,
            1,
            T0 + DAY,
            &bob(),
            "the side panes shrink at 80 columns and this long line wraps",
        ))],
    );
    insta::assert_snapshot!("small_80x24", screen(&app, 80, 24));
}
