//! Faults in the store (issue 11, findings 6–10): a full disk, a failing
//! write job, sends during shutdown, a damaged or uncleanly closed
//! database file, file modes, the first-start admin token and the
//! idempotency sweep. Each runs a real chatd (in-process or as a process)
//! on a real redb file.

use crate::process::ca_path;
use chat_client::{ClientConfig, ClientError, Connection, Trust};
use chat_e2e::{WAIT, public_room, spawn_server, spawn_server_with};
use chat_protocol::{ErrorCode, HistoryAnchor, IdempotencyKey, RoomId, Visibility};
use chatd::store::fault::DiskFault;
use chatd::store::{Store, StoreError, WriteError};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every message text in `room`, oldest first.
async fn all_texts(conn: &Connection, room: RoomId) -> Vec<String> {
    let mut out = Vec::new();
    let mut anchor = HistoryAnchor::After(chat_protocol::Seq(0));
    loop {
        let page = conn.history(room, anchor, 200).await.expect("history");
        out.extend(chat_e2e::texts(&page.events));
        match page.events.last() {
            Some(last) if page.has_more => anchor = HistoryAnchor::After(last.seq),
            _ => return out,
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

// ----- a full disk -----

/// A tmpfs of `bytes` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` where this process may not mount (not root, no CAP_SYS_ADMIN).
    fn mount(bytes: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tmp");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the free space of the filesystem at `dir` with one file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0xA5u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
    path
}

/// How a test makes the disk fail: a real full tmpfs, or the store's
/// fault-injecting backend (`chatd::store::fault`).
enum Disk {
    Tmpfs { fs: Tmpfs, filler: Option<PathBuf> },
    Injected(DiskFault),
}

impl Disk {
    fn tune(&self, c: &mut chatd::Config) {
        match self {
            Disk::Tmpfs { fs, .. } => {
                c.data_dir = fs.path().join("data");
                c.cert_dir = fs.path().join("data/certs");
            }
            Disk::Injected(fault) => c.disk_fault = Some(fault.clone()),
        }
    }

    fn fill(&mut self) {
        match self {
            Disk::Tmpfs { fs, filler } => *filler = Some(fill(fs.path())),
            Disk::Injected(fault) => fault.set_full(true),
        }
    }

    fn free(&mut self) {
        match self {
            Disk::Tmpfs { filler, .. } => {
                std::fs::remove_file(filler.take().expect("filled")).expect("free space");
            }
            Disk::Injected(fault) => fault.set_full(false),
        }
    }
}

#[tokio::test]
async fn a_full_disk_refuses_writes_and_recovers_without_a_restart() {
    chat_e2e::redb_only!(
        "the disk-fault hook fails redb's file writes; PostgreSQL outages are tested in e2e::pg_store"
    );
    let disk = match Tmpfs::mount(24 * 1024 * 1024) {
        Some(fs) => Disk::Tmpfs { fs, filler: None },
        None => {
            eprintln!("cannot mount a tmpfs here (needs root): injecting the full disk instead");
            Disk::Injected(DiskFault::default())
        }
    };
    disk_fault_scenario(disk).await;
}

#[tokio::test]
async fn an_injected_disk_fault_is_recovered_without_a_restart() {
    chat_e2e::redb_only!(
        "the disk-fault hook fails redb's file writes; PostgreSQL outages are tested in e2e::pg_store"
    );
    disk_fault_scenario(Disk::Injected(DiskFault::default())).await;
}

/// Writes refused with a clear error while the disk is full, nothing acked
/// that was not stored, writes accepted again once it has room, no restart.
async fn disk_fault_scenario(mut disk: Disk) {
    let mut server = spawn_server_with(|c| disk.tune(c)).await;
    let admin = server.admin().await;
    let room = public_room(&admin, "ward").await;
    disk.fill();

    // Send until the disk refuses; every answer is an ack or Unavailable.
    let text = "x".repeat(8 * 1024);
    let mut acked = Vec::new();
    let mut refusal = None;
    for i in 0..4_000 {
        let body = format!("m{i} {text}");
        match admin
            .send(room, IdempotencyKey(format!("k{i}")), &body, None)
            .await
        {
            Ok(_) => acked.push(format!("m{i}")),
            Err(ClientError::Server(e)) if e.code == ErrorCode::Unavailable => {
                refusal = Some(e);
                break;
            }
            Err(e) => panic!("send {i} failed with something other than Unavailable: {e}"),
        }
    }
    let refusal = refusal.expect("the full disk refused a write");
    assert!(
        refusal.message.contains("disk full or failing") && refusal.message.contains("retry"),
        "the refusal says what is wrong and what to do: {}",
        refusal.message
    );
    // Admins see the state (reads pause only while the file reopens).
    let deadline = Instant::now() + WAIT;
    let stats = loop {
        match admin.server_stats().await {
            Ok(s) => break s,
            Err(e) if e.code() == Some(ErrorCode::Unavailable) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("stats while degraded: {e}"),
        }
    };
    assert!(
        stats.storage.starts_with("degraded, not accepting writes"),
        "admins see the degraded state: {:?}",
        stats.storage
    );
    let again = admin
        .send(
            room,
            IdempotencyKey("while-full".into()),
            "while full",
            None,
        )
        .await
        .expect_err("still refused while the disk is full");
    assert_eq!(again.code(), Some(ErrorCode::Unavailable));

    // Free the space: the same server takes writes again, no restart.
    disk.free();
    let deadline = Instant::now() + WAIT;
    loop {
        match admin
            .send(room, IdempotencyKey("after".into()), "after", None)
            .await
        {
            Ok(_) => break,
            Err(e) if e.code() == Some(ErrorCode::Unavailable) && Instant::now() < deadline => {
                // The writer reopens with backoff; ask again shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("writes not accepted again after freeing space: {e}"),
        }
    }
    assert_eq!(
        admin.server_stats().await.expect("stats").storage,
        "healthy"
    );

    // Nothing acked was lost, nothing refused was stored, nothing twice,
    // on this server and after a restart.
    for round in 0..2 {
        let stored: Vec<String> = all_texts(&server.admin().await, room)
            .await
            .into_iter()
            .map(|t| t.split(' ').next().unwrap_or_default().to_string())
            .collect();
        let unique: HashSet<&String> = stored.iter().collect();
        assert_eq!(unique.len(), stored.len(), "no message stored twice");
        for a in &acked {
            assert!(stored.contains(a), "acked {a} is stored (round {round})");
        }
        assert!(
            !stored.iter().any(|t| t == "while"),
            "a refused send was not stored"
        );
        assert_eq!(stored.last().map(String::as_str), Some("after"));
        if round == 0 {
            server.restart().await;
        }
    }
    server.stop().await;
}

// ----- one failing job -----

#[tokio::test]
async fn one_failing_job_does_not_fail_its_batch() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(&dir.path().join("chat.redb")).expect("open");
    let writer = store.writer().clone();
    // Hold the writer inside a job until the whole next batch is queued,
    // so the poisoned jobs share a transaction with the good ones.
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let hold = std::sync::Mutex::new(hold);
    // The gate may share the batch and so run again after a failure; it
    // waits only the first time.
    let waited = std::sync::atomic::AtomicBool::new(false);
    let gate = writer.submit(move |_| {
        if !waited.swap(true, std::sync::atomic::Ordering::Relaxed) {
            let _ = hold.lock().map(|h| h.recv_timeout(Duration::from_secs(30)));
        }
        Ok(())
    });
    let mut good = Vec::new();
    for i in 0..100u64 {
        if i == 40 {
            // Writes, then fails with a storage error of its own.
            good.push((
                None,
                writer.submit(|ctx| {
                    ctx.bump("poison", 5)?;
                    Err::<u64, _>(WriteError::Store(StoreError::Corrupt("poisoned".into())))
                }),
            ));
        }
        if i == 70 {
            good.push((
                None,
                writer.submit(|ctx| {
                    ctx.bump("panic", 5)?;
                    panic!("a job that panics")
                }),
            ));
        }
        good.push((
            Some(i),
            writer.submit(move |ctx| {
                ctx.bump(&format!("good-{i}"), 5)?;
                Ok(i)
            }),
        ));
    }
    release.send(()).expect("release");
    gate.await.expect("answer").expect("gate job");
    for (want, rx) in good {
        let got = rx.await.expect("answered");
        match want {
            Some(i) => assert_eq!(got.expect("a good job commits"), i),
            None => assert!(got.is_err(), "the failing job is answered with its error"),
        }
    }
    // `next_id` answers 1 for a counter never written, 5 for a bumped one.
    let (goods, poison) = writer
        .write(|ctx| {
            let mut goods = 0;
            for i in 0..100u64 {
                goods += usize::from(ctx.next_id(&format!("good-{i}"))? == 5);
            }
            let poison = ctx.next_id("poison")? != 1 || ctx.next_id("panic")? != 1;
            Ok((goods, poison))
        })
        .await
        .expect("check job");
    assert_eq!(goods, 100, "every good job is stored");
    assert!(!poison, "the failing jobs' own writes were rolled back");
    assert_eq!(
        store
            .writer()
            .stats()
            .failed_jobs
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    store.shutdown().await;
}

// ----- shutdown -----

#[tokio::test]
async fn sends_during_shutdown_are_never_answered_internal() {
    let mut server = spawn_server().await;
    let admin = server.admin().await;
    let room = public_room(&admin, "ward").await;
    // Server admins are not rate limited: 128 senders that each send until
    // their first failure keep the writer's queue full when the shutdown
    // starts.
    let mut tasks = Vec::new();
    for c in 0..4 {
        let conn = server.admin().await;
        for s in 0..32 {
            let conn = conn.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0.. {
                    let text = format!("c{c}-s{s}-{i}");
                    match conn
                        .send(room, IdempotencyKey(text.clone()), &text, None)
                        .await
                    {
                        Ok(_) => acked.push(text),
                        Err(e) => return (acked, text, e),
                    }
                }
                unreachable!("the loop ends at the first failure")
            }));
        }
    }
    // Stop once the flood is under way.
    let deadline = Instant::now() + WAIT;
    while admin.server_stats().await.expect("stats").writes < 500 {
        assert!(Instant::now() < deadline, "the flood never started");
    }
    server.restart().await;
    let mut acked = Vec::new();
    for t in tasks {
        let (ok, text, e) = t.await.expect("task");
        acked.extend(ok);
        assert_ne!(
            e.code(),
            Some(ErrorCode::Internal),
            "{text}: a send during shutdown answered Internal: {e}"
        );
        // The outbox keeps (and retries) exactly the transient ones.
        assert!(e.is_transient(), "{text}: not retryable: {e}");
    }
    let stored = all_texts(&server.admin().await, room).await;
    for a in &acked {
        assert!(stored.contains(a), "acked {a} is stored");
    }
    server.stop().await;
}

// ----- damaged files, unclean shutdowns -----

/// Runs `chatd` in `dir` (data in `dir/data`) until it logs that it
/// listens or exits; returns the process (if listening) and every line it
/// wrote so far, stdout and stderr.
fn chatd_in(
    dir: &Path,
    umask: Option<&str>,
) -> (Option<std::process::Child>, String, Option<String>) {
    let mut cmd = match umask {
        Some(mask) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("umask {mask}; exec \"$0\" \"$@\""))
                .arg(crate::bins::CHATD);
            c
        }
        None => Command::new(crate::bins::CHATD),
    };
    let mut child = cmd
        .current_dir(dir)
        .args(["--listen", "127.0.0.1:0", "--data", "data"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chatd");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for pipe in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut out = String::new();
    let deadline = Instant::now() + WAIT;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
                if let Some(at) = line.find("listen=")
                    && line.contains("chatd listening")
                {
                    let addr: String = line[at + 7..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    return (Some(child), out, Some(addr));
                }
            }
            Err(_) => {
                let _ = child.wait();
                return (None, out, None);
            }
        }
    }
}

async fn admin_at(dir: &Path, addr: &str) -> Connection {
    let cfg = ClientConfig::new(addr.to_string(), Trust::CaFile(ca_path(dir)), "faults");
    let conn = chat_client::connect(&cfg).await.expect("connect");
    conn.authenticate(&chat_e2e::read_token(&dir.join("data")))
        .await
        .expect("admin");
    conn
}

fn terminate(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "chatd stopped cleanly: {status}");
}

#[tokio::test]
async fn a_damaged_database_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let marker = "MARKER-7f3a-the-dose-is-5mg";
    let (child, out, addr) = chatd_in(dir.path(), None);
    let (child, addr) = (child.expect(&out), addr.expect("addr"));
    let admin = admin_at(dir.path(), &addr).await;
    let room = admin
        .create_room("ward", "", Visibility::Public)
        .await
        .expect("room")
        .id;
    admin
        .send(room, IdempotencyKey("k".into()), marker, None)
        .await
        .expect("send");
    drop(admin);
    terminate(child);

    // Flip a byte inside every copy of the message text.
    let db = dir.path().join("data").join(chatd::DB_FILE);
    let mut bytes = std::fs::read(&db).expect("read db");
    let mut flipped = 0;
    let needle = marker.as_bytes();
    let mut i = 0;
    while i + needle.len() <= bytes.len() {
        if &bytes[i..i + needle.len()] == needle {
            bytes[i + needle.len() - 3] = b'9';
            flipped += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    assert!(flipped > 0, "the message text is in the file");
    std::fs::write(&db, &bytes).expect("write db");

    let (child, out, _) = chatd_in(dir.path(), None);
    assert!(
        child.is_none(),
        "chatd refused the damaged file instead of serving it:\n{out}"
    );
    assert!(
        out.contains("chat.redb") && out.contains("damaged") && out.contains("backup"),
        "the refusal names the file, the damage and the remedy:\n{out}"
    );
}

#[tokio::test]
async fn an_unclean_shutdown_is_named_and_repaired_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let (child, out, addr) = chatd_in(dir.path(), None);
    let (mut child, addr) = (child.expect(&out), addr.expect("addr"));
    let admin = admin_at(dir.path(), &addr).await;
    let room = admin
        .create_room("ward", "", Visibility::Public)
        .await
        .expect("room")
        .id;
    admin
        .send(room, IdempotencyKey("k".into()), "before the crash", None)
        .await
        .expect("send");
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    let (child, out, addr) = chatd_in(dir.path(), None);
    let child = child.unwrap_or_else(|| panic!("chatd starts after a crash:\n{out}"));
    assert!(
        out.contains("not closed cleanly") && !out.contains("another chatd"),
        "the log names the real cause, an unclean shutdown:\n{out}"
    );
    let admin = admin_at(dir.path(), &addr.expect("addr")).await;
    assert_eq!(all_texts(&admin, room).await, ["before the crash"]);
    drop(admin);
    terminate(child);
}

// ----- file modes -----

#[tokio::test]
async fn data_files_are_private_whatever_the_umask() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let (child, out, _) = chatd_in(dir.path(), Some("000"));
    terminate(child.unwrap_or_else(|| panic!("chatd starts:\n{out}")));
    assert_eq!(mode(&data), 0o700, "new data dir");
    assert_eq!(mode(&data.join(chatd::DB_FILE)), 0o600, "new database");
    assert_eq!(mode(&data.join("admin.token")), 0o600, "token file");

    // An existing data dir with wide modes is narrowed at start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(
        data.join(chatd::DB_FILE),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    std::fs::set_permissions(
        data.join("admin.token"),
        std::fs::Permissions::from_mode(0o666),
    )
    .expect("chmod");
    let (child, out, _) = chatd_in(dir.path(), Some("000"));
    terminate(child.unwrap_or_else(|| panic!("chatd starts:\n{out}")));
    assert_eq!(
        mode(&data.join("admin.token")),
        0o600,
        "existing token narrowed"
    );
    assert_eq!(mode(&data), 0o700, "existing data dir narrowed");
    assert_eq!(
        mode(&data.join(chatd::DB_FILE)),
        0o600,
        "existing database narrowed"
    );
}

// ----- first-start admin token -----

#[tokio::test]
async fn a_lost_admin_token_file_is_written_again_at_start() {
    chat_e2e::redb_only!(
        "with a shared database a node never reissues the admin token, see bootstrap::ensure_admin"
    );
    // chatd died after committing the admin account, before writing the
    // file: the state on disk is an unused admin and no token file.
    let mut server = spawn_server().await;
    let old = server.admin_token.clone();
    server.stop().await;
    std::fs::remove_file(server.config.data_dir.join("admin.token")).expect("rm token");
    server.restart().await;
    assert_ne!(server.admin_token, old, "a fresh token was written");
    server
        .admin()
        .await
        .server_stats()
        .await
        .expect("the new token is an admin's");
    let stale = server.connect().await;
    assert!(
        stale.authenticate(&old).await.is_err(),
        "the lost token is revoked"
    );

    server.stop().await;
}

#[tokio::test]
async fn a_stale_admin_token_file_from_an_interrupted_first_start_is_replaced() {
    // chatd died after writing the token file, before its account
    // committed (or a half-written file): the database has no accounts.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path()).expect("dir");
    std::fs::write(dir.path().join("admin.token"), "chat_1_stale\n").expect("stale");
    let server = spawn_server_with(|c| {
        c.data_dir = dir.path().to_path_buf();
        c.cert_dir = dir.path().join("certs");
    })
    .await;
    assert_ne!(server.admin_token, "chat_1_stale");
    server
        .admin()
        .await
        .server_stats()
        .await
        .expect("the new token works");
}

// ----- idempotency sweep -----

#[tokio::test]
async fn expired_idempotency_records_are_swept() {
    let server = spawn_server_with(|c| {
        c.sweep.keep_ms = 0;
        c.sweep.per_pass = 3;
        c.sweep.busy_ms = 10;
        c.sweep.idle_ms = 20;
    })
    .await;
    let admin = server.admin().await;
    let room = public_room(&admin, "ward").await;
    for i in 0..10 {
        admin
            .send(room, IdempotencyKey(format!("k{i}")), "hello", None)
            .await
            .expect("send");
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let keys = admin.server_stats().await.expect("stats").idempotency_keys;
        if keys == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{keys} expired idempotency records were never swept"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The messages themselves stay.
    assert_eq!(all_texts(&admin, room).await.len(), 10);
}
