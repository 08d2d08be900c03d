//! The search pane without a terminal: `/search` asks, the answer fills
//! the pane, Enter jumps to the hit in its room (asking for the history
//! around it when it is not loaded) and selects it; the pane draws the
//! matches.

#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{RoomId, RoomKind, SearchHit, Seq, Timestamp};
use chat_tui::action::Action;
use chat_tui::app::{Overlay, SearchResults};
use chat_tui::state::Scroll;
use chat_tui::{App, Effect};
use common::*;
use crossterm::event::{KeyCode, KeyModifiers};

fn rooms() -> App {
    let mut app = app();
    apply(
        &mut app,
        [Action::Rooms(vec![
            summary(info(1, "ops", RoomKind::Group, 0), 0, 0, T0 + 10 * MIN),
            summary(info(2, "ward", RoomKind::Group, 0), 0, 0, T0),
        ])],
    );
    app
}

fn hit(room: u64, seq: u64, text: &str, at: (u32, u32)) -> SearchHit {
    SearchHit {
        room: RoomId(room),
        room_name: if room == 1 { "ops" } else { "ward" }.into(),
        seq: Seq(seq),
        ts: Timestamp(T0 + seq),
        sender: bob(),
        text: text.into(),
        snippet: text.into(),
        highlights: vec![at],
    }
}

#[test]
fn search_fills_the_pane_and_enter_jumps_to_the_message() {
    let mut app = rooms();
    assert_eq!(app.active, Some(RoomId(1)));
    let fx = type_text(&mut app, "/search 환자");
    assert!(fx.iter().all(|e| !matches!(e, Effect::Search { .. })));
    let fx = apply(&mut app, [key(KeyCode::Enter)]);
    assert!(fx.contains(&Effect::Search {
        query: "환자".into()
    }));
    assert!(matches!(&app.overlay, Overlay::Search(p) if p.results == SearchResults::Loading));

    // An answer to another query is not this pane's.
    apply(
        &mut app,
        [Action::SearchResults {
            query: "other".into(),
            hits: vec![hit(1, 3, "x", (0, 1))],
            total: 1,
        }],
    );
    assert!(matches!(&app.overlay, Overlay::Search(p) if p.results == SearchResults::Loading));
    apply(
        &mut app,
        [Action::SearchResults {
            query: "환자".into(),
            hits: vec![
                hit(1, 9, "3번 환자가 어지러움 호소", (7, 13)),
                hit(2, 120, "환자분 혈압 90/60", (0, 6)),
            ],
            total: 2,
        }],
    );
    let text = screen(&app, 100, 30);
    assert!(text.contains("Search: 환자"), "{text}");
    assert!(text.contains("2 messages match"), "{text}");
    assert!(text.contains("#ward bob: 환자분 혈압 90/60"), "{text}");

    // Down, Enter: the ward opens on message 120, which is not loaded yet.
    let fx = apply(&mut app, [key(KeyCode::Down), key(KeyCode::Enter)]);
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(app.active, Some(RoomId(2)));
    let ward = &app.rooms[&RoomId(2)];
    assert_eq!(ward.selected, Some(Seq(120)));
    assert_eq!(ward.scroll, Scroll::Anchored(Seq(120)));
    assert!(
        fx.contains(&Effect::LoadAround {
            room: RoomId(2),
            seq: Seq(120)
        }),
        "{fx:?}"
    );
    // The page around it arrives (older and newer events) and shows it.
    let events: Vec<_> = (95..=145)
        .map(|s| msg(2, s, T0 + s, &bob(), &format!("m{s}")))
        .collect();
    apply(
        &mut app,
        [Action::OlderLoaded {
            room: RoomId(2),
            events,
        }],
    );
    let ward = &app.rooms[&RoomId(2)];
    assert!(ward.timeline.get(Seq(120)).is_some());
    assert!(ward.timeline.get(Seq(145)).is_some());
    assert_eq!(ward.selected, Some(Seq(120)));
    assert!(screen(&app, 100, 30).contains("m120"));

    // Ctrl-F brings the last results back.
    apply(
        &mut app,
        [key_mod(KeyCode::Char('f'), KeyModifiers::CONTROL)],
    );
    assert!(matches!(&app.overlay, Overlay::Search(p) if p.query == "환자" && p.selected == 1));
    apply(&mut app, [key(KeyCode::Esc)]);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn a_failed_search_says_why_in_the_pane() {
    let mut app = rooms();
    type_text(&mut app, "/search -x");
    apply(&mut app, [key(KeyCode::Enter)]);
    apply(
        &mut app,
        [Action::SearchFailed {
            query: "-x".into(),
            error: "the query has no word to look for".into(),
        }],
    );
    let text = screen(&app, 100, 30);
    assert!(text.contains("the query has no word to look for"), "{text}");
}
