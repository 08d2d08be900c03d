//! Rights end when they are taken away (issue 17, findings 1 and 8): an
//! open session loses its rights within 1 s of a token revocation, a
//! password reset or a disabled account, a demoted admin's next admin
//! request on the same connection is refused, and every account action is
//! in the audit trail.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use crate::ctl_support::Ctl;
use chat_client::ClientError;
use chat_e2e::{PASSWORD, TestServer, WAIT, public_room, spawn_server};
use chat_protocol::{ErrorCode, IdempotencyKey, RoomId, UserChange};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How soon a follower must notice, from the "Done when".
const NOTICE_WITHIN: Duration = Duration::from_secs(2);

/// What the admin does to alice while her `chatctl tail --follow` runs.
#[derive(Debug, Clone, Copy)]
enum Taken {
    Disabled,
    TokenRevoked,
    PasswordReset,
}

/// A running `chatctl --json tail ROOM --follow` whose stdout lines arrive
/// on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(ctl: &Ctl, token_file: &std::path::Path, room: &str) -> Follower {
        let mut cmd = ctl.with_token(token_file);
        cmd.args(["--json", "tail", room, "--follow"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("chatctl starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// Waits (on a blocking thread) for a stdout line containing `needle`.
    async fn wait_line(self, needle: &'static str) -> Follower {
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + WAIT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.lines.recv_timeout(left) {
                    Ok(line) if line.contains(needle) => return self,
                    Ok(_) => {}
                    Err(e) => panic!("chatctl tail never printed {needle:?}: {e}"),
                }
            }
        })
        .await
        .unwrap()
    }

    /// Waits for the process to exit; returns its code and stderr.
    async fn wait_exit(self) -> (Option<i32>, String) {
        let Follower { mut child, .. } = self;
        let pid = child.id();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err);
            let _ = tx.send((child.wait().map(|s| s.code()), err));
        });
        tokio::task::spawn_blocking(move || match rx.recv_timeout(WAIT) {
            Ok((status, err)) => (status.unwrap(), err),
            Err(_) => {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("chatctl tail --follow did not exit within {WAIT:?}");
            }
        })
        .await
        .unwrap()
    }
}

/// Sets up alice in room `ward` with a login-session token in a file, and
/// the admin connection.
async fn alice_following(server: &TestServer, ctl: &Ctl) -> (Follower, chat_client::Connection) {
    let admin = server.admin().await;
    admin
        .create_user("alice", Some(PASSWORD), "", "Ward 3", false)
        .await
        .unwrap();
    let room = public_room(&admin, "ward").await;
    let alice = server.connect().await;
    let (_, token) = alice.login("alice", PASSWORD).await.unwrap();
    alice.join_room(room).await.unwrap();
    let token_file = ctl.token_file("alice.token", &token.expect("a login returns a token"));
    let follower = Follower::start(ctl, &token_file, "ward");
    // `tail` prints recent history, then follows through a session. The
    // first marker may come from either; the second, sent after the first
    // was printed, only through the session, so it is then logged in.
    admin
        .send(room, IdempotencyKey::random(), "first-marker", None)
        .await
        .unwrap();
    let follower = follower.wait_line("first-marker").await;
    admin
        .send(room, IdempotencyKey::random(), "second-marker", None)
        .await
        .unwrap();
    (follower.wait_line("second-marker").await, admin)
}

async fn take(admin: &chat_client::Connection, what: Taken) {
    match what {
        Taken::Disabled => {
            admin
                .update_user("alice", UserChange::Disabled(true))
                .await
                .unwrap();
        }
        Taken::PasswordReset => {
            admin
                .update_user(
                    "alice",
                    UserChange::Password("another good password".into()),
                )
                .await
                .unwrap();
        }
        Taken::TokenRevoked => {
            let tokens = admin.list_tokens(Some("alice")).await.unwrap();
            for t in tokens {
                admin.revoke_token(t.id).await.unwrap();
            }
        }
    }
}

/// `chatctl tail --follow` of a user ends with exit code 4 and a clear
/// message within 2 s of that user being disabled, of its token being
/// revoked, and of its password being reset.
#[tokio::test]
async fn a_follower_is_logged_out_within_two_seconds_of_losing_its_rights() {
    for (what, words) in [
        (Taken::Disabled, "disabled"),
        (Taken::TokenRevoked, "revoked"),
        (Taken::PasswordReset, "revoked"),
    ] {
        let server = spawn_server().await;
        let ctl = Ctl::new(&server);
        let (follower, admin) = alice_following(&server, &ctl).await;
        let t0 = Instant::now();
        take(&admin, what).await;
        let (code, stderr) = follower.wait_exit().await;
        let took = t0.elapsed();
        assert_eq!(code, Some(4), "{what:?}: exit code; stderr: {stderr}");
        assert!(
            stderr.contains("logged out by the server") && stderr.contains(words),
            "{what:?}: the message says what happened: {stderr}"
        );
        assert!(
            took < NOTICE_WITHIN,
            "{what:?}: the follower noticed after {took:?}"
        );
    }
}

/// An SDK connection sees the close as `LoggedOut` with the server's reason.
#[tokio::test]
async fn a_disabled_users_open_connection_is_closed_with_a_reason() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (alice, _) = server.user("alice").await;
    admin
        .update_user("alice", UserChange::Disabled(true))
        .await
        .unwrap();
    let err = tokio::time::timeout(WAIT, alice.closed()).await.unwrap();
    match err {
        ClientError::LoggedOut(reason) => assert!(reason.contains("disabled"), "{reason}"),
        other => panic!("expected LoggedOut, got {other:?}"),
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    match r {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        // The connection may already be closed by the rights guard.
        Err(ClientError::LoggedOut(_) | ClientError::ConnectionLost(_)) => {
            Some(ErrorCode::Unauthenticated)
        }
        Err(e) => e.code(),
    }
}

/// The worst case seen: an admin whose admin flag was removed, whose
/// account was disabled and whose token was revoked re-enabled itself from
/// its still-open connection. Now the demoted admin's very next admin
/// request on the same connection is refused, and the rest ends the
/// connection.
#[tokio::test]
async fn a_demoted_admin_cannot_use_or_regain_admin_rights_on_an_open_connection() {
    let server = spawn_server().await;
    let root = server.admin().await;
    root.create_user("boss", Some(PASSWORD), "", "", true)
        .await
        .unwrap();
    let (boss, _) = server.login("boss").await;
    boss.create_user("intern1", Some(PASSWORD), "", "", false)
        .await
        .expect("an admin may create users");

    root.update_user("boss", UserChange::Admin(false))
        .await
        .unwrap();
    // No wait: the check is made where the right is used.
    assert_eq!(
        code(
            boss.create_user("intern2", Some(PASSWORD), "", "", false)
                .await
        ),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(boss.update_user("boss", UserChange::Admin(true)).await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(boss.create_token("boss", "backdoor").await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(code(boss.all_rooms().await), Some(ErrorCode::Forbidden));

    root.update_user("boss", UserChange::Disabled(true))
        .await
        .unwrap();
    for t in root.list_tokens(Some("boss")).await.unwrap() {
        root.revoke_token(t.id).await.unwrap();
    }
    assert_eq!(
        code(boss.update_user("boss", UserChange::Disabled(false)).await),
        Some(ErrorCode::Unauthenticated)
    );
    assert_eq!(
        code(boss.create_token("boss", "backdoor").await),
        Some(ErrorCode::Unauthenticated)
    );
    let me = root.get_user("boss").await.unwrap();
    assert_eq!((me.admin, me.disabled), (Some(false), Some(true)));
    assert!(root.list_tokens(Some("boss")).await.unwrap().is_empty());
    let again = server.connect().await;
    assert_eq!(
        code(again.login("boss", PASSWORD).await),
        Some(ErrorCode::AccountDisabled)
    );
}

/// Promotion reaches an open session too (its cached flag is refreshed).
#[tokio::test]
async fn a_promoted_user_gets_admin_rights_on_the_open_connection() {
    let server = spawn_server().await;
    let root = server.admin().await;
    let (carol, _) = server.user("carol").await;
    assert_eq!(code(carol.all_rooms().await), Some(ErrorCode::Forbidden));
    root.update_user("carol", UserChange::Admin(true))
        .await
        .unwrap();
    carol.all_rooms().await.expect("promoted at once");
}

/// Every account and admin action is stored with actor, target, time and
/// what changed, and `chatctl export` includes it.
#[tokio::test]
async fn account_actions_are_audited_and_exported() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    let root = server.admin().await;
    let root_name = root.whoami().await.unwrap().author.username;
    root.create_user("dana", Some(PASSWORD), "Dana", "ICU", false)
        .await
        .unwrap();
    root.update_user("dana", UserChange::Admin(true))
        .await
        .unwrap();
    root.update_user("dana", UserChange::Admin(false))
        .await
        .unwrap();
    root.update_user("dana", UserChange::Org("Ward 5".into()))
        .await
        .unwrap();
    root.update_user("dana", UserChange::Password("a new long password".into()))
        .await
        .unwrap();
    let (info, _) = root.create_token("dana", "pager-bot").await.unwrap();
    root.revoke_token(info.id).await.unwrap();
    root.update_user("dana", UserChange::Disabled(true))
        .await
        .unwrap();
    root.update_user("dana", UserChange::Disabled(false))
        .await
        .unwrap();

    let log = root.moderation_log(None, 1000).await.unwrap();
    let expected = [
        ("user-create", "org \"ICU\""),
        ("user-admin-grant", "admin: false -> true"),
        ("user-admin-revoke", "admin: true -> false"),
        ("user-org", "\"ICU\" -> \"Ward 5\""),
        ("user-password-reset", "password reset"),
        ("token-create", "pager-bot"),
        ("token-revoke", "pager-bot"),
        ("user-disable", "disabled: false -> true"),
        ("user-enable", "disabled: true -> false"),
    ];
    for (action, detail) in expected {
        let rec = log
            .iter()
            .find(|r| r.action == action)
            .unwrap_or_else(|| panic!("no {action} record in {log:#?}"));
        assert_eq!(rec.actor.username, root_name, "{action}: actor");
        assert_eq!(
            rec.target.as_ref().map(|t| t.username.as_str()),
            Some("dana"),
            "{action}: target"
        );
        assert!(rec.reason.contains(detail), "{action}: {:?}", rec.reason);
        assert!(rec.at.0 > 0, "{action}: time");
        assert_eq!(rec.room, None::<RoomId>);
    }

    let export = crate::ctl_support::ok(crate::ctl_support::args(
        ctl.admin(),
        &["export", "--reason", "test"],
    ))
    .await;
    for (action, _) in expected {
        assert!(
            export
                .lines()
                .any(|l| l.contains(&format!("\"action\":\"{action}\"")) && l.contains("dana")),
            "export lacks {action}"
        );
    }
}
