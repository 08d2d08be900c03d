//! What travels on the bus: subjects and message shapes.
//!
//! Subjects (`<prefix>` is [`super::BusOptions::prefix`], `chat` by
//! default; ids are decimal):
//! - `<prefix>.room.<room>`: everything about one room, so NATS keeps one
//!   publisher's messages of a room in order: committed events, ephemeral
//!   frames (typing, receipts) and revocations of a member's streams.
//! - `<prefix>.user.<user>`: everything about one user: user-stream frames
//!   (notifications, contacts, presence hidden by a block) and account
//!   changes (session revocation).
//! - `<prefix>.node.<node>`: what one node says of its own sessions:
//!   presence changes, its periodic heartbeat and its going away
//!   (`crate::presence`), on
//!   one subject so they stay in order. `<node>` is the node's id for this
//!   run ([`node_id`]).
//!
//! A payload is one [`BusMessage`] in MessagePack with named fields (a map
//! with one key naming the kind, whose value is a map of the fields), so a
//! field can be added without breaking older nodes. Frames inside are
//! complete chat-protocol frames (u32 big-endian length, then MessagePack)
//! exactly as the hub queues them, so a receiving node re-encodes nothing.

use crate::fanout::{Effect, Live, encode_event};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One message on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BusMessage {
    /// A committed room event, as `fanout::Effect::Room` publishes it.
    Event {
        /// The room.
        room: u64,
        /// The event's sequence number in the room (from 1, consecutive).
        seq: u64,
        /// The sender's user id (readers who block them see `Hidden`).
        sender: u64,
        /// The event's time, ms since the Unix epoch.
        ts: u64,
        /// Whether a reader who blocked `sender` sees it as `Hidden`.
        hideable: bool,
        /// The encoded `RoomFrame::Event` frame.
        frame: Bytes,
    },
    /// A committed room event too large to carry (its frame would pass
    /// NATS's `max_payload`): receivers read events up to `seq` from
    /// storage.
    Head {
        /// The room.
        room: u64,
        /// The event's sequence number.
        seq: u64,
    },
    /// An ephemeral room frame (receipt, typing): no seq, never stored.
    Ephemeral {
        /// The room.
        room: u64,
        /// The encoded `RoomFrame`.
        frame: Bytes,
    },
    /// A frame for every session of a user (their user stream).
    User {
        /// The user.
        user: u64,
        /// The encoded `UserEvent` frame.
        frame: Bytes,
    },
    /// `user` is no longer a member of `room`: end their room streams.
    Revoke {
        /// The room.
        room: u64,
        /// The former member.
        user: u64,
    },
    /// `user`'s rights changed: every session of theirs checks them again.
    Account {
        /// The user.
        user: u64,
    },
    /// Node `node`'s own presence of `user` changed: connected there or
    /// not, away or not. Other nodes merge it into theirs
    /// (`crate::presence::Registry::remote`).
    Presence {
        /// The sending node's id ([`node_id`]).
        node: String,
        /// The user.
        user: u64,
        /// Whether `user` has a session on that node.
        connected: bool,
        /// Whether they set themselves away there.
        away: bool,
    },
    /// Node `node`'s heartbeat: these users have a session there. Sent
    /// every `every_ms`; a node that has more users online than one
    /// message holds sends several (each confirms the users it names).
    Heartbeat {
        /// The sending node's id ([`node_id`]).
        node: String,
        /// The node's heartbeat interval, ms: its entries lapse after
        /// `crate::presence::MISSED_HEARTBEATS` intervals unconfirmed.
        every_ms: u64,
        /// Users online there.
        online: Vec<u64>,
        /// Users connected there and away.
        away: Vec<u64>,
    },
    /// Node `node` is stopping: none of its sessions count any more.
    Gone {
        /// The sending node's id ([`node_id`]).
        node: String,
    },
}

impl BusMessage {
    /// The message for one committed effect, with its subject under
    /// `prefix`. A room event is encoded here (the hub's one encoding,
    /// [`encode_event`]).
    ///
    /// # Errors
    /// [`crate::store::StoreError::Corrupt`] if a room event does not
    /// encode.
    pub fn of_effect(
        prefix: &str,
        effect: &Effect,
    ) -> Result<(String, BusMessage), crate::store::StoreError> {
        Ok(match effect {
            Effect::Room { room, seq, event } => {
                let live = encode_event(*room, *seq, event)?;
                (
                    room_subject(prefix, *room),
                    BusMessage::Event {
                        room: *room,
                        seq: *seq,
                        sender: live.sender,
                        ts: live.ts,
                        hideable: live.hideable,
                        frame: live.frame,
                    },
                )
            }
            Effect::Ephemeral { room, frame } => (
                room_subject(prefix, *room),
                BusMessage::Ephemeral {
                    room: *room,
                    frame: frame.clone(),
                },
            ),
            Effect::User { user, frame } => (
                user_subject(prefix, *user),
                BusMessage::User {
                    user: *user,
                    frame: frame.clone(),
                },
            ),
            Effect::Revoke { room, user } => (
                room_subject(prefix, *room),
                BusMessage::Revoke {
                    room: *room,
                    user: *user,
                },
            ),
            Effect::Account { user } => (
                user_subject(prefix, *user),
                BusMessage::Account { user: *user },
            ),
        })
    }

    /// The payload bytes.
    ///
    /// # Errors
    /// An encoding error (not expected: every field is plain data).
    pub fn encode(&self) -> Result<Bytes, rmp_serde::encode::Error> {
        rmp_serde::to_vec_named(self).map(Bytes::from)
    }

    /// A message from payload bytes.
    ///
    /// # Errors
    /// The bytes are not a [`BusMessage`] (another program on the subject,
    /// or a newer node's new kind).
    pub fn decode(bytes: &[u8]) -> Result<BusMessage, rmp_serde::decode::Error> {
        rmp_serde::from_slice(bytes)
    }

    /// For an event, the item the hub queues.
    pub fn live(&self) -> Option<Live> {
        match self {
            BusMessage::Event {
                seq,
                sender,
                ts,
                hideable,
                frame,
                ..
            } => Some(Live {
                seq: *seq,
                sender: *sender,
                ts: *ts,
                hideable: *hideable,
                frame: frame.clone(),
            }),
            _ => None,
        }
    }
}

/// `<prefix>.room.<room>`.
pub fn room_subject(prefix: &str, room: u64) -> String {
    format!("{prefix}.room.{room}")
}

/// `<prefix>.user.<user>`.
pub fn user_subject(prefix: &str, user: u64) -> String {
    format!("{prefix}.user.{user}")
}

/// `<prefix>.node.<node>`.
pub fn node_subject(prefix: &str, node: &str) -> String {
    format!("{prefix}.node.{node}")
}

/// A node's id for one run: its name, with every character that may not
/// appear in a NATS subject token replaced by `_` (a host name's dots
/// included), then `-` and a fresh ULID, so two nodes given one name, or
/// one node restarted, are never taken for each other.
pub fn node_id(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{clean}-{}", ulid::Ulid::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_with_named_fields() {
        let messages = [
            BusMessage::Event {
                room: 3,
                seq: 9,
                sender: 7,
                ts: 1_700_000_000_000,
                hideable: true,
                frame: Bytes::from_static(b"\0\0\0\x01\x80"),
            },
            BusMessage::Head { room: 3, seq: 10 },
            BusMessage::Ephemeral {
                room: 3,
                frame: Bytes::from_static(b"x"),
            },
            BusMessage::User {
                user: 4,
                frame: Bytes::from_static(b"y"),
            },
            BusMessage::Revoke { room: 3, user: 4 },
            BusMessage::Account { user: 4 },
            BusMessage::Presence {
                node: "a-1".into(),
                user: 4,
                connected: true,
                away: false,
            },
            BusMessage::Heartbeat {
                node: "a-1".into(),
                every_ms: 5_000,
                online: vec![4, 5],
                away: vec![6],
            },
            BusMessage::Gone { node: "a-1".into() },
        ];
        for m in messages {
            let bytes = m.encode().expect("encode");
            assert_eq!(BusMessage::decode(&bytes).expect("decode"), m);
        }
        let bytes = BusMessage::Account { user: 4 }.encode().expect("encode");
        // A map naming the kind, whose value names its fields.
        assert!(bytes.windows(7).any(|w| w == b"Account"));
        assert!(bytes.windows(4).any(|w| w == b"user"));
    }

    #[test]
    fn subjects_put_a_room_and_a_user_on_their_own_subject() {
        assert_eq!(room_subject("chat", 42), "chat.room.42");
        assert_eq!(user_subject("chat", 7), "chat.user.7");
        let id = node_id("node-1.example.org");
        assert!(id.starts_with("node-1_example_org-"), "{id}");
        assert!(!id.contains(['.', ' ', '*', '>']), "{id}");
        assert_ne!(node_id("a"), node_id("a"), "a fresh id per run");
    }
}
