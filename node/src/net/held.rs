//! What the node holds for frames it has not finished reading, and who it
//! holds it for.
//!
//! A frame's length comes first, its sender's standing is known (the codec
//! learns its connection's peer, see `frames`), and only then is the body
//! read: the claimed length is taken from the sender's share and from the
//! node's before a byte of it is read, and given back when the frame is
//! handed on or its stream fails. Peers outside the directory ("strangers")
//! legitimately send only small requests (a registration), so they get a
//! small frame limit, few streams at a time, and a small share of their own;
//! the States in the directory and the Secretariat ("listed" peers) keep the
//! protocol's full frame and a share that strangers cannot take.

use libp2p::PeerId;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

/// The peers this node's directory lists (the Secretariat and every State
/// not withdrawn, and keys rotated away from), as the node last told the
/// network layer. Everyone else is a stranger.
#[derive(Debug, Default)]
pub struct Listed(RwLock<HashSet<PeerId>>);

impl Listed {
    pub(super) fn new(peers: HashSet<PeerId>) -> Listed {
        Listed(RwLock::new(peers))
    }

    pub(super) fn set(&self, peers: HashSet<PeerId>) {
        if let Ok(mut set) = self.0.write() {
            *set = peers;
        }
    }

    /// Whether `peer` is listed; an unknown peer (`None`) never is.
    pub(super) fn contains(&self, peer: Option<&PeerId>) -> bool {
        peer.is_some_and(|p| self.0.read().is_ok_and(|set| set.contains(p)))
    }
}

/// The bounds on frames being read (see [`super::Limits`] for the defaults
/// and why).
#[derive(Debug, Clone, Copy)]
pub(super) struct HeldLimits {
    /// Largest frame anyone may send (the protocol's).
    pub max_frame: u64,
    /// Largest frame a stranger may send.
    pub stranger_max_frame: u64,
    /// Frames one stranger may have open at once (being read, or waiting
    /// for their answer), over all its connections.
    pub stranger_streams: u32,
    /// Bytes held for one listed peer's unfinished frames.
    pub peer_bytes: u64,
    /// Bytes held for one stranger's unfinished frames.
    pub stranger_bytes: u64,
    /// Bytes held for all strangers' unfinished frames together.
    pub strangers_bytes: u64,
    /// Bytes held for everyone's unfinished frames together.
    pub total_bytes: u64,
}

/// Why a frame is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Over the size this peer may send: `limit` is the protocol's, or the
    /// strangers' when `listed` is false.
    TooLarge { len: u64, limit: u64, listed: bool },
    /// Not now: a bound on what is held is reached. The peer may try again
    /// once its earlier requests are answered (or others' are).
    Busy(Busy),
}

/// Which bound a frame put off for now met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// The stranger has as many frames open as it may.
    StrangerStreams { limit: u32 },
    /// The peer's unfinished frames hold its share.
    PeerBytes { limit: u64 },
    /// All strangers' unfinished frames hold their share.
    StrangersBytes { limit: u64 },
    /// Everyone's unfinished frames hold the node's bound.
    TotalBytes { limit: u64 },
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Busy::StrangerStreams { limit } => {
                write!(f, "a peer not in the directory may have {limit} requests open at once; wait for their answers")
            }
            Busy::PeerBytes { limit } => write!(
                f,
                "this peer's unfinished requests hold the {limit} bytes it may have in flight; wait for their answers"
            ),
            Busy::StrangersBytes { limit } => write!(
                f,
                "requests from peers not in the directory hold the {limit} bytes they may have in flight; try again in a moment"
            ),
            Busy::TotalBytes { limit } => {
                write!(f, "unfinished requests hold the {limit} bytes this node reads at once; try again in a moment")
            }
        }
    }
}

#[derive(Debug, Default)]
struct PeerHeld {
    bytes: u64,
    streams: u32,
}

#[derive(Debug, Default)]
struct State {
    total: u64,
    strangers: u64,
    /// By peer; `None` is a connection whose peer the codec could not learn,
    /// held as one stranger.
    peers: HashMap<Option<PeerId>, PeerHeld>,
}

/// The accounts of what is held, shared by every connection's codec.
#[derive(Debug)]
pub(super) struct Held {
    limits: HeldLimits,
    state: Mutex<State>,
}

impl Held {
    pub(super) fn new(limits: HeldLimits) -> Arc<Held> {
        Arc::new(Held { limits, state: Mutex::new(State::default()) })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while the lock was held leaves counts that are still sums
        // of whole steps: go on with them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A stream of `peer` starts: counted until the returned guard drops.
    /// A stranger past its streams is put off.
    pub(super) fn open(self: &Arc<Self>, peer: Option<PeerId>, listed: bool) -> Result<Stream, Refused> {
        let mut state = self.state();
        let held = state.peers.entry(peer).or_default();
        if !listed && held.streams >= self.limits.stranger_streams {
            let limit = self.limits.stranger_streams;
            if held.streams == 0 && held.bytes == 0 {
                state.peers.remove(&peer);
            }
            return Err(Refused::Busy(Busy::StrangerStreams { limit }));
        }
        held.streams += 1;
        Ok(Stream { held: self.clone(), peer, listed })
    }

    fn close(&self, peer: &Option<PeerId>) {
        let mut state = self.state();
        if let Some(held) = state.peers.get_mut(peer) {
            held.streams = held.streams.saturating_sub(1);
            if held.streams == 0 && held.bytes == 0 {
                state.peers.remove(peer);
            }
        }
    }

    fn release(&self, peer: &Option<PeerId>, listed: bool, len: u64) {
        let mut state = self.state();
        state.total = state.total.saturating_sub(len);
        if !listed {
            state.strangers = state.strangers.saturating_sub(len);
        }
        if let Some(held) = state.peers.get_mut(peer) {
            held.bytes = held.bytes.saturating_sub(len);
            if held.streams == 0 && held.bytes == 0 {
                state.peers.remove(peer);
            }
        }
    }

    /// Bytes held now for everyone, and for strangers.
    #[cfg(test)]
    pub(super) fn totals(&self) -> (u64, u64) {
        let state = self.state();
        (state.total, state.strangers)
    }
}

/// One open stream of a peer: its standing as it opened, and its place in
/// the count of the peer's streams.
#[derive(Debug)]
pub(super) struct Stream {
    held: Arc<Held>,
    peer: Option<PeerId>,
    listed: bool,
}

impl Stream {
    pub(super) fn listed(&self) -> bool {
        self.listed
    }

    /// The largest frame this stream's peer may send.
    pub(super) fn max_frame(&self) -> u64 {
        let l = &self.held.limits;
        if self.listed { l.max_frame } else { l.stranger_max_frame.min(l.max_frame) }
    }

    /// Takes `len` bytes from the peer's share, the strangers' (for a
    /// stranger) and the node's, before the body is read; they are given back
    /// when the returned guard drops.
    pub(super) fn reserve(&self, len: u64) -> Result<Reserved, Refused> {
        let limit = self.max_frame();
        if len > limit {
            return Err(Refused::TooLarge { len, limit, listed: self.listed });
        }
        let l = &self.held.limits;
        let mut state = self.held.state();
        if state.total + len > l.total_bytes {
            return Err(Refused::Busy(Busy::TotalBytes { limit: l.total_bytes }));
        }
        if !self.listed && state.strangers + len > l.strangers_bytes {
            return Err(Refused::Busy(Busy::StrangersBytes { limit: l.strangers_bytes }));
        }
        let peer_limit = if self.listed { l.peer_bytes } else { l.stranger_bytes };
        let held = state.peers.entry(self.peer).or_default();
        if held.bytes + len > peer_limit {
            return Err(Refused::Busy(Busy::PeerBytes { limit: peer_limit }));
        }
        held.bytes += len;
        state.total += len;
        if !self.listed {
            state.strangers += len;
        }
        Ok(Reserved { held: self.held.clone(), peer: self.peer, listed: self.listed, len })
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.held.close(&self.peer);
    }
}

/// Bytes taken for one frame being read.
#[derive(Debug)]
pub(super) struct Reserved {
    held: Arc<Held>,
    peer: Option<PeerId>,
    listed: bool,
    len: u64,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.held.release(&self.peer, self.listed, self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HeldLimits {
        HeldLimits {
            max_frame: 1000,
            stranger_max_frame: 100,
            stranger_streams: 2,
            peer_bytes: 1500,
            stranger_bytes: 150,
            strangers_bytes: 300,
            total_bytes: 2000,
        }
    }

    #[test]
    fn a_strangers_frame_over_its_limit_is_refused_and_a_listed_peers_is_not() {
        let held = Held::new(limits());
        let stranger = held.open(Some(PeerId::random()), false).expect("within the bounds");
        assert_eq!(
            stranger.reserve(101).expect_err("refused"),
            Refused::TooLarge { len: 101, limit: 100, listed: false }
        );
        let listed = held.open(Some(PeerId::random()), true).expect("within the bounds");
        let r = listed.reserve(1000).expect("within the bounds");
        assert_eq!(
            listed.reserve(1001).expect_err("refused"),
            Refused::TooLarge { len: 1001, limit: 1000, listed: true }
        );
        assert_eq!(held.totals(), (1000, 0));
        drop(r);
        assert_eq!(held.totals(), (0, 0));
    }

    #[test]
    fn a_stranger_gets_few_streams_and_gets_them_back_as_they_close() {
        let held = Held::new(limits());
        let peer = Some(PeerId::random());
        let a = held.open(peer, false).expect("within the bounds");
        let _b = held.open(peer, false).expect("within the bounds");
        assert_eq!(held.open(peer, false).expect_err("refused"), Refused::Busy(Busy::StrangerStreams { limit: 2 }));
        // Another stranger has its own count; a listed peer has none.
        assert!(held.open(Some(PeerId::random()), false).is_ok());
        let listed = Some(PeerId::random());
        let many: Vec<_> = (0..10).map(|_| held.open(listed, true).expect("within the bounds")).collect();
        drop(a);
        assert!(held.open(peer, false).is_ok());
        drop(many);
    }

    #[test]
    fn bytes_held_are_bounded_per_peer_for_strangers_and_in_total() {
        let held = Held::new(limits());
        // One stranger: 150 bytes.
        let s1 = Some(PeerId::random());
        let st = held.open(s1, false).expect("within the bounds");
        let r1 = st.reserve(100).expect("within the bounds");
        assert_eq!(st.reserve(60).expect_err("refused"), Refused::Busy(Busy::PeerBytes { limit: 150 }));
        let r2 = st.reserve(50).expect("within the bounds");
        // All strangers: 300 bytes.
        let st2 = held.open(Some(PeerId::random()), false).expect("within the bounds");
        let r3 = st2.reserve(100).expect("within the bounds");
        let st3 = held.open(Some(PeerId::random()), false).expect("within the bounds");
        let r4 = st3.reserve(50).expect("within the bounds");
        assert_eq!(st3.reserve(1).expect_err("refused"), Refused::Busy(Busy::StrangersBytes { limit: 300 }));
        // Listed peers still have room past the strangers' share...
        let l1 = held.open(Some(PeerId::random()), true).expect("within the bounds");
        let r5 = l1.reserve(1000).expect("within the bounds");
        let r6 = l1.reserve(500).expect("within the bounds");
        assert_eq!(l1.reserve(1).expect_err("refused"), Refused::Busy(Busy::PeerBytes { limit: 1500 }));
        // ...up to the node's bound.
        let l2 = held.open(Some(PeerId::random()), true).expect("within the bounds");
        let r7 = l2.reserve(200).expect("within the bounds");
        assert_eq!(l2.reserve(1).expect_err("refused"), Refused::Busy(Busy::TotalBytes { limit: 2000 }));
        assert_eq!(held.totals(), (2000, 300));
        // Everything held is given back as frames are handed on or fail.
        drop((r1, r2, r3, r4, r5, r6, r7));
        assert_eq!(held.totals(), (0, 0));
        assert!(st.reserve(100).is_ok());
        drop((st, st2, st3, l1, l2));
        assert!(held.state().peers.is_empty(), "no account kept for peers holding nothing");
    }

    #[test]
    fn a_connection_whose_peer_is_unknown_is_held_as_a_stranger() {
        let held = Held::new(limits());
        let listed = Listed::new([PeerId::random()].into());
        assert!(!listed.contains(None));
        let s = held.open(None, listed.contains(None)).expect("within the bounds");
        assert_eq!(s.max_frame(), 100);
    }
}
