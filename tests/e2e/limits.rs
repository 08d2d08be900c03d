//! Resource limits (issue 11, findings 3 and 4) through real QUIC clients:
//! no answer is dropped for being over the frame cap (history pages and
//! lists page by bytes as well as count, old unpaged kinds are answered
//! `ResponseTooLarge`, reactions per message are capped), and one rate
//! limiter covers every write (edits, reactions, typing, room creation),
//! answering `RateLimited` with a retry-after the client can wait out.
//!
//! Counts are the smallest that cross the 1 MiB frame (70 messages of
//! 16 KiB, 1,000 rooms with 1 KiB topics, 3,300 users with long names);
//! every wait is bounded by [`ANSWER`], so on a server that drops answers
//! these fail in seconds rather than at the client's 30 s timeout.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::ctl_support::{Ctl, args, json_lines, ok};
use chat_client::{ClientError, Connection};
use chat_e2e::{TestServer, public_room, spawn_server_with};
use chat_protocol::{
    ErrorCode, HistoryAnchor, IdempotencyKey, RequestBody, ResponseBody, RoomId, Seq, Visibility,
};
use std::future::Future;
use std::time::Duration;

/// Longest any one answer may take here; far above what a local server
/// needs, far below the client's request timeout.
const ANSWER: Duration = Duration::from_secs(15);

/// A message text just under the 16 KiB message limit.
fn big_text(i: usize) -> String {
    let head = format!("message {i} ");
    head.clone() + &"x".repeat(16 * 1024 - 64 - head.len())
}

/// How many lines of type `kind` a server admin's `chatctl export --room
/// ROOM` prints, within [`answered`]'s deadline.
async fn exported(ctl: &Ctl, room: &str, kind: &str) -> usize {
    let export = answered(
        "chatctl export",
        ok(args(
            ctl.admin(),
            &["export", "--room", room, "--reason", "test"],
        )),
    )
    .await;
    json_lines(&export)
        .into_iter()
        .filter(|v| v["type"] == kind)
        .count()
}

/// `fut`, or a failure naming `what` if no answer came within [`ANSWER`].
async fn answered<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(ANSWER, fut)
        .await
        .unwrap_or_else(|_| panic!("no answer to {what} within {ANSWER:?}: the reply was dropped"))
}

/// Asserts that `r` is the `ResponseTooLarge` refusal (without printing
/// an answer that did arrive: it would be megabytes).
fn assert_too_large(r: Result<ResponseBody, ClientError>) {
    match r {
        Err(e) => assert_eq!(e.code(), Some(ErrorCode::ResponseTooLarge), "{e}"),
        Ok(_) => panic!("expected ResponseTooLarge, got a whole answer"),
    }
}

/// A server whose send budget lets one user store 70 big messages at once.
async fn roomy_server() -> TestServer {
    spawn_server_with(|c| {
        c.limits.send_burst = 1000;
        c.limits.max_rooms_per_user = 2000;
    })
    .await
}

/// Sends `n` messages of 16 KiB to `room`, pipelined.
async fn fill(conn: &Connection, room: RoomId, n: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let c = conn.clone();
        tasks.spawn(async move {
            c.send(room, IdempotencyKey::random(), &big_text(i), None)
                .await
                .unwrap()
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

/// A history page of 70 messages of 16 KiB (over 1 MiB) arrives, capped
/// in bytes, and paging back on `has_more` reads all 70.
#[tokio::test]
async fn a_history_page_of_big_messages_arrives_in_pages() {
    let server = roomy_server().await;
    let (alice, _) = server.user("alice").await;
    let room = public_room(&alice, "big").await;
    fill(&alice, room, 70).await;

    let first = answered(
        "a 500-event history page",
        alice.history(room, HistoryAnchor::Latest, 500),
    )
    .await
    .unwrap();
    assert!(first.has_more, "a capped page says there is more");
    assert!(
        !first.events.is_empty() && first.events.len() < 70,
        "{} events in the first page",
        first.events.len()
    );
    assert_eq!(
        first.events.last().unwrap().seq,
        first.head,
        "the newest come first"
    );
    let mut texts = chat_e2e::texts(&first.events);
    let mut oldest = first.events[0].seq;
    let mut more = first.has_more;
    while more {
        let page = answered(
            "an older page",
            alice.history(room, HistoryAnchor::Before(oldest), 500),
        )
        .await
        .unwrap();
        oldest = page.events[0].seq;
        let mut older = chat_e2e::texts(&page.events);
        older.append(&mut texts);
        texts = older;
        more = page.has_more;
    }
    assert_eq!(texts.len(), 70);
    assert!(texts.iter().all(|t| t.len() > 16_000));

    // Forward paging stops at the byte cap too.
    let page = answered(
        "a forward page",
        alice.history(room, HistoryAnchor::After(Seq(0)), 500),
    )
    .await
    .unwrap();
    assert!(page.has_more && page.events.len() < 70);
    assert_eq!(page.events[0].seq, Seq(1));
}

/// 1,000 rooms with 1 KiB topics (over 1 MiB as one list) are listed
/// completely: the directory, every room, and the owner's chat list. The
/// old unpaged kinds are answered `ResponseTooLarge`, never dropped.
#[tokio::test]
async fn many_rooms_are_listed_completely() {
    let server = roomy_server().await;
    let admin = server.admin().await;
    let topic = "t".repeat(1000);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let (c, topic) = (admin.clone(), topic.clone());
        tasks.spawn(async move {
            c.create_room(&format!("room-{i:04}"), &topic, Visibility::Public)
                .await
                .unwrap()
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }

    let public = answered("the directory", admin.public_rooms())
        .await
        .unwrap();
    assert_eq!(public.len(), 1000);
    let all = answered("every room", admin.all_rooms()).await.unwrap();
    assert_eq!(all.len(), 1000);
    let mine = answered("the chat list", admin.my_rooms()).await.unwrap();
    assert_eq!(mine.len(), 1000);
    let mut names: Vec<_> = mine.iter().map(|s| s.room.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 1000, "no room twice");

    for body in [
        RequestBody::ListPublicRooms,
        RequestBody::ListAllRooms,
        RequestBody::ListMyRooms,
    ] {
        assert_too_large(answered("an unpaged list", admin.request(body)).await);
    }
}

/// 3,300 accounts with long display names and organizations, all in one
/// room (over 1 MiB as one list), are listed completely, and so are the
/// room's members; the unpaged `ListUsers` and `ListMembers` are answered
/// `ResponseTooLarge`, not dropped.
#[tokio::test]
async fn list_users_with_many_users_is_complete() {
    let server = roomy_server().await;
    let admin = server.admin().await;
    let room = public_room(&admin, "crowd").await;
    let label = "o".repeat(chat_protocol::names::MAX_LABEL_LEN);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..3300 {
        let (c, label) = (admin.clone(), label.clone());
        tasks.spawn(async move {
            let name = format!("user{i:04}");
            c.create_user(&name, None, &label, &label, false)
                .await
                .unwrap();
            c.add_member(room, &name).await.unwrap();
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let users = answered("every user", admin.list_users(None))
        .await
        .unwrap();
    assert_eq!(users.len(), 3301, "3,300 and the bootstrap admin");
    let some = answered("a search", admin.list_users(Some("user00")))
        .await
        .unwrap();
    assert_eq!(some.len(), 100);
    let members = answered("the member list", admin.members(room))
        .await
        .unwrap();
    assert_eq!(members.len(), 3301);

    for body in [
        RequestBody::ListUsers { query: None },
        RequestBody::ListMembers { room },
    ] {
        assert_too_large(answered("an unpaged list", admin.request(body)).await);
    }
}

/// Reactions on one message stop at the configured cap with
/// `LimitExceeded`; taking one's own back still works, and frees a place.
#[tokio::test]
async fn reactions_per_message_are_capped() {
    let server = spawn_server_with(|c| c.limits.max_reactions_per_message = 3).await;
    let (alice, _) = server.user("alice").await;
    let room = public_room(&alice, "ward").await;
    let seq = alice
        .send(room, IdempotencyKey::random(), "hello", None)
        .await
        .unwrap()
        .seq;
    for emoji in ["a", "b", "c"] {
        alice.react(room, seq, emoji).await.unwrap();
    }
    let err = answered("a fourth reaction", alice.react(room, seq, "d"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::LimitExceeded), "{err}");
    alice.react(room, seq, "a").await.unwrap(); // taken back
    alice.react(room, seq, "d").await.unwrap();
}

/// Edits of a message's text (16 KiB each, over 1 MiB together) leave a
/// message audit that still arrives, with the oldest versions counted as
/// omitted.
#[tokio::test]
async fn a_message_audit_of_many_big_edits_arrives() {
    let server = spawn_server_with(|c| c.limits.write_burst = 1000).await;
    let (alice, _) = server.user("alice").await;
    let admin = server.admin().await;
    let room = public_room(&alice, "ward").await;
    let seq = alice
        .send(room, IdempotencyKey::random(), "v0", None)
        .await
        .unwrap()
        .seq;
    for i in 1..=70 {
        alice.edit(room, seq, &big_text(i)).await.unwrap();
    }
    let audit = answered("a message audit", admin.message_audit(room, seq))
        .await
        .unwrap();
    assert!(audit.omitted_versions > 0);
    assert_eq!(audit.versions.len() + audit.omitted_versions as usize, 71);
    assert!(
        audit
            .versions
            .last()
            .unwrap()
            .text
            .starts_with("message 70 ")
    );
}

/// Rapid edits run into the write budget: past the burst they are refused
/// `RateLimited` with a retry-after, and after waiting that long the next
/// edit is taken. Of 5,000 edits fired at once, only about the burst is
/// stored.
#[tokio::test]
async fn rapid_edits_are_rate_limited_with_retry_after() {
    let server = spawn_server_with(|_| {}).await;
    let (alice, _) = server.user("alice").await;
    let room = public_room(&alice, "ward").await;
    let seq = alice
        .send(room, IdempotencyKey::random(), "v0", None)
        .await
        .unwrap()
        .seq;
    let text = "e".repeat(1024);
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5000 {
        let (c, text) = (alice.clone(), text.clone());
        tasks.spawn(async move { c.edit(room, seq, &text).await });
    }
    let (mut stored, mut waits) = (0u64, Vec::new());
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(()) => stored += 1,
            Err(ClientError::Server(e)) if e.code == ErrorCode::RateLimited => {
                waits.push(e.retry_after_ms.expect("a retry-after"));
            }
            Err(e) => panic!("unexpected failure: {e}"),
        }
    }
    let limits = &server.config.limits;
    let allowed = u64::from(limits.write_burst)
        + u64::from(limits.write_rate_per_sec) * (started.elapsed().as_secs() + 1);
    assert!(
        stored <= allowed,
        "{stored} edits stored, at most {allowed} allowed"
    );
    assert!(!waits.is_empty(), "none refused");
    assert!(waits.iter().all(|w| (1..=1000).contains(w)), "{waits:?}");

    // The client acts on the retry-after and succeeds.
    let err = loop {
        match alice.edit(room, seq, "again").await {
            Ok(()) => continue,
            Err(e) => break e,
        }
    };
    let ClientError::Server(body) = err else {
        panic!("{err}")
    };
    tokio::time::sleep(Duration::from_millis(body.retry_after_ms.unwrap())).await;
    alice.edit(room, seq, "after waiting").await.unwrap();
}

/// Typing notices and reactions are rate limited too, each with a
/// retry-after.
#[tokio::test]
async fn typing_and_reactions_are_rate_limited() {
    let server = spawn_server_with(|_| {}).await;
    let (alice, _) = server.user("alice").await;
    let room = public_room(&alice, "ward").await;
    let seq = alice
        .send(room, IdempotencyKey::random(), "hello", None)
        .await
        .unwrap()
        .seq;
    let refused = |r: Result<(), ClientError>| match r {
        Ok(()) => None,
        Err(ClientError::Server(e)) if e.code == ErrorCode::RateLimited => {
            assert!(e.retry_after_ms.is_some_and(|w| w > 0), "{e:?}");
            Some(())
        }
        Err(e) => panic!("unexpected failure: {e}"),
    };
    let mut typing = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let c = alice.clone();
        typing.spawn(async move { c.typing(room).await });
    }
    let mut n = 0;
    while let Some(r) = typing.join_next().await {
        n += usize::from(refused(r.unwrap()).is_some());
    }
    assert!(n > 0, "no typing notice was refused");

    let mut reactions = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let c = alice.clone();
        reactions.spawn(async move { c.react(room, seq, &format!("r{i}")).await });
    }
    let mut n = 0;
    while let Some(r) = reactions.join_next().await {
        n += usize::from(refused(r.unwrap()).is_some());
    }
    assert!(n > 0, "no reaction was refused");
}

/// Creating rooms and leaving them does not give creations back: the
/// daily creation budget counts rooms created, not rooms held.
#[tokio::test]
async fn create_then_leave_cannot_exceed_the_room_creation_limit() {
    let server = spawn_server_with(|c| {
        c.limits.max_rooms_per_user = 5;
        c.limits.room_creations_per_day = 5;
    })
    .await;
    let (alice, _) = server.user("alice").await;
    let mut refused = None;
    for i in 0..20 {
        match alice
            .create_room(&format!("r{i}"), "", Visibility::Public)
            .await
        {
            Ok(room) => alice.leave_room(room.id).await.unwrap(),
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    let (i, err) = refused.expect("20 rooms created by leaving each one");
    assert_eq!(i, 5, "refused at the sixth creation");
    assert_eq!(err.code(), Some(ErrorCode::RateLimited), "{err}");
    let ClientError::Server(body) = err else {
        unreachable!()
    };
    assert!(
        body.retry_after_ms.unwrap() > 3_600_000,
        "five a day: the next in hours"
    );
}

/// `chatctl history` and `chatctl export` of a room of 16 KiB messages
/// print every message.
#[tokio::test]
async fn chatctl_history_and_export_of_big_messages_succeed() {
    let server = roomy_server().await;
    let (alice, _) = server.user("alice").await;
    let room = public_room(&alice, "big").await;
    fill(&alice, room, 70).await;
    let ctl = Ctl::new(&server);

    let hist = answered(
        "chatctl history",
        ok(args(ctl.admin(), &["--json", "history", "big"])),
    )
    .await;
    let lines = json_lines(&hist);
    assert_eq!(lines.len(), 70, "one line per message");

    let messages = exported(&ctl, "big", "message").await;
    assert_eq!(messages, 70);
}

/// 2,600 API tokens with long labels (over 1 MiB as one list) are listed
/// completely; the unpaged `ListTokens` is answered `ResponseTooLarge`.
/// A presence query is capped in names, and the SDK asks in batches.
#[tokio::test]
async fn many_tokens_are_listed_and_presence_is_asked_in_batches() {
    let server = roomy_server().await;
    let admin = server.admin().await;
    let label = "b".repeat(chat_protocol::names::MAX_LABEL_LEN);
    admin
        .create_user("bot", None, &label, &label, false)
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2600 {
        let (c, label) = (admin.clone(), label.clone());
        tasks.spawn(async move { c.create_token("bot", &label).await.unwrap() });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let tokens = answered("the token list", admin.list_tokens(Some("bot")))
        .await
        .unwrap();
    assert_eq!(tokens.len(), 2600);
    let body = RequestBody::ListTokens {
        username: Some("bot".into()),
    };
    assert_too_large(answered("the unpaged token list", admin.request(body)).await);

    let names = vec!["bot"; 1500];
    let seen = answered("presence of 1,500 names", admin.presence(&names))
        .await
        .unwrap();
    assert!(seen.len() <= 1500);
    let body = RequestBody::GetPresence {
        usernames: vec!["bot".into(); chat_protocol::MAX_PRESENCE_QUERY + 1],
    };
    let err = answered("an oversize presence query", admin.request(body))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest), "{err}");
}

/// 1,200 moderation records with 1 KiB reasons (over 1 MiB, and past the
/// unpaged request's 1,000) are all in `chatctl export`.
#[tokio::test]
async fn a_long_moderation_log_is_exported_whole() {
    let server = roomy_server().await;
    let admin = server.admin().await;
    let room = public_room(&admin, "ward").await;
    let reason = "r".repeat(1000);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1200 {
        let (c, reason) = (admin.clone(), reason.clone());
        tasks.spawn(async move {
            let action = chat_protocol::ModAction::SetTopic {
                topic: format!("topic {i}"),
            };
            c.moderate(room, action, &reason).await.unwrap();
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let ctl = Ctl::new(&server);
    let records = exported(&ctl, "ward", "moderation").await;
    // 1200 topic changes and the export's own access record.
    assert_eq!(records, 1201);
}
