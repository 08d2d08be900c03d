//! Moderation: every action, every refusal, and the audit trail.

use chat_e2e::{PASSWORD, public_room, spawn_server};
use chat_protocol::{ErrorCode, IdempotencyKey, ModAction, Role, Visibility};

fn code<T>(r: Result<T, chat_client::ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

fn name(u: &str) -> String {
    u.to_string()
}

#[tokio::test]
async fn every_moderation_action_checks_roles_and_is_audited() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (owner, _) = server.user("olivia").await;
    let (moder, _) = server.user("mo").await;
    let (member, _) = server.user("mel").await;
    let (other, _) = server.user("otto").await;
    let room = public_room(&owner, "ed-triage").await;
    for c in [&moder, &member, &other] {
        c.join_room(room).await.expect("join");
    }
    let act = |c: &chat_client::Connection, a: ModAction| {
        let c = c.clone();
        async move { c.moderate(room, a, "test reason").await }
    };

    // Roles: only the owner sets them; Owner itself is not settable.
    assert_eq!(
        code(
            act(
                &member,
                ModAction::SetRole {
                    username: name("mo"),
                    role: Role::Admin
                }
            )
            .await
        ),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(
            act(
                &owner,
                ModAction::SetRole {
                    username: name("mo"),
                    role: Role::Owner
                }
            )
            .await
        ),
        Some(ErrorCode::BadRequest)
    );
    act(
        &owner,
        ModAction::SetRole {
            username: name("mo"),
            role: Role::Admin,
        },
    )
    .await
    .expect("promote");
    assert_eq!(
        code(
            act(
                &moder,
                ModAction::SetRole {
                    username: name("mel"),
                    role: Role::Admin
                }
            )
            .await
        ),
        Some(ErrorCode::Forbidden)
    );

    // Kick: members may not; admins may kick members but not the owner.
    assert_eq!(
        code(
            act(
                &member,
                ModAction::Kick {
                    username: name("otto")
                }
            )
            .await
        ),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(
            act(
                &moder,
                ModAction::Kick {
                    username: name("olivia")
                }
            )
            .await
        ),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(
            act(
                &moder,
                ModAction::Kick {
                    username: name("nobody")
                }
            )
            .await
        ),
        Some(ErrorCode::NotFound)
    );
    act(
        &moder,
        ModAction::Kick {
            username: name("otto"),
        },
    )
    .await
    .expect("kick");
    assert_eq!(
        code(other.send(room, IdempotencyKey::random(), "hi", None).await),
        Some(ErrorCode::NotMember)
    );
    other
        .join_room(room)
        .await
        .expect("a kicked member may rejoin a public room");

    // Ban: the banned cannot rejoin or be added until unbanned.
    assert_eq!(
        code(
            act(
                &member,
                ModAction::Ban {
                    username: name("otto")
                }
            )
            .await
        ),
        Some(ErrorCode::Forbidden)
    );
    act(
        &moder,
        ModAction::Ban {
            username: name("otto"),
        },
    )
    .await
    .expect("ban");
    assert_eq!(code(other.join_room(room).await), Some(ErrorCode::Banned));
    assert_eq!(
        code(member.add_member(room, "otto").await),
        Some(ErrorCode::Banned)
    );
    assert_eq!(
        code(
            act(
                &member,
                ModAction::Unban {
                    username: name("otto")
                }
            )
            .await
        ),
        Some(ErrorCode::Forbidden)
    );
    act(
        &moder,
        ModAction::Unban {
            username: name("otto"),
        },
    )
    .await
    .expect("unban");
    other.join_room(room).await.expect("rejoin after unban");

    // Mute: a muted member reads but cannot send.
    assert_eq!(
        code(
            act(
                &member,
                ModAction::Mute {
                    username: name("otto"),
                    muted: true
                }
            )
            .await
        ),
        Some(ErrorCode::Forbidden)
    );
    act(
        &moder,
        ModAction::Mute {
            username: name("otto"),
            muted: true,
        },
    )
    .await
    .expect("mute");
    assert_eq!(
        code(other.send(room, IdempotencyKey::random(), "hi", None).await),
        Some(ErrorCode::Muted)
    );
    other
        .history(room, chat_protocol::HistoryAnchor::Latest, 10)
        .await
        .expect("muted may read");
    act(
        &moder,
        ModAction::Mute {
            username: name("otto"),
            muted: false,
        },
    )
    .await
    .expect("unmute");
    other
        .send(room, IdempotencyKey::random(), "thanks", None)
        .await
        .expect("unmuted sends");

    // Topic: admins; visibility and archive: the owner.
    assert_eq!(
        code(act(&member, ModAction::SetTopic { topic: "x".into() }).await),
        Some(ErrorCode::Forbidden)
    );
    act(
        &moder,
        ModAction::SetTopic {
            topic: "Triage, level 1".into(),
        },
    )
    .await
    .expect("topic");
    assert_eq!(
        member.room_by_name("ed-triage").await.expect("room").topic,
        "Triage, level 1"
    );
    assert_eq!(
        code(
            act(
                &moder,
                ModAction::SetVisibility {
                    visibility: Visibility::Private
                }
            )
            .await
        ),
        Some(ErrorCode::Forbidden)
    );
    act(
        &owner,
        ModAction::SetVisibility {
            visibility: Visibility::Private,
        },
    )
    .await
    .expect("private");
    assert!(
        !admin
            .public_rooms()
            .await
            .expect("dir")
            .iter()
            .any(|r| r.id == room)
    );

    // Ownership moves; the old owner becomes an admin.
    assert_eq!(
        code(
            act(
                &moder,
                ModAction::TransferOwnership {
                    username: name("mel")
                }
            )
            .await
        ),
        Some(ErrorCode::Forbidden)
    );
    act(
        &owner,
        ModAction::TransferOwnership {
            username: name("mel"),
        },
    )
    .await
    .expect("transfer");
    let roles: Vec<_> = owner
        .members(room)
        .await
        .expect("members")
        .into_iter()
        .map(|m| (m.user.username, m.role))
        .collect();
    assert!(roles.contains(&(name("mel"), Role::Owner)), "{roles:?}");
    assert!(roles.contains(&(name("olivia"), Role::Admin)), "{roles:?}");

    // Archive: read-only from then on.
    assert_eq!(
        code(act(&owner, ModAction::Archive).await),
        Some(ErrorCode::Forbidden)
    );
    act(&member, ModAction::Archive)
        .await
        .expect("new owner archives");
    assert_eq!(
        code(member.send(room, IdempotencyKey::random(), "x", None).await),
        Some(ErrorCode::Archived)
    );

    // Delete: server admins only.
    assert_eq!(
        code(act(&member, ModAction::DeleteRoom).await),
        Some(ErrorCode::Forbidden)
    );
    act(&admin, ModAction::DeleteRoom)
        .await
        .expect("admin deletes");
    assert!(
        !member
            .my_rooms()
            .await
            .expect("rooms")
            .iter()
            .any(|r| r.room.id == room)
    );
    assert_eq!(
        code(member.room_by_name("ed-triage").await),
        Some(ErrorCode::NotFound)
    );

    // Server admins still list it for audit export; others may not list all rooms.
    assert!(
        admin
            .all_rooms()
            .await
            .expect("all rooms")
            .iter()
            .any(|r| r.id == room)
    );
    assert_eq!(code(member.all_rooms().await), Some(ErrorCode::Forbidden));

    // The audit trail: who did what to whom, when and why.
    assert_eq!(
        code(other.moderation_log(None, 100).await),
        Some(ErrorCode::Forbidden)
    );
    let log = admin.moderation_log(Some(room), 100).await.expect("log");
    let actions: Vec<_> = log.iter().rev().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "set-role",
            "kick",
            "ban",
            "unban",
            "mute",
            "unmute",
            "set-topic",
            "set-visibility",
            "transfer-ownership",
            "archive",
            "delete-room"
        ]
    );
    let ban = log.iter().find(|r| r.action == "ban").expect("ban record");
    assert_eq!(ban.actor.username, "mo");
    assert_eq!(
        ban.target.as_ref().map(|t| t.username.as_str()),
        Some("otto")
    );
    assert_eq!(ban.reason, "test reason");
    let _ = PASSWORD;
}
