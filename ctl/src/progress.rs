//! Progress bars for long operations (`import`, `export`, `bench` setup),
//! drawn on stderr only when stderr is a terminal: piped or redirected runs
//! and scripts see no bar and no escape sequences.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A bar of `len` steps labelled `what` (e.g. "importing"), or a hidden
/// one when stderr is not a terminal. Finish it with
/// [`ProgressBar::finish_and_clear`], so only the command's own output
/// stays on screen.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    // The template is a constant; a bad one would fall back to the default.
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    #[test]
    fn hidden_without_a_terminal() {
        // `cargo test` captures stderr, so it is not a terminal here.
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            assert!(super::bar(10, "x").is_hidden());
        }
    }
}
