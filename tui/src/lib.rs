//! `chat-tui`: the terminal chat client, as a library with a thin binary.
//!
//! # Where things live
//!
//! * [`app`] — [`App`], the whole client state. [`state`] holds its parts
//!   that know nothing of terminals: rooms, timelines, the outbox.
//! * [`action`] — [`Action`], every input: keys, ticks, network reports.
//! * [`update()`] — the only code that changes an [`App`]; returns
//!   [`Effect`]s ([`effect`]) for the network task.
//! * [`ui`] — draws a screen from `&App`; never changes state.
//! * [`run()`] — the loop tying them together, generic over ratatui's
//!   `Backend` so tests use `TestBackend`.
//! * [`command`], [`keymap`], [`config`], [`composer`], [`complete`] —
//!   slash commands, key bindings, the config file, the input box and its
//!   per-room drafts, Tab completion.
//!
//! The I/O side, used by the binary:
//!
//! * [`login`] — before the interface: trust prompt, password prompt,
//!   remembered tokens ([`tokens`]), the first connection.
//! * [`net`] — the network task: [`Effect`]s in, session events out as
//!   [`Action`]s; starts a fresh session when one gives up.
//! * [`outbox_file`] — unsent messages on disk, so quitting loses none.
//! * [`terminal`] — taking and restoring the terminal; input, ticks and
//!   signals as actions. [`alert`] — bell and OSC 9.
//! * [`interface`] — wires them to [`run_with`].
//!
//! # Adding a feature
//!
//! A new room event kind: add its arm to [`state::Timeline::apply`] (an
//! event that changes another message folds into it and keeps its own seq as
//! `ItemKind::Hidden`) and, if it needs new display state, a field on
//! [`state::MessageView`] that `ui::message` draws. Ephemeral frames
//! (receipts, typing) and user events (presence, notifications) go through
//! `update::live`; their requests are in `net::lifecycle`. A server feature that
//! lands: remove its command from [`command::NOT_YET_SUPPORTED`] and emit an
//! [`Effect`] for it in `update::compose`. A new key: a [`keymap::KeyAction`]
//! variant with a default and a name.
//!
//! # Invariants
//!
//! * The network task holds no UI state and `update` does no I/O; they
//!   talk only through [`Action`] and [`Effect`] channels.
//! * No I/O in `update` or `ui`: they are pure functions of their inputs,
//!   which is what makes them testable without a terminal or a server.
//! * Every piece of user-supplied text reaches the screen through
//!   `chat_protocol::text::display_safe`.

// Tests may unwrap (house style); library code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod action;
pub mod alert;
pub mod app;
pub mod command;
pub mod complete;
pub mod composer;
pub mod config;
pub mod effect;
pub mod interface;
pub mod keymap;
pub mod logging;
pub mod login;
pub mod net;
pub mod outbox_file;
pub mod preview;
pub mod run;
pub mod state;
pub mod terminal;
pub mod tokens;
pub mod ui;
mod update;

pub use action::Action;
pub use app::App;
pub use effect::Effect;
pub use run::{run, run_with};
pub use update::{INITIAL_BACKLOG, TYPING_EVERY, expiry, update};
