-- chatd's tables on PostgreSQL (store::kv::pg, issue 16): one table per redb
-- table of server/src/store/tables.rs. k1, k2, k3 are the key's elements in
-- order (u64 and u32 as bigint, u8 as smallint, strings as text in the "C"
-- collation, so PostgreSQL orders keys byte-wise as redb does); v is the
-- value exactly as redb encodes it. A unit test
-- (store::kv::pg::schema::tests) fails when a table is missing here.

CREATE TABLE meta (
    k1 text COLLATE "C" NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE users (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE usernames (
    k1 text COLLATE "C" NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE tokens (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE rooms (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE room_names (
    k1 text COLLATE "C" NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE members (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    k2 bigint NOT NULL CHECK (k2 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2)
);

CREATE TABLE user_rooms (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    k2 bigint NOT NULL CHECK (k2 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2)
);

CREATE TABLE events (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    k2 bigint NOT NULL CHECK (k2 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2)
);

CREATE TABLE idempotency (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    k2 text COLLATE "C" NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2)
);

CREATE TABLE versions (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    k2 bigint NOT NULL CHECK (k2 >= 0),
    k3 bigint NOT NULL CHECK (k3 BETWEEN 0 AND 4294967295),
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2, k3)
);

CREATE TABLE bans (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    k2 bigint NOT NULL CHECK (k2 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2)
);

CREATE TABLE blocks (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    k2 bigint NOT NULL CHECK (k2 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2)
);

CREATE TABLE contacts (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    k2 bigint NOT NULL CHECK (k2 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2)
);

CREATE TABLE contact_of (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    k2 bigint NOT NULL CHECK (k2 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2)
);

CREATE TABLE notifications (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    k2 bigint NOT NULL CHECK (k2 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2)
);

CREATE TABLE modlog (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE attachments (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE room_files (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    k2 bigint NOT NULL CHECK (k2 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2)
);

CREATE TABLE blob_refs (
    k1 text COLLATE "C" NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE file_usage (
    k1 smallint NOT NULL CHECK (k1 BETWEEN 0 AND 255),
    k2 bigint NOT NULL CHECK (k2 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1, k2)
);

CREATE TABLE audit_nodes (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE audit_heads (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE room_retention (
    k1 bigint NOT NULL CHECK (k1 >= 0),
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE org_retention (
    k1 text COLLATE "C" NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);

CREATE TABLE doomed_blobs (
    k1 text COLLATE "C" NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (k1)
);
