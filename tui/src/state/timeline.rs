//! One room's timeline: events keyed by [`Seq`], applied idempotently.
//!
//! [`Timeline::apply`] is the one place that turns a [`RoomEvent`] into what
//! the conversation shows. Edits, deletions and reactions change the message
//! they target and keep their own seq as an [`ItemKind::Hidden`] entry, so the
//! timeline stays gap-free (see [`Timeline::missing_ranges`]).

use chat_protocol::{
    Author, MessageEvent, MessageId, Role, RoomEvent, RoomEventKind, Seq, Timestamp, UserId,
};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// A message's emoji reactions: each emoji with the users who chose it, in
/// the order the emoji was first used. An emoji nobody holds any more is
/// dropped.
pub type Reactions = Vec<(String, Vec<UserId>)>;

/// A message as the conversation shows it: the wire message plus the state
/// later events fold in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    /// The message's id.
    pub id: MessageId,
    /// Who sent it.
    pub sender: Author,
    /// The text as stored (not yet made display-safe).
    pub text: String,
    /// The message this one answers.
    pub reply_to: Option<Seq>,
    /// Whether the text was edited after sending.
    pub edited: bool,
    /// Who deleted it, if it was deleted (display name).
    pub deleted_by: Option<String>,
    /// Emoji reactions with who chose them.
    pub reactions: Reactions,
    /// Files sent with it (empty once deleted).
    pub attachments: Vec<chat_protocol::Attachment>,
}

impl MessageView {
    /// The view of a wire message sent by `sender`, with whatever state a
    /// history page folded in (edit, tombstone, reactions).
    pub fn from_event(m: MessageEvent, sender: Author) -> MessageView {
        MessageView {
            id: m.id,
            sender,
            text: m.text,
            reply_to: m.reply_to,
            edited: m.edited_at.is_some(),
            deleted_by: m.deleted.map(|t| shown_name(&t.by)),
            reactions: m
                .reactions
                .into_iter()
                .filter(|r| !r.users.is_empty())
                .map(|r| (r.emoji, r.users))
                .collect(),
            attachments: m.attachments,
        }
    }

    /// Sets whether `user` reacted with `emoji`. Idempotent, so a history
    /// page replaying a reaction already folded in changes nothing.
    pub fn set_reaction(&mut self, emoji: &str, user: UserId, added: bool) {
        let pos = self.reactions.iter().position(|(e, _)| e == emoji);
        match (pos, added) {
            (Some(i), true) => {
                if !self.reactions[i].1.contains(&user) {
                    self.reactions[i].1.push(user);
                }
            }
            (None, true) => self.reactions.push((emoji.to_owned(), vec![user])),
            (Some(i), false) => {
                self.reactions[i].1.retain(|u| *u != user);
                if self.reactions[i].1.is_empty() {
                    self.reactions.remove(i);
                }
            }
            (None, false) => {}
        }
    }
}

/// The name a tombstone shows: display name, or username if that is empty.
fn shown_name(a: &Author) -> String {
    if a.display_name.is_empty() {
        a.username.clone()
    } else {
        a.display_name.clone()
    }
}

/// A room event other than a message, shown as a one-line notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The room was created with this name.
    Created(String),
    /// Someone joined.
    Joined(Author),
    /// Someone left.
    Left(Author),
    /// The topic changed to this.
    Topic(String),
    /// The visibility changed (`true` = public).
    Visibility(bool),
    /// A moderator removed this user, for this reason (may be empty).
    Kicked(Author, String),
    /// A moderator banned this user, for this reason (may be empty).
    Banned(Author, String),
    /// A moderator lifted this user's ban.
    Unbanned(Author),
    /// A moderator muted (`true`) or unmuted this user.
    Muted(Author, bool),
    /// This user's role changed.
    RoleChanged(Author, Role),
    /// The room was archived (read-only from now on).
    Archived,
    /// A message by `Item::actor` was removed by the room's retention
    /// policy; only its seq, time and sender remain.
    Purged,
}

/// What one sequence number of the timeline holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// A message.
    Message(MessageView),
    /// A membership, topic or other room change, caused by `Item::actor`.
    Notice(Notice),
    /// Takes its seq and shows nothing: an edit, deletion or reaction
    /// already applied to its target message, or an event from a user the
    /// reader blocked (`RoomEventKind::Hidden`).
    Hidden,
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its sequence number in the room.
    pub seq: Seq,
    /// When it was stored (UTC ms).
    pub ts: Timestamp,
    /// Who caused it.
    pub actor: Author,
    /// What it is.
    pub kind: ItemKind,
}

impl Item {
    /// The message, if this item is one.
    pub fn message(&self) -> Option<&MessageView> {
        match &self.kind {
            ItemKind::Message(m) => Some(m),
            ItemKind::Notice(_) | ItemKind::Hidden => None,
        }
    }
}

/// What [`Timeline::apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event was new and is now in the timeline.
    Inserted,
    /// The timeline already had this sequence number; nothing changed.
    Duplicate,
}

/// Whether older history can be fetched, and whether it is being fetched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OlderHistory {
    /// No request in flight.
    #[default]
    Idle,
    /// A `LoadOlder` for events before this seq is in flight.
    Loading {
        /// The request's upper bound (exclusive).
        before: Seq,
    },
    /// The last request failed; scrolling up again retries.
    Failed(String),
}

/// A room's loaded events, oldest first, with no duplicates.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    items: BTreeMap<Seq, Item>,
    /// State of the infinite-scroll request for older events.
    pub older: OlderHistory,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// Applies one event. Idempotent: an event whose seq is already present
    /// is ignored, so a resubscribe that replays events is harmless.
    pub fn apply(&mut self, event: RoomEvent) -> Applied {
        if self.items.contains_key(&event.seq) {
            return Applied::Duplicate;
        }
        let kind = match event.kind {
            RoomEventKind::Message(m) => {
                ItemKind::Message(MessageView::from_event(m, event.sender.clone()))
            }
            RoomEventKind::Created { name, .. } => ItemKind::Notice(Notice::Created(name)),
            RoomEventKind::Joined { user, .. } => ItemKind::Notice(Notice::Joined(user)),
            RoomEventKind::Left { user } => ItemKind::Notice(Notice::Left(user)),
            RoomEventKind::TopicChanged { topic } => ItemKind::Notice(Notice::Topic(topic)),
            RoomEventKind::VisibilityChanged { visibility } => ItemKind::Notice(
                Notice::Visibility(visibility == chat_protocol::Visibility::Public),
            ),
            RoomEventKind::Edited { target, text } => {
                if let Some(m) = self.message_mut(target) {
                    m.text = text;
                    m.edited = true;
                }
                ItemKind::Hidden
            }
            RoomEventKind::Deleted { target } => {
                if let Some(m) = self.message_mut(target) {
                    m.text.clear();
                    m.attachments.clear();
                    m.deleted_by = Some(shown_name(&event.sender));
                }
                ItemKind::Hidden
            }
            RoomEventKind::Reaction {
                target,
                emoji,
                added,
            } => {
                if let Some(m) = self.message_mut(target) {
                    m.set_reaction(&emoji, event.sender.id, added);
                }
                ItemKind::Hidden
            }
            RoomEventKind::Kicked { user, reason } => {
                ItemKind::Notice(Notice::Kicked(user, reason))
            }
            RoomEventKind::Banned { user, reason } => {
                ItemKind::Notice(Notice::Banned(user, reason))
            }
            RoomEventKind::Unbanned { user } => ItemKind::Notice(Notice::Unbanned(user)),
            RoomEventKind::Muted { user, muted } => ItemKind::Notice(Notice::Muted(user, muted)),
            RoomEventKind::RoleChanged { user, role } => {
                ItemKind::Notice(Notice::RoleChanged(user, role))
            }
            RoomEventKind::Archived => ItemKind::Notice(Notice::Archived),
            RoomEventKind::Hidden => ItemKind::Hidden,
            RoomEventKind::Purged { edit_of: None, .. } => ItemKind::Notice(Notice::Purged),
            // A purged edit changes nothing on screen: its message is a
            // purged stub too.
            RoomEventKind::Purged {
                edit_of: Some(_), ..
            } => ItemKind::Hidden,
        };
        self.items.insert(
            event.seq,
            Item {
                seq: event.seq,
                ts: event.ts,
                actor: event.sender,
                kind,
            },
        );
        Applied::Inserted
    }

    /// The item at `seq`, if loaded.
    pub fn get(&self, seq: Seq) -> Option<&Item> {
        self.items.get(&seq)
    }

    /// The message at `seq` for in-place changes (edits, reactions, tests).
    pub fn message_mut(&mut self, seq: Seq) -> Option<&mut MessageView> {
        match self.items.get_mut(&seq).map(|i| &mut i.kind) {
            Some(ItemKind::Message(m)) => Some(m),
            _ => None,
        }
    }

    /// All loaded items, oldest first.
    pub fn items(&self) -> impl DoubleEndedIterator<Item = &Item> {
        self.items.values()
    }

    /// Items that show something (not [`ItemKind::Hidden`]), oldest first.
    pub fn visible(&self) -> impl DoubleEndedIterator<Item = &Item> {
        self.items
            .values()
            .filter(|i| !matches!(i.kind, ItemKind::Hidden))
    }

    /// Shown items with seq `<= last`, newest first: what a view anchored at
    /// `last` shows.
    pub fn items_through(&self, last: Seq) -> impl Iterator<Item = &Item> {
        self.items
            .range(..=last)
            .rev()
            .map(|(_, i)| i)
            .filter(|i| !matches!(i.kind, ItemKind::Hidden))
    }

    /// Number of loaded items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The oldest loaded seq.
    pub fn oldest(&self) -> Option<Seq> {
        self.items.keys().next().copied()
    }

    /// The newest loaded seq.
    pub fn newest(&self) -> Option<Seq> {
        self.items.keys().next_back().copied()
    }

    /// Whether events older than the oldest loaded one exist. Seqs start at 1
    /// and are consecutive (see `chat_protocol::Seq`), so this needs no
    /// server round trip.
    pub fn has_older(&self) -> bool {
        self.oldest().is_some_and(|s| s > Seq(1))
    }

    /// Holes between the oldest and newest loaded events, as inclusive ranges.
    /// Empty when the loaded span is contiguous.
    pub fn missing_ranges(&self) -> Vec<RangeInclusive<Seq>> {
        let mut gaps = Vec::new();
        let mut prev: Option<Seq> = None;
        for &seq in self.items.keys() {
            if let Some(p) = prev
                && seq.0 > p.0 + 1
            {
                gaps.push(Seq(p.0 + 1)..=Seq(seq.0 - 1));
            }
            prev = Some(seq);
        }
        gaps
    }

    /// The `since` to resubscribe with after a reconnect: the last seq before
    /// the first hole, or the newest loaded seq. Replayed events that are
    /// already present are ignored by [`Timeline::apply`].
    pub fn resume_from(&self) -> Seq {
        match self.missing_ranges().first() {
            Some(gap) => Seq(gap.start().0 - 1),
            None => self.newest().unwrap_or(Seq::ZERO),
        }
    }

    /// The newest message sent by `user`, for "edit last message".
    pub fn last_message_by(&self, user: chat_protocol::UserId) -> Option<(Seq, &MessageView)> {
        self.items.values().rev().find_map(|i| match &i.kind {
            ItemKind::Message(m) if m.sender.id == user && m.deleted_by.is_none() => {
                Some((i.seq, m))
            }
            _ => None,
        })
    }

    /// The newest message not sent by `user`, for `/reply` without a selection.
    pub fn last_message_not_by(&self, user: chat_protocol::UserId) -> Option<Seq> {
        self.items.values().rev().find_map(|i| match &i.kind {
            ItemKind::Message(m) if m.sender.id != user && m.deleted_by.is_none() => Some(i.seq),
            _ => None,
        })
    }

    /// The newest message (not deleted) that carries files, for
    /// `/download` and `/open` without a selection.
    pub fn newest_with_attachments(&self) -> Option<Seq> {
        self.items.values().rev().find_map(|i| match &i.kind {
            ItemKind::Message(m) if m.deleted_by.is_none() && !m.attachments.is_empty() => {
                Some(i.seq)
            }
            _ => None,
        })
    }

    /// The newest message not deleted, for `/react` without a selection.
    pub fn last_message(&self) -> Option<Seq> {
        self.items.values().rev().find_map(|i| match &i.kind {
            ItemKind::Message(m) if m.deleted_by.is_none() => Some(i.seq),
            _ => None,
        })
    }

    /// The message to select next from `from` (`None`: nothing selected,
    /// start at the newest): the nearest message (not deleted) older
    /// (`older = true`) or newer than `from`. `None` when there is none.
    pub fn next_message(&self, from: Option<Seq>, older: bool) -> Option<Seq> {
        let selectable =
            |i: &&Item| matches!(&i.kind, ItemKind::Message(m) if m.deleted_by.is_none());
        match (from, older) {
            (None, true) => self.items.values().rev().find(selectable).map(|i| i.seq),
            (None, false) => None,
            (Some(f), true) => self
                .items
                .range(..f)
                .rev()
                .map(|(_, i)| i)
                .find(selectable)
                .map(|i| i.seq),
            (Some(f), false) => self
                .items
                .range(Seq(f.0 + 1)..)
                .map(|(_, i)| i)
                .find(selectable)
                .map(|i| i.seq),
        }
    }
}
