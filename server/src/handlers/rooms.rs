//! Rooms: creation, lookup, the chat list, membership and direct rooms.
//! The stored side of each request is an operation of
//! [`crate::store::ops::rooms`], reached through the storage boundary.

use super::Reply;
use crate::session::Session;
use chat_protocol::names::{self, MAX_TOPIC_LEN};
use chat_protocol::{self as proto, ResponseBody, Visibility};
use std::sync::Arc;

use crate::store::ops::rooms::no_such_room;

pub(super) async fn create(
    session: &Arc<Session>,
    name: String,
    topic: String,
    visibility: Visibility,
) -> Reply {
    let a = session.authed()?;
    names::validate_room_name(&name)?;
    names::validate_label("topic", &topic, MAX_TOPIC_LEN)?;
    let limit = session.shared.config.current().limits.max_rooms_per_user;
    let info = session
        .shared
        .storage
        .create_room(a.user, name, topic, visibility == Visibility::Public, limit)
        .await?;
    Ok(ResponseBody::Room(info))
}

pub(super) async fn get(session: &Arc<Session>, name: String) -> Reply {
    let a = super::access::fresh(session).await?;
    let info = session
        .shared
        .storage
        .room_by_name(a.user, a.admin, name)
        .await?
        .ok_or_else(no_such_room)?;
    Ok(ResponseBody::Room(info))
}

pub(super) async fn list_mine(session: &Arc<Session>) -> Reply {
    let a = session.authed()?;
    let mut rooms = session.shared.storage.rooms_of(a.user).await?;
    rooms.sort_by(|x, y| {
        y.last_activity
            .cmp(&x.last_activity)
            .then(x.room.name.cmp(&y.room.name))
    });
    Ok(ResponseBody::Rooms(rooms))
}

/// `ListMyRoomsPage`: the caller's rooms in room-id order, one page at a
/// time (the client sorts the whole list).
pub(super) async fn list_mine_page(session: &Arc<Session>, page: proto::PageRequest) -> Reply {
    crate::page::check(&page)?;
    let a = session.authed()?;
    let rooms = session.shared.storage.rooms_of_page(a.user, page).await?;
    Ok(ResponseBody::RoomsPage(rooms))
}

pub(super) async fn directory(session: &Arc<Session>, all: bool) -> Reply {
    let a = if all {
        super::require_admin(session).await?
    } else {
        session.authed()?
    };
    let rooms = session.shared.storage.directory(a.user, all).await?;
    Ok(ResponseBody::Directory(rooms))
}

/// `ListRoomsPage`: the public directory, or (`all`, server admins) every
/// room, in room-id order, one page at a time.
pub(super) async fn directory_page(
    session: &Arc<Session>,
    all: bool,
    page: proto::PageRequest,
) -> Reply {
    crate::page::check(&page)?;
    let a = if all {
        super::require_admin(session).await?
    } else {
        session.authed()?
    };
    let rooms = session
        .shared
        .storage
        .directory_page(a.user, all, page)
        .await?;
    Ok(ResponseBody::DirectoryPage(rooms))
}

pub(super) async fn join(session: &Arc<Session>, room_id: u64) -> Reply {
    let a = session.authed()?;
    let limit = session.shared.config.current().limits.max_rooms_per_user;
    let info = session
        .shared
        .storage
        .join_room(a.user, room_id, limit)
        .await?;
    Ok(ResponseBody::Room(info))
}

pub(super) async fn leave(session: &Arc<Session>, room_id: u64) -> Reply {
    let a = session.authed()?;
    session.shared.storage.leave_room(a.user, room_id).await?;
    session.unsubscribe(room_id);
    Ok(ResponseBody::Ok)
}

pub(super) async fn add(session: &Arc<Session>, room_id: u64, username: String) -> Reply {
    let a = session.authed()?;
    let limit = session.shared.config.current().limits.max_rooms_per_user;
    session
        .shared
        .storage
        .add_member(a.user, room_id, username, limit)
        .await?;
    Ok(ResponseBody::Ok)
}

pub(super) async fn members(session: &Arc<Session>, room_id: u64) -> Reply {
    let a = super::access::fresh(session).await?;
    let list = session
        .shared
        .storage
        .members(a.user, a.admin, room_id)
        .await?;
    Ok(ResponseBody::Members(list))
}

/// `ListMembersPage`: a room's members in account-id order, one page at a
/// time; refused as [`members`] refuses.
pub(super) async fn members_page(
    session: &Arc<Session>,
    room_id: u64,
    page: proto::PageRequest,
) -> Reply {
    crate::page::check(&page)?;
    let a = super::access::fresh(session).await?;
    let list = session
        .shared
        .storage
        .members_page(a.user, a.admin, room_id, page)
        .await?;
    Ok(ResponseBody::MembersPage(list))
}

pub(super) async fn open_direct(session: &Arc<Session>, username: String) -> Reply {
    let a = session.authed()?;
    let limit = session.shared.config.current().limits.max_rooms_per_user;
    let info = session
        .shared
        .storage
        .open_direct(a.user, username, limit)
        .await?;
    Ok(ResponseBody::Room(info))
}
