//! Frame I/O on QUIC streams. Reads never depend on chunk boundaries: the
//! length prefix is read whole with `read_exact`, then the body is read as
//! it arrives, so a peer that announces a large frame and holds the body
//! back pins only what it actually sent, and only until the body deadline
//! (`Deadlines::frame_body_ms`, default
//! [`crate::config::BODY_TIMEOUT_MS`]).

use chat_protocol::frame;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Why reading a frame failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer finished the stream cleanly between frames.
    #[error("stream finished")]
    Finished,
    /// The stream or connection failed.
    #[error("stream failed: {0}")]
    Stream(String),
    /// The body did not arrive within the body deadline.
    #[error("a frame's body did not arrive in time")]
    Stalled,
    /// The bytes were not a valid frame (or were over the size allowed).
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
}

/// Reads one frame's body (without its length prefix) from `recv`,
/// refusing frames over `max_len` bytes before reading their body.
///
/// # Errors
/// [`ReadError::Finished`] at a clean end of stream; [`ReadError::Frame`]
/// for an oversize frame; [`ReadError::Stalled`] for a body that takes
/// longer than `body_ms`; [`ReadError::Stream`] otherwise.
pub async fn read_body(
    recv: &mut quinn::RecvStream,
    max_len: usize,
    body_ms: u64,
) -> Result<Vec<u8>, ReadError> {
    let mut len = [0u8; frame::HEADER_LEN];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Err(ReadError::Finished),
        Err(e) => return Err(ReadError::Stream(e.to_string())),
    }
    let len = frame::check_len(u32::from_be_bytes(len))?;
    if len > max_len {
        return Err(frame::FrameError::TooLarge { len, max: max_len }.into());
    }
    // Grows with what arrives, never to the announced size up front.
    let mut body = Vec::with_capacity(len.min(16 * 1024));
    let read = tokio::time::timeout(
        Duration::from_millis(body_ms),
        (&mut *recv).take(len as u64).read_to_end(&mut body),
    )
    .await
    .map_err(|_| ReadError::Stalled)?;
    read.map_err(|e| ReadError::Stream(e.to_string()))?;
    if body.len() != len {
        return Err(ReadError::Stream(format!(
            "the stream ended inside a frame ({} of {len} bytes)",
            body.len()
        )));
    }
    Ok(body)
}
