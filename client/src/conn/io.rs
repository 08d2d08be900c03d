//! Reading and writing whole frames on QUIC streams.
//!
//! A frame is read as the 4-byte length with `read_exact`, a length check,
//! then the body with `read_exact`, so nothing depends on how QUIC chunks
//! bytes. These futures are not cancel-safe (a cancelled read loses a
//! partial frame); each stream is therefore read by one task that forwards
//! whole frames over a channel, and callers wait on the channel.

use chat_protocol::frame::{HEADER_LEN, check_len, decode_body};
use quinn::{ReadError, ReadExactError, RecvStream};
use serde::de::DeserializeOwned;

/// Why a stream stopped yielding frames.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// The peer reset the stream with this application code.
    Reset(u32),
    /// The connection ended.
    Lost(quinn::ConnectionError),
    /// A frame was malformed, oversize, or cut short.
    Protocol(String),
}

/// Reads one frame. `Ok(None)` means the peer finished the stream cleanly
/// at a frame boundary.
pub(crate) async fn read_frame<T: DeserializeOwned>(
    recv: &mut RecvStream,
) -> Result<Option<T>, ReadEnd> {
    let mut header = [0u8; HEADER_LEN];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(map_err(e)),
    }
    let len =
        check_len(u32::from_be_bytes(header)).map_err(|e| ReadEnd::Protocol(e.to_string()))?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await.map_err(map_err)?;
    decode_body(&body)
        .map(Some)
        .map_err(|e| ReadEnd::Protocol(e.to_string()))
}

fn map_err(e: ReadExactError) -> ReadEnd {
    match e {
        ReadExactError::FinishedEarly(n) => {
            ReadEnd::Protocol(format!("stream ended inside a frame after {n} bytes"))
        }
        ReadExactError::ReadError(ReadError::Reset(code)) => {
            ReadEnd::Reset(u32::try_from(code.into_inner()).unwrap_or(u32::MAX))
        }
        ReadExactError::ReadError(ReadError::ConnectionLost(e)) => ReadEnd::Lost(e),
        ReadExactError::ReadError(other) => ReadEnd::Protocol(other.to_string()),
    }
}
