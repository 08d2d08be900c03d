//! The run loop: apply each [`Action`], hand its [`Effect`]s on, redraw.
//! Generic over ratatui's `Backend` so tests drive it with `TestBackend`.

use crate::action::Action;
use crate::app::{App, RunState};
use crate::effect::Effect;
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;

/// Why the run loop stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static> {
    /// Drawing to the terminal failed.
    #[error("could not draw to the terminal: {0}")]
    Draw(#[source] E),
}

/// Draws, then for each action from `actions`: updates `app`, passes each
/// effect to `effects`, and redraws. Returns when the app quits or the
/// stream ends.
///
/// # Errors
/// [`RunError::Draw`] if the backend fails to draw.
pub async fn run<B, S, F>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    actions: S,
    mut effects: F,
) -> Result<(), RunError<B::Error>>
where
    B: Backend,
    B::Error: 'static,
    S: Stream<Item = Action> + Unpin,
    F: FnMut(Effect),
{
    run_with(terminal, app, actions, |effect, _| effects(effect)).await
}

/// As [`run`], but `effects` also gets the terminal, between draws, so it
/// can write to the terminal itself (the bell and OSC 9 alerts go through
/// the backend's writer, never interleaved with a frame).
///
/// # Errors
/// [`RunError::Draw`] if the backend fails to draw.
pub async fn run_with<B, S, F>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut actions: S,
    mut effects: F,
) -> Result<(), RunError<B::Error>>
where
    B: Backend,
    B::Error: 'static,
    S: Stream<Item = Action> + Unpin,
    F: FnMut(Effect, &mut Terminal<B>),
{
    terminal
        .draw(|f| crate::ui::draw(f, app))
        .map_err(RunError::Draw)?;
    while let Some(action) = actions.next().await {
        for effect in crate::update(app, action) {
            effects(effect, terminal);
        }
        terminal
            .draw(|f| crate::ui::draw(f, app))
            .map_err(RunError::Draw)?;
        if app.run_state == RunState::Quitting {
            break;
        }
    }
    Ok(())
}
