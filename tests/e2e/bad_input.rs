//! Bad input gets its documented error code and changes nothing stored.

use chat_e2e::{PASSWORD, public_room, spawn_server_with};
use chat_protocol::{
    ErrorCode, HistoryAnchor, IdempotencyKey, RequestBody, RoomId, Seq, Visibility,
};

fn code<T>(r: Result<T, chat_client::ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

#[tokio::test]
async fn bad_inputs_get_error_codes_and_nothing_changes() {
    let server = spawn_server_with(|c| {
        c.banned_words = vec!["forbiddenword".into()];
        c.limits.send_burst = 200;
    })
    .await;
    let admin = server.admin().await;
    let (alice, _) = server.user("alice").await;
    let room = public_room(&alice, "general").await;
    alice
        .send(room, IdempotencyKey::random(), "baseline", None)
        .await
        .expect("send");
    let before = admin
        .history(room, HistoryAnchor::Latest, 500)
        .await
        .expect("history");
    let stats_before = admin.server_stats().await.expect("stats");

    let max = alice.welcome().limits.max_message_bytes as usize;
    let k = IdempotencyKey::random;
    assert_eq!(
        code(alice.send(room, k(), &"a".repeat(max + 1), None).await),
        Some(ErrorCode::TooLarge)
    );
    assert_eq!(
        code(alice.send(room, k(), "   ", None).await),
        Some(ErrorCode::BadRequest)
    );
    assert_eq!(
        code(alice.send(room, k(), "a FORBIDDENWORD here", None).await),
        Some(ErrorCode::ContentRejected)
    );
    assert_eq!(
        code(
            alice
                .send(room, IdempotencyKey(String::new()), "x", None)
                .await
        ),
        Some(ErrorCode::BadRequest)
    );
    assert_eq!(
        code(
            alice
                .send(room, IdempotencyKey("k".repeat(129)), "x", None)
                .await
        ),
        Some(ErrorCode::BadRequest)
    );
    assert_eq!(
        code(alice.send(room, k(), "reply", Some(Seq(9999))).await),
        Some(ErrorCode::BadRequest)
    );
    assert_eq!(
        code(alice.send(RoomId(424242), k(), "x", None).await),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        code(alice.create_room("no spaces", "", Visibility::Public).await),
        Some(ErrorCode::InvalidName)
    );
    assert_eq!(
        code(alice.create_room("-dash", "", Visibility::Public).await),
        Some(ErrorCode::InvalidName)
    );
    assert_eq!(
        code(
            alice
                .create_room("ok-name", "topic\x1b[2J", Visibility::Public)
                .await
        ),
        Some(ErrorCode::InvalidName)
    );
    assert_eq!(
        code(
            admin
                .create_user("bad name", Some(PASSWORD), "", "", false)
                .await
        ),
        Some(ErrorCode::InvalidName)
    );
    assert_eq!(
        code(
            admin
                .create_user("shortpw", Some("short"), "", "", false)
                .await
        ),
        Some(ErrorCode::BadRequest)
    );
    let huge = "p".repeat(chat_protocol::names::MAX_PASSWORD_BYTES + 1);
    assert_eq!(
        code(
            admin
                .create_user("hugepw", Some(&huge), "", "", false)
                .await
        ),
        Some(ErrorCode::TooLarge)
    );
    assert_eq!(
        code(alice.history(room, HistoryAnchor::Latest, 0).await),
        Some(ErrorCode::BadRequest)
    );
    assert_eq!(
        code(alice.history(room, HistoryAnchor::Latest, 501).await),
        Some(ErrorCode::BadRequest)
    );
    let anon = server.connect().await;
    assert_eq!(
        code(anon.request(RequestBody::ListMyRooms).await),
        Some(ErrorCode::Unauthenticated)
    );
    assert_eq!(
        code(anon.login("alice", &huge).await),
        Some(ErrorCode::AuthFailed)
    );

    let after = admin
        .history(room, HistoryAnchor::Latest, 500)
        .await
        .expect("history");
    assert_eq!(after, before, "no refused input changed the room");
    let stats_after = admin.server_stats().await.expect("stats");
    assert_eq!(stats_after.events, stats_before.events);
    assert_eq!(stats_after.users, stats_before.users);
    assert_eq!(stats_after.rooms, stats_before.rooms);
}

#[tokio::test]
async fn send_rate_is_limited_per_user() {
    let server = spawn_server_with(|c| {
        c.limits.send_rate_per_sec = 1;
        c.limits.send_burst = 3;
    })
    .await;
    let (alice, _) = server.user("alice").await;
    let room = public_room(&alice, "general").await;
    for i in 0..3 {
        alice
            .send(room, IdempotencyKey::random(), &format!("m{i}"), None)
            .await
            .expect("within burst");
    }
    let err = alice
        .send(room, IdempotencyKey::random(), "one too many", None)
        .await
        .expect_err("limited");
    assert_eq!(err.code(), Some(ErrorCode::RateLimited));
    match err {
        chat_client::ClientError::Server(body) => {
            assert!(body.retry_after_ms.is_some_and(|ms| ms > 0))
        }
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test]
async fn control_characters_are_stored_exactly_as_sent() {
    // The policy (chat_protocol::text): store as sent, render harmlessly.
    let server = spawn_server_with(|_| {}).await;
    let (alice, _) = server.user("alice").await;
    let room = public_room(&alice, "irc").await;
    let raw = "\x0304red\x03 \x1b[2J\x1b]0;title\x07 \u{202e}abc";
    alice
        .send(room, IdempotencyKey::random(), raw, None)
        .await
        .expect("send");
    let page = alice
        .history(room, HistoryAnchor::Latest, 10)
        .await
        .expect("history");
    let texts = chat_e2e::texts(&page.events);
    assert_eq!(texts.last().map(String::as_str), Some(raw));
    let shown = chat_protocol::text::display_safe(raw);
    assert!(!shown.chars().any(chat_protocol::text::is_unsafe));
}
