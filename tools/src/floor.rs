//! The floors of `veim bench`: for each scenario, the work that cannot be
//! avoided, done with nothing else, in the same run. A floor uses the same
//! transport as the nodes (the node's own swarm: TCP, Noise, Yamux, its
//! framing), the same cryptographic calls on the same sizes and the same
//! durability (as many fsyncs per message, through the store's own group
//! commit, on raw files in folders of their own), so that veim / floor says
//! how much of a figure is veim's own cost.

use anyhow::Context;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use veim_node::net::{self, Client, InboundFrame, Limits};
use veim_node::storage::{GroupCommit, StoreError};
use veim_protocol::attachment::AttachmentRef;
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::envelope::{Draft, Recipient};
use veim_protocol::receipt::{Receipt, SignedReceipt};
use veim_protocol::wire::{NetRequest, NetResponse};
use veim_protocol::{Body, EncryptionKeypair, Envelope, ExchangeId, IdentityKeypair, MessageId, StateCode};

/// The requests a swarm receives.
pub type Inbox = tokio::sync::mpsc::Receiver<net::Inbound>;

/// Two of the node's swarms on loopback, one listening: a server whose
/// inbound requests the caller answers, and a client connected to it.
#[derive(Debug)]
pub struct SwarmPair {
    pub server: Client,
    pub client: Client,
    pub server_peer: libp2p::PeerId,
    pub addrs: Vec<libp2p::Multiaddr>,
    stops: [veim_node::shutdown::Trigger; 2],
}

impl SwarmPair {
    /// Starts both swarms, with no limit that a node's peer would meet
    /// before the measure's own load; returns them and the server's
    /// inbound requests.
    pub async fn start() -> anyhow::Result<(SwarmPair, Inbox)> {
        let unlimited = Limits::unbounded();
        let server_key = libp2p::identity::Keypair::generate_ed25519();
        let server_peer = server_key.public().to_peer_id();
        let listen: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/0".parse()?;
        let (server, inbound, server_loop) =
            net::new(server_key, std::slice::from_ref(&listen), unlimited, Default::default())?;
        let (stop_server, server_shutdown) = veim_node::shutdown::channel();
        tokio::spawn(server_loop.run(server_shutdown));
        let addrs = server.listen_addrs().await?;
        let (client, _client_inbound, client_loop) =
            net::new(libp2p::identity::Keypair::generate_ed25519(), &[], unlimited, Default::default())?;
        let (stop_client, client_shutdown) = veim_node::shutdown::channel();
        tokio::spawn(client_loop.run(client_shutdown));
        Ok((SwarmPair { server, client, server_peer, addrs, stops: [stop_server, stop_client] }, inbound))
    }

    /// A request from the client to the server; its answer.
    pub async fn request(&self, bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        Ok(self.client.request(self.server_peer, self.addrs.clone(), bytes).await?)
    }
}

impl Drop for SwarmPair {
    fn drop(&mut self) {
        for stop in &self.stops {
            stop.trigger();
        }
    }
}

/// One end's durable writes: appended to a raw file in a folder of its own
/// and made durable by the store's group commit (one fsync serves every
/// caller that asked while the previous one ran), as a node's store is.
#[derive(Debug, Clone)]
pub struct Journal {
    file: Arc<File>,
    group: Arc<GroupCommit>,
}

impl Journal {
    pub fn create(dir: &Path) -> anyhow::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("journal.bin");
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        Ok(Journal { file: Arc::new(file), group: Default::default() })
    }

    /// Appends `parts` as one write and returns once an fsync that started
    /// after it has finished.
    pub async fn append_durably(&self, parts: &[&[u8]]) -> anyhow::Result<()> {
        (&*self.file).write_all(&parts.concat())?;
        let file = self.file.clone();
        self.group.flush(move || file.sync_data().map_err(|e| StoreError::Internal(e.to_string()))).await?;
        Ok(())
    }

    /// fsyncs run so far.
    pub fn fsyncs(&self) -> u64 {
        self.group.runs()
    }
}

/// The keys and storage key of one end of the exchange floor.
#[derive(Debug)]
struct End {
    state: StateCode,
    identity: IdentityKeypair,
    encryption: EncryptionKeypair,
    vault: veim_node::home::vault::Vault,
    journal: Journal,
}

impl End {
    fn new(state: &str, dir: &Path) -> anyhow::Result<End> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        std::fs::create_dir_all(dir.join("keys"))?;
        let (vault, _) = veim_node::home::vault::Vault::load_or_create(dir, None, false, None)?;
        Ok(End {
            state: state.parse()?,
            identity: IdentityKeypair::generate(&mut rng),
            encryption: EncryptionKeypair::generate(&mut rng),
            vault,
            journal: Journal::create(&dir.join("store"))?,
        })
    }
}

/// The floor of an exchange: the sender seals the body for its recipient
/// and signs it (the envelope), seals it with its storage key and makes it
/// durable, sends it over the node's transport; the receiver verifies and
/// opens it, seals it with its own storage key, makes it durable and signs
/// a receipt; the sender verifies the receipt and makes it durable. Two
/// durable writes at the sender and one at the receiver, as a node makes;
/// nothing else (no record, no exchange, no audit entry, no directory).
#[derive(Debug)]
pub struct ExchangeFloor {
    pair: SwarmPair,
    sender: Arc<End>,
    receiver: Arc<End>,
    _dir: tempfile::TempDir,
}

impl ExchangeFloor {
    pub async fn start() -> anyhow::Result<ExchangeFloor> {
        let dir = tempfile::Builder::new().prefix("veim-floor-").tempdir()?;
        let sender = Arc::new(End::new("MEX", &dir.path().join("mex"))?);
        let receiver = Arc::new(End::new("SWE", &dir.path().join("swe"))?);
        let (pair, mut inbound) = SwarmPair::start().await?;
        let (server, me, from) = (pair.server.clone(), receiver.clone(), sender.identity.public());
        tokio::spawn(async move {
            while let Some(request) = inbound.recv().await {
                let (server, me) = (server.clone(), me.clone());
                tokio::spawn(async move {
                    let answer = match request.frame {
                        InboundFrame::Bytes(bytes) => receive(&me, &from, &bytes).await,
                        other => Err(anyhow::anyhow!("a frame not read: {other:?}")),
                    };
                    match answer {
                        Ok(bytes) => {
                            let _ = server.respond(request.channel, bytes).await;
                        }
                        // Unanswered: the sender's request fails and the run reports it.
                        Err(e) => tracing::error!(%e, "the exchange floor's receiver failed"),
                    }
                });
            }
        });
        Ok(ExchangeFloor { pair, sender, receiver, _dir: dir })
    }

    /// One message from the sender to the receiver, receipted.
    pub async fn send(&self, body: &Body) -> anyhow::Result<()> {
        let me = &*self.sender;
        let to = &*self.receiver;
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let message_id = MessageId::issued_by(me.state, &mut rng);
        let recipients = [Recipient { state: to.state, encryption_key: to.encryption.public() }];
        let draft = Draft {
            message_id,
            exchange_id: ExchangeId::for_request(me.state, message_id),
            sender: me.state,
            recipients: &recipients,
            sender_encryption_key: me.encryption.public(),
            created_at: veim_node::clock::now(),
            body,
        };
        let envelope = Envelope::seal(&draft, &me.identity, &mut rng)?;
        let envelope_bytes = codec::encode("envelope", &envelope)?;
        let envelope_hash = envelope.hash()?;
        let content = me.vault.seal_body(message_id, body)?;
        me.journal.append_durably(&[&envelope_bytes, &content]).await?;
        let request = codec::encode("request", &NetRequest::Deliver(Box::new(envelope)))?;
        let answer = self.pair.request(request).await?;
        let NetResponse::Receipt(receipt) = codec::decode::<NetResponse, MAX_FRAME>("response", &answer)? else {
            anyhow::bail!("the floor's receiver did not answer with a receipt");
        };
        receipt.verify(&to.identity.public())?;
        anyhow::ensure!(receipt.receipt.envelope_hash == envelope_hash, "a receipt for another envelope");
        me.journal.append_durably(&[&codec::encode("receipt", &receipt)?]).await
    }

    /// fsyncs run at the sender and at the receiver so far.
    pub fn fsyncs(&self) -> (u64, u64) {
        (self.sender.journal.fsyncs(), self.receiver.journal.fsyncs())
    }
}

/// The receiver's half of [`ExchangeFloor::send`]: the encoded receipt.
async fn receive(me: &End, from: &veim_protocol::PublicIdentity, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let NetRequest::Deliver(envelope) = codec::decode::<NetRequest, MAX_FRAME>("request", bytes)? else {
        anyhow::bail!("not a delivery");
    };
    envelope.verify(from)?;
    let envelope_hash = envelope.hash()?;
    let message_id = envelope.header.message_id;
    let body = envelope.open(me.state, &me.encryption)?;
    let content = me.vault.seal_body(message_id, &body)?;
    let envelope_bytes = codec::encode("envelope", &envelope)?;
    me.journal.append_durably(&[&envelope_bytes, &content]).await?;
    let receipt = Receipt { message_id, envelope_hash, recipient: me.state, stored_at: veim_node::clock::now() };
    Ok(codec::encode("response", &NetResponse::Receipt(SignedReceipt::sign(receipt, &me.identity)?))?)
}

/// The stream protocol of the attachment floor.
const COPY: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/veim-floor/copy/1");

/// A swarm of the node's transport (TCP, Noise, the node's Yamux) with
/// nothing but raw streams, driven by a task of its own until dropped.
fn stream_swarm() -> anyhow::Result<libp2p::Swarm<libp2p_stream::Behaviour>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(libp2p::tcp::Config::default().nodelay(true), libp2p::noise::Config::new, net::yamux_config)?
        .with_behaviour(|_| libp2p_stream::Behaviour::new())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(std::time::Duration::from_secs(300)))
        .build())
}

/// The floor of fetching an attachment: the sender's file of sealed chunks
/// copied over one stream of the node's transport; the recipient opens each
/// chunk (ChaCha20-Poly1305), hashes its plaintext (SHA-256) and appends the
/// sealed chunk to its file on a blocking thread while the stream brings the
/// next, syncing every 16 chunks and at the end, as a node's fetch does;
/// then checks the file's hash. No chunk requests, no records, no audit.
/// Returns MiB/s from the stream's opening to the file checked.
pub async fn attachment(plain: &Path, chunk_size: u32, dir: &Path) -> anyhow::Result<f64> {
    use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
    use veim_protocol::attachment::{TAG, open_chunk};
    std::fs::create_dir_all(dir)?;
    let sealed_path = dir.join("sealed.bin");
    let r = seal_file(plain, chunk_size, &sealed_path)?;

    let mut server = stream_swarm()?;
    server.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    let addr = loop {
        if let libp2p::swarm::SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let server_peer = *server.local_peer_id();
    let mut incoming =
        server.behaviour().new_control().accept(COPY).map_err(|e| anyhow::anyhow!("cannot accept streams: {e}"))?;
    // The server's swarm is driven until the recipient has checked the
    // file: a swarm dropped as soon as its side is written would cut the
    // connection with the last chunks still in its buffers.
    let mut drivers = Drivers(vec![tokio::spawn(async move {
        loop {
            server.select_next_some().await;
        }
    })]);
    let serving = tokio::spawn(async move {
        let (_, mut stream) = incoming.next().await.ok_or_else(|| anyhow::anyhow!("no stream came"))?;
        let mut file = tokio::fs::File::open(&sealed_path).await?;
        let mut buf = vec![0u8; chunk_size as usize + TAG as usize];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf).await?;
            if n == 0 {
                break;
            }
            stream.write_all(&buf[..n]).await?;
        }
        stream.close().await?;
        anyhow::Ok(())
    });

    let mut client = stream_swarm()?;
    let mut control = client.behaviour().new_control();
    client.dial(libp2p::swarm::dial_opts::DialOpts::peer_id(server_peer).addresses(vec![addr]).build())?;
    drivers.0.push(tokio::spawn(async move {
        loop {
            client.select_next_some().await;
        }
    }));

    let started = std::time::Instant::now();
    let mut stream = control.open_stream(server_peer, COPY).await?;
    let (chunks, mut chunks_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let out_path = dir.join("received.bin");
    let writer = {
        let (r, out_path) = (r.clone(), out_path.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            use sha2::Digest;
            let mut file = File::create(&out_path)?;
            let mut hasher = sha2::Sha256::new();
            let mut index = 0;
            while let Some(sealed) = chunks_rx.blocking_recv() {
                hasher.update(open_chunk(&r, index, &sealed)?);
                file.write_all(&sealed)?;
                index += 1;
                if index.is_multiple_of(16) {
                    file.sync_data()?;
                }
            }
            file.sync_all()?;
            anyhow::ensure!(index == r.chunks(), "{index} chunks of {} came", r.chunks());
            let digest: [u8; 32] = hasher.finalize().into();
            anyhow::ensure!(digest == r.sha256.0, "the copy's SHA-256 does not match");
            Ok(())
        })
    };
    for index in 0..r.chunks() {
        let mut sealed = vec![0u8; (r.chunk_len(index) + TAG) as usize];
        stream
            .read_exact(&mut sealed)
            .await
            .with_context(|| format!("the floor's stream ended before chunk {index} of {}", r.chunks()))?;
        if chunks.send(sealed).await.is_err() {
            break; // the writer stopped on an error of its own, reported below
        }
    }
    drop(chunks);
    writer.await??;
    let rate = r.size as f64 / (1024.0 * 1024.0) / started.elapsed().as_secs_f64();
    serving.await??;
    drop(drivers);
    let _ = std::fs::remove_file(out_path);
    Ok(rate)
}

/// The tasks that drive the floor's swarms, stopped when dropped (at the end
/// of the copy, or when it fails).
struct Drivers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Drivers {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The file of sealed chunks a sender holds once it staged `plain`.
fn seal_file(plain: &Path, chunk_size: u32, out: &Path) -> anyhow::Result<AttachmentRef> {
    use sha2::Digest;
    use std::io::Read;
    use veim_protocol::attachment::seal_chunk;
    let size = std::fs::metadata(plain)?.len();
    let mut r = AttachmentRef {
        id: veim_protocol::ids::AttachmentId([7; 16]),
        name: "floor".into(),
        size,
        sha256: veim_protocol::Bytes32([0; 32]),
        chunk_size,
        key: veim_protocol::Bytes32([9; 32]),
    };
    let (mut input, mut output) = (File::open(plain)?, std::io::BufWriter::new(File::create(out)?));
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; chunk_size as usize];
    for index in 0..r.chunks() {
        let len = r.chunk_len(index) as usize;
        input.read_exact(&mut buf[..len])?;
        hasher.update(&buf[..len]);
        output.write_all(&seal_chunk(&r, index, &buf[..len])?)?;
    }
    output.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    r.sha256 = veim_protocol::Bytes32(hasher.finalize().into());
    Ok(r)
}
