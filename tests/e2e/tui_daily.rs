//! The real `chat-tui` under tmux (see `tui.rs` for the harness) doing what
//! issue 12 found wrong on a first day: room numbers that move, drafts that
//! follow into other rooms, action keys that eat typing, messages lost on
//! quit, a client that gives up after a certificate mismatch, the cursor
//! away from the caret while typing Korean, pasted line breaks dropped, and
//! the room open at start-up never marked read.

use crate::process::{Chatd, ca_path};
use crate::tui::{POLL, Tui, copies, lobby, lobby_at, login_at, skip_without_tmux, wait_stored};
use chat_client::{ClientConfig, Trust};
use chat_e2e::{WAIT, public_room, spawn_server};
use chat_protocol::{HistoryAnchor, IdempotencyKey, RoomEventKind};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The saved outbox files under a chat-tui home.
fn outbox_files(home: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(home.join("data/chat-tui/outbox"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_queued_offline_survives_quitting_and_is_delivered_once() {
    if skip_without_tmux() {
        return;
    }
    let mut server = spawn_server().await;
    let (_bob, room, token) = lobby(&server).await;
    let home = tempfile::tempdir().expect("temp home");
    {
        let tui = Tui::start(&server, &token, home.path()).await;
        tui.wait_for("connected").await;
        tui.wait_for("lobby").await;
        server.stop().await;
        tui.wait_for("reconnecting").await;
        tui.type_text("queued then quit").await;
        tui.keys(&["Enter"]).await;
        tui.wait_for("1 queued").await;
        // Quitting asks, and says the message is kept.
        tui.keys(&["C-c"]).await;
        tui.wait_for("1 message is not sent yet").await;
        tui.keys(&["y"]).await;
        tui.wait_for("chat-tui exited with status 0").await;
    }
    let files = outbox_files(home.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let saved = std::fs::read_to_string(&files[0]).expect("outbox file");
    assert!(saved.contains("queued then quit"), "{saved}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0])
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "outbox file mode");
    }

    // Both come back: the message is sent once, and the file is emptied.
    server.restart().await;
    let tui = Tui::start(&server, &token, home.path()).await;
    tui.wait_for("connected").await;
    let (bob, _) = server.login("bob").await;
    wait_stored(&bob, room, "queued then quit").await;
    tui.wait_until("the outbox empty", |s| {
        s.contains("queued then quit") && !s.contains("1 queued") && !s.contains("pending")
    })
    .await;
    let deadline = Instant::now() + WAIT;
    while !outbox_files(home.path()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the outbox file was never emptied"
        );
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(copies(&bob, room, "queued then quit").await, 1);
    // A third start sends nothing again.
    drop(tui);
    let tui = Tui::start(&server, &token, home.path()).await;
    tui.wait_for("connected").await;
    tui.wait_for("queued then quit").await;
    assert_eq!(copies(&bob, room, "queued then quit").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_recovers_by_itself_once_the_expected_certificate_is_back() {
    if skip_without_tmux() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let chatd = Chatd::start(dir.path(), "127.0.0.1:0");
    let addr = chatd.addr.clone();
    let ca = ca_path(dir.path());
    let cfg = ClientConfig::new(addr.clone(), Trust::CaFile(ca.clone()), "e2e-tui");
    let admin_token = chat_e2e::read_token(&dir.path().join("data"));
    let (bob, room, token) = lobby_at(&cfg, &admin_token).await;
    drop(bob);
    let home = tempfile::tempdir().expect("temp home");
    let tui = Tui::start_at(&addr, &ca, &token, home.path()).await;
    tui.wait_for("connected").await;

    // Another server, with a certificate from another CA, on the address.
    chatd.kill();
    let impostor_dir = tempfile::tempdir().expect("impostor dir");
    let impostor = Chatd::start(impostor_dir.path(), &addr);
    let screen = tui.wait_for("Not connected: the certificate of").await;
    assert!(screen.contains("not trusted"), "{screen}");
    assert!(screen.contains("/reconnect"), "{screen}");
    tui.type_text("typed while refusing the impostor").await;
    tui.keys(&["Enter"]).await;
    tui.wait_for("1 queued").await;
    // Still trying (the old client stopped here for good), and /reconnect
    // tries at once.
    tui.type_text("/reconnect").await;
    tui.keys(&["Enter"]).await;
    tui.wait_for("Not connected: the certificate of").await;

    // The real server is back: the client reconnects without help.
    impostor.kill();
    let _chatd = Chatd::start(dir.path(), &addr);
    tui.wait_until("connected again, banner gone", |s| {
        s.contains("● connected") && !s.contains("Not connected")
    })
    .await;
    let bob = login_at(&cfg, "bob").await;
    wait_stored(&bob, room, "typed while refusing the impostor").await;
    assert_eq!(
        copies(&bob, room, "typed while refusing the impostor").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_cursor_sits_at_the_caret_while_typing_korean() {
    if skip_without_tmux() {
        return;
    }
    let server = spawn_server().await;
    let (_bob, _room, token) = lobby(&server).await;
    let home = tempfile::tempdir().expect("temp home");
    let tui = Tui::start(&server, &token, home.path()).await;
    tui.wait_for("connected").await;
    tui.type_text("안녕하세요").await;
    tui.wait_for("안녕하세요").await;
    // The input's text row is 28 of 0..30; five wide syllables end at 10.
    let deadline = Instant::now() + WAIT;
    loop {
        let at = tui
            .tmux(&[
                "display",
                "-p",
                "-t",
                "main",
                "#{cursor_x},#{cursor_y},#{cursor_flag}",
            ])
            .await;
        if at.trim() == "10,28,1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cursor at {at:?}, not after 안녕하세요 (10,28, shown); screen:\n{}",
            tui.screen().await
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_numbers_drafts_replies_and_pastes_go_where_meant() {
    if skip_without_tmux() {
        return;
    }
    let server = spawn_server().await;
    let (bob, lobby_id, token) = lobby(&server).await;
    let (alice, _) = server.login("alice").await;
    let ward = public_room(&bob, "ward").await;
    let zoo = public_room(&bob, "zoo").await;
    for r in [ward, zoo] {
        alice.join_room(r).await.expect("alice joins");
    }
    let home = tempfile::tempdir().expect("temp home");
    let tui = Tui::start(&server, &token, home.path()).await;
    tui.wait_for("connected").await;
    tui.wait_until("three rooms listed", |s| {
        s.contains("1 # lobby") && s.contains("2 # ward") && s.contains("3 # zoo")
    })
    .await;

    // 1. A message in #zoo does not move it: Alt-2 still opens #ward.
    bob.send(zoo, IdempotencyKey::random(), "news in zoo", None)
        .await
        .expect("bob sends");
    tui.wait_until("zoo's badge", |s| {
        s.lines()
            .any(|l| l.starts_with("3 # zoo") && l.contains(" 1 "))
    })
    .await;
    tui.keys(&["M-2"]).await;
    tui.wait_for("message #ward").await;
    tui.keys(&["M-1"]).await;
    tui.wait_for("message #lobby").await;

    // 2. A draft stays in #lobby; Tab does not switch rooms.
    tui.type_text("draft for lobby").await;
    tui.keys(&["Tab"]).await;
    tui.keys(&["C-n"]).await;
    let s = tui.wait_for("message #ward").await;
    assert!(!s.contains("draft for lobby"), "{s}");
    tui.keys(&["C-p"]).await;
    tui.wait_until("the draft back in #lobby", |s| {
        s.contains("message #lobby") && s.contains("draft for lobby")
    })
    .await;
    tui.keys(&["Escape"]).await;

    // 5. r on a selected message, then typing, sends a reply with that text.
    let asked = bob
        .send(lobby_id, IdempotencyKey::random(), "who has bed 4?", None)
        .await
        .expect("bob asks");
    tui.wait_for("who has bed 4?").await;
    tui.keys(&["M-Up"]).await;
    tui.keys(&["r"]).await;
    tui.wait_for("replying to bob").await;
    tui.type_text("reply deleted").await;
    tui.keys(&["Enter"]).await;
    wait_stored(&bob, lobby_id, "reply deleted").await;
    let page = bob
        .history(lobby_id, HistoryAnchor::Latest, 10)
        .await
        .expect("history");
    let reply = page
        .events
        .iter()
        .find_map(|e| match &e.kind {
            RoomEventKind::Message(m) if m.text == "reply deleted" => Some(m.reply_to),
            _ => None,
        })
        .expect("the reply");
    assert_eq!(reply, Some(asked.seq));

    // 7. A paste with carriage-return line breaks (bracketed by tmux,
    // since chat-tui asks for it) stays one two-line message.
    tui.tmux(&["set-buffer", "-b", "p", "--", "line one\rline two"])
        .await;
    tui.tmux(&["paste-buffer", "-p", "-b", "p", "-t", "main"])
        .await;
    tui.wait_until("both lines in the input", |s| {
        s.lines().any(|l| l.trim() == "line one") && s.lines().any(|l| l.trim() == "line two")
    })
    .await;
    assert_eq!(copies(&bob, lobby_id, "line one").await, 0, "sent on paste");
    tui.keys(&["Enter"]).await;
    wait_stored(&bob, lobby_id, "line one\nline two").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_open_at_start_up_is_marked_read() {
    if skip_without_tmux() {
        return;
    }
    let server = spawn_server().await;
    let (bob, room, token) = lobby(&server).await;
    for i in 0..3 {
        bob.send(room, IdempotencyKey::random(), &format!("unread {i}"), None)
            .await
            .expect("bob sends");
    }
    let (alice, _) = server.login("alice").await;
    let unread = |list: Vec<chat_protocol::RoomSummary>| {
        list.iter().find(|r| r.room.id == room).map(|r| r.unread)
    };
    assert_eq!(unread(alice.my_rooms().await.expect("rooms")), Some(3));
    let home = tempfile::tempdir().expect("temp home");
    let tui = Tui::start(&server, &token, home.path()).await;
    tui.wait_for("unread 2").await;
    let deadline = Instant::now() + WAIT;
    loop {
        if unread(alice.my_rooms().await.expect("rooms")) == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the open room was never marked read; screen:\n{}",
            tui.screen().await
        );
        tokio::time::sleep(POLL).await;
    }
    // Where the unread messages began stays marked while the room is open.
    tui.wait_for("new messages").await;
}
