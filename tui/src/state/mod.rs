//! Client-side state that knows nothing of terminals: rooms, timelines,
//! the outbox, connection status and typing.

pub mod connection;
pub mod mention;
pub mod outbox;
pub mod room;
pub mod timeline;
pub mod typing;

pub use connection::{ConnectionStatus, Presence};
pub use outbox::{Outbox, Outgoing, OutgoingState};
pub use room::{MemberView, Members, Room, Scroll};
pub use timeline::{Applied, Item, ItemKind, MessageView, Notice, OlderHistory, Timeline};
pub use typing::Typing;
