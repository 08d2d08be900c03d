//! [`App`]: the whole client state that the view renders from.

use crate::action::Level;
use crate::composer::Composer;
use crate::keymap::Keymap;
use crate::state::{ConnectionStatus, Outbox, Presence, Room};
use chat_protocol::{Author, RoomId, Seq};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// A popup drawn over the main screen; it takes the keys while open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Overlay {
    /// No popup.
    #[default]
    None,
    /// The help screen.
    Help,
    /// The quick switcher.
    Switcher(Switcher),
}

/// The quick switcher's state: a filter and a highlighted match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Switcher {
    /// Typed filter text.
    pub query: String,
    /// Index into the filtered list.
    pub selected: usize,
}

/// Whether the app keeps running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunState {
    /// Running.
    #[default]
    Running,
    /// Quit was requested; the run loop returns.
    Quitting,
}

/// A transient line in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMessage {
    /// Severity.
    pub level: Level,
    /// The text (made display-safe when drawn).
    pub text: String,
}

/// The client state. Only [`crate::update`] changes it; the view reads it.
#[derive(Debug, Clone)]
pub struct App {
    /// The logged-in user, once known.
    pub me: Option<Author>,
    /// Every room the user is in.
    pub rooms: BTreeMap<RoomId, Room>,
    /// The room in view.
    pub active: Option<RoomId>,
    /// Messages not yet confirmed by the server.
    pub outbox: Outbox,
    /// The link to the server.
    pub connection: ConnectionStatus,
    /// The input box.
    pub composer: Composer,
    /// The open popup.
    pub overlay: Overlay,
    /// Whether the member pane is shown (on terminals ≥ 100 columns).
    pub show_members: bool,
    /// Key bindings.
    pub keymap: Keymap,
    /// The status-bar message, if any.
    pub status: Option<StatusMessage>,
    /// The current time, advanced by `Action::Tick`; rendering uses it
    /// instead of reading the clock so screens are reproducible.
    pub now: Instant,
    /// Terminal size in cells (columns, rows).
    pub size: (u16, u16),
    /// Running or quitting.
    pub run_state: RunState,
    /// Presence by username, from presence events and answers; the member
    /// pane and direct rooms show it.
    pub presence: BTreeMap<String, Presence>,
    /// Whether the user set themself away with `/away`.
    pub away: bool,
    /// When the last typing notice was sent, and for which room; at most
    /// one per room per `update::TYPING_EVERY`.
    pub typing_sent: Option<(RoomId, Instant)>,
    /// Messages already alerted for, so a mention seen both as a room event
    /// and as a notification rings once.
    pub alerted: BTreeSet<(RoomId, Seq)>,
}

impl App {
    /// A fresh state: no rooms, connecting, default keys.
    pub fn new(keymap: Keymap, now: Instant) -> App {
        App {
            me: None,
            rooms: BTreeMap::new(),
            active: None,
            outbox: Outbox::default(),
            connection: ConnectionStatus::Connecting,
            composer: Composer::default(),
            overlay: Overlay::None,
            show_members: false,
            keymap,
            status: None,
            now,
            size: (100, 30),
            run_state: RunState::Running,
            presence: BTreeMap::new(),
            away: false,
            typing_sent: None,
            alerted: BTreeSet::new(),
        }
    }

    /// Room ids in list order: newest activity first, then by name.
    pub fn room_order(&self) -> Vec<RoomId> {
        let mut rooms: Vec<&Room> = self.rooms.values().collect();
        rooms.sort_by(|a, b| {
            b.last_activity
                .cmp(&a.last_activity)
                .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });
        rooms.into_iter().map(|r| r.id).collect()
    }

    /// The room in view.
    pub fn active_room(&self) -> Option<&Room> {
        self.active.and_then(|id| self.rooms.get(&id))
    }

    /// The room in view, mutably.
    pub fn active_room_mut(&mut self) -> Option<&mut Room> {
        self.active.and_then(|id| self.rooms.get_mut(&id))
    }

    /// Rooms whose name contains the switcher query (case-insensitive), in list order.
    pub fn switcher_matches(&self, query: &str) -> Vec<RoomId> {
        let q = query.to_lowercase();
        self.room_order()
            .into_iter()
            .filter(|id| {
                self.rooms
                    .get(id)
                    .is_some_and(|r| r.name.to_lowercase().contains(&q))
            })
            .collect()
    }

    /// Rows available to the conversation, for paging and for deciding
    /// whether the top of history is in view: the terminal height minus the
    /// input (its top border and lines), the status line and the pane title.
    pub fn conversation_rows(&self) -> usize {
        usize::from(self.size.1.saturating_sub(self.composer.rows() + 3)).max(1)
    }

    /// Sets the status-bar message.
    pub fn set_status(&mut self, level: Level, text: impl Into<String>) {
        self.status = Some(StatusMessage {
            level,
            text: text.into(),
        });
    }
}
