//! Saving attachments into the download folder (`/download`, `s`) and
//! handing a saved file to `xdg-open` (`/open`, `o`).

use super::send;
use crate::action::{Action, Level};
use chat_client::Connection;
use chat_protocol::{Attachment, RoomId};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// The folder downloads go to: `$XDG_DOWNLOAD_DIR` when set and not empty,
/// else the XDG user download folder (`user-dirs.dirs`, via the
/// `directories` crate), else `~/Downloads`, else the current directory.
pub fn download_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DOWNLOAD_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let user = directories::UserDirs::new();
    if let Some(dir) = user.as_ref().and_then(|u| u.download_dir()) {
        return dir.to_path_buf();
    }
    match user {
        Some(u) => u.home_dir().join("Downloads"),
        None => PathBuf::from("."),
    }
}

/// Saves `files` of `room` into [`download_dir`] under their names made
/// safe with [`chat_client::safe_file_name`] (a `.part` file left by a cut
/// download is resumed; each hash is verified), reporting progress at most
/// every 10 % and the outcome as status lines. With `open`, the saved file
/// is then opened with `xdg-open`.
pub(super) async fn save(
    conn: Connection,
    actions: mpsc::Sender<Action>,
    room: RoomId,
    files: Vec<Attachment>,
    open: bool,
) {
    let dir = download_dir();
    if let Err(e) = tokio::fs::create_dir_all(&dir).await {
        let msg = format!(
            "could not create the download folder {}: {e}; set XDG_DOWNLOAD_DIR to a writable folder",
            dir.display()
        );
        return send(&actions, Action::Status(Level::Error, msg)).await;
    }
    let mut saved = Vec::new();
    for file in &files {
        let name = chat_protocol::text::display_safe(&file.name).into_owned();
        let dest = dir.join(chat_client::safe_file_name(&file.name));
        let progress = super::status_progress(&actions, "downloading", &name);
        match conn.download_to(room, file, &dest, progress).await {
            Ok(done) => saved.push(done.path),
            Err(e) => {
                let msg = format!("could not download {name}: {e}");
                return send(&actions, Action::Status(Level::Error, msg)).await;
            }
        }
    }
    let shown = |p: &Path| chat_protocol::text::display_safe(&p.display().to_string()).into_owned();
    let status = match (open, saved.first()) {
        (true, Some(path)) => open_with(OPENER, path)
            .map(|()| Action::Status(Level::Info, format!("opened {}", shown(path))))
            .unwrap_or_else(|msg| Action::Status(Level::Error, msg)),
        _ => {
            let list: Vec<String> = saved.iter().map(|p| shown(p)).collect();
            Action::Status(Level::Info, format!("saved {}", list.join(", ")))
        }
    };
    send(&actions, status).await;
}

/// The program that opens a saved file with the desktop's default
/// application.
const OPENER: &str = "xdg-open";

/// Starts `OPENER PATH` detached from the terminal (no stdin, output
/// discarded) and does not wait for it; a background task reaps it.
///
/// # Errors
/// A status message when the opener is not installed or cannot start.
fn open_with(opener: &str, path: &Path) -> Result<(), String> {
    let child = tokio::process::Command::new(opener)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(mut child) => {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "saved {} but cannot open it: {opener} is not installed (install xdg-utils)",
            path.display()
        )),
        Err(e) => Err(format!(
            "saved {} but could not start {opener}: {e}",
            path.display()
        )),
    }
}

/// Fetches an image attachment into the preview cache
/// (`$XDG_CACHE_HOME/chat-tui/previews/HASH`, verified by the download),
/// decodes it on the blocking pool and reports `Action::Preview`.
pub(super) async fn preview(
    conn: Connection,
    actions: mpsc::Sender<Action>,
    room: RoomId,
    attachment: Attachment,
) {
    let id = attachment.id;
    let result = fetch_preview(&conn, room, &attachment).await;
    send(
        &actions,
        Action::Preview {
            id,
            result: result.map(std::sync::Arc::new),
        },
    )
    .await;
}

async fn fetch_preview(
    conn: &Connection,
    room: RoomId,
    attachment: &Attachment,
) -> Result<image::RgbImage, String> {
    // The hash names the cache file: check it is what the protocol says
    // (hex) so it can never be a path.
    if attachment.hash.is_empty() || !attachment.hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("attachment hash {:?} is not hex", attachment.hash));
    }
    let dir = directories::ProjectDirs::from("", "", "chat-tui")
        .map(|d| d.cache_dir().join("previews"))
        .ok_or("no home directory for the preview cache")?;
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(&attachment.hash);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        conn.download_to(room, attachment, &path, |_, _| {})
            .await
            .map_err(|e| e.to_string())?;
    }
    tokio::task::spawn_blocking(move || {
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        crate::preview::decode(&bytes)
    })
    .await
    .map_err(|e| format!("decoder task failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_opener_is_a_clear_message_not_a_hang() {
        let err = open_with("chat-tui-no-such-opener", Path::new("/tmp/x.png")).unwrap_err();
        assert_eq!(
            err,
            "saved /tmp/x.png but cannot open it: chat-tui-no-such-opener is not installed (install xdg-utils)"
        );
    }

    #[tokio::test]
    async fn the_opener_is_started_without_waiting_for_it() {
        // `sleep 3` stands in for a viewer that stays open (and ends by
        // itself soon after the test).
        let started = std::time::Instant::now();
        open_with("sleep", Path::new("3")).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
