//! The real `chat-tui` binary under tmux against a real chatd: two users
//! chat, scrolling to the top loads older history, and a server restart
//! (graceful, or a SIGKILLed `chatd` process started again on the same
//! address) shows "reconnecting", then delivers a message typed during the
//! outage exactly once; edits, reactions and read receipts made by one
//! user show on the other's screen.
//!
//! tmux gives the client a real terminal (`new-session -d -x 100 -y 30`),
//! keys go in with `send-keys` and the screen comes back with
//! `capture-pane -p`. Screens are polled with a deadline; where the server
//! can tell us something happened (a message stored) the test waits on
//! that through an SDK connection instead. Skipped, with a note, when tmux
//! is not installed; `.ci/run` installs it.
//!
//! Needs `cargo build -p chat-tui` first (the binary is not a dependency of
//! this crate).

use crate::process::{Chatd, ca_path};
use chat_client::{ClientConfig, Connection, Trust};
use chat_e2e::{PASSWORD, TestServer, WAIT, public_room, spawn_server, spawn_server_with, texts};
use chat_protocol::{HistoryAnchor, IdempotencyKey, RoomFrame, RoomId, Seq};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// Pause between two looks at the screen while polling with a deadline.
pub(crate) const POLL: Duration = Duration::from_millis(100);

fn tmux_installed() -> bool {
    std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

pub(crate) fn chat_tui_binary() -> PathBuf {
    let bin = PathBuf::from(crate::bins::CHAT_TUI);
    assert!(
        bin.exists(),
        "{} is missing; build it first with `cargo build -p chat-tui`",
        bin.display()
    );
    bin
}

/// One tmux server running one `chat-tui` in a 100x30 window, with HOME
/// and the XDG directories under `home`. The server's socket is a fresh
/// file in `home` (`-S`, like `-L` with a unique name, but removed with the
/// temp dir). Dropping it kills the tmux server and everything in it.
pub(crate) struct Tui {
    socket: String,
    home: PathBuf,
}

impl Tui {
    /// Starts `chat-tui` logged in with `token` (through `--token-file`)
    /// and trusting the server's CA.
    pub(crate) async fn start(server: &TestServer, token: &str, home: &Path) -> Tui {
        Tui::start_at(&server.addr.to_string(), &server.ca, token, home).await
    }

    /// As [`Tui::start`], for the server at `addr` with the CA in `ca`.
    pub(crate) async fn start_at(addr: &str, ca: &Path, token: &str, home: &Path) -> Tui {
        let token_file = home.join("token");
        std::fs::write(&token_file, token).expect("write token");
        let args: [&OsStr; 6] = [
            "--server".as_ref(),
            addr.as_ref(),
            "--ca".as_ref(),
            ca.as_ref(),
            "--token-file".as_ref(),
            token_file.as_ref(),
        ];
        Tui::launch(home, &args).await
    }

    /// Starts `chat-tui` with `args`, HOME and XDG directories in `home`.
    pub(crate) async fn launch(home: &Path, args: &[&OsStr]) -> Tui {
        let tui = Tui {
            socket: home
                .join(format!("tmux-{}.sock", ulid::Ulid::new()))
                .to_string_lossy()
                .into_owned(),
            home: home.to_path_buf(),
        };
        let env = |k: &str, sub: &str| format!("{k}={}", home.join(sub).display());
        let bin = chat_tui_binary();
        // On exit the pane keeps the client's last words for the test (and
        // its failure messages) instead of closing.
        let script = r#""$0" "$@"; echo "chat-tui exited with status $?"; exec sleep 3600"#;
        let status = Command::new("tmux")
            .args(["-S", &tui.socket, "-f", "/dev/null"])
            // The screen has "●" and "·"; tmux must treat the pane as UTF-8.
            .env("LC_ALL", "C.UTF-8")
            .args(["new-session", "-d", "-s", "main", "-x", "100", "-y", "30"])
            .arg("env")
            .arg(env("HOME", ""))
            .arg(env("XDG_CONFIG_HOME", "config"))
            .arg(env("XDG_DATA_HOME", "data"))
            .arg(env("XDG_STATE_HOME", "state"))
            .arg(env("XDG_CACHE_HOME", "cache"))
            // Empty: the download folder is the fallback `~/Downloads`.
            .arg("XDG_DOWNLOAD_DIR=")
            .arg("TERM=xterm-256color")
            .arg("LC_ALL=C.UTF-8")
            .args(["sh", "-c", script])
            .arg(&bin)
            .args(args)
            .status()
            .await
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed: {status}");
        tui
    }

    pub(crate) async fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-S", &self.socket])
            .args(args)
            .output()
            .await
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen as text.
    pub(crate) async fn screen(&self) -> String {
        // -J joins wrapped lines (long fingerprints in the prompts).
        self.tmux(&["capture-pane", "-p", "-J", "-t", "main"]).await
    }

    /// Presses keys by tmux name (`Enter`, `PPage`).
    pub(crate) async fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.tmux(&args).await;
    }

    /// Types `text` literally.
    pub(crate) async fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]).await;
    }

    /// Polls the screen until `done` holds, failing with the screen after
    /// [`WAIT`].
    pub(crate) async fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        self.wait_within(WAIT, what, done).await
    }

    /// Polls the screen until `done` holds, failing with the screen after
    /// `limit`.
    pub(crate) async fn wait_within(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen().await;
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {limit:?} for {what}; the screen is:\n{screen}\nlog:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls the screen until it shows `text`.
    pub(crate) async fn wait_for(&self, text: &str) -> String {
        self.wait_until(&format!("{text:?} on screen"), |s| s.contains(text))
            .await
    }

    /// The client's log file, for failure messages.
    pub(crate) fn log(&self) -> String {
        let path = self.home.join("state/chat-tui/chat-tui.log");
        std::fs::read_to_string(&path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-S", &self.socket, "kill-server"])
            .status();
    }
}

/// A public room `lobby` owned by bob with alice in it, and an API token
/// for alice.
pub(crate) async fn lobby(server: &TestServer) -> (Connection, RoomId, String) {
    lobby_at(&server.client_config(), &server.admin_token).await
}

/// As [`lobby`], on the server `cfg` reaches, whose bootstrap admin token
/// is `admin_token`.
pub(crate) async fn lobby_at(
    cfg: &ClientConfig,
    admin_token: &str,
) -> (Connection, RoomId, String) {
    let admin = chat_client::connect(cfg).await.expect("connect");
    admin.authenticate(admin_token).await.expect("admin token");
    for name in ["alice", "bob"] {
        admin
            .create_user(name, Some(PASSWORD), "", "", false)
            .await
            .expect("create user");
    }
    let alice = login_at(cfg, "alice").await;
    let bob = login_at(cfg, "bob").await;
    let room = public_room(&bob, "lobby").await;
    alice.join_room(room).await.expect("alice joins");
    let (_, token) = admin
        .create_token("alice", "tui e2e")
        .await
        .expect("token for alice");
    (bob, room, token)
}

/// A new connection to the server `cfg` reaches, logged in as `name`.
pub(crate) async fn login_at(cfg: &ClientConfig, name: &str) -> Connection {
    let conn = chat_client::connect(cfg).await.expect("connect");
    conn.login(name, PASSWORD).await.expect("login");
    conn
}

/// Waits on `conn` until a message with `text` is stored in `room`.
pub(crate) async fn wait_stored(conn: &Connection, room: RoomId, text: &str) {
    let mut stream = conn.subscribe(room, Seq(0)).await.expect("subscribe");
    let found = tokio::time::timeout(WAIT, async {
        loop {
            match stream.next().await {
                Ok(Some(RoomFrame::Event(e))) if texts(std::slice::from_ref(&e)) == [text] => {
                    return;
                }
                Ok(Some(_)) => {}
                other => panic!("room stream ended while waiting for {text:?}: {other:?}"),
            }
        }
    })
    .await;
    assert!(found.is_ok(), "{text:?} was not stored within {WAIT:?}");
}

/// How many stored messages in `room` have exactly `text`.
pub(crate) async fn copies(conn: &Connection, room: RoomId, text: &str) -> usize {
    let page = conn
        .history(room, HistoryAnchor::Latest, 200)
        .await
        .expect("history");
    texts(&page.events).iter().filter(|t| *t == text).count()
}

pub(crate) fn skip_without_tmux() -> bool {
    if tmux_installed() {
        return false;
    }
    eprintln!("SKIPPED: tmux is not installed; install it to run the chat-tui end-to-end tests");
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_chat_and_scrolling_up_loads_history() {
    if skip_without_tmux() {
        return;
    }
    // Seeding 200 messages at once is faster than the default send rate.
    let server = spawn_server_with(|c| {
        c.limits.send_rate_per_sec = 10_000;
        c.limits.send_burst = 10_000;
    })
    .await;
    let (bob, room, token) = lobby(&server).await;
    for i in 0..200 {
        bob.send(
            room,
            IdempotencyKey(format!("seed-{i}")),
            &format!("seed {i:03}"),
            None,
        )
        .await
        .expect("seed");
    }
    let home = tempfile::tempdir().expect("temp home");
    let tui = Tui::start(&server, &token, home.path()).await;
    tui.wait_for("connected").await;
    let first = tui.wait_for("seed 199").await;
    assert!(!first.contains("seed 000"), "only recent history at first");

    // Bob → alice's screen.
    bob.send(room, IdempotencyKey::random(), "hello from bob", None)
        .await
        .expect("bob sends");
    tui.wait_for("hello from bob").await;

    // Alice → stored, and seen by bob.
    tui.type_text("hi from alice").await;
    tui.keys(&["Enter"]).await;
    wait_stored(&bob, room, "hi from alice").await;
    tui.wait_until("alice's message confirmed", |s| {
        s.contains("hi from alice") && !s.contains("pending")
    })
    .await;

    // Page up until the first message shows: older pages load on the way.
    let deadline = Instant::now() + WAIT;
    loop {
        let screen = tui.screen().await;
        if screen.contains("seed 000") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "seed 000 never appeared while paging up; the screen is:\n{screen}\nlog:\n{}",
            tui.log()
        );
        tui.keys(&["PPage"]).await;
        tokio::time::sleep(POLL).await;
    }

    // Ctrl-C quits cleanly and gives the terminal back (the main screen,
    // where the wrapper's exit line prints).
    tui.keys(&["C-c"]).await;
    let screen = tui.wait_for("chat-tui exited with status 0").await;
    assert!(
        !screen.contains("seed 000"),
        "still on the alternate screen:\n{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_shows_reconnecting_and_delivers_the_queued_message_once() {
    if skip_without_tmux() {
        return;
    }
    let mut server = spawn_server().await;
    let (_bob, room, token) = lobby(&server).await;
    let home = tempfile::tempdir().expect("temp home");
    let tui = Tui::start(&server, &token, home.path()).await;
    tui.wait_for("connected").await;
    tui.wait_for("lobby").await;

    server.stop().await;
    tui.wait_for("reconnecting").await;
    tui.type_text("typed while offline").await;
    tui.keys(&["Enter"]).await;
    tui.wait_until("the message queued", |s| {
        s.contains("typed while offline") && s.contains("1 queued")
    })
    .await;

    server.restart().await;
    tui.wait_for("connected").await;
    let (bob, _) = server.login("bob").await;
    wait_stored(&bob, room, "typed while offline").await;
    tui.wait_until("the outbox empty", |s| {
        s.contains("typed while offline") && !s.contains("queued") && !s.contains("pending")
    })
    .await;
    assert_eq!(copies(&bob, room, "typed while offline").await, 1);
}

/// Longest the screen may take to say "reconnecting" after chatd is
/// SIGKILLed (15 s): the client's idle timeout plus one keep-alive
/// interval (8 s, see [`chat_client::IDLE_TIMEOUT`]) with room for a loaded
/// machine, and still under the 20 s idle timeout the client used to have,
/// so passing proves the dead server is noticed promptly.
const NOTICE_DEATH: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_shows_reconnecting_promptly_and_delivers_the_queued_message_once() {
    if skip_without_tmux() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let chatd = Chatd::start(dir.path(), "127.0.0.1:0");
    // The restart comes back on the port the kernel gave the first run.
    let addr = chatd.addr.clone();
    let ca = ca_path(dir.path());
    let cfg = ClientConfig::new(addr.clone(), Trust::CaFile(ca.clone()), "e2e-tui");
    let admin_token = chat_e2e::read_token(&dir.path().join("data"));
    let (bob, room, token) = lobby_at(&cfg, &admin_token).await;
    drop(bob);
    let home = tempfile::tempdir().expect("temp home");
    let tui = Tui::start_at(&addr, &ca, &token, home.path()).await;
    tui.wait_for("connected").await;
    tui.wait_for("lobby").await;

    // No CONNECTION_CLOSE reaches the client: only its idle timeout can
    // tell it the server is gone.
    chatd.kill();
    tui.wait_within(NOTICE_DEATH, "\"reconnecting\" after SIGKILL", |s| {
        s.contains("reconnecting")
    })
    .await;
    tui.type_text("typed while chatd was dead").await;
    tui.keys(&["Enter"]).await;
    tui.wait_until("the message queued", |s| {
        s.contains("typed while chatd was dead") && s.contains("1 queued")
    })
    .await;

    let _chatd = Chatd::start(dir.path(), &addr);
    tui.wait_for("connected").await;
    let bob = login_at(&cfg, "bob").await;
    wait_stored(&bob, room, "typed while chatd was dead").await;
    tui.wait_until("the outbox empty", |s| {
        s.contains("typed while chatd was dead") && !s.contains("queued") && !s.contains("pending")
    })
    .await;
    assert_eq!(copies(&bob, room, "typed while chatd was dead").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_asks_trust_and_password_then_remembers_both() {
    if skip_without_tmux() {
        return;
    }
    let server = spawn_server().await;
    server.user("alice").await;
    let home = tempfile::tempdir().expect("temp home");
    let addr = server.addr.to_string();
    let args: [&OsStr; 4] = [
        "--server".as_ref(),
        addr.as_ref(),
        "--user".as_ref(),
        "alice".as_ref(),
    ];
    {
        let tui = Tui::launch(home.path(), &args).await;
        let screen = tui.wait_for("Trust this server? [y/N]").await;
        assert!(screen.contains(&server.fingerprint), "{screen}");
        tui.keys(&["y", "Enter"]).await;
        tui.wait_for("Password for alice").await;
        tui.type_text(chat_e2e::PASSWORD).await;
        let screen = tui.screen().await;
        assert!(
            !screen.contains(chat_e2e::PASSWORD),
            "password echoed:\n{screen}"
        );
        tui.keys(&["Enter"]).await;
        tui.wait_for("connected").await;
    }
    let data = home.path().join("data");
    let known = std::fs::read_to_string(data.join("chat/known_hosts")).expect("known_hosts");
    assert!(known.contains(&server.fingerprint), "{known}");
    let tokens: Vec<_> = std::fs::read_dir(data.join("chat-tui/tokens"))
        .expect("token dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tokens[0])
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "token file mode");
    }

    // Second start: known host, remembered token, no prompt at all (a
    // prompt would block and "connected" would never show).
    {
        let tui = Tui::launch(home.path(), &args).await;
        tui.wait_for("connected").await;
    }

    // A remembered token the server refuses is forgotten and the password
    // asked for again; the new session token replaces it.
    std::fs::write(&tokens[0], "not-a-token\n").expect("spoil the token");
    let tui = Tui::launch(home.path(), &args).await;
    tui.wait_for("Password for alice").await;
    tui.type_text(chat_e2e::PASSWORD).await;
    tui.keys(&["Enter"]).await;
    tui.wait_for("connected").await;
    let token = std::fs::read_to_string(&tokens[0]).expect("token again");
    assert!(!token.contains("not-a-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_certificate_is_refused() {
    if skip_without_tmux() {
        return;
    }
    let server = spawn_server().await;
    let home = tempfile::tempdir().expect("temp home");
    let pinned = vec!["00"; 32].join(":");
    let dir = home.path().join("data/chat");
    std::fs::create_dir_all(&dir).expect("known_hosts dir");
    std::fs::write(
        dir.join("known_hosts"),
        format!("{} {pinned}\n", server.addr),
    )
    .expect("known_hosts");
    let addr = server.addr.to_string();
    let args: [&OsStr; 4] = [
        "--server".as_ref(),
        addr.as_ref(),
        "--user".as_ref(),
        "alice".as_ref(),
    ];
    let tui = Tui::launch(home.path(), &args).await;
    let screen = tui.wait_for("chat-tui exited with status 1").await;
    assert!(screen.contains("CHANGED"), "{screen}");
    assert!(screen.contains(&pinned), "{screen}");
    assert!(screen.contains(&server.fingerprint), "{screen}");
    assert!(!screen.contains("Password"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_reactions_and_receipts_show_on_the_other_screen() {
    if skip_without_tmux() {
        return;
    }
    let server = spawn_server().await;
    let (bob, room, token) = lobby(&server).await;
    let home = tempfile::tempdir().expect("temp home");
    let tui = Tui::start(&server, &token, home.path()).await;
    tui.wait_for("connected").await;

    // Bob edits and reacts → alice's screen.
    let ack = bob
        .send(room, IdempotencyKey::random(), "lunch at noon", None)
        .await
        .expect("bob sends");
    tui.wait_for("lunch at noon").await;
    bob.edit(room, ack.seq, "lunch at one").await.expect("edit");
    tui.wait_for("lunch at one (edited)").await;
    bob.react(room, ack.seq, "+1").await.expect("react");
    tui.wait_for("+1 1").await;

    // Alice edits her last message with Up → stored for bob.
    tui.type_text("typo hre").await;
    tui.keys(&["Enter"]).await;
    wait_stored(&bob, room, "typo hre").await;
    tui.wait_until("alice's message confirmed", |s| {
        s.contains("typo hre") && !s.contains("pending")
    })
    .await;
    tui.keys(&["Up"]).await;
    tui.wait_for("editing your message").await;
    tui.keys(&["BSpace", "BSpace", "BSpace"]).await;
    tui.type_text("here").await;
    tui.keys(&["Enter"]).await;
    tui.wait_for("typo here (edited)").await;

    // Bob reads it → "seen by bob" under alice's message.
    let head = bob
        .history(room, HistoryAnchor::Latest, 1)
        .await
        .expect("history")
        .events
        .last()
        .map(|e| e.seq)
        .expect("an event");
    bob.mark_read(room, head).await.expect("bob reads");
    tui.wait_for("seen by bob").await;
}
