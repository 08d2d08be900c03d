//! The exit-code table of README.md ("Exit codes"), each code produced by
//! a real failing chatctl command against a real chatd.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::ctl_support::{Ctl, args, json_lines, ok, run};
use chat_e2e::spawn_server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_exit_code_comes_from_a_real_command() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    ok(args(ctl.admin(), &["room", "create", "ops"])).await;
    ok(args(ctl.admin(), &["room", "create", "old"])).await;
    let token = |user: &'static str| {
        let cmd = args(ctl.admin(), &["--json", "token", "create", "--user", user]);
        let ctl = &ctl;
        async move {
            let out = ok(cmd).await;
            let secret = json_lines(&out)[0]["secret"].as_str().unwrap().to_owned();
            ctl.token_file(&format!("{user}.token"), &secret)
        }
    };
    for u in ["bob", "carol", "mallory"] {
        ok(args(ctl.admin(), &["user", "create", u])).await;
    }
    let (bob, carol, mallory) = (
        token("bob").await,
        token("carol").await,
        token("mallory").await,
    );
    // carol is a member; mallory is a member, then banned; bob never joined.
    ok(args(ctl.with_token(&carol), &["room", "join", "ops"])).await;
    ok(args(ctl.with_token(&mallory), &["room", "join", "ops"])).await;
    ok(args(ctl.admin(), &["room", "ban", "ops", "mallory"])).await;
    ok(args(ctl.with_token(&carol), &["room", "join", "old"])).await;
    ok(args(ctl.with_token(&carol), &["room", "leave", "old"])).await;
    ok(args(ctl.admin(), &["room", "archive", "old"])).await;
    let garbage = ctl.token_file("garbage.token", "chat_1_not-a-real-secret");
    let too_long = "x".repeat(17 * 1024);

    let table: Vec<(&str, std::process::Command, Option<&str>, i32)> = vec![
        ("ok", args(ctl.admin(), &["server", "info"]), None, 0),
        (
            "error: a message over the size limit",
            args(ctl.admin(), &["send", "ops"]),
            Some(&too_long),
            1,
        ),
        (
            "usage: a missing argument",
            args(ctl.admin(), &["room", "mute", "ops"]),
            None,
            2,
        ),
        (
            "usage: nothing to send",
            args(ctl.admin(), &["send", "ops"]),
            Some("\n"),
            2,
        ),
        (
            "not found: a room",
            args(ctl.admin(), &["room", "show", "nosuch"]),
            None,
            3,
        ),
        (
            "not found: a user",
            args(ctl.admin(), &["room", "add", "ops", "nosuch"]),
            None,
            3,
        ),
        (
            "authentication: a bad token",
            args(ctl.with_token(&garbage), &["whoami"]),
            None,
            4,
        ),
        (
            "permission: a non-member sending to a public room",
            args(ctl.with_token(&bob), &["send", "ops", "hello"]),
            None,
            4,
        ),
        (
            "permission: a banned user joining",
            args(ctl.with_token(&mallory), &["room", "join", "ops"]),
            None,
            4,
        ),
        (
            "permission: a member muting without the role",
            args(ctl.with_token(&carol), &["room", "mute", "ops", "admin"]),
            None,
            4,
        ),
        (
            "conflict: a room that exists",
            args(ctl.admin(), &["room", "create", "ops"]),
            None,
            5,
        ),
        (
            "conflict: leaving twice",
            args(ctl.with_token(&carol), &["room", "leave", "old"]),
            None,
            5,
        ),
        (
            "conflict: adding a banned user",
            args(ctl.admin(), &["room", "add", "ops", "mallory"]),
            None,
            5,
        ),
        (
            "conflict: sending to an archived room",
            args(ctl.admin(), &["send", "old", "hello"]),
            None,
            5,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, cmd, stdin, code) in table {
        let out = run(cmd, stdin).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.code() != Some(code) {
            wrong.push(format!(
                "{what}: expected {code}, got {:?}: {stderr}",
                out.status.code()
            ));
        }
        if code != 0 {
            // Every failure says what was wrong, in words.
            assert!(stderr.trim().len() > 10, "{what}: {stderr:?}");
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
