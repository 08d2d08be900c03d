//! Logging to a file, never to the screen (the screen belongs to the UI).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The default log file: `chat-tui.log` in the XDG state directory
/// (`$XDG_STATE_HOME/chat-tui`), or the data directory where there is no
/// state directory (macOS, Windows).
pub fn default_log_path() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "chat-tui")?;
    let dir = dirs.state_dir().unwrap_or_else(|| dirs.data_dir());
    Some(dir.join("chat-tui.log"))
}

/// Sends `tracing` output to `path` (appending), filtered by `RUST_LOG`
/// (default `info`).
///
/// # Errors
/// The I/O error if the directory cannot be created or the file opened.
pub fn init(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second init (tests) keeps the first subscriber; that is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
    Ok(())
}
