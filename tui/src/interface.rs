//! The running interface: wires the terminal, the clock and the
//! [`Net`] task to [`run_with`] after login, and gives the terminal back
//! on every exit path.
//!
//! ```text
//!  terminal::spawn_input ─┐
//!  terminal::spawn_ticks ─┼─ actions ─▶ run_with ─ effects ─▶ Net ─▶ Session
//!  Net (session events) ──┘                │
//!  saved outbox (once) ───┘                ├─ Alert ─▶ bell / OSC 9 (backend writer)
//!                                           └─ PersistOutbox ─▶ OutboxWriter ─▶ file
//! ```

use crate::action::{Action, Level};
use crate::alert::Alerter;
use crate::app::App;
use crate::effect::Effect;
use crate::keymap::Keymap;
use crate::login::{LoggedIn, TrustPrompt};
use crate::net::Net;
use crate::outbox_file::{OutboxFile, OutboxWriter};
use crate::run::{RunError, run_with};
use crate::terminal;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long to wait for the network task to close the connection after the
/// interface quits (3 s).
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// Actions (keys, ticks, network news) queued for the UI loop before their
/// senders wait: the terminal reader waits, ticks are dropped, and the
/// network task stops taking session events (see `net::Net::report`).
const ACTION_BUFFER: usize = 1024;

/// Why the interface stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    /// The terminal could not be set up.
    #[error("cannot set up the terminal: {0}; chat-tui needs an interactive terminal")]
    Terminal(#[source] std::io::Error),
    /// Drawing failed.
    #[error(transparent)]
    Draw(#[from] RunError<std::io::Error>),
}

/// What the interface needs besides the logged-in session.
#[derive(Debug, Clone)]
pub struct InterfaceOptions {
    /// The server address as the user gave it, for the status line.
    pub server: String,
    /// Key bindings.
    pub keymap: Keymap,
    /// How alerts sound.
    pub alerter: Alerter,
    /// Rooms listed first (the config file's `[rooms] pinned`).
    pub pinned: Vec<String>,
    /// Where unsent messages are kept between runs; `None` (no home
    /// directory) keeps them in memory only.
    pub outbox: Option<OutboxFile>,
}

/// Runs the interface until the user quits. The terminal is restored before
/// this returns, whether it returns an error or not (and on panic, by the
/// hook [`terminal::init`] installs).
///
/// # Errors
/// [`InterfaceError`] if the terminal cannot be set up or drawn to.
pub async fn run_interface(
    logged_in: LoggedIn,
    opts: InterfaceOptions,
    prompt: &TrustPrompt,
) -> Result<(), InterfaceError> {
    let LoggedIn {
        session,
        events,
        user,
        config,
    } = logged_in;
    prompt.interface_started();
    let (actions_tx, mut actions_rx) = mpsc::channel::<Action>(ACTION_BUFFER);
    let (effects_tx, effects_rx) = mpsc::unbounded_channel::<Effect>();
    let writer = opts
        .outbox
        .clone()
        .map(|file| restore_outbox(file, &actions_tx));
    let net = Net::new(session, config, opts.server.clone(), actions_tx.clone());
    let net_task = tokio::spawn(net.run(user, events, effects_rx));

    let (mut term, guard) = match terminal::init() {
        Ok(t) => t,
        Err(e) => {
            drop(effects_tx);
            let _ = tokio::time::timeout(CLOSE_WAIT, net_task).await;
            if let Some(writer) = writer {
                writer.finish().await;
            }
            return Err(InterfaceError::Terminal(e));
        }
    };
    let mut app = App::new(opts.keymap, Instant::now());
    app.pinned = opts.pinned;
    if let Ok(size) = term.size() {
        app.size = (size.width, size.height);
    }
    let input = terminal::spawn_input(actions_tx.clone());
    let ticks = terminal::spawn_ticks(actions_tx);
    let actions = Box::pin(async_stream(&mut actions_rx));
    let alerter = opts.alerter;
    let result = run_with(&mut term, &mut app, actions, |effect, term| match effect {
        Effect::Alert {
            kind, from, place, ..
        } => {
            if let Err(e) = alerter.write(kind, &from, &place, term.backend_mut()) {
                tracing::warn!(error = %e, "cannot write the alert");
            }
        }
        Effect::PersistOutbox(unsent) => {
            if let Some(writer) = &writer {
                writer.save(unsent);
            }
        }
        effect => {
            let _ = effects_tx.send(effect);
        }
    })
    .await;
    input.abort();
    ticks.abort();
    drop(effects_tx);
    drop(guard);
    if let Some(writer) = writer {
        writer.finish().await;
    }
    if tokio::time::timeout(CLOSE_WAIT, net_task).await.is_err() {
        tracing::warn!("the network task did not stop in time");
    }
    result.map_err(InterfaceError::Draw)
}

/// Reads what an earlier run left unsent and queues it as an action (a
/// corrupt file is reported on the status line), then starts the writer
/// that keeps the file up to date from here on.
fn restore_outbox(file: OutboxFile, actions: &mpsc::Sender<Action>) -> OutboxWriter {
    match file.load() {
        Ok(saved) if saved.is_empty() => {}
        Ok(saved) => {
            tracing::info!(count = saved.len(), path = %file.path().display(), "restoring unsent messages");
            let _ = actions.try_send(Action::OutboxRestored(saved));
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot restore the outbox");
            let _ = actions.try_send(Action::Status(Level::Error, e.to_string()));
        }
    }
    let errors = actions.clone();
    OutboxWriter::spawn(file, move |e| {
        let _ = errors.try_send(Action::Status(Level::Error, e));
    })
}

/// The receiver as a stream (borrowed, so the channel outlives the loop).
fn async_stream(rx: &mut mpsc::Receiver<Action>) -> impl futures::Stream<Item = Action> + '_ {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
