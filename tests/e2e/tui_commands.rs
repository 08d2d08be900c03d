//! chat-tui's moderation and account `/` commands against a real chatd
//! (issue 12, chatctl list points 2 and 3): typed in the real binary under
//! tmux, checked through the server.

use crate::tui::{Tui, lobby, skip_without_tmux};
use chat_e2e::{PASSWORD, WAIT, spawn_server};
use chat_protocol::{ErrorCode, IdempotencyKey, ModAction, Role};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_name_and_password_commands_reach_the_server() {
    if skip_without_tmux() {
        return;
    }
    let server = spawn_server().await;
    let (bob, room, token) = lobby(&server).await;
    // alice (the chat-tui user) is an admin of bob's lobby; carol a member.
    bob.moderate(
        room,
        ModAction::SetRole {
            username: "alice".into(),
            role: Role::Admin,
        },
        "",
    )
    .await
    .expect("alice becomes an admin");
    let (carol, _) = server.user("carol").await;
    carol.join_room(room).await.expect("carol joins");
    let say = |text: &'static str| {
        let carol = carol.clone();
        async move {
            carol
                .send(room, IdempotencyKey::random(), text, None)
                .await
                .map(|_| ())
                .map_err(|e| e.code())
        }
    };

    let home = tempfile::tempdir().expect("temp home");
    let tui = Tui::start(&server, &token, home.path()).await;
    tui.wait_for("connected").await;
    tui.wait_for("lobby").await;

    tui.type_text("/mute carol").await;
    tui.keys(&["Enter"]).await;
    tui.wait_for("muted carol").await;
    assert_eq!(say("while muted").await, Err(Some(ErrorCode::Muted)));
    tui.type_text("/unmute carol").await;
    tui.keys(&["Enter"]).await;
    tui.wait_for("unmuted carol").await;
    assert_eq!(say("unmuted").await, Ok(()));

    tui.type_text("/name Alice Kim").await;
    tui.keys(&["Enter"]).await;
    tui.wait_for("display name is now Alice Kim").await;
    let alice = server.connect().await;
    let (me, _) = alice.login("alice", PASSWORD).await.expect("old password");
    assert_eq!(me.author.display_name, "Alice Kim");

    // The passwords never show on screen, and the change ends alice's
    // other login sessions (this connection), not chat-tui's.
    tui.type_text("/password").await;
    tui.keys(&["Enter"]).await;
    tui.wait_for("your current password").await;
    for (typed, next) in [
        (PASSWORD, "your new password, then"),
        ("brand new secret", "your new password again"),
        ("brand new secret", ""),
    ] {
        tui.type_text(typed).await;
        let screen = tui.screen().await;
        assert!(!screen.contains(typed), "{screen}");
        tui.keys(&["Enter"]).await;
        if !next.is_empty() {
            tui.wait_for(next).await;
        }
    }
    tui.wait_for("password changed").await;
    let closed = tokio::time::timeout(WAIT, alice.closed())
        .await
        .expect("alice's other session is closed");
    assert!(
        matches!(closed, chat_client::ClientError::LoggedOut(_)),
        "{closed:?}"
    );
    let fresh = server.connect().await;
    fresh
        .login("alice", "brand new secret")
        .await
        .expect("the new password works");
    // chat-tui is still connected and sends.
    let start = Instant::now();
    tui.type_text("still here").await;
    tui.keys(&["Enter"]).await;
    crate::tui::wait_stored(&bob, room, "still here").await;
    assert!(start.elapsed() < WAIT);
}
