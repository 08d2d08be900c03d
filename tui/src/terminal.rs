//! The real terminal: taking it over and giving it back on every exit path,
//! and turning its input (keys, paste, wheel, resize), the clock and
//! termination signals into [`Action`]s.

use crate::action::{Action, Wheel};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event,
    EventStream, KeyEventKind, MouseEventKind,
};
use crossterm::execute;
use futures::StreamExt;
use ratatui::DefaultTerminal;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often [`Action::Tick`] advances the clock (250 ms): fine enough for
/// "reconnecting in Ns" and typing expiry, cheap enough to redraw.
pub const TICK: Duration = Duration::from_millis(250);

/// Restores the terminal when dropped: mouse capture and bracketed paste
/// off, raw mode off, main screen back. A panic restores it too (see
/// [`init`]).
pub struct TerminalGuard(());

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        release_input_modes();
        ratatui::restore();
    }
}

fn release_input_modes() {
    let _ = execute!(
        std::io::stdout(),
        DisableMouseCapture,
        DisableBracketedPaste
    );
}

/// Takes the terminal: raw mode, alternate screen, mouse capture, bracketed
/// paste; installs a panic hook that gives it back before the panic message
/// prints. Keep the guard alive as long as the interface runs.
///
/// # Errors
/// The I/O error if the terminal cannot be set up (e.g. stdout is not a
/// terminal); anything already changed is restored first.
pub fn init() -> std::io::Result<(DefaultTerminal, TerminalGuard)> {
    // `try_init` installs ratatui's hook (raw mode, screen); ours runs
    // first and turns off the input modes it does not know about.
    let terminal = ratatui::try_init()?;
    let guard = TerminalGuard(());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        release_input_modes();
        previous(info);
    }));
    execute!(std::io::stdout(), EnableMouseCapture, EnableBracketedPaste)?;
    Ok((terminal, guard))
}

/// The action for one terminal event, if it is one the interface uses: key
/// presses and repeats (not releases), pastes, wheel turns and resizes.
pub fn to_action(event: Event) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => Some(Action::Key(key)),
        Event::Paste(text) => Some(Action::Paste(text)),
        Event::Mouse(m) => match m.kind {
            MouseEventKind::ScrollUp => Some(Action::Wheel(Wheel::Up)),
            MouseEventKind::ScrollDown => Some(Action::Wheel(Wheel::Down)),
            _ => None,
        },
        Event::Resize(width, height) => Some(Action::Resize { width, height }),
        _ => None,
    }
}

/// Reads terminal events until the terminal fails or `actions` closes;
/// SIGTERM and SIGHUP become [`Action::Quit`], so the terminal is restored
/// when the window closes or the process is asked to stop.
pub fn spawn_input(actions: mpsc::Sender<Action>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = EventStream::new();
        let mut quit = QuitSignals::new();
        loop {
            let action = tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => to_action(event),
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "cannot read the terminal");
                        Some(Action::Quit)
                    }
                    None => Some(Action::Quit),
                },
                () = quit.recv() => Some(Action::Quit),
            };
            if let Some(action) = action
                && actions.send(action).await.is_err()
            {
                return;
            }
        }
    })
}

/// Sends [`Action::Tick`] every [`TICK`] until `actions` closes.
pub fn spawn_ticks(actions: mpsc::Sender<Action>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            // A tick is dropped, not queued, when the UI is behind.
            if let Err(mpsc::error::TrySendError::Closed(_)) =
                actions.try_send(Action::Tick(Instant::now()))
            {
                return;
            }
        }
    })
}

/// SIGTERM and SIGHUP (unix); never fires elsewhere or if the handlers
/// cannot be installed.
struct QuitSignals {
    #[cfg(unix)]
    signals: Vec<tokio::signal::unix::Signal>,
}

impl QuitSignals {
    fn new() -> QuitSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = [SignalKind::terminate(), SignalKind::hangup()]
                .into_iter()
                .filter_map(|k| signal(k).ok())
                .collect();
            QuitSignals { signals }
        }
        #[cfg(not(unix))]
        QuitSignals {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            if self.signals.is_empty() {
                return std::future::pending().await;
            }
            let waits = self.signals.iter_mut().map(|s| Box::pin(s.recv()));
            let _ = futures::future::select_all(waits).await;
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyEventState, KeyModifiers, MouseEvent};

    #[test]
    fn releases_are_dropped_presses_kept() {
        let mut key = KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE);
        assert!(matches!(to_action(Event::Key(key)), Some(Action::Key(_))));
        key.kind = KeyEventKind::Release;
        key.state = KeyEventState::NONE;
        assert!(to_action(Event::Key(key)).is_none());
    }

    #[test]
    fn wheel_paste_resize() {
        let wheel = |kind| {
            Event::Mouse(MouseEvent {
                kind,
                column: 0,
                row: 0,
                modifiers: KeyModifiers::NONE,
            })
        };
        assert!(matches!(
            to_action(wheel(MouseEventKind::ScrollUp)),
            Some(Action::Wheel(Wheel::Up))
        ));
        assert!(to_action(wheel(MouseEventKind::Moved)).is_none());
        assert!(matches!(
            to_action(Event::Paste("x".into())),
            Some(Action::Paste(_))
        ));
        assert!(matches!(
            to_action(Event::Resize(80, 24)),
            Some(Action::Resize {
                width: 80,
                height: 24
            })
        ));
    }
}
