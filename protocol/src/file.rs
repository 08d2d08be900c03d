//! File transfer: attachments and the frames of a transfer stream.
//!
//! Each upload or download runs on its own client-opened bidirectional
//! stream, never on the control stream, so a 100 MiB transfer never holds up
//! requests. The client writes first: one [`TransferRequest`] frame (the
//! usual u32 length + MessagePack framing of [`crate::frame`]). The server
//! answers with one [`TransferReply`] frame, then:
//!
//! - upload: after [`TransferReply::Ready`] the client writes the raw bytes
//!   of the file from `offset` to its end and finishes its side; the server
//!   checks the size and the BLAKE3 hash, stores the file durably and
//!   answers [`TransferReply::Stored`] (or [`TransferReply::Refused`]).
//! - download: after [`TransferReply::Sending`] the server writes the raw
//!   bytes from `offset` to the end and finishes.
//!
//! A refusal (membership, size, quota, media type) comes before any file
//! byte is sent. An upload cut short keeps its received bytes on the server
//! under its upload id (the uploader, the hash and the size); asking again
//! with the same file answers `Ready` with the offset to resume from.

use crate::{ErrorBody, RoomId, Seq, Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// Length of a BLAKE3 hash in lowercase hex, in characters.
pub const HASH_HEX_LEN: usize = 64;

/// Longest original file name accepted, in bytes of UTF-8.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Longest media type accepted (`type/subtype`), in bytes.
pub const MAX_MEDIA_TYPE_BYTES: usize = 127;

/// Most files one message may carry.
pub const MAX_ATTACHMENTS: usize = 16;

/// An attachment's id, assigned by the server when an upload is stored.
///
/// Wire shape: a MessagePack unsigned integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttachmentId(pub u64);

impl std::fmt::Display for AttachmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A stored file as members see it, in a message or a file list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Its id.
    pub id: AttachmentId,
    /// The original file name, exactly as uploaded (any Unicode; clients
    /// make it safe before using it as a local path).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type as declared by the uploader, e.g. `image/png`.
    pub media_type: String,
    /// BLAKE3 hash of the content, 64 lowercase hex characters.
    pub hash: String,
    /// Image width in pixels, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Image height in pixels, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// One entry of a room's file list (`ListFiles`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The file.
    pub attachment: Attachment,
    /// The message that carries it.
    pub seq: Seq,
    /// Who uploaded it.
    pub uploader: UserId,
    /// When it was stored, UTC ms.
    pub ts: Timestamp,
}

/// The first frame of a transfer stream, written by the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferRequest {
    /// Upload a file (or resume an upload of the same file).
    Upload {
        /// The room the file is for; the caller must be a member.
        room: RoomId,
        /// Original file name, 1 to [`MAX_FILE_NAME_BYTES`] bytes.
        name: String,
        /// Declared media type, e.g. `image/png`.
        media_type: String,
        /// Size in bytes.
        size: u64,
        /// BLAKE3 of the whole content, lowercase hex.
        hash: String,
    },
    /// Download a file of a room, from `offset` (bytes) to its end.
    Download {
        /// The room.
        room: RoomId,
        /// The file.
        attachment: AttachmentId,
        /// Bytes to skip, at most the file's size.
        offset: u64,
    },
    /// Server admins: a consistent copy of the whole server (database and
    /// files), taken now while the server keeps serving. Answered with
    /// [`TransferReply::BackupSending`] and the archive's bytes, or
    /// `Refused` (`Forbidden` for a non-admin, `Unavailable` while another
    /// backup runs). The archive format is chatd's (a tar file with a
    /// manifest; `chatd restore` reads it).
    Backup,
}

/// The server's answers on a transfer stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferReply {
    /// Upload accepted: send the bytes from `offset` to the end.
    Ready {
        /// Identifies the upload for resumption (the server keeps the
        /// received prefix under it).
        upload_id: String,
        /// Bytes the server already holds.
        offset: u64,
    },
    /// Download accepted: the bytes from `offset` follow.
    Sending {
        /// The file.
        attachment: Attachment,
        /// Where the bytes start.
        offset: u64,
    },
    /// The upload was verified and stored durably; attach it to a message
    /// with `SendWithAttachments`.
    Stored(Attachment),
    /// Refused, before any file byte moved (or, for an upload, after the
    /// bytes failed verification: [`crate::ErrorCode::HashMismatch`]).
    Refused(ErrorBody),
    /// Backup accepted: exactly `bytes` bytes of archive follow, then the
    /// stream ends. A stream reset instead means the backup failed on the
    /// server (its log says why); whatever arrived must be discarded.
    BackupSending {
        /// Length of the archive, in bytes.
        bytes: u64,
        /// Room events in the copy, across all rooms.
        events: u64,
        /// Stored files (distinct contents) in the copy.
        blobs: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageEvent;

    /// A message event as a build before attachments encoded it.
    #[derive(Serialize)]
    struct OldMessageEvent {
        id: crate::MessageId,
        text: String,
    }

    #[test]
    fn a_message_event_from_before_attachments_still_decodes() {
        let old = OldMessageEvent {
            id: crate::MessageId(ulid::Ulid::nil()),
            text: "hi".into(),
        };
        let bytes = crate::frame::encode(&old).expect("encode");
        let (new, _) = crate::frame::decode::<MessageEvent>(&bytes)
            .expect("decode")
            .expect("whole frame");
        assert_eq!(new.text, "hi");
        assert!(new.attachments.is_empty());
    }

    #[test]
    fn transfer_frames_round_trip() {
        let a = Attachment {
            id: AttachmentId(7),
            name: "회의록.pdf".into(),
            size: 42,
            media_type: "application/pdf".into(),
            hash: "ab".repeat(32),
            width: None,
            height: None,
        };
        for reply in [
            TransferReply::Ready {
                upload_id: "1-ab-42".into(),
                offset: 21,
            },
            TransferReply::Sending {
                attachment: a.clone(),
                offset: 0,
            },
            TransferReply::Stored(a),
        ] {
            let bytes = crate::frame::encode(&reply).expect("encode");
            let (back, _) = crate::frame::decode::<TransferReply>(&bytes)
                .expect("decode")
                .expect("whole frame");
            assert_eq!(back, reply);
        }
    }
}
