//! chat-tui and files on a real chatd (issue 14): `/download` saves a
//! message's file into the XDG download folder under its exact (Korean)
//! name, verified, with the outcome in the status line.

use crate::tui::{Tui, lobby, skip_without_tmux};
use chat_protocol::IdempotencyKey;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_download_saves_the_newest_file_into_the_download_folder() {
    if skip_without_tmux() {
        return;
    }
    let server = chat_e2e::spawn_server().await;
    let (bob, room, token) = lobby(&server).await;
    let src = tempfile::tempdir().expect("temp src");
    let name = "검사 결과.txt";
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let path = src.path().join(name);
    std::fs::write(&path, &bytes).expect("write file");
    let up = bob
        .upload_path(room, &path, None, |_, _| {})
        .await
        .expect("upload");
    bob.send_with_attachments(
        room,
        IdempotencyKey::random(),
        "results",
        None,
        vec![up.attachment.id],
    )
    .await
    .expect("send with file");

    let home = tempfile::tempdir().expect("temp home");
    let tui = Tui::start(&server, &token, home.path()).await;
    tui.wait_for("connected").await;
    tui.wait_for(name).await;
    tui.type_text("/download").await;
    tui.keys(&["Enter"]).await;
    tui.wait_for("saved").await;

    // No user-dirs.dirs and no XDG_DOWNLOAD_DIR: the fallback ~/Downloads.
    let saved = home.path().join("Downloads").join(name);
    let back = std::fs::read(&saved).expect("the file is in ~/Downloads under its exact name");
    assert_eq!(back, bytes);
    assert!(
        !home
            .path()
            .join("Downloads")
            .join(format!("{name}.part"))
            .exists(),
        "no partial file is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_image_is_shown_inline_with_half_blocks() {
    if skip_without_tmux() {
        return;
    }
    let server = chat_e2e::spawn_server().await;
    let (bob, room, token) = lobby(&server).await;
    let fixture =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/red_blue_12x8.png");
    let up = bob
        .upload_path(room, &fixture, None, |_, _| {})
        .await
        .expect("upload");
    bob.send_with_attachments(
        room,
        IdempotencyKey::random(),
        "ward photo",
        None,
        vec![up.attachment.id],
    )
    .await
    .expect("send with image");

    let home = tempfile::tempdir().expect("temp home");
    let tui = Tui::start(&server, &token, home.path()).await;
    tui.wait_for("red_blue_12x8.png").await;
    // 12x8 pixels grow x2 (x2.5 would fit 10 rows; growth is by whole
    // factors) to 24 columns by 16 half-rows: 8 rows of `▀`.
    let screen = tui
        .wait_until("the image preview", |s| s.contains(&"▀".repeat(24)))
        .await;
    let rows = screen
        .lines()
        .filter(|l| l.contains(&"▀".repeat(24)))
        .count();
    assert_eq!(rows, 8, "{screen}");
    assert!(!screen.contains(&"▀".repeat(25)), "{screen}");
    let cached = home
        .path()
        .join("cache/chat-tui/previews")
        .join(&up.attachment.hash);
    assert_eq!(
        std::fs::read(&cached).expect("the image is in the preview cache"),
        std::fs::read(&fixture).expect("fixture")
    );
}
