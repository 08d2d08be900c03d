//! Rooms and members: the boundary's traits and their redb implementation.

use super::*;

/// Rooms and members ([`ops::rooms`]). Each write checks, in its own
/// transaction, what must hold for it: the room exists and is not
/// deleted, the caller's membership and role, bans, the per-user room
/// limit (`limit`, rooms per user). A room the caller may not know of is
/// refused exactly as a missing one (`NotFound`). Membership changes
/// append `Joined`/`Left` room events (ordered as every room event) and
/// tell the user's sessions after the commit.
pub trait RoomsAndMembers: Send + Sync {
    /// Creates the public or private group room `name`, owned by `user`.
    ///
    /// # Errors
    /// `Conflict` for a taken name, `LimitExceeded`; a storage failure.
    fn create_room(
        &self,
        user: u64,
        name: String,
        topic: String,
        public: bool,
        limit: u32,
    ) -> StoreFuture<'_, proto::RoomInfo>;

    /// The room `name` (or `@username`, the direct room with them) as
    /// `user` sees it; `None` when missing, deleted or private to a
    /// non-member who is not `admin`.
    ///
    /// # Errors
    /// A storage failure.
    fn room_by_name(
        &self,
        user: u64,
        admin: bool,
        name: String,
    ) -> StoreFuture<'_, Option<proto::RoomInfo>>;

    /// The rooms `user` belongs to, with unread counts and last message.
    ///
    /// # Errors
    /// A storage failure.
    fn rooms_of(&self, user: u64) -> StoreFuture<'_, Vec<proto::RoomSummary>>;

    /// As [`RoomsAndMembers::rooms_of`], one page in room-id order.
    ///
    /// # Errors
    /// A storage failure.
    fn rooms_of_page(
        &self,
        user: u64,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::RoomSummary>>;

    /// The public directory, or with `all` every room.
    ///
    /// # Errors
    /// A storage failure.
    fn directory(&self, user: u64, all: bool) -> StoreFuture<'_, Vec<proto::RoomInfo>>;

    /// As [`RoomsAndMembers::directory`], one page in room-id order.
    ///
    /// # Errors
    /// A storage failure.
    fn directory_page(
        &self,
        user: u64,
        all: bool,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::RoomInfo>>;

    /// `user` joins `room`; a no-op for a member.
    ///
    /// # Errors
    /// `NotFound`, `Archived`, `Banned`, `LimitExceeded`; a storage failure.
    fn join_room(&self, user: u64, room: u64, limit: u32) -> StoreFuture<'_, proto::RoomInfo>;

    /// `user` leaves `room`.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `BadRequest` (a direct room), `Forbidden`
    /// (the owner while others remain); a storage failure.
    fn leave_room(&self, user: u64, room: u64) -> StoreFuture<'_, ()>;

    /// `user` adds `username` to `room`; a no-op for a member.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `Forbidden`, `Archived`, `Banned`,
    /// `LimitExceeded`; a storage failure.
    fn add_member(&self, user: u64, room: u64, username: String, limit: u32)
    -> StoreFuture<'_, ()>;

    /// The members of `room`, for a member or `admin`.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`; a storage failure.
    fn members(&self, user: u64, admin: bool, room: u64)
    -> StoreFuture<'_, Vec<proto::MemberInfo>>;

    /// As [`RoomsAndMembers::members`], one page in account-id order.
    ///
    /// # Errors
    /// As [`RoomsAndMembers::members`].
    fn members_page(
        &self,
        user: u64,
        admin: bool,
        room: u64,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::MemberInfo>>;

    /// The direct room of `user` and `username`, created if missing.
    ///
    /// # Errors
    /// `NotFound`, `BadRequest`, `Blocked`, `LimitExceeded`; a storage
    /// failure.
    fn open_direct(
        &self,
        user: u64,
        username: String,
        limit: u32,
    ) -> StoreFuture<'_, proto::RoomInfo>;
}

impl RoomsAndMembers for Store {
    fn create_room(
        &self,
        user: u64,
        name: String,
        topic: String,
        public: bool,
        limit: u32,
    ) -> StoreFuture<'_, proto::RoomInfo> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::rooms::create(ctx, user, &name, &topic, public, limit)),
        )
    }

    fn room_by_name(
        &self,
        user: u64,
        admin: bool,
        name: String,
    ) -> StoreFuture<'_, Option<proto::RoomInfo>> {
        Box::pin(self.read_op(move |txn| ops::room_lists::get(txn, user, admin, &name)))
    }

    fn rooms_of(&self, user: u64) -> StoreFuture<'_, Vec<proto::RoomSummary>> {
        Box::pin(self.read_op(move |txn| ops::room_lists::list_mine(txn, user)))
    }

    fn rooms_of_page(
        &self,
        user: u64,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::RoomSummary>> {
        Box::pin(self.read_op(move |txn| ops::room_lists::list_mine_page(txn, user, page)))
    }

    fn directory(&self, user: u64, all: bool) -> StoreFuture<'_, Vec<proto::RoomInfo>> {
        Box::pin(self.read_op(move |txn| ops::room_lists::directory(txn, user, all)))
    }

    fn directory_page(
        &self,
        user: u64,
        all: bool,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::RoomInfo>> {
        Box::pin(self.read_op(move |txn| ops::room_lists::directory_page(txn, user, all, page)))
    }

    fn join_room(&self, user: u64, room: u64, limit: u32) -> StoreFuture<'_, proto::RoomInfo> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::rooms::join(ctx, user, room, limit)),
        )
    }

    fn leave_room(&self, user: u64, room: u64) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::rooms::leave(ctx, user, room)),
        )
    }

    fn add_member(
        &self,
        user: u64,
        room: u64,
        username: String,
        limit: u32,
    ) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::rooms::add(ctx, user, room, &username, limit)),
        )
    }

    fn members(
        &self,
        user: u64,
        admin: bool,
        room: u64,
    ) -> StoreFuture<'_, Vec<proto::MemberInfo>> {
        Box::pin(self.read_op(move |txn| ops::room_lists::members(txn, user, admin, room)))
    }

    fn members_page(
        &self,
        user: u64,
        admin: bool,
        room: u64,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::MemberInfo>> {
        Box::pin(
            self.read_op(move |txn| ops::room_lists::members_page(txn, user, admin, room, page)),
        )
    }

    fn open_direct(
        &self,
        user: u64,
        username: String,
        limit: u32,
    ) -> StoreFuture<'_, proto::RoomInfo> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::rooms::open_direct(ctx, user, &username, limit)),
        )
    }
}
