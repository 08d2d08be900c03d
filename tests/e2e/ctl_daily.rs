//! chatctl as bot authors and admins use it every day (issue 12): the
//! README's bot pipeline run as written, `send --each-line`, the room
//! moderation commands, `passwd`, `profile`, saved logins, `man --dir`,
//! a closed stdout, honest `read` and deletion output, stable JSON names,
//! and `import irc-log -`.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::ctl_support::{Ctl, args, expect, json_lines, ok, run};
use chat_e2e::{PASSWORD, WAIT, catch_up, next_event, spawn_server};
use chat_protocol::{ErrorCode, IdempotencyKey, RoomEventKind};
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The bot pipeline exactly as README.md gives it.
const README_PIPELINE: &str = "chatctl tail ops --follow --json -n 0 | jq --unbuffered -r 'select(.type == \"message\" and (.text | test(\"down\"))) | .text' | chatctl send alerts --each-line";

/// A shell pipeline in its own process group, killed as a whole on drop.
struct Pipeline(Child);

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-s", "TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// The text of the next message in `stream`, skipping other events.
async fn next_text(stream: &mut chat_client::RoomStream) -> String {
    loop {
        if let RoomEventKind::Message(m) = next_event(stream).await.kind {
            return m.text;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_bot_pipeline_forwards_each_matching_line_within_two_seconds() {
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(README_PIPELINE),
        "README.md's bot pipeline changed; copy it here verbatim"
    );
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    ok(args(ctl.admin(), &["room", "create", "ops"])).await;
    ok(args(ctl.admin(), &["room", "create", "alerts"])).await;
    let watcher = server.admin().await;
    let alerts = watcher.room_by_name("alerts").await.unwrap();
    let mut stream = watcher.subscribe(alerts.id, alerts.head).await.unwrap();
    catch_up(&mut stream).await;

    // `chatctl` on PATH, as the README assumes; the connection comes from
    // the environment, so the pipeline needs no flags.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(crate::bins::CHATCTL, bin.path().join("chatctl")).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = std::process::Command::new("sh");
    let home = ctl.home.path();
    cmd.env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("CHAT_PROFILE");
    cmd.arg("-c")
        .arg(README_PIPELINE)
        .env("PATH", path)
        .env("CHAT_SERVER", &ctl.server)
        .env("CHAT_CA", &ctl.ca)
        .env("CHAT_TOKEN", &server.admin_token)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let _pipeline = Pipeline(cmd.spawn().unwrap());

    // `tail -n 0` starts at the newest event once it has connected; until
    // then a probe may be missed, so probe until one comes through.
    let sender = server.admin().await;
    let ops = sender.room_by_name("ops").await.unwrap();
    let send = |text: String| {
        let sender = sender.clone();
        async move {
            sender
                .send(ops.id, IdempotencyKey::random(), &text, None)
                .await
                .unwrap()
        }
    };
    let deadline = Instant::now() + WAIT;
    let mut probe = 0;
    'ready: loop {
        assert!(Instant::now() < deadline, "the pipeline never forwarded");
        probe += 1;
        send(format!("probe {probe} down")).await;
        let wait = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                text = next_text(&mut stream) => {
                    if text == format!("probe {probe} down") {
                        break 'ready;
                    }
                }
                () = &mut wait => break,
            }
        }
    }

    // Each matching line arrives as its own message within 2 s of being
    // sent, while the pipeline keeps running; other lines are dropped.
    for text in [
        "db is down",
        "all fine",
        "web down again\u{00a0}한국어",
        "still fine",
    ] {
        let sent = Instant::now();
        send(text.to_owned()).await;
        if !text.contains("down") {
            continue;
        }
        let got = tokio::time::timeout(Duration::from_secs(2), next_text(&mut stream))
            .await
            .unwrap_or_else(|_| panic!("{text:?} was not forwarded within 2 s"));
        assert_eq!(got, text, "each line is its own message, in order");
        assert!(sent.elapsed() < Duration::from_secs(2));
    }
    send("last down".to_owned()).await;
    assert_eq!(next_text(&mut stream).await, "last down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_each_line_sends_every_line_as_its_own_message() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    ok(args(ctl.admin(), &["room", "create", "ops"])).await;
    let out = expect(
        args(ctl.admin(), &["--json", "send", "ops", "--each-line"]),
        Some("first\n\n  \nsecond\r\n세 번째"),
        0,
    )
    .await;
    let acks = json_lines(&out);
    assert_eq!(acks.len(), 3, "{out}");
    for ack in &acks {
        assert!(ack["created_at"].as_str().unwrap().ends_with('Z'), "{ack}");
        assert!(ack.get("ts").is_none(), "{ack}");
    }
    let history = ok(args(ctl.admin(), &["--json", "history", "ops"])).await;
    let texts: Vec<String> = json_lines(&history)
        .iter()
        .map(|v| v["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["first", "second", "세 번째"]);
    // TEXT and --each-line do not mix.
    expect(
        args(ctl.admin(), &["send", "ops", "x", "--each-line"]),
        None,
        2,
    )
    .await;
}

/// A token file for `user`, minted by the admin through chatctl.
async fn token_for(ctl: &Ctl, user: &str) -> std::path::PathBuf {
    let out = ok(args(
        ctl.admin(),
        &["--json", "token", "create", "--user", user],
    ))
    .await;
    let secret = json_lines(&out)[0]["secret"].as_str().unwrap().to_owned();
    ctl.token_file(&format!("{user}.token"), &secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_moderation_commands_do_what_they_say() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    ok(args(ctl.admin(), &["room", "create", "ward"])).await;
    let (bob, _) = server.user("bob").await;
    let (carol, _) = server.user("carol").await;
    let ward = bob.room_by_name("ward").await.unwrap();
    bob.join_room(ward.id).await.unwrap();
    carol.join_room(ward.id).await.unwrap();
    let say = |c: &chat_client::Connection, text: &str| {
        let (c, text) = (c.clone(), text.to_owned());
        async move {
            c.send(ward.id, IdempotencyKey::random(), &text, None)
                .await
                .map(|_| ())
                .map_err(|e| e.code())
        }
    };

    // mute / unmute
    let out = ok(args(ctl.admin(), &["room", "mute", "ward", "bob"])).await;
    assert_eq!(out.trim(), "muted bob in ward");
    assert_eq!(say(&bob, "hi").await, Err(Some(ErrorCode::Muted)));
    let out = ok(args(
        ctl.admin(),
        &["--json", "room", "unmute", "ward", "bob"],
    ))
    .await;
    assert_eq!(
        json_lines(&out)[0],
        serde_json::json!({"room": "ward", "action": "unmute", "user": "bob"})
    );
    assert_eq!(say(&bob, "hi").await, Ok(()));

    // ban / unban; remove prints a sentence, not Rust debug output
    let out = ok(args(ctl.admin(), &["room", "ban", "ward", "carol"])).await;
    assert_eq!(out.trim(), "banned carol from ward");
    assert_eq!(
        carol
            .join_room(ward.id)
            .await
            .map(|_| ())
            .map_err(|e| e.code()),
        Err(Some(ErrorCode::Banned))
    );
    ok(args(ctl.admin(), &["room", "unban", "ward", "carol"])).await;
    carol.join_room(ward.id).await.unwrap();
    let out = ok(args(ctl.admin(), &["room", "remove", "ward", "carol"])).await;
    assert_eq!(out.trim(), "removed carol from ward");

    // role, visibility, transfer
    ok(args(ctl.admin(), &["room", "role", "ward", "bob", "admin"])).await;
    let role_of = |who: &'static str| {
        let cmd = args(ctl.admin(), &["--json", "room", "members", "ward"]);
        async move {
            let out = ok(cmd).await;
            json_lines(&out)
                .into_iter()
                .find(|m| m["username"] == who)
                .map(|m| m["role"].as_str().unwrap().to_owned())
        }
    };
    assert_eq!(role_of("bob").await.as_deref(), Some("admin"));
    let out = ok(args(
        ctl.admin(),
        &["room", "visibility", "ward", "private"],
    ))
    .await;
    assert_eq!(out.trim(), "ward is now private");
    let show = ok(args(ctl.admin(), &["--json", "room", "show", "ward"])).await;
    assert_eq!(json_lines(&show)[0]["visibility"], "private");
    ok(args(ctl.admin(), &["room", "transfer", "ward", "bob"])).await;
    assert_eq!(role_of("bob").await.as_deref(), Some("owner"));
    assert_eq!(role_of("admin").await.as_deref(), Some("admin"));
    // As the new owner, through bob's own token.
    let bob_token = token_for(&ctl, "bob").await;
    ok(args(
        ctl.with_token(&bob_token),
        &["room", "visibility", "ward", "public"],
    ))
    .await;
    // Human output of events never shows Rust debug formatting.
    let history = ok(args(ctl.admin(), &["history", "ward", "--all-events"])).await;
    assert!(!history.contains('{'), "{history}");
    for said in [
        "* muted bob",
        "* unmuted bob",
        "* banned carol",
        "* lifted the ban on carol",
        "* removed carol",
        "* made bob admin",
        "* made the room private",
    ] {
        assert!(history.contains(said), "{said:?} missing from {history}");
    }
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_saves_a_profile_and_passwd_ends_other_sessions() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    let (other_session, _) = server.user("dave").await;
    let connect = |c: std::process::Command| {
        let mut c = c;
        c.arg("--server").arg(&ctl.server).arg("--ca").arg(&ctl.ca);
        c
    };

    // `login dave` (positional) saves server, CA and token; the next
    // command needs no flags.
    let out = expect(
        args(connect(ctl.bare()), &["login", "dave", "--password-stdin"]),
        Some(&format!("{PASSWORD}\n")),
        0,
    )
    .await;
    assert!(out.contains("logged in"), "{out}");
    let config = ctl.home.path().join("config/chat/chatctl.toml");
    assert_eq!(mode(&config), 0o600);
    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(saved.contains(&ctl.server), "{saved}");
    let whoami = ok(args(ctl.bare(), &["--json", "whoami"])).await;
    assert_eq!(json_lines(&whoami)[0]["username"], "dave");
    let tokens: Vec<_> = std::fs::read_dir(ctl.home.path().join("data/chat/chatctl"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(tokens.len(), 1);
    assert_eq!(mode(&tokens[0]), 0o600);
    let list = ok(args(ctl.bare(), &["--json", "profile", "list"])).await;
    let list = json_lines(&list);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "default");
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[0]["logged_in"], true);

    // display name
    let out = ok(args(
        ctl.bare(),
        &["--json", "profile", "set", "--display-name", "데이브"],
    ))
    .await;
    assert_eq!(json_lines(&out)[0]["display_name"], "데이브");

    // passwd: a wrong current password changes nothing (exit 4) ...
    expect(
        args(ctl.bare(), &["passwd", "--password-stdin"]),
        Some("not my password\nnew secret words\n"),
        4,
    )
    .await;
    assert!(other_session.whoami().await.is_ok());
    // ... the right one ends the other session and keeps this one.
    let out = expect(
        args(ctl.bare(), &["passwd", "--password-stdin"]),
        Some(&format!("{PASSWORD}\nnew secret words\n")),
        0,
    )
    .await;
    assert!(out.contains("changed"), "{out}");
    let closed = tokio::time::timeout(WAIT, other_session.closed())
        .await
        .expect("the other session is closed");
    assert!(
        matches!(closed, chat_client::ClientError::LoggedOut(_)),
        "{closed:?}"
    );
    ok(args(ctl.bare(), &["whoami"])).await;
    let fresh = server.connect().await;
    assert_eq!(
        fresh
            .login("dave", PASSWORD)
            .await
            .map(|_| ())
            .map_err(|e| e.code()),
        Err(Some(ErrorCode::AuthFailed))
    );
    fresh.login("dave", "new secret words").await.unwrap();

    // A second profile, chosen with `profile use`, then removed.
    server.user("erin").await;
    expect(
        args(
            connect(ctl.bare()),
            &[
                "--profile",
                "night",
                "login",
                "--user",
                "erin",
                "--password-stdin",
            ],
        ),
        Some(&format!("{PASSWORD}\n")),
        0,
    )
    .await;
    let whoami = ok(args(ctl.bare(), &["--json", "whoami"])).await;
    assert_eq!(json_lines(&whoami)[0]["username"], "dave");
    ok(args(ctl.bare(), &["profile", "use", "night"])).await;
    let whoami = ok(args(ctl.bare(), &["--json", "whoami"])).await;
    assert_eq!(json_lines(&whoami)[0]["username"], "erin");
    expect(args(ctl.bare(), &["profile", "use", "nosuch"]), None, 3).await;
    ok(args(ctl.bare(), &["profile", "remove", "night"])).await;
    let whoami = ok(args(ctl.bare(), &["--json", "whoami"])).await;
    assert_eq!(json_lines(&whoami)[0]["username"], "dave");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn man_pages_for_every_subcommand_and_a_closed_stdout_is_no_panic() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    let dir = ctl.home.path().join("man");
    ok(args(ctl.bare(), &["man", "--dir", dir.to_str().unwrap()])).await;
    for page in [
        "chatctl.1",
        "chatctl-room.1",
        "chatctl-room-mute.1",
        "chatctl-passwd.1",
        "chatctl-profile-set.1",
        "chatctl-import-irc-log.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}");
    }

    // The reader closes the pipe before chatctl writes (as `| head -1`
    // does before the script ends): exit quietly, never a panic.
    for what in [&["completions", "zsh"][..], &["man"][..]] {
        let mut cmd = args(ctl.bare(), what);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().unwrap();
            drop(child.stdout.take());
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{what:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_deletions_and_json_names_are_honest() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    ok(args(ctl.admin(), &["room", "create", "ops"])).await;
    for t in ["one", "two", "three"] {
        ok(args(ctl.admin(), &["send", "ops", t])).await;
    }
    let head =
        json_lines(&ok(args(ctl.admin(), &["--json", "room", "show", "ops"])).await)[0]["head"]
            .as_u64()
            .unwrap();

    // `read` says where the marker is, not what was asked.
    let out = ok(args(ctl.admin(), &["--json", "read", "ops", "1000"])).await;
    let v = &json_lines(&out)[0];
    assert_eq!(v["read_seq"], head);
    assert_eq!(v["requested_seq"], 1000);
    let out = ok(args(ctl.admin(), &["read", "ops", "1"])).await;
    assert!(out.contains(&format!("at {head}")), "{out}");

    // A deleted message: one JSON representation, and words in tables.
    ok(args(ctl.admin(), &["delete", "ops", &head.to_string()])).await;
    let (bob, _) = server.user("bob").await;
    let ops = bob.room_by_name("ops").await.unwrap();
    bob.join_room(ops.id).await.unwrap();
    let bob_token = token_for(&ctl, "bob").await;
    let table = ok(args(ctl.with_token(&bob_token), &["history", "ops"])).await;
    assert!(table.contains("(message deleted)"), "{table}");
    let json = ok(args(
        ctl.with_token(&bob_token),
        &["--json", "history", "ops", "--all-events"],
    ))
    .await;
    let events = json_lines(&json);
    let deleted = events.iter().find(|e| e["seq"] == head).unwrap();
    assert_eq!(deleted["deleted_by"], "admin");
    assert!(deleted["deleted_at"].as_str().unwrap().ends_with('Z'));
    assert!(deleted.get("deleted").is_none(), "{deleted}");
    for e in &events {
        assert!(e["created_at"].as_str().is_some(), "{e}");
        assert!(e.get("ts").is_none(), "{e}");
        for key in ["role", "visibility", "kind"] {
            if let Some(Value::String(s)) = e.get(key) {
                assert_eq!(s, &s.to_lowercase(), "{e}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_irc_log_reads_stdin_and_reports_stable_reason_keys() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    let transcript = "=== alice has joined #ops\n[10:00] <alice> hello\n\n[10:01] <bob> 안녕\n";
    expect(
        args(
            ctl.admin(),
            &["--json", "import", "irc-log", "-", "--room", "ops"],
        ),
        Some(transcript),
        2,
    )
    .await;
    let out = expect(
        args(
            ctl.admin(),
            &[
                "--json",
                "import",
                "irc-log",
                "-",
                "--room",
                "ops",
                "--date",
                "2015-01-20",
            ],
        ),
        Some(transcript),
        0,
    )
    .await;
    let report = &json_lines(&out)[0];
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(
        report["skipped_by_reason"],
        serde_json::json!({"blank": 1, "join": 1})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banned_words_match_whole_words_after_normalisation() {
    let server = chat_e2e::spawn_server_with(|c| {
        c.banned_words = vec!["ass".to_owned(), "바보".to_owned()];
    })
    .await;
    let ctl = Ctl::new(&server);
    ok(args(ctl.admin(), &["room", "create", "ops"])).await;
    // Inside another word: not refused.
    ok(args(ctl.admin(), &["send", "ops", "first class service"])).await;
    ok(args(
        ctl.admin(),
        &["send", "ops", "개바보 is not a word here"],
    ))
    .await;
    // Hidden by a zero-width space, fullwidth letters or a Korean particle: refused.
    for text in ["what an a\u{200B}ss", "ＡＳＳ", "너 바보야"] {
        let out = run(args(ctl.admin(), &["send", "ops", text]), None).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text:?}: {stderr}");
        assert!(stderr.contains("banned word"), "{stderr}");
    }
    // A bot's refused line is reported and skipped; the rest still go out.
    let out = run(
        args(ctl.admin(), &["--json", "send", "ops", "--each-line"]),
        Some("before\nyou ass\nafter\n"),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line skipped"), "{stderr}");
    assert_eq!(json_lines(&String::from_utf8_lossy(&out.stdout)).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_shows_a_progress_bar_on_a_terminal_and_none_when_piped() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    let log = ctl.home.path().join("2015-01-20.log");
    let lines: String = (0..300)
        .map(|i| format!("[{:02}:{:02}] <alice> line {i}\n", i / 60, i % 60))
        .collect();
    std::fs::write(&log, lines).unwrap();

    // Piped: the report on stdout, nothing drawn on stderr.
    let out = run(
        args(
            ctl.admin(),
            &[
                "import",
                "irc-log",
                log.to_str().unwrap(),
                "--room",
                "piped",
            ],
        ),
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("importing") && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );

    // On a terminal (util-linux `script` gives chatctl a pty): a bar.
    let cmd = args(
        ctl.admin(),
        &["import", "irc-log", log.to_str().unwrap(), "--room", "tty"],
    );
    let mut line = format!("{:?}", cmd.get_program());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&format!("'{}'", a.to_str().unwrap()));
    }
    let mut script = std::process::Command::new("script");
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    script.args(["-qec", &line, "/dev/null"]);
    let out = run(script, None).await;
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("importing ["), "no progress bar: {shown:?}");
    assert!(shown.contains("300 imported"), "{shown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_each_line_slows_down_to_the_send_rate_instead_of_failing() {
    let server = chat_e2e::spawn_server_with(|c| {
        c.limits.send_rate_per_sec = 20;
        c.limits.send_burst = 2;
    })
    .await;
    let ctl = Ctl::new(&server);
    ok(args(ctl.admin(), &["room", "create", "ops"])).await;
    ok(args(ctl.admin(), &["user", "create", "bot"])).await;
    let bot = token_for(&ctl, "bot").await;
    ok(args(ctl.with_token(&bot), &["room", "join", "ops"])).await;
    let lines: String = (0..12).map(|i| format!("line {i}\n")).collect();
    let out = run(
        args(
            ctl.with_token(&bot),
            &["--json", "send", "ops", "--each-line"],
        ),
        Some(&lines),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(json_lines(&String::from_utf8_lossy(&out.stdout)).len(), 12);
    // It waited as the server asked, on the same connection: no
    // reconnect-and-back-off rounds.
    assert!(!stderr.contains("retrying"), "{stderr}");
}
