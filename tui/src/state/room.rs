//! One room as the client tracks it: list entry, counters, timeline, members.

use super::connection::Presence;
use super::timeline::Timeline;
use super::typing::Typing;
use chat_protocol::{Author, MemberInfo, Role, RoomId, RoomInfo, RoomKind, Seq, Timestamp, UserId};
use std::collections::BTreeMap;

/// A member as the member pane shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// Who.
    pub user: Author,
    /// Their role.
    pub role: Role,
    /// Their presence, once reported.
    pub presence: Presence,
}

impl From<MemberInfo> for MemberView {
    fn from(m: MemberInfo) -> Self {
        MemberView {
            user: m.user,
            role: m.role,
            presence: Presence::Unknown,
        }
    }
}

/// Loading state of a room's member list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Members {
    /// Not requested yet.
    #[default]
    NotLoaded,
    /// Requested; waiting for the answer.
    Loading,
    /// Loaded, owners first.
    Loaded(Vec<MemberView>),
    /// The request failed with this reason.
    Failed(String),
}

/// Where the conversation view is scrolled to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scroll {
    /// Following the newest message; new messages scroll into view.
    #[default]
    Bottom,
    /// The item with this seq sits on the view's bottom row. Anchoring by
    /// seq keeps the view still when older pages are prepended or newer
    /// messages arrive.
    Anchored(Seq),
}

/// One room.
#[derive(Debug, Clone)]
pub struct Room {
    /// The room's id.
    pub id: RoomId,
    /// Group name, or `@user` for a direct room.
    pub name: String,
    /// Group or direct.
    pub kind: RoomKind,
    /// Topic; empty when unset.
    pub topic: String,
    /// The caller's role.
    pub role: Role,
    /// Unread messages from others.
    pub unread: u64,
    /// Unread messages that mention the caller.
    pub mentions: u64,
    /// Newest activity (UTC ms); the list is ordered by this.
    pub last_activity: Timestamp,
    /// Presence of the peer, for direct rooms.
    pub presence: Presence,
    /// Highest seq the caller has marked read.
    pub read_seq: Seq,
    /// Events up to this seq are already reflected in `unread`/`mentions`
    /// (from the server's summary or counted here), so a replay does not
    /// count them twice.
    pub counted_through: Seq,
    /// The room's head as last reported by the server.
    pub head: Seq,
    /// Loaded events.
    pub timeline: Timeline,
    /// Where the view is scrolled.
    pub scroll: Scroll,
    /// The member list.
    pub members: Members,
    /// Who is typing.
    pub typing: Typing,
    /// Other members' read markers (highest seq each has seen), from the
    /// room stream's receipt frames. The caller's own marker is `read_seq`.
    pub receipts: BTreeMap<UserId, Seq>,
    /// The message selected with Alt-Up/Alt-Down, which `r`, `e`, `d` and
    /// the message commands act on; `None` acts on the latest.
    pub selected: Option<Seq>,
    /// The first message not read when the user opened the room: a
    /// "new messages" line is drawn above it until they leave the room.
    pub new_marker: Option<Seq>,
    /// Whether the room stream has caught up, so each new event is
    /// acknowledged as delivered on arrival (catch-up is acknowledged once,
    /// at its head).
    pub live: bool,
}

impl Room {
    /// A room from its description, with nothing unread.
    pub fn from_info(info: RoomInfo, role: Role) -> Room {
        Room {
            id: info.id,
            name: info.name,
            kind: info.kind,
            topic: info.topic,
            role,
            unread: 0,
            mentions: 0,
            last_activity: info.created_at,
            presence: Presence::Unknown,
            read_seq: info.head,
            counted_through: info.head,
            head: info.head,
            timeline: Timeline::new(),
            scroll: Scroll::Bottom,
            members: Members::NotLoaded,
            typing: Typing::default(),
            receipts: BTreeMap::new(),
            selected: None,
            new_marker: None,
            live: false,
        }
    }

    /// A room from a chat-list entry, with the server's counters.
    pub fn from_summary(s: chat_protocol::RoomSummary) -> Room {
        let mut room = Room::from_info(s.room, s.role);
        room.read_seq = s.read_seq;
        room.unread = s.unread;
        room.mentions = s.mentions;
        if room.is_direct() {
            // Every message in a direct conversation is addressed to the user.
            room.mentions = room.mentions.max(room.unread);
        }
        room.last_activity = s.last_activity;
        room
    }

    /// Whether this is a direct room.
    pub fn is_direct(&self) -> bool {
        self.kind == RoomKind::Direct
    }

    /// The other member's username, for a direct room (named `@user` by
    /// the server).
    pub fn peer(&self) -> Option<&str> {
        if self.is_direct() {
            self.name.strip_prefix('@')
        } else {
            None
        }
    }

    /// Records that `user` has read up to `read_seq`; markers only move
    /// forward, so a stale frame changes nothing.
    pub fn set_read(&mut self, user: UserId, read_seq: Seq) {
        let mark = self.receipts.entry(user).or_insert(Seq::ZERO);
        *mark = (*mark).max(read_seq);
    }

    /// How many other members have read the event at `seq` ("seen by N").
    pub fn seen_by(&self, seq: Seq) -> usize {
        self.receipts.values().filter(|&&read| read >= seq).count()
    }

    /// Who has read the event at `seq`, by shown name (display name, else
    /// username, as stored), sorted; a reader whose name is not known
    /// (not in the loaded member list or timeline) shows as "someone".
    pub fn seen_names(&self, seq: Seq) -> Vec<String> {
        let mut names: Vec<String> = self
            .receipts
            .iter()
            .filter(|&(_, &read)| read >= seq)
            .map(|(&user, _)| self.name_of(user).unwrap_or_else(|| "someone".to_owned()))
            .collect();
        names.sort();
        names
    }

    /// The shown name of a member, from the member list or, failing that,
    /// from anything they did in the loaded timeline.
    pub fn name_of(&self, user: UserId) -> Option<String> {
        let shown = |a: &Author| {
            if a.display_name.is_empty() {
                a.username.clone()
            } else {
                a.display_name.clone()
            }
        };
        if let Members::Loaded(list) = &self.members
            && let Some(m) = list.iter().find(|m| m.user.id == user)
        {
            return Some(shown(&m.user));
        }
        self.timeline
            .items()
            .rev()
            .find(|i| i.actor.id == user)
            .map(|i| shown(&i.actor))
    }

    /// The seq at the bottom of the view, if anything is loaded.
    pub fn bottom_seq(&self) -> Option<Seq> {
        match self.scroll {
            Scroll::Bottom => self.timeline.newest(),
            Scroll::Anchored(s) => Some(s),
        }
    }
}
