//! The harness of the multi-node tests: local networks of real nodes (each
//! with its own sled store in a temporary folder and its own libp2p swarm on
//! 127.0.0.1), node processes that can be killed, and a raw libp2p peer that
//! speaks `/veim/2` byte by byte, to send what a well-behaved node never would.

use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, noise, tcp, yamux};
use std::io;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;
use veim_node::home::keys::NodeKeys;
use veim_protocol::codec;
use veim_protocol::wire::{NetRequest, NetResponse};

pub mod browser;
pub mod console;
pub mod large_frames;
pub mod netns;
pub mod smtp;

pub use veim_tools::localnet::{LocalNet, LocalNode, blocking, wait_for};

/// A local network that owns its temporary folder.
#[derive(Debug)]
pub struct TestNet {
    pub net: LocalNet,
    pub dir: TempDir,
}

impl Deref for TestNet {
    type Target = LocalNet;
    fn deref(&self) -> &LocalNet {
        &self.net
    }
}

impl DerefMut for TestNet {
    fn deref_mut(&mut self) -> &mut LocalNet {
        &mut self.net
    }
}

impl TestNet {
    /// Stops `state`'s node in this process and starts it again as its own
    /// process (`binary`), which a test can kill. Returns its home folder.
    pub async fn as_process(&mut self, state: &str, binary: &str) -> anyhow::Result<(std::path::PathBuf, NodeProcess)> {
        self.national_mut(state).stop().await;
        let home = self.national(state).home.clone();
        let process = NodeProcess::started(binary, &home).await?;
        Ok((home, process))
    }

    /// A Secretariat and a national node per State, all admitted, every
    /// national node holding the final directory version.
    pub async fn admitted(states: &[&str]) -> anyhow::Result<TestNet> {
        TestNet::admitted_with(states, |_| {}).await
    }

    /// As [`TestNet::admitted`], with `tune` applied to every node's
    /// configuration before it first starts.
    pub async fn admitted_with(
        states: &[&str],
        tune: fn(&mut veim_node::home::config::Config),
    ) -> anyhow::Result<TestNet> {
        let dir = tempfile::Builder::new().prefix("veim-test-").tempdir()?;
        let mut net = LocalNet::tuned(dir.path(), tune).await?;
        for s in states {
            net.add_national(s, &format!("{s} export control authority")).await?;
        }
        let mut version = 0;
        for s in states {
            version = net.admit(s).await?.version;
        }
        net.wait_directory(version).await?;
        Ok(TestNet { net, dir })
    }

    pub async fn shutdown(self) {
        self.net.shutdown().await;
    }
}

/// Installs Debian `packages` with apt-get (`update`, then `install
/// --no-install-recommends`, noninteractive), for the tests that need
/// them (`needed_by`, as "the mail tests"): what a test calls, once a run
/// (behind its own `OnceLock`), when a program it runs is missing. The error
/// names the step that failed, what apt-get said, and the command to run by
/// hand as root.
pub fn apt_install(packages: &[&str], needed_by: &str) -> Result<(), String> {
    let by_hand = format!("apt-get install {}, as root", packages.join(" "));
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(packages);
    for args in [&["update", "-q"][..], &install[..]] {
        let out = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                format!("cannot run apt-get to install {}: {e}; {needed_by} need them ({by_hand})", packages.join(" "))
            })?;
        if !out.status.success() {
            return Err(format!(
                "apt-get {} failed: {}; {needed_by} need {} ({by_hand})",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim(),
                packages.join(" and ")
            ));
        }
    }
    Ok(())
}

/// Loads a node's keys from its home folder (the test plays that node).
pub fn keys_of(home: &Path) -> NodeKeys {
    NodeKeys::load(home).expect("node keys")
}

/// A node started as its own process (`veim-test-node`), to be killed.
#[derive(Debug)]
pub struct NodeProcess {
    pub child: Child,
}

impl NodeProcess {
    /// `binary` is `env!("CARGO_BIN_EXE_veim-test-node")` in the calling test.
    pub fn spawn(binary: &str, home: &Path) -> anyhow::Result<NodeProcess> {
        let mut command = Command::new(binary);
        command.arg("--home").arg(home);
        NodeProcess::spawn_command(command, home)
    }

    /// Runs `command`, which starts the node of `home`, with warnings
    /// logged to the test's stderr.
    fn spawn_command(mut command: Command, home: &Path) -> anyhow::Result<NodeProcess> {
        // A stale runtime.json from a killed process must not be mistaken for this one.
        let _ = std::fs::remove_file(home.join(veim_node::home::RUNTIME_FILE));
        let child = command.env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::inherit()).spawn()?;
        Ok(NodeProcess { child })
    }

    /// Spawns the node with `args` after `--home DIR`, `RUST_LOG=info` and
    /// no `NO_COLOR`, its log (stderr) written to the file `log`, and waits
    /// until it serves.
    pub async fn started_logging_to(
        binary: &str,
        home: &Path,
        args: &[&str],
        log: &Path,
    ) -> anyhow::Result<NodeProcess> {
        let _ = std::fs::remove_file(home.join(veim_node::home::RUNTIME_FILE));
        let child = Command::new(binary)
            .arg("--home")
            .arg(home)
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR")
            .env_remove(veim_node::LOG_FORMAT_ENV)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()?;
        let process = NodeProcess { child };
        process.ready(home).await?;
        Ok(process)
    }

    /// Spawns the node with no file it writes allowed past `max_file_bytes`
    /// (RLIMIT_FSIZE, the signal that would kill it ignored, so that writes
    /// fail as on a full disk), and waits until it serves.
    pub async fn started_with_file_limit(
        binary: &str,
        home: &Path,
        max_file_bytes: u64,
    ) -> anyhow::Result<NodeProcess> {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(format!("trap '' XFSZ; ulimit -S -f {}; exec \"$0\" --home \"$1\"", max_file_bytes / 1024))
            .arg(binary)
            .arg(home);
        let process = NodeProcess::spawn_command(command, home)?;
        process.ready(home).await?;
        Ok(process)
    }

    /// Spawns the node inside network namespace `namespace` (`ip netns
    /// exec`), as on a machine of its own, and waits until it serves there.
    pub async fn started_in(namespace: &str, binary: &str, home: &Path) -> anyhow::Result<NodeProcess> {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", namespace, binary, "--home"]).arg(home);
        let process = NodeProcess::spawn_command(command, home)?;
        let home = home.to_path_buf();
        wait_for(&format!("the node process in {namespace} to serve its admin API"), Duration::from_secs(20), || {
            netns::in_namespace(namespace, || {
                veim_tools::AdminClient::for_home(&home).ok()?.get::<serde_json::Value>("/v1/status").ok()
            })
            .ok()
            .flatten()
        })
        .await?;
        Ok(process)
    }

    /// Spawns the node and waits until it serves.
    pub async fn started(binary: &str, home: &Path) -> anyhow::Result<NodeProcess> {
        let process = NodeProcess::spawn(binary, home)?;
        process.ready(home).await?;
        Ok(process)
    }

    /// Waits until its admin API answers.
    pub async fn ready(&self, home: &Path) -> anyhow::Result<()> {
        let home = home.to_path_buf();
        wait_for("the node process to serve its admin API", Duration::from_secs(20), || {
            let api = veim_tools::AdminClient::for_home(&home).ok()?;
            api.get::<serde_json::Value>("/v1/status").ok()
        })
        .await
        .map(|_| ())
    }

    /// SIGKILL: no flush, no clean shutdown.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a flood of requests came to.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flood {
    pub busy: usize,
    pub answered: usize,
    pub failed: usize,
}

/// What a paced flood came to: the requests sent and their answers, and
/// how long after its start the node closed the connection, if it did.
#[derive(Debug, Default, Clone, Copy)]
pub struct PacedFlood {
    pub sent: usize,
    pub busy: usize,
    pub answered: usize,
    pub failed: usize,
    pub cut_off_after: Option<Duration>,
}

/// Whether an answer is the node's `Busy` refusal (past the allowance).
fn is_busy(response: &[u8]) -> bool {
    matches!(
        codec::decode::<NetResponse, { codec::MAX_FRAME }>("response", response),
        Ok(NetResponse::Refused(r)) if r.code == veim_protocol::wire::RefusalCode::Busy
    )
}

/// Frames bytes as the protocol does: 4-byte big-endian length, then the bytes.
pub fn frame(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// Writes requests exactly as given (the caller frames them, or not) and
/// reads framed answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_framed(io).await
    }

    async fn read_response<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_framed(io).await
    }

    async fn write_request<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        use futures::AsyncWriteExt;
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        use futures::AsyncWriteExt;
        io.write_all(&frame(&res)).await?;
        io.close().await
    }
}

async fn read_framed<T: futures::AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    use futures::AsyncReadExt;
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// A libp2p peer with a chosen identity that speaks `/veim/2` raw.
pub struct RawPeer {
    pub swarm: Swarm<request_response::Behaviour<RawCodec>>,
}

impl std::fmt::Debug for RawPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawPeer({})", self.swarm.local_peer_id())
    }
}

impl RawPeer {
    pub fn new(keypair: libp2p::identity::Keypair) -> anyhow::Result<RawPeer> {
        RawPeer::speaking(keypair, veim_protocol::WIRE_PROTOCOL)
    }

    /// A peer whose Yamux sends data frames as large as the window the node
    /// grants, as js-libp2p's does (see [`large_frames`]).
    pub fn with_window_sized_frames(
        keypair: libp2p::identity::Keypair,
        muxer: large_frames::WindowSizedFrames,
    ) -> anyhow::Result<RawPeer> {
        let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, move || muxer)?
            .with_behaviour(|_| RawPeer::behaviour())?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        Ok(RawPeer { swarm })
    }

    /// A peer that speaks the veim frames under another protocol name, as
    /// a node of another release would (`/veim/1`, say).
    pub fn speaking(keypair: libp2p::identity::Keypair, protocol: &'static str) -> anyhow::Result<RawPeer> {
        let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
            .with_behaviour(|_| RawPeer::behaviour_of(protocol))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        Ok(RawPeer { swarm })
    }

    fn behaviour() -> request_response::Behaviour<RawCodec> {
        RawPeer::behaviour_of(veim_protocol::WIRE_PROTOCOL)
    }

    fn behaviour_of(protocol: &'static str) -> request_response::Behaviour<RawCodec> {
        request_response::Behaviour::new(
            [(StreamProtocol::new(protocol), ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
        )
    }

    /// A peer with a fresh identity that no directory lists.
    pub fn stranger() -> anyhow::Result<RawPeer> {
        RawPeer::new(libp2p::identity::Keypair::generate_ed25519())
    }

    /// A peer holding a node's identity key.
    pub fn impersonating(home: &Path) -> anyhow::Result<RawPeer> {
        RawPeer::new(keys_of(home).libp2p_keypair())
    }

    /// Sends raw bytes (as given, frame included) and returns the framed answer.
    pub async fn send_raw(&mut self, peer: PeerId, addr: &str, bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let addr: Multiaddr = addr.parse()?;
        let id = self.swarm.behaviour_mut().send_request_with_addresses(&peer, bytes, vec![addr]);
        loop {
            match self.swarm.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { request_id, response },
                    ..
                }) if request_id == id => return Ok(response),
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure { request_id, error, .. })
                    if request_id == id =>
                {
                    anyhow::bail!("request failed: {error}")
                }
                _ => {}
            }
        }
    }

    /// Sends `n` copies of `bytes` (framed by the caller) at once and
    /// counts the answers: `Busy` refusals, other answers, and failures.
    pub async fn flood(&mut self, peer: PeerId, addr: &str, bytes: &[u8], n: usize) -> anyhow::Result<Flood> {
        let addr: Multiaddr = addr.parse()?;
        let mut open = std::collections::HashSet::new();
        for _ in 0..n {
            open.insert(self.swarm.behaviour_mut().send_request_with_addresses(
                &peer,
                bytes.to_vec(),
                vec![addr.clone()],
            ));
        }
        let mut flood = Flood::default();
        while !open.is_empty() {
            match self.swarm.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { request_id, response },
                    ..
                }) if open.remove(&request_id) => {
                    if is_busy(&response) {
                        flood.busy += 1
                    } else {
                        flood.answered += 1
                    }
                }
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure { request_id, .. })
                    if open.remove(&request_id) =>
                {
                    flood.failed += 1
                }
                _ => {}
            }
        }
        Ok(flood)
    }

    /// Sends copies of `bytes` (framed by the caller) at `per_sec`, paced
    /// (each 10 ms, as many as the time elapsed calls for, so that a late
    /// timer on a loaded machine does not lower the rate), until the node
    /// closes the connection or `at_most` has passed; then waits up to 5 s
    /// for the answers still open.
    pub async fn flood_paced(
        &mut self,
        peer: PeerId,
        addr: &str,
        bytes: &[u8],
        per_sec: f64,
        at_most: Duration,
    ) -> anyhow::Result<PacedFlood> {
        let addr: Multiaddr = addr.parse()?;
        let mut open = std::collections::HashSet::new();
        let mut flood = PacedFlood::default();
        let started = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut drain_until = None;
        loop {
            let sending = flood.cut_off_after.is_none() && started.elapsed() < at_most;
            if !sending {
                let until = *drain_until.get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_secs(5));
                if open.is_empty() || tokio::time::Instant::now() >= until {
                    break;
                }
            }
            tokio::select! {
                _ = tick.tick(), if sending => {
                    let due = (started.elapsed().as_secs_f64() * per_sec) as usize;
                    while flood.sent < due {
                        open.insert(self.swarm.behaviour_mut().send_request_with_addresses(
                            &peer,
                            bytes.to_vec(),
                            vec![addr.clone()],
                        ));
                        flood.sent += 1;
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(50)), if !sending => {}
                event = self.swarm.select_next_some() => match event {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message: request_response::Message::Response { request_id, response },
                        ..
                    }) if open.remove(&request_id) => {
                        if is_busy(&response) { flood.busy += 1 } else { flood.answered += 1 }
                    }
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure { request_id, .. })
                        if open.remove(&request_id) =>
                    {
                        flood.failed += 1
                    }
                    SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. }
                        if peer_id == peer && flood.cut_off_after.is_none() =>
                    {
                        flood.cut_off_after = Some(started.elapsed());
                    }
                    _ => {}
                },
            }
        }
        Ok(flood)
    }

    /// Sends a protocol request and decodes the answer.
    pub async fn send(&mut self, peer: PeerId, addr: &str, request: &NetRequest) -> anyhow::Result<NetResponse> {
        let bytes = codec::encode("request", request)?;
        let answer = self.send_raw(peer, addr, frame(&bytes)).await?;
        Ok(codec::decode::<NetResponse, { codec::MAX_FRAME }>("response", &answer)?)
    }

    /// Listens on `addr` and serves requests with `answer` while `work`
    /// runs on a task of its own (so that a blocking call in it never stalls
    /// this peer's swarm); returns what `work` returned.
    pub async fn serve_during<T: Send + 'static>(
        &mut self,
        addr: &str,
        answer: impl FnMut(NetRequest) -> NetResponse,
        work: impl Future<Output = T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let done = std::sync::Arc::new(std::sync::Mutex::new(None));
        let kept = done.clone();
        self.serve(addr, answer, move || async move {
            let out = tokio::spawn(work).await;
            *kept.lock().expect("not poisoned") = Some(out);
        })
        .await?;
        let out = done.lock().expect("not poisoned").take().expect("the work ran");
        out.map_err(|e| anyhow::anyhow!("the work alongside the peer failed: {e}"))
    }

    /// Listens on `addr`, then starts `until` and serves requests with
    /// `answer` until it completes.
    pub async fn serve<F: Future<Output = ()>>(
        &mut self,
        addr: &str,
        mut answer: impl FnMut(NetRequest) -> NetResponse,
        until: impl FnOnce() -> F,
    ) -> anyhow::Result<()> {
        self.swarm.listen_on(addr.parse()?)?;
        loop {
            if let SwarmEvent::NewListenAddr { .. } = self.swarm.select_next_some().await {
                break;
            }
        }
        let until = until();
        tokio::pin!(until);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(request_response::Event::Message {
                        message: request_response::Message::Request { request, channel, .. }, ..
                    }) = event {
                        let request: NetRequest = codec::decode::<_, { codec::MAX_FRAME }>("request", &request)?;
                        let response = codec::encode("response", &answer(request))?;
                        let _ = self.swarm.behaviour_mut().send_response(channel, response);
                    }
                }
                _ = &mut until => return Ok(()),
            }
        }
    }
}

/// The PeerId of a node from its home folder.
pub fn peer_of(home: &Path) -> PeerId {
    keys_of(home).peer_id()
}

/// The example request (deploy/examples/request.toml), sealed as `from` for
/// the national nodes `to` of `net`, signed by `signer`, with the exchange id
/// chosen by `exchange` (`ExchangeId::for_request` for a well-formed one).
pub fn seal_request(
    net: &LocalNet,
    signer: &veim_protocol::IdentityKeypair,
    from: &str,
    to: &[&str],
    created_at: i64,
    exchange: impl Fn(veim_protocol::StateCode, veim_protocol::MessageId) -> veim_protocol::ExchangeId,
) -> veim_protocol::Envelope {
    let form: veim_protocol::RequestForm =
        toml::from_str(include_str!("../../deploy/examples/request.toml")).expect("example request");
    let body = veim_protocol::Body::Request(form.parse().expect("valid"));
    seal_body(net, signer, from, to, created_at, exchange, &body)
}

/// `body` sealed as `from` for the national nodes `to` of `net`, signed by
/// `signer`, in the exchange `exchange` chooses from the sender and the new
/// message id.
pub fn seal_body(
    net: &LocalNet,
    signer: &veim_protocol::IdentityKeypair,
    from: &str,
    to: &[&str],
    created_at: i64,
    exchange: impl Fn(veim_protocol::StateCode, veim_protocol::MessageId) -> veim_protocol::ExchangeId,
    body: &veim_protocol::Body,
) -> veim_protocol::Envelope {
    use veim_protocol::envelope::{Draft, Recipient};
    let recipients: Vec<Recipient> = to
        .iter()
        .map(|s| Recipient {
            state: s.parse().expect("state"),
            encryption_key: keys_of(&net.national(s).home).encryption.public(),
        })
        .collect();
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let sender: veim_protocol::StateCode = from.parse().expect("state");
    let message_id = veim_protocol::MessageId::issued_by(sender, &mut rng);
    // The sender's own share, under its key if it is a node of the network.
    let own = net
        .nationals
        .iter()
        .find(|n| n.state == Some(sender))
        .map(|n| keys_of(&n.home).encryption.public())
        .unwrap_or_else(|| veim_protocol::EncryptionKeypair::from_secret_bytes(&[9; 32]).public());
    let draft = Draft {
        message_id,
        exchange_id: exchange(sender, message_id),
        sender,
        recipients: &recipients,
        sender_encryption_key: own,
        created_at,
        body,
    };
    veim_protocol::Envelope::seal(&draft, signer, &mut rng).expect("seal")
}

/// Delivers `envelope` to `to`'s node as `from`'s node would (a raw peer
/// under `from`'s keys), and returns the answer.
pub async fn deliver_as(
    net: &LocalNet,
    from: &str,
    to: &str,
    envelope: veim_protocol::Envelope,
) -> anyhow::Result<NetResponse> {
    let mut peer = RawPeer::impersonating(&net.national(from).home)?;
    let node = net.national(to);
    peer.send(peer_of(&node.home), &node.address, &NetRequest::Deliver(Box::new(envelope))).await
}

/// What a hostile node's own code can send: `draft` sealed and signed by
/// the steps of SPEC section 6.2 alone, with none of the checks this crate's
/// `Envelope::seal` makes first (that the message id is the sender's own).
pub fn seal_unchecked(
    draft: &veim_protocol::envelope::Draft<'_>,
    signer: &veim_protocol::IdentityKeypair,
) -> anyhow::Result<veim_protocol::Envelope> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use hpke::{Deserializable, OpModeS, Serializable};
    use veim_protocol::envelope::{KeyShare, content_commitment};
    use veim_protocol::keys::domain;
    type Kem = hpke::kem::X25519HkdfSha256;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let mut content_key = [0u8; 32];
    let mut nonce = [0u8; 12];
    rand_core::Rng::fill_bytes(&mut rng, &mut content_key);
    rand_core::Rng::fill_bytes(&mut rng, &mut nonce);
    let header = veim_protocol::Header {
        version: veim_protocol::PROTOCOL_VERSION,
        message_id: draft.message_id,
        exchange_id: draft.exchange_id,
        sender: draft.sender,
        sender_key: signer.public(),
        recipients: draft.recipients.iter().map(|r| r.state).collect(),
        created_at: draft.created_at,
        kind: draft.body.kind(),
        content_commitment: Some(content_commitment(&content_key)),
    };
    let header_bytes = codec::encode("header", &header)?;
    let mut key_shares = Vec::new();
    for r in draft.recipients {
        let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&r.encryption_key).map_err(|e| anyhow::anyhow!("{e}"))?;
        let info = veim_protocol::keys::domain_separated(domain::CONTENT_KEY, r.state.as_bytes());
        let (enc, wrapped) =
            hpke::single_shot_seal_with_rng::<hpke::aead::ChaCha20Poly1305, hpke::kdf::HkdfSha256, Kem>(
                &OpModeS::Base,
                &pk,
                &info,
                &content_key,
                &header_bytes,
                &mut rng,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        key_shares.push(KeyShare {
            recipient: r.state,
            enc: enc.to_bytes().as_slice().try_into()?,
            wrapped_key: wrapped.as_slice().try_into()?,
        });
    }
    let plaintext = codec::encode("body", draft.body)?;
    let aad = veim_protocol::keys::domain_separated(domain::ENVELOPE_BODY, &header_bytes);
    let ciphertext = chacha20poly1305::ChaCha20Poly1305::new(&content_key.into())
        .encrypt(&nonce.into(), Payload { msg: &plaintext, aad: &aad })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut envelope = veim_protocol::Envelope { header, key_shares, nonce, ciphertext, signature: [0; 64] };
    envelope.signature = signer.sign(domain::ENVELOPE_SIGNATURE, &envelope.signed_bytes()?);
    Ok(envelope)
}

/// The example request of `deploy/examples/request.toml`.
pub fn example_request() -> veim_protocol::RequestForm {
    toml::from_str(include_str!("../../deploy/examples/request.toml")).expect("example request")
}

/// One request of a [`Holder`]: bytes as given (a frame's length and as
/// much of its body as the test chooses); with `hold`, the stream is then
/// kept open and silent (the codec's write never ends: a peer holding a
/// frame unfinished, until the request times out); without, the stream is
/// closed after them and the node's answer read.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub bytes: Vec<u8>,
    pub hold: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct HoldingCodec;

impl request_response::Codec for HoldingCodec {
    type Protocol = StreamProtocol;
    type Request = Unfinished;
    type Response = Vec<u8>;

    async fn read_request<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Unfinished> {
        Ok(Unfinished { bytes: read_framed(io).await?, hold: false })
    }

    async fn read_response<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_framed(io).await
    }

    async fn write_request<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Unfinished,
    ) -> io::Result<()> {
        use futures::AsyncWriteExt;
        io.write_all(&req.bytes).await?;
        io.flush().await?;
        if req.hold {
            futures::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn write_response<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        use futures::AsyncWriteExt;
        io.write_all(&frame(&res)).await?;
        io.close().await
    }
}

/// A frame's length claiming `claimed` bytes, and the first `sent` of them.
pub fn unfinished_frame(claimed: u32, sent: usize) -> Vec<u8> {
    let mut out = claimed.to_be_bytes().to_vec();
    out.resize(4 + sent, 0x5a);
    out
}

/// What became of one request of a [`Holder`]: the node's answer, or why
/// there was none.
pub type HeldAnswer = Result<NetResponse, String>;

/// A peer that opens requests and holds them unfinished ([`Unfinished`]),
/// driven by a task of its own so that what it holds stays held: requests
/// go in with [`Holder::send`], answers come out of [`Holder::answer`].
/// Dropping it lets everything go.
#[derive(Debug)]
pub struct Holder {
    pub peer_id: PeerId,
    requests: tokio::sync::mpsc::UnboundedSender<Unfinished>,
    answers: tokio::sync::mpsc::UnboundedReceiver<HeldAnswer>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Holder {
    /// A holder with `keypair`, talking to `peer` at `addr`.
    pub fn new(keypair: libp2p::identity::Keypair, peer: PeerId, addr: &str) -> anyhow::Result<Holder> {
        let addr: Multiaddr = addr.parse()?;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
            .with_behaviour(|_| {
                request_response::Behaviour::with_codec(
                    HoldingCodec,
                    [(StreamProtocol::new(veim_protocol::WIRE_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(120))
                        .with_max_concurrent_streams(256),
                )
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
            .build();
        let peer_id = *swarm.local_peer_id();
        let (requests, mut incoming) = tokio::sync::mpsc::unbounded_channel::<Unfinished>();
        let (tx, answers) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut open = std::collections::HashSet::new();
            loop {
                tokio::select! {
                    request = incoming.recv() => match request {
                        Some(r) => {
                            open.insert(swarm.behaviour_mut().send_request_with_addresses(&peer, r, vec![addr.clone()]));
                        }
                        None => return,
                    },
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::Behaviour(request_response::Event::Message {
                            message: request_response::Message::Response { request_id, response },
                            ..
                        }) if open.remove(&request_id) => {
                            let answer = codec::decode::<NetResponse, { codec::MAX_FRAME }>("response", &response)
                                .map_err(|e| e.to_string());
                            let _ = tx.send(answer);
                        }
                        SwarmEvent::Behaviour(request_response::Event::OutboundFailure { request_id, error, .. })
                            if open.remove(&request_id) =>
                        {
                            let _ = tx.send(Err(error.to_string()));
                        }
                        _ => {}
                    },
                }
            }
        });
        Ok(Holder { peer_id, requests, answers, task })
    }

    /// A holder with a fresh identity that no directory lists.
    pub fn stranger(peer: PeerId, addr: &str) -> anyhow::Result<Holder> {
        Holder::new(libp2p::identity::Keypair::generate_ed25519(), peer, addr)
    }

    pub fn send(&self, bytes: Vec<u8>, hold: bool) {
        let _ = self.requests.send(Unfinished { bytes, hold });
    }

    /// The next answer (or failure), or an error after `within`.
    pub async fn answer(&mut self, within: Duration) -> anyhow::Result<HeldAnswer> {
        match tokio::time::timeout(within, self.answers.recv()).await {
            Ok(Some(a)) => Ok(a),
            Ok(None) => anyhow::bail!("the holder stopped"),
            Err(_) => anyhow::bail!("no answer within {within:?}"),
        }
    }
}
