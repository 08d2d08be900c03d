-- The room event log (chatd::pgstore, issue 16, first slice).
-- Ids, seqs and times are chatd's u64 values stored as BIGINT; chatd refuses
-- values above i64::MAX before they reach the database.

-- One row per room. last_seq is the seq of the room's latest event (0: none
-- yet); a send takes the next seqs with UPDATE ... RETURNING, inside the
-- transaction that inserts the events, so the row lock orders commits by seq.
CREATE TABLE rooms (
    id         BIGINT PRIMARY KEY CHECK (id >= 0),
    last_seq   BIGINT NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    created_at BIGINT NOT NULL
);

-- The events of each room: the MessagePack EventRecord exactly as chatd's
-- redb store keeps it (server/src/store/records.rs), keyed by (room, seq).
CREATE TABLE room_events (
    room   BIGINT NOT NULL REFERENCES rooms (id),
    seq    BIGINT NOT NULL CHECK (seq >= 1),
    ts     BIGINT NOT NULL,
    sender BIGINT NOT NULL,
    event  BYTEA  NOT NULL,
    PRIMARY KEY (room, seq)
);

-- Idempotency keys: (owner, key) -> the message it stored, until expires_at
-- (ms since the epoch). The primary key is what makes a retry through any
-- node store nothing new.
CREATE TABLE idempotency (
    owner      BIGINT NOT NULL,
    key        TEXT   NOT NULL,
    room       BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (owner, key)
);

CREATE INDEX idempotency_expiry ON idempotency (expires_at);
