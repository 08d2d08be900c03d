//! `man`: the manual page of chatctl on stdout, or with `--dir` one page
//! per command and subcommand (`chatctl.1`, `chatctl-room.1`,
//! `chatctl-room-mute.1`, ...) written by `clap_mangen`.

use crate::error::{CtlError, Result};
use crate::output::Out;
use std::path::Path;

/// Prints the top-level page, or writes every page into `dir`.
///
/// # Errors
/// [`CtlError::Io`] when `dir` cannot be created or written;
/// [`CtlError::BrokenPipe`] when stdout closes early.
pub fn run(out: &Out, dir: Option<&Path>) -> Result<()> {
    let cmd = crate::args::command();
    let Some(dir) = dir else {
        // Rendered into memory first, so a closed stdout is an ordinary
        // write error and not a panic inside the renderer.
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .map_err(|e| CtlError::io("cannot render the man page", e))?;
        return out.raw(&page);
    };
    let ctx = || format!("cannot write man pages into {}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| CtlError::io(ctx(), e))?;
    clap_mangen::generate_to(cmd, dir).map_err(|e| CtlError::io(ctx(), e))?;
    let mut written: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| CtlError::io(ctx(), e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("chatctl") && n.ends_with(".1"))
        .collect();
    written.sort();
    if out.json() {
        return out.json_line(&serde_json::json!({
            "dir": dir.display().to_string(),
            "pages": written,
        }));
    }
    out.line(&format!(
        "wrote {} man pages into {} (read one with `man -l {}/chatctl.1`)",
        written.len(),
        dir.display(),
        dir.display()
    ))
}
