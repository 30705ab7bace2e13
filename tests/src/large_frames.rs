//! A Yamux that sends data frames as large as the window its peer grants, as
//! js-libp2p's Yamux does, for the tests of a node's interoperability with
//! other implementations.
//!
//! rust-yamux refuses (and drops the whole connection for) a data frame over
//! 1 MiB, yet grows the receive window it grants well past that; a peer that
//! fills the window in one frame, which the Yamux specification allows, is
//! cut off. A node must therefore never grant more than it accepts. This
//! muxer also records the largest data frame it sent, so that a test can show
//! the window really grew; and it receives everything `latency` late, as
//! across the world: rust-yamux doubles a stream's window only when the
//! sender used it up within two round trips, which on the loopback's
//! microseconds it seldom does.

use futures::{AsyncRead, AsyncWrite, ready};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The connection upgrade: `/yamux/1.0.0`, with frames as large as the window.
#[derive(Debug, Clone)]
pub struct WindowSizedFrames {
    /// The largest data frame body sent on any connection, in bytes.
    pub largest: Arc<AtomicUsize>,
    /// How late what the node sends arrives.
    pub latency: Duration,
}

impl UpgradeInfo for WindowSizedFrames {
    type Info = &'static str;
    type InfoIter = std::iter::Once<&'static str>;
    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once("/yamux/1.0.0")
    }
}

impl WindowSizedFrames {
    fn muxer<C: AsyncRead + AsyncWrite + Send + Unpin + 'static>(self, io: C, mode: yamux::Mode) -> Muxer<C> {
        let mut config = yamux::Config::default();
        config.set_split_send_size(usize::MAX);
        let (reader, writer) = futures::AsyncReadExt::split(io);
        let (arrived, arrivals) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(delay(reader, arrived, self.latency));
        let tap = Tap { arrivals, due: None, writer, largest: self.largest, header: Vec::new(), body_left: 0 };
        Muxer { connection: yamux::Connection::new(tap, config, mode), inbound: VecDeque::new(), inbound_waker: None }
    }
}

impl<C: AsyncRead + AsyncWrite + Send + Unpin + 'static> InboundConnectionUpgrade<C> for WindowSizedFrames {
    type Output = Muxer<C>;
    type Error = io::Error;
    type Future = futures::future::Ready<Result<Muxer<C>, io::Error>>;
    fn upgrade_inbound(self, io: C, _: &'static str) -> Self::Future {
        futures::future::ready(Ok(self.muxer(io, yamux::Mode::Server)))
    }
}

impl<C: AsyncRead + AsyncWrite + Send + Unpin + 'static> OutboundConnectionUpgrade<C> for WindowSizedFrames {
    type Output = Muxer<C>;
    type Error = io::Error;
    type Future = futures::future::Ready<Result<Muxer<C>, io::Error>>;
    fn upgrade_outbound(self, io: C, _: &'static str) -> Self::Future {
        futures::future::ready(Ok(self.muxer(io, yamux::Mode::Client)))
    }
}

/// Reads what the node sends as it comes, and hands it on `latency` later.
async fn delay<R: AsyncRead + Unpin>(
    mut reader: R,
    arrived: tokio::sync::mpsc::UnboundedSender<(tokio::time::Instant, Vec<u8>)>,
    latency: Duration,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match futures::AsyncReadExt::read(&mut reader, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if arrived.send((tokio::time::Instant::now() + latency, buf[..n].to_vec())).is_err() {
            return;
        }
    }
}

/// The muxer (the shape of libp2p-yamux's).
pub struct Muxer<C> {
    connection: yamux::Connection<Tap<C>>,
    inbound: VecDeque<Stream>,
    inbound_waker: Option<Waker>,
}

impl<C> std::fmt::Debug for Muxer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Muxer")
    }
}

fn muxer_error(e: yamux::ConnectionError) -> io::Error {
    io::Error::other(e.to_string())
}

impl<C: AsyncRead + AsyncWrite + Unpin + 'static> Muxer<C> {
    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<Stream, io::Error>> {
        let stream = ready!(self.connection.poll_next_inbound(cx))
            .ok_or_else(|| muxer_error(yamux::ConnectionError::Closed))?
            .map_err(muxer_error)?;
        Poll::Ready(Ok(Stream(stream)))
    }
}

impl<C: AsyncRead + AsyncWrite + Unpin + 'static> StreamMuxer for Muxer<C> {
    type Substream = Stream;
    type Error = io::Error;

    fn poll_inbound(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Stream, io::Error>> {
        if let Some(stream) = self.inbound.pop_front() {
            return Poll::Ready(Ok(stream));
        }
        if let Poll::Ready(res) = self.poll_inner(cx) {
            return Poll::Ready(res);
        }
        self.inbound_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_outbound(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Stream, io::Error>> {
        let stream = ready!(self.connection.poll_new_outbound(cx)).map_err(muxer_error)?;
        Poll::Ready(Ok(Stream(stream)))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        self.connection.poll_close(cx).map_err(muxer_error)
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<StreamMuxerEvent, io::Error>> {
        let this = self.get_mut();
        let stream = ready!(this.poll_inner(cx))?;
        this.inbound.push_back(stream);
        if let Some(waker) = this.inbound_waker.take() {
            waker.wake();
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A stream of the muxer.
#[derive(Debug)]
pub struct Stream(yamux::Stream);

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// Passes bytes through, what it reads late, and reads the Yamux frame
/// headers it writes (12 bytes: version, type, flags, stream id, length; a
/// data frame, type 0, is followed by `length` bytes of body) to record the
/// largest data frame.
struct Tap<C> {
    arrivals: tokio::sync::mpsc::UnboundedReceiver<(tokio::time::Instant, Vec<u8>)>,
    /// The bytes that arrived first and when they are due, with the part handed on.
    due: Option<(Pin<Box<tokio::time::Sleep>>, Vec<u8>, usize)>,
    writer: futures::io::WriteHalf<C>,
    largest: Arc<AtomicUsize>,
    header: Vec<u8>,
    body_left: usize,
}

impl<C> Tap<C> {
    fn saw(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (12 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() == 12 {
                let length = u32::from_be_bytes([self.header[8], self.header[9], self.header[10], self.header[11]]);
                if self.header[1] == 0 {
                    self.body_left = length as usize;
                    self.largest.fetch_max(length as usize, Ordering::Relaxed);
                }
                self.header.clear();
            }
        }
    }
}

impl<C: AsyncRead + AsyncWrite + Unpin> AsyncRead for Tap<C> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.due.is_none() {
            match ready!(this.arrivals.poll_recv(cx)) {
                None => return Poll::Ready(Ok(0)),
                Some((at, bytes)) => this.due = Some((Box::pin(tokio::time::sleep_until(at)), bytes, 0)),
            }
        }
        let Some((sleep, bytes, handed)) = &mut this.due else { return Poll::Pending };
        ready!(sleep.as_mut().poll(cx));
        let n = (bytes.len() - *handed).min(buf.len());
        buf[..n].copy_from_slice(&bytes[*handed..*handed + n]);
        *handed += n;
        if *handed == bytes.len() {
            this.due = None;
        }
        Poll::Ready(Ok(n))
    }
}

impl<C: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Tap<C> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.writer).poll_write(cx, buf))?;
        self.saw(&buf[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_close(cx)
    }
}
