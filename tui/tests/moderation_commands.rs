//! The `/` commands for room moderation and one's own account (issue 12,
//! chatctl list points 2 and 3): each becomes one request for the current
//! room, and `/password` never shows its passwords on screen.

#![allow(clippy::unwrap_used)]

mod common;

use chat_protocol::{ModAction, Role, RoomId, RoomKind, Visibility};
use chat_tui::action::Action;
use chat_tui::effect::Secret;
use chat_tui::{App, Effect};
use common::*;
use crossterm::event::KeyCode;

fn in_ops() -> App {
    let mut app = app();
    apply(
        &mut app,
        [Action::Rooms(vec![summary(
            info(1, "ops", RoomKind::Group, 0),
            0,
            0,
            T0,
        )])],
    );
    app
}

fn run(app: &mut App, line: &str) -> Vec<Effect> {
    let mut fx = type_text(app, line);
    fx.extend(apply(app, [key(KeyCode::Enter)]));
    fx
}

fn moderation(fx: &[Effect]) -> Vec<(RoomId, ModAction)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Moderate { room, action, .. } => Some((*room, action.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn moderation_commands_act_on_the_current_room() {
    let mut app = in_ops();
    let ops = RoomId(1);
    let cases = [
        (
            "/mute bob",
            ModAction::Mute {
                username: "bob".into(),
                muted: true,
            },
        ),
        (
            "/unmute @bob",
            ModAction::Mute {
                username: "bob".into(),
                muted: false,
            },
        ),
        (
            "/unban carol",
            ModAction::Unban {
                username: "carol".into(),
            },
        ),
        (
            "/role bob admin",
            ModAction::SetRole {
                username: "bob".into(),
                role: Role::Admin,
            },
        ),
        (
            "/transfer bob",
            ModAction::TransferOwnership {
                username: "bob".into(),
            },
        ),
        (
            "/visibility private",
            ModAction::SetVisibility {
                visibility: Visibility::Private,
            },
        ),
    ];
    for (line, want) in cases {
        let fx = run(&mut app, line);
        assert_eq!(moderation(&fx), [(ops, want)], "{line}");
        assert!(app.composer.is_empty(), "{line} leaves the input empty");
    }
}

#[test]
fn account_commands_and_a_masked_password() {
    let mut app = in_ops();
    let fx = run(&mut app, "/name 김 간호사");
    assert!(
        fx.contains(&Effect::SetDisplayName("김 간호사".into())),
        "{fx:?}"
    );

    type_text(&mut app, "/password hunter2 correct-horse");
    let shown = screen(&app, 100, 30);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("correct-horse"), "{shown}");
    assert!(shown.contains("••••"), "{shown}");
    let fx = apply(&mut app, [key(KeyCode::Enter)]);
    assert!(
        fx.contains(&Effect::ChangePassword {
            old: Secret("hunter2".into()),
            new: Secret("correct-horse".into()),
        }),
        "{fx:?}"
    );
    // Its Debug form (logs, test failures) does not show it either.
    assert!(!format!("{fx:?}").contains("hunter2"));
    assert!(app.composer.is_empty());
}
