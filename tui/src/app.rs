//! [`App`]: the whole client state that the view renders from.

use crate::action::Level;
use crate::complete::Completion;
use crate::composer::{Composer, Draft};
use crate::effect::Secret;
use crate::keymap::Keymap;
use crate::state::{ConnectionStatus, Outbox, Presence, Room};
use chat_protocol::names::canonical;
use chat_protocol::{Author, RoomId, Seq};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How long an information message stays in the status line (8 s).
pub const INFO_FOR: Duration = Duration::from_secs(8);
/// How long an error stays in the status line (20 s), unless Esc clears it.
pub const ERROR_FOR: Duration = Duration::from_secs(20);

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
    /// A yes/no question; `y` confirms, anything else cancels.
    Confirm(Confirm),
    /// The results of `/search`; Enter jumps to the selected message.
    Search(SearchPane),
}

/// The search results pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPane {
    /// The query as typed after `/search`.
    pub query: String,
    /// Where the answer is.
    pub results: SearchResults,
    /// Index of the highlighted hit.
    pub selected: usize,
}

/// The state of a search's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchResults {
    /// Asked; no answer yet.
    Loading,
    /// The first page of hits, newest first, and how many match in all.
    Loaded {
        /// The hits.
        hits: Vec<chat_protocol::SearchHit>,
        /// Matching messages in all.
        total: u64,
    },
    /// The server refused or the request failed; the sentence says why.
    Failed(String),
}

impl SearchPane {
    /// A pane waiting for the answer to `query`.
    pub fn loading(query: String) -> SearchPane {
        SearchPane {
            query,
            results: SearchResults::Loading,
            selected: 0,
        }
    }
}

/// What a confirmation popup asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// Delete the message at `seq` in `room`.
    Delete {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
    },
    /// Quit with this many messages not yet sent (they are kept on disk).
    Quit {
        /// Unsent messages.
        unsent: usize,
    },
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
    /// When it was set; it clears [`INFO_FOR`] or [`ERROR_FOR`] later.
    pub since: Instant,
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
    /// Unsent input of rooms not in view; switching back restores it.
    pub drafts: BTreeMap<RoomId, Draft>,
    /// The Tab completion in progress, if the last key was Tab.
    pub completion: Option<Completion>,
    /// Room names (`name` or `@user`, any case) listed first, in this
    /// order, from the config file's `[rooms] pinned`.
    pub pinned: Vec<String>,
    /// The `/password` prompt in progress: while set, the input is masked
    /// and Enter hands it to this step instead of sending it.
    pub password_change: Option<PasswordChange>,
    /// The last search pane, which Ctrl-F opens again.
    pub last_search: Option<SearchPane>,
    /// Inline previews of image attachments, by attachment id
    /// (see [`crate::preview`]).
    pub previews: std::collections::HashMap<chat_protocol::AttachmentId, crate::preview::Preview>,
}

/// The steps of `/password`, each asking for one masked line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    /// Asking for the current password.
    Current,
    /// Asking for the new password.
    New {
        /// The current password, as typed.
        old: Secret,
    },
    /// Asking for the new password again.
    Again {
        /// The current password.
        old: Secret,
        /// The new password, as first typed.
        new: Secret,
    },
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
            drafts: BTreeMap::new(),
            completion: None,
            pinned: Vec::new(),
            password_change: None,
            last_search: None,
            previews: std::collections::HashMap::new(),
        }
    }

    /// Room ids in list order, which is also what Alt-1..9 and Ctrl-N /
    /// Ctrl-P follow: pinned rooms in the configured order, then group
    /// rooms by name, then direct rooms by name. Activity never moves a
    /// room (it shows as a badge), so a number keeps pointing at the same
    /// room while messages arrive.
    pub fn room_order(&self) -> Vec<RoomId> {
        let pins: Vec<String> = self
            .pinned
            .iter()
            .map(|p| canonical(p.trim_start_matches('#')))
            .collect();
        let mut rooms: Vec<(usize, bool, String, RoomId)> = self
            .rooms
            .values()
            .map(|r| {
                let name = canonical(&r.name);
                let pin = pins.iter().position(|p| *p == name).unwrap_or(usize::MAX);
                (pin, r.is_direct(), name, r.id)
            })
            .collect();
        rooms.sort();
        rooms.into_iter().map(|(_, _, _, id)| id).collect()
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

    /// Sets the status-bar message; it clears by itself after [`INFO_FOR`]
    /// (information) or [`ERROR_FOR`] (errors).
    pub fn set_status(&mut self, level: Level, text: impl Into<String>) {
        self.status = Some(StatusMessage {
            level,
            text: text.into(),
            since: self.now,
        });
    }

    /// Clears the status message once it has been shown long enough.
    pub fn expire_status(&mut self) {
        if let Some(msg) = &self.status {
            let ttl = match msg.level {
                Level::Info => INFO_FOR,
                Level::Error => ERROR_FOR,
            };
            if self.now.saturating_duration_since(msg.since) >= ttl {
                self.status = None;
            }
        }
    }

    /// Unread messages and mentions in rooms other than the one in view:
    /// `(rooms with unread, unread, mentions)`.
    pub fn unread_elsewhere(&self) -> (usize, u64, u64) {
        self.rooms
            .values()
            .filter(|r| Some(r.id) != self.active && r.unread > 0)
            .fold((0, 0, 0), |(n, u, m), r| {
                (n + 1, u + r.unread, m + r.mentions)
            })
    }
}
