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

    // `/password` asks for each password in turn, with the input masked.
    let fx = run(&mut app, "/password");
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::ChangePassword { .. }))
    );
    for (typed, shown) in [("?hunter2", "••••••••"), ("correct horse", "•••••••••••••")]
    {
        type_text(&mut app, typed);
        let screen = screen(&app, 100, 30);
        assert!(!screen.contains(typed), "{screen}");
        assert!(screen.contains(shown), "{screen}");
        assert!(
            !screen.contains("Esc closes"),
            "`?` typed, not the help: {screen}"
        );
        apply(&mut app, [key(KeyCode::Enter)]);
    }
    type_text(&mut app, "correct horse");
    let fx = apply(&mut app, [key(KeyCode::Enter)]);
    assert!(
        fx.contains(&Effect::ChangePassword {
            old: Secret("?hunter2".into()),
            new: Secret("correct horse".into()),
        }),
        "{fx:?}"
    );
    // Its Debug form (logs, test failures) does not show it either.
    assert!(!format!("{fx:?}").contains("hunter2"));
    assert!(app.composer.is_empty() && app.password_change.is_none());

    // A mistyped repeat changes nothing, and nothing is sent as a message.
    let mut fx = run(&mut app, "/password");
    for typed in ["old", "new one", "new 1"] {
        fx.extend(run(&mut app, typed));
    }
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::ChangePassword { .. } | Effect::Send { .. })),
        "{fx:?}"
    );
    assert!(screen(&app, 100, 30).contains("the two new passwords differ"));

    // Switching rooms cancels the prompt and keeps no draft of it.
    run(&mut app, "/password");
    type_text(&mut app, "secret");
    apply(
        &mut app,
        [Action::Rooms(vec![
            summary(info(1, "ops", RoomKind::Group, 0), 0, 0, T0),
            summary(info(2, "ward", RoomKind::Group, 0), 0, 0, T0),
        ])],
    );
    apply(
        &mut app,
        [key_mod(
            KeyCode::Char('2'),
            crossterm::event::KeyModifiers::ALT,
        )],
    );
    assert!(app.password_change.is_none());
    assert!(app.drafts.values().all(|d| !d.text.contains("secret")));
}
