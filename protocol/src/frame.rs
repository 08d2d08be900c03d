//! Framing: a u32 big-endian length prefix followed by a MessagePack body.
//!
//! ```text
//! +----------------+---------------------------------------+
//! | len: u32 (BE)  | body: `len` bytes of MessagePack      |
//! +----------------+---------------------------------------+
//! ```
//!
//! Bodies are encoded with rmp-serde's named-field form (structs as maps), so
//! a field added later is ignored by an older reader instead of shifting
//! every field after it. The length is checked against [`MAX_FRAME_LEN`]
//! before a single body byte is decoded, and decoding caps nesting at
//! [`MAX_DEPTH`], far below rmp-serde's default of 1024, so a hostile peer
//! cannot make the decoder recurse deeply.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Length of the frame header (the u32 length prefix), in bytes.
pub const HEADER_LEN: usize = 4;

/// Largest accepted frame body, in bytes (1 MiB).
///
/// A message body is capped far lower (see the server's limits); this bound
/// only keeps one frame from exhausting memory.
pub const MAX_FRAME_LEN: usize = 1 << 20;

/// Deepest accepted nesting of MessagePack arrays and maps in one frame.
///
/// The deepest legitimate message (a history page of messages with
/// reactions inside a response) nests about 10 levels.
pub const MAX_DEPTH: usize = 32;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix (or the encoded body) exceeds [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The announced or encoded body length, in bytes.
        len: usize,
        /// The limit, [`MAX_FRAME_LEN`].
        max: usize,
    },
    /// The body nests arrays or maps deeper than [`MAX_DEPTH`].
    #[error("frame nests deeper than {max} levels")]
    TooDeep {
        /// The limit, [`MAX_DEPTH`].
        max: usize,
    },
    /// The body is not a valid MessagePack encoding of the expected type.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The value could not be encoded (a serializer error; not expected for
    /// this crate's types).
    #[error("cannot encode frame: {0}")]
    Encode(String),
}

/// Encodes `msg` as one frame: length prefix plus MessagePack body.
///
/// # Errors
/// [`FrameError::TooLarge`] if the body exceeds [`MAX_FRAME_LEN`];
/// [`FrameError::Encode`] if serialization fails.
pub fn encode<T: Serialize>(msg: &T) -> Result<Bytes, FrameError> {
    let mut out = BytesMut::with_capacity(128).writer();
    out.get_mut().put_u32(0);
    rmp_serde::encode::write_named(&mut out, msg).map_err(|e| FrameError::Encode(e.to_string()))?;
    let mut buf = out.into_inner();
    let len = buf.len() - HEADER_LEN;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    // `len <= MAX_FRAME_LEN < u32::MAX`, so the cast is lossless.
    buf[..HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(buf.freeze())
}

/// The size of `msg`'s MessagePack body as [`encode`] writes it, in bytes,
/// without keeping the bytes: servers use it to fill pages up to a byte
/// budget. A value that cannot be encoded counts as `usize::MAX`.
pub fn encoded_len<T: Serialize>(msg: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match rmp_serde::encode::write_named(&mut count, msg) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// Checks a length prefix before the body is read.
///
/// # Errors
/// [`FrameError::TooLarge`] if `len` exceeds [`MAX_FRAME_LEN`].
pub fn check_len(len: u32) -> Result<usize, FrameError> {
    let len = len as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(len)
}

/// Decodes one frame body (without its length prefix).
///
/// # Errors
/// [`FrameError::TooLarge`] for a body over [`MAX_FRAME_LEN`],
/// [`FrameError::TooDeep`] for nesting over [`MAX_DEPTH`], and
/// [`FrameError::Malformed`] for anything that is not a `T`.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    check_len(u32::try_from(body.len()).unwrap_or(u32::MAX))?;
    let mut de = rmp_serde::Deserializer::from_read_ref(body);
    de.set_max_depth(MAX_DEPTH);
    T::deserialize(&mut de).map_err(|e| match e {
        rmp_serde::decode::Error::DepthLimitExceeded => FrameError::TooDeep { max: MAX_DEPTH },
        other => FrameError::Malformed(other.to_string()),
    })
}

/// Decodes the first frame in `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole frame: the caller
/// reads more bytes and tries again. On success returns the value and the
/// number of bytes it used, so frames never depend on how the transport
/// chunked them.
///
/// # Errors
/// As [`decode_body`]; an oversize length prefix fails at once, before the
/// body arrives.
pub fn decode<T: DeserializeOwned>(buf: &[u8]) -> Result<Option<(T, usize)>, FrameError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let mut len_bytes = [0u8; HEADER_LEN];
    len_bytes.copy_from_slice(header);
    let len = check_len(u32::from_be_bytes(len_bytes))?;
    let Some(body) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Ok(None);
    };
    let msg = decode_body(body)?;
    Ok(Some((msg, HEADER_LEN + len)))
}

/// An accumulating decoder for byte streams that arrive in arbitrary chunks.
#[derive(Debug, Default)]
pub struct FrameBuf {
    buf: BytesMut,
}

impl FrameBuf {
    /// An empty buffer.
    pub fn new() -> FrameBuf {
        FrameBuf::default()
    }

    /// Appends bytes as they arrived from the transport.
    pub fn extend(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Takes the next whole frame, if one is buffered.
    ///
    /// # Errors
    /// As [`decode`]. After an error the stream is unusable: the caller
    /// closes it.
    pub fn next_frame<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        match decode(&self.buf)? {
            Some((msg, used)) => {
                let _ = self.buf.split_to(used);
                Ok(Some(msg))
            }
            None => Ok(None),
        }
    }

    /// Number of bytes buffered but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}
