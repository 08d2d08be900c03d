//! Message lifecycle in the client state: edits, deletions, reactions,
//! hidden events, moderation notices, receipts, typing and presence.

#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{
    Author, ReactionCount, Role, RoomEvent, RoomEventKind, RoomId, Seq, Timestamp, Tombstone,
};
use chat_tui::state::{ItemKind, Notice, Timeline};
use common::*;

fn ev(seq: u64, who: &Author, kind: RoomEventKind) -> RoomEvent {
    RoomEvent {
        room: RoomId(1),
        seq: Seq(seq),
        ts: Timestamp(T0 + seq * MIN),
        sender: who.clone(),
        kind,
    }
}

fn react(target: u64, emoji: &str, added: bool) -> RoomEventKind {
    RoomEventKind::Reaction {
        target: Seq(target),
        emoji: emoji.into(),
        added,
    }
}

fn timeline(events: impl IntoIterator<Item = RoomEvent>) -> Timeline {
    let mut t = Timeline::new();
    for e in events {
        t.apply(e);
    }
    t
}

#[test]
fn an_edit_replaces_the_text_and_marks_it_edited() {
    let t = timeline([
        msg(1, 1, T0, &bob(), "teh plan"),
        ev(
            2,
            &bob(),
            RoomEventKind::Edited {
                target: Seq(1),
                text: "the plan".into(),
            },
        ),
    ]);
    let m = t.get(Seq(1)).unwrap().message().unwrap();
    assert_eq!(m.text, "the plan");
    assert!(m.edited);
    assert!(matches!(t.get(Seq(2)).unwrap().kind, ItemKind::Hidden));
    assert!(t.missing_ranges().is_empty());
    assert_eq!(t.visible().count(), 1);
}

#[test]
fn a_deletion_leaves_a_tombstone_naming_who_deleted() {
    let t = timeline([
        msg(1, 1, T0, &bob(), "secret"),
        ev(2, &carol(), RoomEventKind::Deleted { target: Seq(1) }),
    ]);
    let m = t.get(Seq(1)).unwrap().message().unwrap();
    assert_eq!(m.deleted_by.as_deref(), Some("Carol Nguyen"));
    assert!(m.text.is_empty());
    // Nothing of yours left to edit.
    assert!(t.last_message_by(bob().id).is_none());
}

#[test]
fn reactions_toggle_per_user_and_count() {
    let mut t = timeline([
        msg(1, 1, T0, &bob(), "lunch?"),
        ev(2, &me(), react(1, "👍", true)),
        ev(3, &carol(), react(1, "👍", true)),
        ev(4, &bob(), react(1, "🍕", true)),
    ]);
    let counts = |t: &Timeline| -> Vec<(String, usize)> {
        let m = t.get(Seq(1)).unwrap().message().unwrap();
        m.reactions
            .iter()
            .map(|(e, u)| (e.clone(), u.len()))
            .collect()
    };
    assert_eq!(counts(&t), [("👍".into(), 2), ("🍕".into(), 1)]);
    t.apply(ev(5, &me(), react(1, "👍", false)));
    t.apply(ev(6, &bob(), react(1, "🍕", false)));
    assert_eq!(counts(&t), [("👍".into(), 1)]);
    // Adding twice (a replay in a history page) does not count twice.
    t.apply(ev(7, &carol(), react(1, "👍", true)));
    assert_eq!(counts(&t), [("👍".into(), 1)]);
}

#[test]
fn hidden_events_count_as_seen_and_leave_no_gap() {
    let mut t = timeline([
        msg(1, 1, T0, &bob(), "one"),
        ev(2, &carol(), RoomEventKind::Hidden),
        msg(1, 3, T0, &bob(), "three"),
    ]);
    assert!(t.missing_ranges().is_empty());
    assert_eq!(t.resume_from(), Seq(3));
    let shown: Vec<Seq> = t.items_through(Seq(3)).map(|i| i.seq).collect();
    assert_eq!(shown, [Seq(3), Seq(1)]);
    t.apply(ev(4, &carol(), RoomEventKind::Hidden));
    assert_eq!(t.newest(), Some(Seq(4)));
}

#[test]
fn history_pages_carry_folded_state() {
    let mut page = msg(1, 1, T0, &bob(), "");
    if let RoomEventKind::Message(m) = &mut page.kind {
        m.edited_at = Some(Timestamp(T0 + MIN));
        m.deleted = Some(Tombstone {
            by: carol(),
            at: Timestamp(T0 + 2 * MIN),
        });
        m.reactions = vec![ReactionCount {
            emoji: "👀".into(),
            users: vec![me().id, bob().id],
        }];
    }
    let t = timeline([page]);
    let m = t.get(Seq(1)).unwrap().message().unwrap();
    assert!(m.edited);
    assert_eq!(m.deleted_by.as_deref(), Some("Carol Nguyen"));
    assert_eq!(m.reactions, [("👀".to_string(), vec![me().id, bob().id])]);
}

#[test]
fn changes_to_messages_not_loaded_are_ignored() {
    let t = timeline([ev(
        5,
        &bob(),
        RoomEventKind::Edited {
            target: Seq(1),
            text: "x".into(),
        },
    )]);
    assert_eq!(t.len(), 1);
    assert_eq!(t.visible().count(), 0);
}

#[test]
fn moderation_and_topic_events_are_notices() {
    let t = timeline([
        ev(
            1,
            &me(),
            RoomEventKind::Kicked {
                user: bob(),
                reason: "spam".into(),
            },
        ),
        ev(
            2,
            &me(),
            RoomEventKind::Muted {
                user: carol(),
                muted: true,
            },
        ),
        ev(
            3,
            &me(),
            RoomEventKind::RoleChanged {
                user: carol(),
                role: Role::Admin,
            },
        ),
        ev(
            4,
            &me(),
            RoomEventKind::TopicChanged {
                topic: "on call".into(),
            },
        ),
        ev(5, &me(), RoomEventKind::Archived),
    ]);
    let notices: Vec<&Notice> = t
        .visible()
        .map(|i| match &i.kind {
            ItemKind::Notice(n) => n,
            other => panic!("not a notice: {other:?}"),
        })
        .collect();
    assert_eq!(notices.len(), 5);
    assert_eq!(notices[0], &Notice::Kicked(bob(), "spam".into()));
    assert_eq!(notices[4], &Notice::Archived);
}

#[test]
fn notices_and_tombstones_read_as_sentences_on_screen() {
    let mut app = app();
    apply(
        &mut app,
        [
            chat_tui::Action::Rooms(vec![summary(
                info(1, "ops", chat_protocol::RoomKind::Group, 0),
                0,
                0,
                T0,
            )]),
            chat_tui::Action::Room(msg(1, 1, T0, &bob(), "oops")),
            chat_tui::Action::Room(ev(2, &bob(), RoomEventKind::Deleted { target: Seq(1) })),
            chat_tui::Action::Room(ev(
                3,
                &me(),
                RoomEventKind::Banned {
                    user: bob(),
                    reason: "spam".into(),
                },
            )),
            chat_tui::Action::Room(ev(4, &me(), RoomEventKind::Hidden)),
        ],
    );
    let s = screen(&app, 100, 30);
    assert!(s.contains("message deleted by Bob"), "{s}");
    assert!(s.contains("Alice banned Bob: spam"), "{s}");
}

#[test]
fn a_purged_message_shows_a_stub_and_its_purged_edit_nothing() {
    let purged = |edit_of: Option<u64>| RoomEventKind::Purged {
        edit_of: edit_of.map(Seq),
        purged_at: Timestamp(T0 + 40 * 24 * 60 * MIN),
    };
    let t = timeline([
        ev(1, &bob(), purged(None)),
        ev(2, &bob(), purged(Some(1))),
        msg(1, 3, T0 + 3 * MIN, &bob(), "still here"),
    ]);
    assert_eq!(
        t.get(Seq(1)).unwrap().kind,
        ItemKind::Notice(Notice::Purged)
    );
    assert!(matches!(t.get(Seq(2)).unwrap().kind, ItemKind::Hidden));
    assert!(t.missing_ranges().is_empty(), "the stubs keep their seqs");
    assert_eq!(t.visible().count(), 2);
}
