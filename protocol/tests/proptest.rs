//! Property tests of the wire format: every message round-trips through
//! framing, decoding never depends on how bytes are chunked, and hostile
//! bytes give errors, never panics.

#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)

use chat_protocol::frame::{self, FrameBuf, FrameError, HEADER_LEN, MAX_DEPTH, MAX_FRAME_LEN};
use chat_protocol::*;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

// ----- strategies: ids and scalars -----

/// Text of any Unicode scalar values, control and bidi characters included.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..12).prop_map(|cs| cs.into_iter().collect())
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn room_id() -> impl Strategy<Value = RoomId> {
    any::<u64>().prop_map(RoomId)
}

fn seq() -> impl Strategy<Value = Seq> {
    any::<u64>().prop_map(Seq)
}

fn ts() -> impl Strategy<Value = Timestamp> {
    any::<u64>().prop_map(Timestamp)
}

fn request_id() -> impl Strategy<Value = RequestId> {
    any::<u64>().prop_map(RequestId)
}

fn message_id() -> impl Strategy<Value = MessageId> {
    any::<u128>().prop_map(|n| MessageId(ulid::Ulid(n)))
}

fn key() -> impl Strategy<Value = IdempotencyKey> {
    text().prop_map(IdempotencyKey)
}

fn visibility() -> impl Strategy<Value = Visibility> {
    prop_oneof![Just(Visibility::Public), Just(Visibility::Private)]
}

fn room_kind() -> impl Strategy<Value = RoomKind> {
    prop_oneof![Just(RoomKind::Group), Just(RoomKind::Direct)]
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Member), Just(Role::Admin), Just(Role::Owner)]
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop::sample::select(vec![
        ErrorCode::BadRequest,
        ErrorCode::UnsupportedVersion,
        ErrorCode::Unauthenticated,
        ErrorCode::AuthFailed,
        ErrorCode::AccountDisabled,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::InvalidName,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::LimitExceeded,
        ErrorCode::NotMember,
        ErrorCode::Banned,
        ErrorCode::Muted,
        ErrorCode::Archived,
        ErrorCode::Blocked,
        ErrorCode::ContentRejected,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::ResponseTooLarge,
        ErrorCode::Unknown,
    ])
}

fn error_body() -> impl Strategy<Value = ErrorBody> {
    (error_code(), text(), any::<Option<u64>>()).prop_map(|(code, message, retry_after_ms)| {
        ErrorBody {
            code,
            message,
            retry_after_ms,
        }
    })
}

fn limits() -> impl Strategy<Value = Limits> {
    any::<(u32, u32, u32, u32)>().prop_map(|(a, b, c, d)| Limits {
        max_message_bytes: a,
        max_history_page: b,
        send_rate_per_sec: c,
        send_burst: d,
    })
}

// ----- strategies: model -----

fn author() -> impl Strategy<Value = Author> {
    (any::<u64>(), text(), text(), text()).prop_map(|(id, username, display_name, org)| Author {
        id: UserId(id),
        username,
        display_name,
        org,
    })
}

fn user_info() -> impl Strategy<Value = UserInfo> {
    (
        author(),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(ts()),
    )
        .prop_map(|(author, admin, disabled, created_at)| UserInfo {
            author,
            admin,
            disabled,
            created_at,
        })
}

fn token_info() -> impl Strategy<Value = TokenInfo> {
    (any::<u64>(), author(), text(), ts(), any::<bool>()).prop_map(
        |(id, user, label, created_at, api)| TokenInfo {
            id,
            user,
            label,
            created_at,
            api,
        },
    )
}

fn room_info() -> impl Strategy<Value = RoomInfo> {
    (
        (room_id(), room_kind(), text(), text(), visibility()),
        (ts(), any::<bool>(), any::<u32>(), seq()),
    )
        .prop_map(
            |((id, kind, name, topic, visibility), (created_at, archived, member_count, head))| {
                RoomInfo {
                    id,
                    kind,
                    name,
                    topic,
                    visibility,
                    created_at,
                    archived,
                    member_count,
                    head,
                }
            },
        )
}

fn room_event_kind() -> impl Strategy<Value = RoomEventKind> {
    prop_oneof![
        (
            message_id(),
            text(),
            prop::option::of(seq()),
            prop::option::of(ts()),
            prop::option::of((author(), ts())),
            few((text(), few(any::<u64>())))
        )
            .prop_map(|(id, text, reply_to, edited_at, deleted, reactions)| {
                RoomEventKind::Message(MessageEvent {
                    id,
                    text,
                    reply_to,
                    mentions: Vec::new(),
                    edited_at,
                    deleted: deleted.map(|(by, at)| Tombstone { by, at }),
                    reactions: reactions
                        .into_iter()
                        .map(|(emoji, users)| ReactionCount {
                            emoji,
                            users: users.into_iter().map(UserId).collect(),
                        })
                        .collect(),
                    attachments: Vec::new(),
                })
            }),
        (seq(), text()).prop_map(|(target, text)| RoomEventKind::Edited { target, text }),
        seq().prop_map(|target| RoomEventKind::Deleted { target }),
        (seq(), text(), any::<bool>()).prop_map(|(target, emoji, added)| RoomEventKind::Reaction {
            target,
            emoji,
            added
        }),
        (author(), text()).prop_map(|(user, reason)| RoomEventKind::Banned { user, reason }),
        (author(), any::<bool>()).prop_map(|(user, muted)| RoomEventKind::Muted { user, muted }),
        Just(RoomEventKind::Archived),
        (room_kind(), text()).prop_map(|(kind, name)| RoomEventKind::Created { kind, name }),
        (author(), role()).prop_map(|(user, role)| RoomEventKind::Joined { user, role }),
        author().prop_map(|user| RoomEventKind::Left { user }),
        text().prop_map(|topic| RoomEventKind::TopicChanged { topic }),
        visibility().prop_map(|visibility| RoomEventKind::VisibilityChanged { visibility }),
        (proptest::option::of(seq()), ts())
            .prop_map(|(edit_of, purged_at)| RoomEventKind::Purged { edit_of, purged_at }),
    ]
}

fn room_event() -> impl Strategy<Value = RoomEvent> {
    (room_id(), seq(), ts(), author(), room_event_kind()).prop_map(
        |(room, seq, ts, sender, kind)| RoomEvent {
            room,
            seq,
            ts,
            sender,
            kind,
        },
    )
}

fn room_summary() -> impl Strategy<Value = RoomSummary> {
    (
        (room_info(), role(), seq()),
        (
            any::<u64>(),
            any::<u64>(),
            prop::option::of(room_event()),
            ts(),
        ),
    )
        .prop_map(
            |((room, role, read_seq), (unread, mentions, last_message, last_activity))| {
                RoomSummary {
                    room,
                    role,
                    read_seq,
                    unread,
                    mentions,
                    last_message,
                    last_activity,
                }
            },
        )
}

fn member_info() -> impl Strategy<Value = MemberInfo> {
    (author(), role(), ts()).prop_map(|(user, role, joined_at)| MemberInfo {
        user,
        role,
        joined_at,
    })
}

fn history_anchor() -> impl Strategy<Value = HistoryAnchor> {
    prop_oneof![
        Just(HistoryAnchor::Latest),
        seq().prop_map(HistoryAnchor::Before),
        seq().prop_map(HistoryAnchor::After),
    ]
}

fn server_stats() -> impl Strategy<Value = ServerStats> {
    prop::array::uniform8(any::<u64>()).prop_map(|n| ServerStats {
        connections: n[0],
        sessions: n[1],
        rooms: n[2],
        users: n[3],
        events: n[4],
        commits: n[5],
        writes: n[6],
        uptime_secs: n[7],
        failed_logins: n[0] ^ n[7],
        throttled_logins: n[1] ^ n[6],
        refused_connections: n[2] ^ n[5],
        storage: format!("degraded {}", n[3]),
        idempotency_keys: n[3] ^ n[4],
        failed_writes: n[4] ^ n[5],
    })
}

fn few<T: Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    prop::collection::vec(s, 0..3)
}

// ----- strategies: frames -----

fn hello() -> impl Strategy<Value = Hello> {
    (any::<u32>(), any::<u32>(), text()).prop_map(|(min_version, max_version, client)| Hello {
        min_version,
        max_version,
        client,
    })
}

fn user_change() -> impl Strategy<Value = UserChange> {
    prop_oneof![
        any::<bool>().prop_map(UserChange::Disabled),
        any::<bool>().prop_map(UserChange::Admin),
        text().prop_map(UserChange::Org),
        text().prop_map(UserChange::DisplayName),
        text().prop_map(UserChange::Password),
    ]
}

fn request_body() -> impl Strategy<Value = RequestBody> {
    use RequestBody as R;
    prop_oneof![
        (text(), text())
            .prop_map(|(username, password)| R::Login { username, password })
            .boxed(),
        text().prop_map(|token| R::Authenticate { token }).boxed(),
        Just(R::Logout).boxed(),
        Just(R::WhoAmI).boxed(),
        Just(R::Ping).boxed(),
        (text(), opt_text(), text(), text(), any::<bool>())
            .prop_map(
                |(username, password, display_name, org, admin)| R::CreateUser {
                    username,
                    password,
                    display_name,
                    org,
                    admin,
                }
            )
            .boxed(),
        opt_text().prop_map(|query| R::ListUsers { query }).boxed(),
        text().prop_map(|username| R::GetUser { username }).boxed(),
        (text(), user_change())
            .prop_map(|(username, change)| R::UpdateUser { username, change })
            .boxed(),
        (text(), text())
            .prop_map(|(username, label)| R::CreateToken { username, label })
            .boxed(),
        opt_text()
            .prop_map(|username| R::ListTokens { username })
            .boxed(),
        any::<u64>().prop_map(|id| R::RevokeToken { id }).boxed(),
        (text(), text(), visibility())
            .prop_map(|(name, topic, visibility)| R::CreateRoom {
                name,
                topic,
                visibility,
            })
            .boxed(),
        text().prop_map(|name| R::GetRoom { name }).boxed(),
        Just(R::ListMyRooms).boxed(),
        Just(R::ListPublicRooms).boxed(),
        room_id().prop_map(|room| R::JoinRoom { room }).boxed(),
        room_id().prop_map(|room| R::LeaveRoom { room }).boxed(),
        (room_id(), text())
            .prop_map(|(room, username)| R::AddMember { room, username })
            .boxed(),
        room_id().prop_map(|room| R::ListMembers { room }).boxed(),
        text()
            .prop_map(|username| R::OpenDirect { username })
            .boxed(),
        (room_id(), key(), text(), prop::option::of(seq()))
            .prop_map(|(room, key, text, reply_to)| R::Send {
                room,
                key,
                text,
                reply_to,
            })
            .boxed(),
        (room_id(), text(), ts(), key(), text())
            .prop_map(|(room, username, ts, key, text)| R::Import {
                room,
                username,
                ts,
                key,
                text,
            })
            .boxed(),
        (room_id(), history_anchor(), any::<u32>())
            .prop_map(|(room, anchor, limit)| R::History {
                room,
                anchor,
                limit,
                audit: false,
            })
            .boxed(),
        (room_id(), seq())
            .prop_map(|(room, since)| R::Subscribe { room, since })
            .boxed(),
        room_id().prop_map(|room| R::Unsubscribe { room }).boxed(),
        (room_id(), seq())
            .prop_map(|(room, seq)| R::MarkRead { room, seq })
            .boxed(),
        (room_id(), seq(), text())
            .prop_map(|(room, seq, text)| R::Edit { room, seq, text })
            .boxed(),
        (room_id(), seq(), text())
            .prop_map(|(room, seq, emoji)| R::React { room, seq, emoji })
            .boxed(),
        (room_id(), text(), text())
            .prop_map(|(room, username, reason)| R::Moderate {
                room,
                action: ModAction::Ban { username },
                reason,
            })
            .boxed(),
        Just(R::ServerInfo).boxed(),
        Just(R::ServerStats).boxed(),
        (text(), text())
            .prop_map(|(old, new)| R::ChangePassword { old, new })
            .boxed(),
        text()
            .prop_map(|display_name| R::SetDisplayName { display_name })
            .boxed(),
        (opt_text(), page_request())
            .prop_map(|(query, page)| R::ListUsersPage { query, page })
            .boxed(),
        page_request()
            .prop_map(|page| R::ListMyRoomsPage { page })
            .boxed(),
        (any::<bool>(), page_request())
            .prop_map(|(all, page)| R::ListRoomsPage { all, page })
            .boxed(),
        (room_id(), page_request())
            .prop_map(|(room, page)| R::ListMembersPage { room, page })
            .boxed(),
        (opt_text(), page_request())
            .prop_map(|(username, page)| R::ListTokensPage { username, page })
            .boxed(),
        (prop::option::of(room_id()), page_request())
            .prop_map(|(room, page)| R::ModerationLogPage { room, page })
            .boxed(),
        search_query().prop_map(R::Search).boxed(),
        Just(R::SearchStatus).boxed(),
        Just(R::Reindex).boxed(),
    ]
}

fn page_request() -> impl Strategy<Value = PageRequest> {
    (any::<Option<u64>>(), any::<u32>()).prop_map(|(after, limit)| PageRequest { after, limit })
}

fn search_query() -> impl Strategy<Value = SearchQuery> {
    (
        text(),
        proptest::option::of(room_id()),
        opt_text(),
        opt_text(),
        (proptest::option::of(ts()), proptest::option::of(ts())),
        any::<bool>(),
        any::<u32>(),
        opt_text(),
        any::<bool>(),
    )
        .prop_map(
            |(text, room, sender, org, (from, to), relevance, limit, cursor, audit)| SearchQuery {
                text,
                room,
                sender,
                org,
                from,
                to,
                order: if relevance {
                    SearchOrder::Relevance
                } else {
                    SearchOrder::Newest
                },
                limit,
                cursor,
                audit,
            },
        )
}

fn search_hit() -> impl Strategy<Value = SearchHit> {
    (
        room_id(),
        text(),
        seq(),
        ts(),
        author(),
        text(),
        text(),
        few((any::<u32>(), any::<u32>())),
    )
        .prop_map(
            |(room, room_name, seq, ts, sender, text, snippet, highlights)| SearchHit {
                room,
                room_name,
                seq,
                ts,
                sender,
                text,
                snippet,
                highlights,
            },
        )
}

fn response_body() -> impl Strategy<Value = ResponseBody> {
    use ResponseBody as B;
    prop_oneof![
        Just(B::Ok).boxed(),
        (user_info(), opt_text())
            .prop_map(|(user, token)| B::LoggedIn { user, token })
            .boxed(),
        user_info().prop_map(B::User).boxed(),
        few(user_info()).prop_map(B::Users).boxed(),
        (token_info(), text())
            .prop_map(|(info, secret)| B::TokenCreated { info, secret })
            .boxed(),
        few(token_info()).prop_map(B::Tokens).boxed(),
        room_info().prop_map(B::Room).boxed(),
        few(room_summary()).prop_map(B::Rooms).boxed(),
        few(room_info()).prop_map(B::Directory).boxed(),
        few(member_info()).prop_map(B::Members).boxed(),
        (room_id(), seq(), message_id(), ts(), any::<bool>())
            .prop_map(|(room, seq, id, ts, duplicate)| B::Sent(MessageAck {
                room,
                seq,
                id,
                ts,
                duplicate,
            }))
            .boxed(),
        (room_id(), few(room_event()), seq(), any::<bool>())
            .prop_map(|(room, events, head, has_more)| B::History(HistoryPage {
                room,
                events,
                head,
                has_more,
            }))
            .boxed(),
        (room_id(), seq())
            .prop_map(|(room, head)| B::Subscribed { room, head })
            .boxed(),
        (text(), any::<u32>(), limits())
            .prop_map(
                |(server, protocol_version, limits)| B::ServerInfo(ServerInfo {
                    server,
                    protocol_version,
                    limits,
                })
            )
            .boxed(),
        server_stats().prop_map(B::ServerStats).boxed(),
        (few(user_info()), any::<Option<u64>>())
            .prop_map(|(items, next)| B::UsersPage(Page { items, next }))
            .boxed(),
        (few(room_summary()), any::<Option<u64>>())
            .prop_map(|(items, next)| B::RoomsPage(Page { items, next }))
            .boxed(),
        (few(room_info()), any::<Option<u64>>())
            .prop_map(|(items, next)| B::DirectoryPage(Page { items, next }))
            .boxed(),
        (few(member_info()), any::<Option<u64>>())
            .prop_map(|(items, next)| B::MembersPage(Page { items, next }))
            .boxed(),
        (few(token_info()), any::<Option<u64>>())
            .prop_map(|(items, next)| B::TokensPage(Page { items, next }))
            .boxed(),
        (few(search_hit()), opt_text(), any::<u64>(), any::<bool>())
            .prop_map(|(hits, next, total, behind)| B::SearchResults(SearchPage {
                hits,
                next,
                total,
                behind,
            }))
            .boxed(),
        (
            any::<bool>(),
            any::<(u64, u64, u64, u64)>(),
            proptest::option::of(any::<(u64, u64)>())
        )
            .prop_map(
                |(enabled, (documents, events_behind, rooms, size_bytes), rebuilding)| {
                    B::SearchStatus(SearchIndexStatus {
                        enabled,
                        documents,
                        events_behind,
                        rooms,
                        size_bytes,
                        rebuilding,
                    })
                }
            )
            .boxed(),
    ]
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        hello().prop_map(ClientFrame::Hello),
        (request_id(), request_body())
            .prop_map(|(id, body)| ClientFrame::Request(Request { id, body })),
    ]
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    let result = prop_oneof![response_body().prop_map(Ok), error_body().prop_map(Err),];
    prop_oneof![
        (any::<u32>(), text(), limits()).prop_map(|(version, server, limits)| {
            ServerFrame::Welcome(Welcome {
                version,
                server,
                limits,
            })
        }),
        error_body().prop_map(ServerFrame::Refused),
        (request_id(), result)
            .prop_map(|(id, result)| ServerFrame::Response(Response { id, result })),
    ]
}

fn stream_header() -> impl Strategy<Value = StreamHeader> {
    prop_oneof![
        (room_id(), seq(), request_id()).prop_map(|(room, since, request)| StreamHeader::Room {
            room,
            since,
            request
        }),
        Just(StreamHeader::User),
    ]
}

fn room_frame() -> impl Strategy<Value = RoomFrame> {
    prop_oneof![
        room_event().prop_map(RoomFrame::Event),
        seq().prop_map(|head| RoomFrame::CaughtUp { head }),
        (author(), seq(), seq()).prop_map(|(user, delivered_seq, read_seq)| RoomFrame::Receipt {
            user,
            delivered_seq,
            read_seq
        }),
        (author(), ts()).prop_map(|(user, expires_at)| RoomFrame::Typing { user, expires_at }),
    ]
}

fn user_event() -> impl Strategy<Value = UserEvent> {
    prop_oneof![
        (room_info(), role()).prop_map(|(room, role)| UserEvent::RoomAdded { room, role }),
        room_id().prop_map(|room| UserEvent::RoomRemoved { room }),
        (author(), prop::option::of(ts())).prop_map(|(user, last_seen)| {
            UserEvent::Presence(PresenceInfo {
                user,
                presence: Presence::Away,
                last_seen,
            })
        }),
        (
            any::<u64>(),
            author(),
            room_id(),
            seq(),
            ts(),
            any::<bool>()
        )
            .prop_map(|(id, from, room, seq, at, read)| UserEvent::Notification(
                Notification {
                    id,
                    from,
                    kind: NotificationKind::Mention { room, seq },
                    at,
                    read,
                }
            )),
    ]
}

// ----- properties -----

/// Encodes `msg`, decodes it whole, and checks value and length.
fn round_trip<T>(msg: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug + Clone,
{
    let bytes = frame::encode(msg).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let decoded = frame::decode::<T>(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(decoded, Some((msg.clone(), bytes.len())));
    Ok(())
}

/// Feeds an encoded frame split at every byte boundary, and byte by byte,
/// and checks every prefix is "incomplete", never an error.
fn chunked<T>(msg: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = frame::encode(msg).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for split in 0..=bytes.len() {
        let mut buf = FrameBuf::new();
        buf.extend(&bytes[..split]);
        if split < bytes.len() {
            prop_assert!(
                matches!(buf.next_frame::<T>(), Ok(None)),
                "split at {split}"
            );
            buf.extend(&bytes[split..]);
        }
        let got = buf
            .next_frame::<T>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.as_ref(), Some(msg), "split at {}", split);
        prop_assert_eq!(buf.buffered(), 0);
    }
    let mut buf = FrameBuf::new();
    let mut got = None;
    for (i, b) in bytes.iter().enumerate() {
        buf.extend(std::slice::from_ref(b));
        let next = buf
            .next_frame::<T>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(next.is_some(), i + 1 == bytes.len());
        got = got.or(next);
    }
    prop_assert_eq!(got.as_ref(), Some(msg));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn client_frames_round_trip(msg in client_frame()) { round_trip(&msg)?; }

    #[test]
    fn server_frames_round_trip(msg in server_frame()) { round_trip(&msg)?; }

    /// Servers fill pages by `encoded_len`, so it must be the body's size.
    #[test]
    fn encoded_len_is_the_body_length(msg in server_frame()) {
        let bytes = frame::encode(&msg).unwrap();
        prop_assert_eq!(frame::encoded_len(&msg), bytes.len() - HEADER_LEN);
    }

    #[test]
    fn room_frames_round_trip(msg in room_frame()) { round_trip(&msg)?; }

    #[test]
    fn stream_headers_round_trip(msg in stream_header()) { round_trip(&msg)?; }

    #[test]
    fn user_events_round_trip(msg in user_event()) { round_trip(&msg)?; }

    #[test]
    fn back_to_back_frames_decode_in_order(
        a in client_frame(),
        b in client_frame(),
        chunk in 1usize..64,
    ) {
        let mut bytes = frame::encode(&a).map_err(|e| TestCaseError::fail(e.to_string()))?.to_vec();
        bytes.extend_from_slice(&frame::encode(&b).map_err(|e| TestCaseError::fail(e.to_string()))?);
        let mut buf = FrameBuf::new();
        let mut got = Vec::new();
        for piece in bytes.chunks(chunk) {
            buf.extend(piece);
            while let Some(msg) = buf.next_frame::<ClientFrame>()
                .map_err(|e| TestCaseError::fail(e.to_string()))? {
                got.push(msg);
            }
        }
        prop_assert_eq!(got, vec![a, b]);
        prop_assert_eq!(buf.buffered(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        chunk in 1usize..32,
    ) {
        let _ = frame::decode::<ClientFrame>(&bytes);
        let _ = frame::decode::<ServerFrame>(&bytes);
        let _ = frame::decode_body::<ClientFrame>(&bytes);
        let _ = frame::decode_body::<ServerFrame>(&bytes);
        let _ = frame::decode_body::<RoomFrame>(&bytes);
        let mut buf = FrameBuf::new();
        for piece in bytes.chunks(chunk) {
            buf.extend(piece);
            while let Ok(Some(_)) = buf.next_frame::<ServerFrame>() {}
        }
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_prefix_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        // A whole frame is buffered, so the answer is a value or an error,
        // never "incomplete".
        prop_assert!(!matches!(frame::decode::<ClientFrame>(&bytes), Ok(None)));
        prop_assert!(!matches!(frame::decode::<ServerFrame>(&bytes), Ok(None)));
    }
}

proptest! {
    // Each case decodes the frame once per byte boundary, so fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn client_frames_decode_across_chunks(msg in client_frame()) { chunked(&msg)?; }

    #[test]
    fn server_frames_decode_across_chunks(msg in server_frame()) { chunked(&msg)?; }

    #[test]
    fn room_frames_decode_across_chunks(msg in room_frame()) { chunked(&msg)?; }

    #[test]
    fn stream_headers_decode_across_chunks(msg in stream_header()) { chunked(&msg)?; }

    #[test]
    fn user_events_decode_across_chunks(msg in user_event()) { chunked(&msg)?; }
}

// ----- hand-built hostile frames -----

/// A frame with `body` behind a correct length prefix.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn oversize_prefix_fails_before_the_body_arrives() {
    let len = u32::try_from(MAX_FRAME_LEN + 1).unwrap();
    let header = len.to_be_bytes();
    for result in [
        frame::decode::<ClientFrame>(&header).map(|_| ()),
        frame::decode::<ServerFrame>(&header).map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(FrameError::TooLarge { len, max }) if len == MAX_FRAME_LEN + 1 && max == MAX_FRAME_LEN),
            "{result:?}"
        );
    }
    let mut buf = FrameBuf::new();
    buf.extend(&u32::MAX.to_be_bytes());
    assert!(matches!(
        buf.next_frame::<ClientFrame>(),
        Err(FrameError::TooLarge { .. })
    ));
    // The largest legal length only waits for its body.
    let max = u32::try_from(MAX_FRAME_LEN).unwrap().to_be_bytes();
    assert!(matches!(frame::decode::<ClientFrame>(&max), Ok(None)));
}

#[test]
fn truncated_frames_are_incomplete() {
    let bytes = frame::encode(&ClientFrame::Hello(Hello::current("t/1"))).unwrap();
    for end in 0..bytes.len() {
        assert!(
            matches!(frame::decode::<ClientFrame>(&bytes[..end]), Ok(None)),
            "prefix of {end} bytes"
        );
    }
    assert!(
        frame::decode::<ClientFrame>(&bytes[..HEADER_LEN - 1])
            .unwrap()
            .is_none()
    );
}

#[test]
fn deep_nesting_is_refused() {
    let mut body = vec![0x91; 100]; // fixarray of one element, 100 levels deep
    body.push(0xc0); // nil
    const { assert!(100 > MAX_DEPTH) };
    let bytes = framed(&body);
    let err = frame::decode::<serde::de::IgnoredAny>(&bytes).unwrap_err();
    assert!(
        matches!(err, FrameError::TooDeep { max: MAX_DEPTH }),
        "{err:?}"
    );
    // Typed decoders refuse it at the first level (an array where a variant
    // name belongs), before any recursion.
    for result in [
        frame::decode::<ClientFrame>(&bytes).map(|_| ()),
        frame::decode::<ServerFrame>(&bytes).map(|_| ()),
        frame::decode::<RoomFrame>(&bytes).map(|_| ()),
    ] {
        assert!(
            matches!(
                result,
                Err(FrameError::TooDeep { .. } | FrameError::Malformed(_))
            ),
            "{result:?}"
        );
    }
    // Maps nest the same way: {nil: {nil: ...}}.
    let mut body = Vec::new();
    for _ in 0..100 {
        body.extend_from_slice(&[0x81, 0xc0]);
    }
    body.push(0xc0);
    let err = frame::decode::<serde::de::IgnoredAny>(&framed(&body)).unwrap_err();
    assert!(matches!(err, FrameError::TooDeep { .. }), "{err:?}");
}

/// A `Hello` with an unknown extra field: the field is skipped, which walks
/// whatever it holds, so this is where a typed decoder meets deep nesting.
fn hello_with_extra_field(extra: &[u8]) -> Vec<u8> {
    let mut body = vec![0x81, 0xa5];
    body.extend_from_slice(b"Hello");
    body.push(0x84);
    for (name, value) in [("min_version", &[0x01][..]), ("max_version", &[0x01][..])] {
        body.push(0xa0 | u8::try_from(name.len()).unwrap());
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(value);
    }
    body.extend_from_slice(&[0xa6, b'c', b'l', b'i', b'e', b'n', b't', 0xa1, b'c']);
    body.extend_from_slice(&[0xa1, b'x']);
    body.extend_from_slice(extra);
    framed(&body)
}

#[test]
fn deep_nesting_in_an_ignored_field_is_refused() {
    let mut deep = vec![0x91; 100];
    deep.push(0xc0);
    let err = frame::decode::<ClientFrame>(&hello_with_extra_field(&deep)).unwrap_err();
    assert!(
        matches!(err, FrameError::TooDeep { max: MAX_DEPTH }),
        "{err:?}"
    );
    // The same frame with a shallow extra field decodes: unknown fields are
    // ignored, so newer clients can add them.
    let (msg, _) = frame::decode::<ClientFrame>(&hello_with_extra_field(&[0x91, 0xc0]))
        .unwrap()
        .unwrap();
    assert_eq!(
        msg,
        ClientFrame::Hello(Hello {
            min_version: 1,
            max_version: 1,
            client: "c".into()
        })
    );
}

#[test]
fn shallow_nesting_is_accepted() {
    let mut body = vec![0x91; MAX_DEPTH - 2];
    body.push(0xc0);
    assert!(frame::decode::<serde::de::IgnoredAny>(&framed(&body)).is_ok());
}

#[test]
fn wrong_shapes_are_malformed() {
    let ping = frame::encode(&ClientFrame::Request(Request {
        id: RequestId(1),
        body: RequestBody::Ping,
    }))
    .unwrap();
    let bodies: Vec<Vec<u8>> = vec![
        vec![0x05],                               // an integer
        vec![0xc0],                               // nil
        vec![0xa3, b'F', b'o', b'o'],             // an unknown unit variant
        vec![0x81, 0xa3, b'F', b'o', b'o', 0xc0], // {"Foo": nil}
        vec![0xc1],                               // a reserved marker
        vec![0xa5, b'h'],                         // a string cut short
        ping[HEADER_LEN..].to_vec(),              // a ClientFrame, read as a ServerFrame
    ];
    for body in bodies {
        let result = frame::decode::<ServerFrame>(&framed(&body));
        assert!(
            matches!(result, Err(FrameError::Malformed(_))),
            "{body:02x?}: {result:?}"
        );
    }
}

/// A request of a kind this build does not know still yields its id, so the
/// server can answer it instead of closing the connection.
#[test]
fn an_unknown_request_kind_still_yields_its_id() {
    #[derive(serde::Serialize)]
    enum FutureFrame {
        Request { id: RequestId, body: FutureBody },
    }
    #[derive(serde::Serialize)]
    enum FutureBody {
        TeleportRoom { room: u64, to: String },
    }
    let bytes = chat_protocol::frame::encode(&FutureFrame::Request {
        id: RequestId(77),
        body: FutureBody::TeleportRoom {
            room: 1,
            to: "mars".into(),
        },
    })
    .expect("encode");
    let body = &bytes[chat_protocol::frame::HEADER_LEN..];
    assert!(chat_protocol::frame::decode_body::<ClientFrame>(body).is_err());
    let env: chat_protocol::ClientFrameEnvelope =
        chat_protocol::frame::decode_body(body).expect("envelope decodes");
    match env {
        chat_protocol::ClientFrameEnvelope::Request(r) => assert_eq!(r.id, RequestId(77)),
        other => panic!("{other:?}"),
    }
}
