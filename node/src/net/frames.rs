//! The `/veim/2` frames: a 4-byte big-endian length, then that many bytes;
//! and the request-response behaviour that carries them, wrapped so that
//! each connection's codec knows its peer.
//!
//! `request_response::Behaviour` clones its codec once per connection (in
//! `handle_established_*`, where the peer is known) and the connection's
//! handler clones that copy once per stream. The codec has no peer id of
//! its own, so [`Framed`] puts the peer in a slot just before it lets the
//! inner behaviour build the handler, and the codec's `clone` takes it from
//! there: the connection's copy keeps it, and every stream's copy inherits
//! it. A copy that finds no peer is held as a stranger: the safe side.
//!
//! Knowing the peer, the codec reads a frame's length, then decides by the
//! peer's standing whether to read the body at all ([`held`](super::held)),
//! and reads it in steps as it arrives, never allocating a claimed length
//! up front.

use super::held::{Held, Listed, Refused, Reserved, Stream};
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use std::io;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use veim_protocol::codec::MAX_FRAME;

/// A request as it came off the wire: its bytes, or why they were not read.
#[derive(Debug, Clone)]
pub enum InboundFrame {
    Bytes(Vec<u8>),
    /// Over the size this peer may send: `limit` is the protocol's, or the
    /// strangers' (`listed` false). The bytes are never read.
    Oversized {
        len: u64,
        limit: u64,
        listed: bool,
    },
    /// Not read now: a bound on the bytes held for unfinished frames, or on
    /// a stranger's open streams, is reached; answered `Busy` by the swarm.
    Deferred(super::held::Busy),
}

/// Bytes read at a time into a frame's buffer, which grows (at most doubling)
/// with what has arrived, never past the claimed length.
const READ_STEP: usize = 64 * 1024;

/// Reads `len` bytes as they arrive.
async fn read_body<T: futures::AsyncRead + Unpin + Send>(io: &mut T, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len.min(READ_STEP));
    while buf.len() < len {
        let start = buf.len();
        let end = (start + READ_STEP).min(len);
        if end > buf.capacity() {
            let capacity = (2 * buf.capacity()).min(len).max(end);
            buf.reserve_exact(capacity - start);
        }
        // Zeroed a step at a time, not the whole capacity at each read.
        buf.resize(end, 0);
        let n = io.read(&mut buf[start..end]).await?;
        buf.truncate(start + n);
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ended inside a frame"));
        }
    }
    Ok(buf)
}

async fn read_len<T: futures::AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<u64> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    Ok(u32::from_be_bytes(len) as u64)
}

async fn write_frame<T: futures::AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    if bytes.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes is over the {MAX_FRAME}-byte limit", bytes.len()),
        ));
    }
    io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

/// What every copy of the codec shares.
#[derive(Debug)]
struct Shared {
    listed: Arc<Listed>,
    held: Arc<Held>,
    /// The peer of the connection whose handler is being built (see the
    /// module's documentation).
    next_peer: Mutex<Option<PeerId>>,
}

/// The `/veim/2` codec: one copy per connection, then one per stream.
#[derive(Debug)]
pub struct FrameCodec {
    shared: Arc<Shared>,
    peer: Option<PeerId>,
    /// This stream's place in its peer's count, from its first read to its end.
    stream: Option<Stream>,
}

impl Clone for FrameCodec {
    fn clone(&self) -> Self {
        let peer = self.peer.or_else(|| self.shared.next_peer.lock().ok().and_then(|mut p| p.take()));
        FrameCodec { shared: self.shared.clone(), peer, stream: None }
    }
}

impl FrameCodec {
    /// Opens this stream's account, then reads the length and (if the peer
    /// may send that much now) the body, holding its length meanwhile.
    async fn read_inbound<T: futures::AsyncRead + Unpin + Send>(&mut self, io: &mut T) -> io::Result<InboundFrame> {
        let listed = self.shared.listed.contains(self.peer.as_ref());
        let stream = match self.shared.held.open(self.peer, listed) {
            Ok(s) => self.stream.insert(s),
            Err(refused) => return Ok(unread(refused)),
        };
        let len = read_len(io).await?;
        let reserved: Reserved = match stream.reserve(len) {
            Ok(r) => r,
            Err(refused) => return Ok(unread(refused)),
        };
        let bytes = read_body(io, len as usize).await?;
        // Handed on: what the handlers hold is bounded by their queue.
        drop(reserved);
        tracing::trace!(peer = ?self.peer, listed = stream.listed(), len, "frame read");
        Ok(InboundFrame::Bytes(bytes))
    }
}

fn unread(refused: Refused) -> InboundFrame {
    match refused {
        Refused::TooLarge { len, limit, listed } => InboundFrame::Oversized { len, limit, listed },
        Refused::Busy(busy) => InboundFrame::Deferred(busy),
    }
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = InboundFrame;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<InboundFrame>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        self.read_inbound(io).await
    }

    /// Answers come from peers this node asked: up to the protocol's frame,
    /// read as they arrive.
    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        let len = read_len(io).await?;
        if len > MAX_FRAME as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("response of {len} bytes is over the {MAX_FRAME}-byte limit"),
            ));
        }
        read_body(io, len as usize).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: InboundFrame) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        match req {
            InboundFrame::Bytes(bytes) => write_frame(io, &bytes).await,
            other => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("cannot send {other:?}"))),
        }
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: Vec<u8>) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

type Inner = request_response::Behaviour<FrameCodec>;

/// The request-response behaviour of `/veim/2`, whose codecs know their peer.
#[allow(missing_debug_implementations)]
pub struct Framed {
    inner: Inner,
    shared: Arc<Shared>,
}

impl Framed {
    pub(super) fn new(listed: Arc<Listed>, held: Arc<Held>, config: request_response::Config) -> Framed {
        let shared = Arc::new(Shared { listed, held, next_peer: Mutex::new(None) });
        let codec = FrameCodec { shared: shared.clone(), peer: None, stream: None };
        let inner = request_response::Behaviour::with_codec(
            codec,
            [(StreamProtocol::new(veim_protocol::WIRE_PROTOCOL), ProtocolSupport::Full)],
            config,
        );
        Framed { inner, shared }
    }

    pub(super) fn inner(&mut self) -> &mut Inner {
        &mut self.inner
    }

    /// Runs `build` (the inner behaviour building a connection's handler,
    /// which clones the codec once) with `peer` in the slot.
    fn for_peer<R>(&mut self, peer: PeerId, build: impl FnOnce(&mut Inner) -> R) -> R {
        if let Ok(mut slot) = self.shared.next_peer.lock() {
            *slot = Some(peer);
        }
        let built = build(&mut self.inner);
        if let Ok(mut slot) = self.shared.next_peer.lock() {
            *slot = None;
        }
        built
    }
}

impl NetworkBehaviour for Framed {
    type ConnectionHandler = THandler<Inner>;
    type ToSwarm = <Inner as NetworkBehaviour>::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner.handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.for_peer(peer, |inner| {
            inner.handle_established_inbound_connection(connection_id, peer, local_addr, remote_addr)
        })
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(connection_id, maybe_peer, addresses, effective_role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.for_peer(peer, |inner| {
            inner.handle_established_outbound_connection(connection_id, peer, addr, role_override, port_use)
        })
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event)
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner.on_connection_handler_event(peer_id, connection_id, event)
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::held::HeldLimits;

    fn shared() -> Arc<Shared> {
        let limits = HeldLimits {
            max_frame: MAX_FRAME as u64,
            stranger_max_frame: 1024,
            stranger_streams: 2,
            peer_bytes: 2 * MAX_FRAME as u64,
            stranger_bytes: 2048,
            strangers_bytes: 4096,
            total_bytes: 4 * MAX_FRAME as u64,
        };
        Arc::new(Shared { listed: Arc::default(), held: Held::new(limits), next_peer: Mutex::new(None) })
    }

    #[test]
    fn a_connections_codec_takes_its_peer_once_and_its_streams_inherit_it() {
        let shared = shared();
        let template = FrameCodec { shared: shared.clone(), peer: None, stream: None };
        let peer = PeerId::random();
        *shared.next_peer.lock().expect("lock") = Some(peer);
        let connection = template.clone();
        assert_eq!(connection.peer, Some(peer));
        // The slot is emptied: another connection's copy never gets it.
        assert_eq!(template.clone().peer, None);
        let stream = connection.clone();
        assert_eq!(stream.peer, Some(peer));
    }

    #[tokio::test]
    async fn a_strangers_large_frame_is_refused_before_its_body_is_read() {
        let shared = shared();
        let peer = PeerId::random();
        let mut codec = FrameCodec { shared: shared.clone(), peer: Some(peer), stream: None };
        // A length claiming 4 MiB, and no body at all: answered at once.
        let mut io = futures::io::Cursor::new((4u32 << 20).to_be_bytes().to_vec());
        let frame = codec.read_inbound(&mut io).await.expect("read");
        assert!(matches!(frame, InboundFrame::Oversized { len, limit: 1024, listed: false } if len == 4 << 20));
        // Listed, the same length is read (here it ends early: an error).
        shared.listed.set([peer].into());
        let mut codec = FrameCodec { shared, peer: Some(peer), stream: None };
        let mut io = futures::io::Cursor::new((4u32 << 20).to_be_bytes().to_vec());
        assert_eq!(codec.read_inbound(&mut io).await.expect_err("fails").kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn a_body_is_read_whole_in_steps() {
        for len in [0usize, 1, READ_STEP - 1, READ_STEP, READ_STEP + 1, 5 * READ_STEP + 7] {
            let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut io = futures::io::Cursor::new(body.clone());
            let read = read_body(&mut io, len).await.expect("read");
            assert_eq!(read, body);
            assert!(read.capacity() <= len, "{len}: capacity {}", read.capacity());
        }
    }
}
