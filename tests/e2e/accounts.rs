//! Login, tokens and account administration.

use chat_e2e::{PASSWORD, spawn_server};
use chat_protocol::{ErrorCode, UserChange};

#[tokio::test]
async fn login_works_and_a_wrong_password_is_refused() {
    let server = spawn_server().await;
    let (alice, info) = server.user("alice").await;
    assert_eq!(info.author.username, "alice");
    assert_eq!(
        alice.whoami().await.expect("whoami").author.id,
        info.author.id
    );

    let c = server.connect().await;
    let err = c
        .login("alice", "not the password")
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Some(ErrorCode::AuthFailed));
    let err = c.login("nobody", PASSWORD).await.expect_err("refused");
    assert_eq!(err.code(), Some(ErrorCode::AuthFailed));
    // Usernames match without regard to case.
    c.login("ALICE", PASSWORD)
        .await
        .expect("case-insensitive login");
}

#[tokio::test]
async fn session_tokens_resume_and_logout_revokes() {
    let server = spawn_server().await;
    server.user("bob").await;
    let c = server.connect().await;
    let (_, token) = c.login("bob", PASSWORD).await.expect("login");
    let token = token.expect("session token");

    let resumed = server.connect().await;
    resumed
        .authenticate(&token)
        .await
        .expect("resume with token");
    resumed.logout().await.expect("logout");

    let again = server.connect().await;
    let err = again.authenticate(&token).await.expect_err("revoked");
    assert_eq!(err.code(), Some(ErrorCode::AuthFailed));
}

#[tokio::test]
async fn api_tokens_and_admin_rights() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (carol, _) = server.user("carol").await;

    // Only admins administer.
    let err = carol
        .create_user("mallory", Some(PASSWORD), "", "", true)
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));
    let err = carol.server_stats().await.expect_err("refused");
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));

    let (info, secret) = admin.create_token("carol", "bot").await.expect("token");
    let bot = server.connect().await;
    assert_eq!(
        bot.authenticate(&secret)
            .await
            .expect("api token")
            .author
            .username,
        "carol"
    );
    admin.revoke_token(info.id).await.expect("revoke");
    let err = server
        .connect()
        .await
        .authenticate(&secret)
        .await
        .expect_err("revoked");
    assert_eq!(err.code(), Some(ErrorCode::AuthFailed));

    // Duplicate usernames conflict, whatever the case.
    let err = admin
        .create_user("CAROL", Some(PASSWORD), "", "", false)
        .await
        .expect_err("taken");
    assert_eq!(err.code(), Some(ErrorCode::Conflict));

    // A disabled account cannot log in.
    admin
        .update_user("carol", UserChange::Disabled(true))
        .await
        .expect("disable");
    let err = server
        .connect()
        .await
        .login("carol", PASSWORD)
        .await
        .expect_err("disabled");
    assert_eq!(err.code(), Some(ErrorCode::AccountDisabled));
}
