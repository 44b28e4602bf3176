//! TLS inside TDS (MS-TDS 2.2.6.5, TDS 7.x): during the handshake every TLS record travels
//! in PRELOGIN packets; once it is done they flow as they are.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{PRELOGIN, packet};
use crate::server::Io;

/// TLS records carried in TDS PRELOGIN packets during the handshake, then passed as they
/// are once `raw` is set (TDS 7.x's TLS-in-TDS). Each flight the TLS layer flushes goes out
/// as one TDS message (split into 4 KiB packets, the last marked end-of-message): clients
/// feed one message to their TLS engine per read, as SQL Server sends them.
pub(super) struct TdsWrap {
    pub(super) inner: Box<dyn Io>,
    raw: Arc<AtomicBool>,
    header: [u8; 8],
    header_len: usize,
    remaining: usize,
    /// TLS bytes of the flight being written, not yet wrapped.
    staged: Vec<u8>,
    /// Wrapped bytes not yet written.
    out: Vec<u8>,
    packet_id: u8,
}

/// Payload bytes per TDS packet the decoy writes (the default packet size, 4096).
const PACKET_PAYLOAD: usize = 4096 - 8;

impl TdsWrap {
    pub(super) fn new(inner: Box<dyn Io>, raw: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            raw,
            header: [0; 8],
            header_len: 0,
            remaining: 0,
            staged: Vec::new(),
            out: Vec::new(),
            packet_id: 1,
        }
    }

    /// Wraps the staged flight into PRELOGIN packets and writes out everything queued.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.staged.is_empty() {
            let chunks = self.staged.chunks(PACKET_PAYLOAD).count();
            for (i, chunk) in self.staged.chunks(PACKET_PAYLOAD).enumerate() {
                let mut wrapped = packet(PRELOGIN, chunk);
                wrapped[1] = u8::from(i + 1 == chunks);
                wrapped[6] = self.packet_id;
                self.packet_id = self.packet_id.wrapping_add(1);
                self.out.extend_from_slice(&wrapped);
            }
            self.staged.clear();
        }
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.out.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for TdsWrap {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.raw.load(Ordering::Acquire) {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        while this.remaining == 0 {
            // The next packet's header, read to its last byte and no further: what follows
            // the handshake is not wrapped.
            let mut head = ReadBuf::new(&mut this.header[this.header_len..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut head))?;
            let n = head.filled().len();
            if n == 0 {
                return Poll::Ready(Ok(()));
            }
            this.header_len += n;
            if this.header_len == 8 {
                this.header_len = 0;
                let len = usize::from(u16::from_be_bytes([this.header[2], this.header[3]]));
                if this.header[0] != PRELOGIN || len < 8 {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "not a PRELOGIN packet during the TLS handshake",
                    )));
                }
                this.remaining = len - 8;
            }
        }
        let mut chunk = vec![0u8; buf.remaining().min(this.remaining)];
        let mut limited = ReadBuf::new(&mut chunk);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
        let n = limited.filled().len();
        this.remaining -= n;
        buf.put_slice(&chunk[..n]);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TdsWrap {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.raw.load(Ordering::Acquire) {
            ready!(this.poll_drain(cx))?;
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        if this.staged.len() >= 16 * PACKET_PAYLOAD {
            ready!(this.poll_drain(cx))?;
        }
        this.staged.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
