//! chatctl setup and conventions: users, tokens, rooms, listings, stdin
//! sends, trust on first use, and every documented exit code.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::ctl_support::{Ctl, args, expect, json_lines, ok};
use chat_e2e::{PASSWORD, spawn_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_user_token_room() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);

    // A user with a password from stdin, an org and a display name.
    let out = expect(
        args(
            ctl.admin(),
            &[
                "--json",
                "user",
                "create",
                "alice",
                "--password-stdin",
                "--display-name",
                "Alice A",
                "--org",
                "ward-1",
            ],
        ),
        Some(&format!("{PASSWORD}\n")),
        0,
    )
    .await;
    let user = &json_lines(&out)[0];
    assert_eq!(user["username"], "alice");
    assert_eq!(user["display_name"], "Alice A");
    assert_eq!(user["org"], "ward-1");
    // She can log in with that password.
    server.login("alice").await;

    // A token, printed once, that works.
    let out = ok(args(
        ctl.admin(),
        &[
            "--json", "token", "create", "--user", "alice", "--label", "bot",
        ],
    ))
    .await;
    let secret = json_lines(&out)[0]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("chat_"), "{secret}");
    let alice = ctl.token_file("alice.token", &secret);
    let me = ok(args(ctl.with_token(&alice), &["--json", "whoami"])).await;
    assert_eq!(json_lines(&me)[0]["username"], "alice");
    // Piped output is tab-separated.
    let list = ok(args(ctl.admin(), &["token", "list", "--user", "alice"])).await;
    assert!(
        list.lines().any(|l| l.split('\t').nth(3) == Some("bot")),
        "{list}"
    );

    // A room, a member, and a message from stdin (all of it, one message).
    let room = ok(args(
        ctl.admin(),
        &[
            "--json",
            "room",
            "create",
            "ops",
            "--topic",
            "alerts go here",
        ],
    ))
    .await;
    assert_eq!(json_lines(&room)[0]["topic"], "alerts go here");
    ok(args(ctl.admin(), &["room", "add", "ops", "alice"])).await;
    let members = ok(args(ctl.admin(), &["--json", "room", "members", "ops"])).await;
    let names: Vec<String> = json_lines(&members)
        .iter()
        .map(|m| m["username"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"alice".to_owned()), "{names:?}");
    let sent = expect(
        args(ctl.with_token(&alice), &["--json", "send", "ops"]),
        Some("line one\nline two\n"),
        0,
    )
    .await;
    let seq = json_lines(&sent)[0]["seq"].as_u64().unwrap();

    // room list --json: name, kind, unread, mentions, last message.
    let rooms = ok(args(ctl.admin(), &["--json", "room", "list"])).await;
    let ops = json_lines(&rooms)
        .into_iter()
        .find(|r| r["name"] == "ops")
        .expect("ops listed");
    assert_eq!(ops["kind"], "group");
    assert_eq!(ops["unread"], 1);
    assert_eq!(ops["mentions"], 0);
    assert_eq!(ops["last_message"]["text"], "line one\nline two");
    assert_eq!(ops["last_message"]["seq"], seq);
    // read moves the marker.
    ok(args(ctl.admin(), &["read", "ops", &seq.to_string()])).await;
    let rooms = ok(args(ctl.admin(), &["--json", "room", "list"])).await;
    let ops = json_lines(&rooms)
        .into_iter()
        .find(|r| r["name"] == "ops")
        .unwrap();
    assert_eq!(ops["unread"], 0);

    // A retried send with the same key stores once.
    for _ in 0..2 {
        ok(args(
            ctl.admin(),
            &["send", "ops", "once", "--idempotency-key", "k-1"],
        ))
        .await;
    }
    let hist = ok(args(ctl.admin(), &["--json", "history", "ops"])).await;
    let once = json_lines(&hist)
        .iter()
        .filter(|e| e["text"] == "once")
        .count();
    assert_eq!(once, 1);

    // Edit, react and delete; history shows the state.
    let once = json_lines(&hist)
        .iter()
        .find(|e| e["text"] == "once")
        .map(|e| e["seq"].as_u64().unwrap())
        .unwrap();
    let once_seq = once.to_string();
    ok(args(ctl.admin(), &["edit", "ops", &once_seq, "twice"])).await;
    ok(args(ctl.admin(), &["react", "ops", &once_seq, "+1"])).await;
    let hist = ok(args(ctl.admin(), &["--json", "history", "ops"])).await;
    let edited = json_lines(&hist)
        .into_iter()
        .find(|e| e["seq"] == once)
        .unwrap();
    assert_eq!(edited["text"], "twice");
    assert!(edited["edited_at"].is_string(), "{edited}");
    ok(args(ctl.admin(), &["delete", "ops", &once_seq])).await;
    let hist = ok(args(
        ctl.admin(),
        &["--json", "history", "ops", "--include-deleted"],
    ))
    .await;
    let deleted = json_lines(&hist)
        .into_iter()
        .find(|e| e["seq"] == once)
        .unwrap();
    assert!(deleted["deleted_by"].is_string(), "{deleted}");
    assert_eq!(deleted["text"], "twice");

    // Server facts.
    let stats = ok(args(ctl.admin(), &["--json", "server", "stats"])).await;
    assert!(json_lines(&stats)[0]["connections"].as_u64().unwrap() >= 1);
    let mut c = ctl.bare();
    c.args(["--json", "--server", &ctl.server, "--ca"])
        .arg(&ctl.ca)
        .args(["server", "info"]);
    let info = ok(c).await;
    assert!(json_lines(&info)[0]["limits"]["max_history_page"].is_number());

    // Completions and man page render.
    assert!(
        ok(args(ctl.bare(), &["completions", "bash"]))
            .await
            .contains("chatctl")
    );
    assert!(ok(args(ctl.bare(), &["man"])).await.contains(".TH"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_stores_a_token_and_trust_on_first_use() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    server
        .admin()
        .await
        .create_user("carol", Some(PASSWORD), "", "", false)
        .await
        .unwrap();

    // Unknown host, no --ca, not a terminal: refused with a hint (exit 4).
    let mut c = ctl.bare();
    c.args(["--server", &ctl.server, "server", "info"]);
    let out = super::ctl_support::run(c, None).await;
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--trust-new") && err.contains("--ca"), "{err}");
    // --trust-new pins it; afterwards no flag is needed.
    ok(args(
        ctl.bare(),
        &["--server", &ctl.server, "--trust-new", "server", "info"],
    ))
    .await;
    ok(args(
        ctl.bare(),
        &["--server", &ctl.server, "server", "info"],
    ))
    .await;

    // login with --password-stdin stores a 0600 token used by later commands.
    let mut c = ctl.bare();
    c.args([
        "--server",
        &ctl.server,
        "login",
        "--user",
        "carol",
        "--password-stdin",
    ]);
    expect(c, Some(&format!("{PASSWORD}\n")), 0).await;
    let data = ctl.home.path().join("data").join("chat").join("chatctl");
    let file = std::fs::read_dir(&data)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    let me = ok(args(
        ctl.bare(),
        &["--server", &ctl.server, "--json", "whoami"],
    ))
    .await;
    assert_eq!(json_lines(&me)[0]["username"], "carol");
    // CHAT_SERVER works like --server; logout forgets the token.
    let mut c = ctl.bare();
    c.env("CHAT_SERVER", &ctl.server).arg("logout");
    ok(c).await;
    expect(
        args(ctl.bare(), &["--server", &ctl.server, "whoami"]),
        None,
        4,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    // 0 ok.
    ok(args(ctl.admin(), &["room", "create", "ops"])).await;
    // 1 error: a local file that cannot be read.
    let missing = ctl.home.path().join("no-such-log.txt");
    let mut c = ctl.admin();
    c.args(["import", "irc-log"])
        .arg(&missing)
        .args(["--room", "ops"]);
    let out = super::ctl_support::run(c, None).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    // 2 usage: clap's and ours.
    expect(args(ctl.admin(), &["frobnicate"]), None, 2).await;
    expect(
        args(ctl.admin(), &["history", "ops", "--from", "last tuesday"]),
        None,
        2,
    )
    .await;
    expect(args(ctl.admin(), &["send", "ops"]), Some(""), 2).await;
    // 3 not found.
    expect(args(ctl.admin(), &["room", "show", "nowhere"]), None, 3).await;
    expect(args(ctl.admin(), &["user", "show", "nobody"]), None, 3).await;
    // 4 authentication: a wrong token, and no token at all.
    let bad = ctl.token_file("bad.token", "chat_1_00000000");
    expect(args(ctl.with_token(&bad), &["room", "list"]), None, 4).await;
    let mut c = ctl.bare();
    c.args(["--server", &ctl.server, "--ca"])
        .arg(&ctl.ca)
        .args(["room", "list"]);
    let out = super::ctl_support::run(c, None).await;
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chatctl login"));
    // 5 conflict.
    expect(args(ctl.admin(), &["room", "create", "ops"]), None, 5).await;
    ok(args(ctl.admin(), &["user", "create", "dave"])).await;
    expect(args(ctl.admin(), &["user", "create", "DAVE"]), None, 5).await;
}
