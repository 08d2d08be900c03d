//! The server's UDP socket, bound with large kernel buffers.
//!
//! Every QUIC connection of chatd shares this one socket. When many clients
//! connect at once (a ward's terminals after a network blip, the catch-up
//! benchmark's 1,000 reconnecting clients) their Initial packets, each
//! padded to at least 1,200 bytes (RFC 9000 §14.1), arrive faster than the
//! endpoint task drains them. Linux's default receive buffer
//! (`net.core.rmem_default`, 208 KiB here) holds fewer than 100 such
//! packets; the rest are dropped and each dropped client waits a whole
//! probe timeout (about 1 s, doubling) before retrying: the 1–12 s connect
//! tail measured in BENCHMARKS.md ("Catch-up"). A larger buffer absorbs the
//! burst instead.

use std::net::{SocketAddr, UdpSocket};

/// Receive and send buffer size chatd asks the kernel for, bytes (8 MiB:
/// about 3,000 full-size Initial packets with Linux's per-packet overhead).
/// Linux caps the request at `net.core.rmem_max` / `wmem_max`; raise those
/// with `sysctl` to get the full size.
pub const BUFFER_BYTES: usize = 8 << 20;

/// A bound, non-blocking UDP socket with its effective buffer sizes.
#[derive(Debug)]
pub struct Bound {
    /// The socket, ready for `quinn::Endpoint::new`.
    pub socket: UdpSocket,
    /// The receive buffer the kernel granted, bytes.
    pub recv_buffer: usize,
    /// The send buffer the kernel granted, bytes.
    pub send_buffer: usize,
}

/// Binds `addr` with receive and send buffers of `buffer_bytes` where the
/// kernel allows (see [`BUFFER_BYTES`]). A buffer the kernel refuses to
/// resize is left at its default rather than failing the start.
///
/// # Errors
/// The socket cannot be created or bound (address in use, no permission).
pub fn bind(addr: SocketAddr, buffer_bytes: usize) -> std::io::Result<Bound> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(buffer_bytes) {
        tracing::warn!(error = %e, "cannot enlarge the UDP receive buffer; keeping the default");
    }
    if let Err(e) = socket.set_send_buffer_size(buffer_bytes) {
        tracing::warn!(error = %e, "cannot enlarge the UDP send buffer; keeping the default");
    }
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    let recv_buffer = socket.recv_buffer_size()?;
    let send_buffer = socket.send_buffer_size()?;
    Ok(Bound {
        socket: socket.into(),
        recv_buffer,
        send_buffer,
    })
}

/// The buffer the kernel really granted, from the size `getsockopt`
/// reports: Linux reports double what it allows for packet data (the other
/// half is its bookkeeping, socket(7) `SO_RCVBUF`), so a request for 8 MiB
/// capped at `rmem_max` = 4 MiB reads back as 8 MiB.
pub fn granted(reported: usize) -> usize {
    if cfg!(target_os = "linux") {
        reported / 2
    } else {
        reported
    }
}

/// What was granted when it is less than `wanted`, for the start-up
/// warning; `None` when the kernel granted the whole request.
pub fn shortfall(reported: usize, wanted: usize) -> Option<usize> {
    let got = granted(reported);
    (got < wanted).then_some(got)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_doubled_figure_linux_reports_is_halved_before_comparing() {
        // rmem_max of 4 MiB: Linux reports 8 MiB, but only 4 MiB is granted.
        assert_eq!(shortfall(8 << 20, BUFFER_BYTES), Some(4 << 20));
        // The full 8 MiB granted reads back as 16 MiB: no warning.
        assert_eq!(shortfall(16 << 20, BUFFER_BYTES), None);
        // The usual default (208 KiB) reads back as 416 KiB.
        assert_eq!(shortfall(425_984, BUFFER_BYTES), Some(212_992));
    }

    #[test]
    fn binds_an_ephemeral_port_with_at_least_the_default_buffers() {
        let bound = bind("127.0.0.1:0".parse().unwrap(), BUFFER_BYTES).unwrap();
        assert_ne!(bound.socket.local_addr().unwrap().port(), 0);
        // Linux reports double the granted size (bookkeeping overhead) and
        // never less than its default, so at least a small buffer is there.
        assert!(bound.recv_buffer >= 4096, "{}", bound.recv_buffer);
        assert!(bound.send_buffer >= 4096, "{}", bound.send_buffer);
    }

    #[test]
    fn an_address_in_use_is_an_error_not_a_panic() {
        let first = bind("127.0.0.1:0".parse().unwrap(), BUFFER_BYTES).unwrap();
        let addr = first.socket.local_addr().unwrap();
        assert!(bind(addr, BUFFER_BYTES).is_err());
    }
}
