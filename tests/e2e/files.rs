//! Files over QUIC (issue 14) on a real chatd: verified transfers, resumed
//! uploads and downloads, who may fetch a file, limits refused before any
//! byte, crash safety, deletion and collection, and content stored once.

use chat_client::{ClientError, Connection, FileMeta, Uploaded};
use chat_e2e::{WAIT, public_room, spawn_server, spawn_server_with};
use chat_protocol::{ErrorCode, IdempotencyKey, ModAction, RoomId};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};

/// `len` bytes of xorshift noise (incompressible, deterministic per seed).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write test file");
    p
}

fn hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

fn code(e: ClientError) -> ErrorCode {
    match e {
        ClientError::Server(b) => b.code,
        other => panic!("expected a server refusal, got {other}"),
    }
}

/// Serves `bytes[from..stop]`, then never completes: an upload that hangs
/// at `stop` until its connection is cut.
struct StallAt {
    bytes: Vec<u8>,
    pos: usize,
    stop: usize,
}

impl AsyncRead for StallAt {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pos >= self.stop {
            return Poll::Pending;
        }
        let n = buf.remaining().min(self.stop - self.pos);
        let (pos, end) = (self.pos, self.pos + n);
        buf.put_slice(&self.bytes[pos..end]);
        self.pos = end;
        Poll::Ready(Ok(()))
    }
}

/// Starts an upload of `bytes` that stalls after `stop` bytes.
fn stalled_upload(
    conn: &Connection,
    room: RoomId,
    meta: FileMeta,
    bytes: Vec<u8>,
    stop: usize,
) -> tokio::task::JoinHandle<Result<Uploaded, ClientError>> {
    let conn = conn.clone();
    tokio::spawn(async move {
        conn.upload_from(
            room,
            &meta,
            move |offset| async move {
                let pos = usize::try_from(offset).expect("offset");
                Ok(StallAt { bytes, pos, stop })
            },
            |_, _| {},
        )
        .await
    })
}

/// Starts an upload of `meta` that the server must refuse before asking
/// for any byte; returns the refusal.
async fn refused_before_any_byte(conn: &Connection, room: RoomId, meta: &FileMeta) -> ClientError {
    let mut read_any = false;
    let err = conn
        .upload_from(
            room,
            meta,
            |_| {
                read_any = true;
                async { Err::<StallAt, _>(ClientError::ConnectionLost("unused".into())) }
            },
            |_, _| {},
        )
        .await
        .expect_err("refused");
    assert!(!read_any, "a refused upload reads no byte");
    err
}

/// Uploads `bytes` whole, resuming from whatever the server already holds.
async fn resume_upload(
    conn: &Connection,
    room: RoomId,
    meta: &FileMeta,
    bytes: Vec<u8>,
) -> Result<Uploaded, ClientError> {
    let stop = bytes.len();
    conn.upload_from(
        room,
        meta,
        move |offset| async move {
            let pos = usize::try_from(offset).expect("offset");
            Ok(StallAt { bytes, pos, stop })
        },
        |_, _| {},
    )
    .await
}

/// Waits until the only partial upload under `data` holds `len` bytes.
async fn wait_partial(data: &Path, len: u64) {
    let dir = data.join("files/partial");
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let sizes: Vec<u64> = std::fs::read_dir(&dir)
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .filter_map(|e| e.metadata().ok())
                        .map(|m| m.len())
                        .collect()
                })
                .unwrap_or_default();
            if sizes == [len] {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "the partial upload never reached {len} bytes"
    );
}

/// Every blob file under `data`.
fn blobs(data: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&data.join("files/blobs"), &mut out);
    out
}

async fn send_file(
    conn: &Connection,
    room: RoomId,
    up: &Uploaded,
    text: &str,
) -> chat_protocol::Seq {
    conn.send_with_attachments(
        room,
        IdempotencyKey(ulid::Ulid::new().to_string()),
        text,
        None,
        vec![up.attachment.id],
    )
    .await
    .expect("send with file")
    .seq
}

#[tokio::test]
async fn a_50_mib_file_uploads_and_downloads_with_an_identical_hash() {
    let server = spawn_server().await;
    let (ana, _) = server.user("ana").await;
    let (bob, _) = server.user("bob").await;
    let room = public_room(&ana, "files").await;
    bob.join_room(room).await.expect("join");
    let dir = tempfile::tempdir().expect("tmp");
    let bytes = noise(50 << 20, 7);
    let name = "회의록 2026년 3월.bin";
    let path = write_file(dir.path(), name, &bytes);

    let up = ana
        .upload_path(room, &path, None, |_, _| {})
        .await
        .expect("upload");
    assert_eq!((up.resumed_from, up.bytes_sent), (0, 50 << 20));
    assert_eq!(up.attachment.hash, hash(&bytes));
    assert_eq!(up.attachment.name, name, "the Korean name is kept exactly");
    let seq = send_file(&ana, room, &up, "").await;

    let files = bob.list_files(room).await.expect("list");
    assert_eq!(files.len(), 1);
    assert_eq!((files[0].seq, &files[0].attachment), (seq, &up.attachment));
    let page = bob
        .history(room, chat_protocol::HistoryAnchor::Latest, 10)
        .await
        .expect("history");
    assert_eq!(
        chat_e2e::message_at(&page, seq).attachments,
        vec![up.attachment.clone()]
    );

    let out = tempfile::tempdir().expect("out");
    let dest = out.path().join(chat_client::safe_file_name(name));
    let got = bob
        .download_to(room, &files[0].attachment, &dest, |_, _| {})
        .await
        .expect("download");
    assert_eq!(got.bytes_received, 50 << 20);
    let back = std::fs::read(&dest).expect("read back");
    assert_eq!(hash(&back), hash(&bytes));
    assert_eq!(dest.file_name().and_then(|n| n.to_str()), Some(name));
}

#[tokio::test]
async fn an_upload_cut_at_half_resumes_without_resending_the_first_half() {
    let server = spawn_server().await;
    let (ana, _) = server.user("ana").await;
    let room = public_room(&ana, "resume").await;
    let size = 8 << 20;
    let half = size / 2;
    let bytes = noise(size, 11);
    let meta = FileMeta {
        name: "scan.bin".into(),
        media_type: "application/octet-stream".into(),
        size: size as u64,
        hash: hash(&bytes),
    };
    let cut = stalled_upload(&ana, room, meta.clone(), bytes.clone(), half);
    wait_partial(&server.config.data_dir, half as u64).await;
    ana.close("cut the upload");
    cut.abort();
    let _ = cut.await;

    let (ana, _) = server.login("ana").await;
    let up = resume_upload(&ana, room, &meta, bytes.clone())
        .await
        .expect("resumed upload");
    assert_eq!(
        up.resumed_from, half as u64,
        "the server kept the first half"
    );
    assert_eq!(
        up.bytes_sent,
        (size - half) as u64,
        "only the second half was sent"
    );
    assert_eq!(up.attachment.hash, hash(&bytes));
}

#[tokio::test]
async fn a_download_resumes_from_its_partial_file_and_verifies_the_whole() {
    let server = spawn_server().await;
    let (ana, _) = server.user("ana").await;
    let room = public_room(&ana, "dl").await;
    let dir = tempfile::tempdir().expect("tmp");
    let bytes = noise(2 << 20, 3);
    let path = write_file(dir.path(), "a.bin", &bytes);
    let up = ana
        .upload_path(room, &path, None, |_, _| {})
        .await
        .expect("upload");
    send_file(&ana, room, &up, "here").await;

    let dest = dir.path().join("copy.bin");
    let half = bytes.len() / 2;
    std::fs::write(dir.path().join("copy.bin.part"), &bytes[..half]).expect("part");
    let got = ana
        .download_to(room, &up.attachment, &dest, |_, _| {})
        .await
        .expect("resumed download");
    assert_eq!(got.resumed_from, half as u64);
    assert_eq!(got.bytes_received, (bytes.len() - half) as u64);
    assert_eq!(std::fs::read(&dest).expect("read"), bytes);

    // A damaged partial file is caught by the hash and removed.
    let dest2 = dir.path().join("bad.bin");
    std::fs::write(dir.path().join("bad.bin.part"), vec![0u8; half]).expect("part");
    let err = ana
        .download_to(room, &up.attachment, &dest2, |_, _| {})
        .await
        .expect_err("damaged");
    assert_eq!(code(err), ErrorCode::HashMismatch);
    assert!(!dest2.exists() && !dir.path().join("bad.bin.part").exists());
}

#[tokio::test]
async fn non_members_and_removed_members_are_refused() {
    let server = spawn_server().await;
    let (ana, _) = server.user("ana").await;
    let (bob, _) = server.user("bob").await;
    let (eve, _) = server.user("eve").await;
    let room = public_room(&ana, "staff").await;
    bob.join_room(room).await.expect("join");
    let dir = tempfile::tempdir().expect("tmp");
    let path = write_file(dir.path(), "plan.txt", b"the plan");
    let up = ana
        .upload_path(room, &path, None, |_, _| {})
        .await
        .expect("upload");
    send_file(&ana, room, &up, "plan").await;

    let err = eve
        .upload_path(room, &path, None, |_, _| {})
        .await
        .expect_err("non-member upload");
    assert_eq!(code(err), ErrorCode::NotMember);
    let dest = dir.path().join("out.txt");
    let err = eve
        .download_to(room, &up.attachment, &dest, |_, _| {})
        .await
        .expect_err("non-member download");
    assert_eq!(code(err), ErrorCode::NotMember);

    bob.download_to(room, &up.attachment, &dest, |_, _| {})
        .await
        .expect("member download");
    ana.moderate(
        room,
        ModAction::Kick {
            username: "bob".into(),
        },
        "bye",
    )
    .await
    .expect("kick");
    let again = dir.path().join("again.txt");
    let err = bob
        .download_to(room, &up.attachment, &again, |_, _| {})
        .await
        .expect_err("removed member download");
    assert_eq!(code(err), ErrorCode::NotMember);
}

#[tokio::test]
async fn over_limit_files_are_refused_before_any_byte() {
    let server = spawn_server_with(|c| {
        c.files.max_file_bytes = 1 << 20;
        c.files.user_quota_bytes = 1536 << 10;
        c.files.allowed_media_types = vec!["image/*".into(), "application/octet-stream".into()];
    })
    .await;
    let (ana, _) = server.user("ana").await;
    let room = public_room(&ana, "limits").await;
    let refused = |size: u64, media_type: &str| FileMeta {
        name: "x".into(),
        media_type: media_type.into(),
        size,
        hash: hash(b"whatever"),
    };
    for (meta, want) in [
        (refused(2 << 20, "image/png"), ErrorCode::FileTooLarge),
        (refused(10, "application/pdf"), ErrorCode::MediaTypeRefused),
    ] {
        assert_eq!(code(refused_before_any_byte(&ana, room, &meta).await), want);
    }
    let dir = tempfile::tempdir().expect("tmp");
    let first = write_file(dir.path(), "a.png", &noise(1 << 20, 1));
    ana.upload_path(room, &first, None, |_, _| {})
        .await
        .expect("within quota");
    let second = write_file(dir.path(), "b.png", &noise(1 << 20, 2));
    let meta = FileMeta::of_path(&second, None).await.expect("meta");
    let err = refused_before_any_byte(&ana, room, &meta).await;
    assert_eq!(code(err), ErrorCode::QuotaExceeded);
}

/// A partial upload takes disk as a stored file does: a user whose
/// abandoned upload declared 3 MiB cannot start another 3 MiB upload past a
/// 5 MiB quota (before this rule, every abandoned upload was free until
/// the collector's 24 h grace, so one user could fill the disk with them),
/// while resuming the abandoned upload itself is still admitted.
#[tokio::test]
async fn unfinished_uploads_count_against_the_uploaders_quota() {
    let server = spawn_server_with(|c| c.files.user_quota_bytes = 5 << 20).await;
    let (ana, _) = server.user("ana").await;
    let room = public_room(&ana, "partials").await;
    let size = 3 << 20;
    let bytes = noise(size, 21);
    let meta = FileMeta {
        name: "first.bin".into(),
        media_type: "application/octet-stream".into(),
        size: size as u64,
        hash: hash(&bytes),
    };
    let cut = stalled_upload(&ana, room, meta.clone(), bytes.clone(), size / 2);
    wait_partial(&server.config.data_dir, (size / 2) as u64).await;
    ana.close("abandon the upload");
    cut.abort();
    let _ = cut.await;

    let (ana, _) = server.login("ana").await;
    let other = noise(size, 22);
    let other_meta = FileMeta {
        name: "second.bin".into(),
        media_type: "application/octet-stream".into(),
        size: size as u64,
        hash: hash(&other),
    };
    let err = refused_before_any_byte(&ana, room, &other_meta).await;
    let ClientError::Server(body) = err else {
        panic!("expected a refusal")
    };
    assert_eq!(body.code, ErrorCode::QuotaExceeded);
    assert!(
        body.message.contains("unfinished uploads"),
        "the refusal says why: {}",
        body.message
    );

    let up = resume_upload(&ana, room, &meta, bytes)
        .await
        .expect("resuming the unfinished upload is admitted");
    assert_eq!(up.resumed_from, (size / 2) as u64);
}

#[tokio::test]
async fn deleting_the_message_makes_its_files_unreachable_for_members() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (ana, _) = server.user("ana").await;
    let (bob, _) = server.user("bob").await;
    let room = public_room(&ana, "oops").await;
    bob.join_room(room).await.expect("join");
    admin.join_room(room).await.expect("admin joins");
    let dir = tempfile::tempdir().expect("tmp");
    let path = write_file(dir.path(), "secret.pdf", b"%PDF- not for everyone");
    let up = ana
        .upload_path(room, &path, None, |_, _| {})
        .await
        .expect("upload");
    let seq = send_file(&ana, room, &up, "oops, wrong room").await;
    ana.delete(room, seq).await.expect("delete");

    for who in [&ana, &bob] {
        let dest = dir.path().join(format!("{}.pdf", ulid::Ulid::new()));
        let err = who
            .download_to(room, &up.attachment, &dest, |_, _| {})
            .await
            .expect_err("deleted");
        assert_eq!(code(err), ErrorCode::NotFound);
    }
    assert!(bob.list_files(room).await.expect("list").is_empty());
    let page = bob
        .history(room, chat_protocol::HistoryAnchor::Latest, 10)
        .await
        .expect("history");
    assert!(chat_e2e::message_at(&page, seq).attachments.is_empty());
    // Server admins keep audit access.
    let dest = dir.path().join("audit.pdf");
    admin
        .download_to(room, &up.attachment, &dest, |_, _| {})
        .await
        .expect("admin audit download");
}

#[tokio::test]
async fn an_upload_no_message_references_is_collected_after_its_grace() {
    let server = spawn_server_with(|c| {
        c.files.gc_grace_ms = 0;
        c.files.gc_interval_ms = 50;
    })
    .await;
    let (ana, _) = server.user("ana").await;
    let room = public_room(&ana, "gc").await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = write_file(dir.path(), "tmp.bin", &noise(4096, 5));
    ana.upload_path(room, &path, None, |_, _| {})
        .await
        .expect("upload");
    let data = server.config.data_dir.clone();
    let gone = tokio::time::timeout(WAIT, async {
        while !blobs(&data).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the unreferenced blob was never collected");
}

/// A blob file that no record names (what a crash between a blob's
/// placement and its record's commit leaves) is removed by the collector
/// once older than the grace period, while a file a message carries stays.
/// Before, the collector only looked at reference counts, so such a file
/// held its disk for good.
#[tokio::test]
async fn a_blob_no_record_names_is_removed_after_its_grace() {
    // The grace stays long (an hour), so the upload below cannot be
    // collected between its upload and its send; the orphan is made older
    // than that instead.
    const GRACE_MS: u64 = 3_600_000;
    let server = spawn_server_with(|c| {
        c.files.gc_grace_ms = GRACE_MS;
        c.files.gc_interval_ms = 50;
    })
    .await;
    let (ana, _) = server.user("ana").await;
    let room = public_room(&ana, "orphans").await;
    let dir = tempfile::tempdir().expect("tmp");
    let kept = write_file(dir.path(), "kept.bin", &noise(4096, 31));
    let up = ana
        .upload_path(room, &kept, None, |_, _| {})
        .await
        .expect("upload");
    send_file(&ana, room, &up, "kept").await;
    let data = server.config.data_dir.clone();
    assert_eq!(blobs(&data).len(), 1);

    let orphan = noise(2048, 32);
    let h = hash(&orphan);
    let place = data.join("files/blobs").join(&h[0..2]).join(&h[2..4]);
    std::fs::create_dir_all(&place).expect("blob dir");
    std::fs::write(place.join(&h), &orphan).expect("orphan");
    let old = std::time::SystemTime::now() - Duration::from_millis(2 * GRACE_MS);
    std::fs::File::options()
        .write(true)
        .open(place.join(&h))
        .and_then(|f| f.set_modified(old))
        .expect("age the orphan");
    assert_eq!(blobs(&data).len(), 2);

    let gone = tokio::time::timeout(WAIT, async {
        while blobs(&data).len() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the blob no record names was never removed");
    assert!(
        blobs(&data)[0].ends_with(hash(&noise(4096, 31))),
        "the file a message carries stays"
    );
}

#[tokio::test]
async fn duplicate_content_is_stored_once() {
    let server = spawn_server().await;
    let (ana, _) = server.user("ana").await;
    let (bob, _) = server.user("bob").await;
    let room = public_room(&ana, "dupes").await;
    bob.join_room(room).await.expect("join");
    let dir = tempfile::tempdir().expect("tmp");
    let bytes = noise(256 << 10, 9);
    let a = write_file(dir.path(), "a.jpg", &bytes);
    let b = write_file(dir.path(), "사진.jpg", &bytes);
    let up_a = ana.upload_path(room, &a, None, |_, _| {}).await.expect("a");
    let up_b = bob.upload_path(room, &b, None, |_, _| {}).await.expect("b");
    assert_ne!(up_a.attachment.id, up_b.attachment.id, "two attachments");
    assert_eq!(up_a.attachment.hash, up_b.attachment.hash);
    let stored = blobs(&server.config.data_dir);
    assert_eq!(stored.len(), 1, "one blob for both: {stored:?}");
    assert_eq!(std::fs::read(&stored[0]).expect("blob"), bytes);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&stored[0])
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "blobs are private to chatd");
    }
}

#[tokio::test]
async fn a_sigkill_during_an_upload_leaves_no_half_file_and_the_upload_resumes() {
    use crate::process::{Chatd, ca_path};
    use chat_client::{ClientConfig, Trust};
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let chatd = Chatd::start(dir.path(), "127.0.0.1:0");
    let cfg = ClientConfig::new(
        chatd.addr.clone(),
        Trust::CaFile(ca_path(dir.path())),
        "files",
    );
    let token = chat_e2e::read_token(&data);
    let admin = chat_client::connect(&cfg).await.expect("connect");
    admin.authenticate(&token).await.expect("admin");
    let room = admin
        .create_room("xray", "", chat_protocol::Visibility::Public)
        .await
        .expect("room")
        .id;
    let size = 8 << 20;
    let half = size / 2;
    let bytes = noise(size, 13);
    let meta = FileMeta {
        name: "chest.dcm".into(),
        media_type: "application/dicom".into(),
        size: size as u64,
        hash: hash(&bytes),
    };
    let cut = stalled_upload(&admin, room, meta.clone(), bytes.clone(), half);
    wait_partial(&data, half as u64).await;
    chatd.kill();
    cut.abort();
    let _ = cut.await;
    assert!(
        blobs(&data).is_empty(),
        "no blob, whole or half, after the kill"
    );

    let chatd = Chatd::start(dir.path(), "127.0.0.1:0");
    let cfg = ClientConfig::new(
        chatd.addr.clone(),
        Trust::CaFile(ca_path(dir.path())),
        "files",
    );
    let admin = chat_client::connect(&cfg).await.expect("reconnect");
    admin.authenticate(&token).await.expect("admin again");
    assert!(admin.list_files(room).await.expect("list").is_empty());
    let up = resume_upload(&admin, room, &meta, bytes)
        .await
        .expect("resume after restart");
    assert_eq!(up.resumed_from, half as u64);
    assert_eq!(up.bytes_sent, (size - half) as u64);
    assert_eq!(blobs(&data).len(), 1);
    drop(chatd);
}

/// `chatctl send --file` (twice, with a Korean name and a hostile one),
/// `chatctl files --json` and `chatctl download --out` round-trip the
/// bytes, keep the Korean name exactly and make the hostile one safe.
#[tokio::test]
async fn chatctl_sends_lists_and_downloads_files_with_safe_names() {
    use super::ctl_support::{Ctl, args, json_lines, ok};
    let server = spawn_server().await;
    let admin = server.admin().await;
    public_room(&admin, "ward").await;
    let ctl = Ctl::new(&server);
    let src = tempfile::tempdir().expect("src");
    let korean = "검사 결과.pdf";
    let hostile = "..\u{1b}]0;pwned\u{7}.txt";
    let a = write_file(src.path(), korean, &noise(300 << 10, 21));
    let b = write_file(src.path(), hostile, b"not a path");
    let sent = ok(args(
        ctl.admin(),
        &[
            "--json",
            "send",
            "ward",
            "--file",
            a.to_str().expect("utf-8"),
            "--file",
            b.to_str().expect("utf-8"),
            "two files",
        ],
    ))
    .await;
    let seq = json_lines(&sent)[0]["seq"].as_u64().expect("seq");
    let listed = json_lines(&ok(args(ctl.admin(), &["--json", "files", "ward"])).await);
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|f| f["name"] == korean));
    let out = tempfile::tempdir().expect("out");
    ok(args(
        ctl.admin(),
        &[
            "download",
            "ward",
            &seq.to_string(),
            "--out",
            out.path().to_str().expect("utf-8"),
        ],
    ))
    .await;
    let saved_a = out.path().join(korean);
    assert_eq!(
        std::fs::read(&saved_a).expect("korean file"),
        std::fs::read(&a).expect("src")
    );
    let names: Vec<String> = std::fs::read_dir(out.path())
        .expect("out dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| !n.chars().any(char::is_control) && !n.contains('/')),
        "{names:?}"
    );
}

/// Throughput over loopback for a 100 MiB file, against a plain copy of
/// the same file as the local limit (BENCHMARKS.md, "Files"). Ignored in
/// normal runs: `cargo test -p chat-e2e --test e2e files_throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn files_throughput() {
    let server = spawn_server_with(|c| {
        c.files.user_quota_bytes = u64::MAX / 4;
        c.files.room_quota_bytes = u64::MAX / 4;
        c.limits.send_rate_per_sec = 100_000;
        c.limits.send_burst = 100_000;
    })
    .await;
    let (ana, _) = server.user("ana").await;
    let room = public_room(&ana, "bench").await;
    let dir = tempfile::tempdir().expect("tmp");
    let size = 100usize << 20;
    let path = write_file(dir.path(), "big.bin", &noise(size, 99));
    let mib = size as f64 / (1 << 20) as f64;

    let t = std::time::Instant::now();
    std::fs::copy(&path, dir.path().join("copy.bin")).expect("cp");
    let cp = mib / t.elapsed().as_secs_f64();

    let t = std::time::Instant::now();
    let meta = FileMeta::of_path(&path, None).await.expect("hash");
    let hashing = mib / t.elapsed().as_secs_f64();

    let t = std::time::Instant::now();
    let up = ana
        .upload_path(room, &path, None, |_, _| {})
        .await
        .expect("upload");
    let upload = mib / t.elapsed().as_secs_f64();
    assert_eq!(up.attachment.hash, meta.hash);
    send_file(&ana, room, &up, "").await;

    let t = std::time::Instant::now();
    ana.download_to(
        room,
        &up.attachment,
        &dir.path().join("down.bin"),
        |_, _| {},
    )
    .await
    .expect("download");
    let download = mib / t.elapsed().as_secs_f64();
    let (p99_idle, p99_busy) = send_latency_during_uploads(&server, room, &path).await;
    println!(
        "another user's send->deliver p99 over 200 sends: {p99_idle:.2} ms idle, \
         {p99_busy:.2} ms while 100 MiB uploads run back to back"
    );
    println!(
        "100 MiB over loopback: upload {upload:.0} MiB/s (incl. client hash {hashing:.0} MiB/s \
         measured apart), download {download:.0} MiB/s, cp {cp:.0} MiB/s; \
         upload/cp {:.2}, download/cp {:.2}",
        upload / cp,
        download / cp
    );
}

/// p99 of send→deliver (bob sends, carol's room stream shows it) over 200
/// sequential sends, idle and while ana uploads `big` over and over.
async fn send_latency_during_uploads(
    server: &chat_e2e::TestServer,
    room: RoomId,
    big: &Path,
) -> (f64, f64) {
    let (bob, _) = server.user("bob").await;
    let (carol, _) = server.user("carol").await;
    bob.join_room(room).await.expect("join");
    carol.join_room(room).await.expect("join");
    let mut stream = carol
        .subscribe(room, chat_protocol::Seq(0))
        .await
        .expect("subscribe");
    chat_e2e::catch_up(&mut stream).await;
    async fn p99(bob: &Connection, stream: &mut chat_client::RoomStream, room: RoomId) -> f64 {
        let mut ms = Vec::new();
        for i in 0..200 {
            let text = format!("ping {i} {}", ulid::Ulid::new());
            let t = std::time::Instant::now();
            bob.send(room, IdempotencyKey::random(), &text, None)
                .await
                .expect("send");
            loop {
                let e = chat_e2e::next_event(stream).await;
                if matches!(&e.kind, chat_protocol::RoomEventKind::Message(m) if m.text == text) {
                    break;
                }
            }
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        ms[ms.len() * 99 / 100 - 1]
    }
    let idle = p99(&bob, &mut stream, room).await;
    let (ana, _) = server.login("ana").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let uploads = {
        let (stop, big) = (stop.clone(), big.to_path_buf());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ana.upload_path(room, &big, None, |_, _| {})
                    .await
                    .expect("upload");
            }
        })
    };
    let busy = p99(&bob, &mut stream, room).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    uploads.await.expect("uploads");
    (idle, busy)
}

/// Outside a private room, its files answer exactly as a missing room's.
#[tokio::test]
async fn a_private_rooms_files_look_like_a_missing_rooms_to_outsiders() {
    let server = spawn_server().await;
    let (ana, _) = server.user("ana").await;
    let (eve, _) = server.user("eve").await;
    let private = ana
        .create_room("board", "", chat_protocol::Visibility::Private)
        .await
        .expect("room")
        .id;
    let missing = RoomId(private.0 + 1000);
    let dir = tempfile::tempdir().expect("tmp");
    let path = write_file(dir.path(), "minutes.txt", b"secret minutes");
    let up = ana
        .upload_path(private, &path, None, |_, _| {})
        .await
        .expect("upload");
    send_file(&ana, private, &up, "").await;
    let body = |e: ClientError| match e {
        ClientError::Server(b) => b,
        other => panic!("{other}"),
    };
    for room in [private, missing] {
        let list = body(eve.list_files(room).await.expect_err("list"));
        let upload = body(
            eve.upload_path(room, &path, None, |_, _| {})
                .await
                .expect_err("up"),
        );
        let dest = dir.path().join(format!("{}", ulid::Ulid::new()));
        let down = body(
            eve.download_to(room, &up.attachment, &dest, |_, _| {})
                .await
                .expect_err("down"),
        );
        for b in [list, upload, down] {
            assert_eq!(b.code, ErrorCode::NotFound, "{b:?}");
            assert!(b.message.starts_with("no such room"), "{b:?}");
        }
    }
}

/// The scanning hook runs on each verified upload before it is visible:
/// exit 0 stores it, anything else quarantines it and refuses the upload.
#[tokio::test]
async fn the_scanning_hook_quarantines_what_it_refuses() {
    let server = spawn_server_with(|c| {
        c.files.scan_command = vec!["sh".into(), "-c".into(), "! grep -q EICAR \"$0\"".into()];
    })
    .await;
    let (ana, _) = server.user("ana").await;
    let room = public_room(&ana, "scanned").await;
    let dir = tempfile::tempdir().expect("tmp");
    let clean = write_file(dir.path(), "clean.txt", b"just notes");
    ana.upload_path(room, &clean, None, |_, _| {})
        .await
        .expect("clean file stored");
    let bad = write_file(dir.path(), "bad.txt", b"X5O!P%@AP EICAR test");
    let err = ana
        .upload_path(room, &bad, None, |_, _| {})
        .await
        .expect_err("refused by the scanner");
    assert_eq!(code(err), ErrorCode::ContentRejected);
    let data = &server.config.data_dir;
    assert_eq!(blobs(data).len(), 1, "only the clean file is stored");
    let quarantined = std::fs::read_dir(data.join("files/quarantine"))
        .expect("quarantine")
        .count();
    assert_eq!(quarantined, 1);
}

#[tokio::test]
async fn an_image_upload_carries_its_width_and_height_read_by_the_server() {
    let server = spawn_server().await;
    let (ana, _) = server.user("ana").await;
    let (bob, _) = server.user("bob").await;
    let room = public_room(&ana, "images").await;
    bob.join_room(room).await.expect("join");
    let png =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/red_blue_12x8.png"))
            .expect("fixture");
    let dir = tempfile::tempdir().expect("tmp");
    let image = write_file(dir.path(), "병동 사진.png", &png);
    // Declared as an image but not one: no dimensions, and still stored.
    let fake = write_file(dir.path(), "fake.png", b"not a png at all");

    let up = ana
        .upload_path(room, &image, None, |_, _| {})
        .await
        .expect("upload png");
    assert_eq!(up.attachment.media_type, "image/png");
    assert_eq!(
        (up.attachment.width, up.attachment.height),
        (Some(12), Some(8))
    );
    let fake_up = ana
        .upload_path(room, &fake, Some("image/png"), |_, _| {})
        .await
        .expect("upload fake png");
    assert_eq!(
        (fake_up.attachment.width, fake_up.attachment.height),
        (None, None)
    );
    let seq = send_file(&ana, room, &up, "ward photo").await;

    // Members see the dimensions in history and in the file list.
    let page = bob
        .history(room, chat_protocol::HistoryAnchor::Latest, 10)
        .await
        .expect("history");
    let att = &chat_e2e::message_at(&page, seq).attachments[0];
    assert_eq!((att.width, att.height), (Some(12), Some(8)));
    let files = bob.list_files(room).await.expect("list");
    assert_eq!(
        (files[0].attachment.width, files[0].attachment.height),
        (Some(12), Some(8))
    );
}
