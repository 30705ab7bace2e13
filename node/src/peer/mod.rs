//! What peers ask of this node: each inbound request decoded, let through or
//! refused by the [`policy`] for who the peer is, handed to the service that
//! owns what it asks for (one line per kind of request), and answered; every
//! refusal recorded in the audit log (a stranger's within a bound).

pub mod policy;
mod refusal;

use crate::attachments::Attachments;
use crate::audit::Witness;
use crate::clock::now;
use crate::directory::{Directory, Publisher, SyncClient};
use crate::exchange::{Exchanges, RefusalCounts};
use crate::home::config::Role;
use crate::net::{Client, Inbound, InboundFrame};
use crate::publications::Publications;
use crate::reports::Reports;
use crate::shutdown::Shutdown;
use libp2p::PeerId;
use policy::{Kind, Refused, Standing};
use refusal::refusal;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::wire::{NetRequest, NetResponse, Refusal, RefusalCode, RegistrationStatus};

/// Inbound requests handled at once; more wait in the swarm's queue, which
/// answers `Busy` when it is full.
const MAX_CONCURRENT_HANDLERS: usize = 64;

/// The services peers' requests go to, by role.
#[derive(Debug)]
pub struct Peers {
    pub role: Role,
    pub client: Client,
    pub directory: Arc<Directory>,
    pub witness: Arc<Witness>,
    pub exchanges: Arc<Exchanges>,
    pub attachments: Arc<Attachments>,
    /// Told of what arrives, to mail the operators.
    pub mailer: Arc<crate::mail::Mailer>,
    pub reports: Arc<Reports>,
    pub publications: Arc<Publications>,
    /// The Secretariat's.
    pub publisher: Option<Arc<Publisher>>,
    /// A national node's.
    pub sync: Option<Arc<SyncClient>>,
    /// The refusals answered to peers' requests, by code (the swarm's own
    /// `Busy` answers are counted in `net::NetStats`).
    pub refused: RefusalCounts,
}

impl Peers {
    /// Handles inbound requests until `shutdown`, each in a task of its own,
    /// at most [`MAX_CONCURRENT_HANDLERS`] at once; then lets those in
    /// flight finish (their receipts follow their flushes).
    pub async fn serve(self: Arc<Self>, mut inbound: tokio::sync::mpsc::Receiver<Inbound>, mut shutdown: Shutdown) {
        let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_HANDLERS));
        let mut handlers = JoinSet::new();
        loop {
            tokio::select! {
                next = inbound.recv() => {
                    let Some(request) = next else { break };
                    let Ok(permit) = permits.clone().acquire_owned().await else { break };
                    let peers = self.clone();
                    handlers.spawn(async move {
                        peers.handle(request).await;
                        drop(permit);
                    });
                }
                Some(_) = handlers.join_next(), if !handlers.is_empty() => {}
                _ = shutdown.recv() => break,
            }
        }
        while handlers.join_next().await.is_some() {}
    }

    async fn handle(&self, inbound: Inbound) {
        let Inbound { peer, frame, channel } = inbound;
        let response = match frame {
            // Within the protocol's frame but over a stranger's: refused
            // for the sender's standing.
            InboundFrame::Oversized { len, limit, listed: false } if len <= MAX_FRAME as u64 => {
                NetResponse::Refused(refusal(
                    RefusalCode::NotInDirectory,
                    format!(
                        "request of {len} bytes is over the {limit}-byte limit for peers not in the directory \
                         (a registration needs a few KiB); larger requests are read once this node's directory \
                         lists you"
                    ),
                ))
            }
            InboundFrame::Oversized { len, .. } => NetResponse::Refused(refusal(
                RefusalCode::Malformed,
                format!("request of {len} bytes is over the {MAX_FRAME}-byte limit"),
            )),
            // Answered by the swarm; never sent on.
            InboundFrame::Deferred(why) => NetResponse::Refused(refusal(RefusalCode::Busy, why.to_string())),
            InboundFrame::Bytes(bytes) => match codec::decode::<NetRequest, MAX_FRAME>("request", &bytes) {
                Ok(request) => match self.dispatch(peer, request).await {
                    Ok(answer) => answer,
                    Err(r) => NetResponse::Refused(r),
                },
                Err(e) => NetResponse::Refused(refusal(RefusalCode::Malformed, e.to_string())),
            },
        };
        if let NetResponse::Refused(r) = &response {
            self.record_refusal(&peer, r);
        }
        let bytes = match codec::encode("response", &response) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(%e, "cannot encode a response");
                return;
            }
        };
        if let Err(e) = self.client.respond(channel, bytes).await {
            tracing::debug!(%e, "response not sent");
        }
    }

    fn record_refusal(&self, peer: &PeerId, r: &Refusal) {
        self.refused.add(r.code);
        // The log takes a few lines per peer a minute, and the count of the
        // rest; the audit record below is bounded for strangers by the witness.
        if self.client.refusal_log().admit(peer) {
            tracing::warn!(%peer, code = ?r.code, detail = %r.detail, "refused a request");
        }
        let view = self.directory.view();
        let actor = match view.listed_peer(peer) {
            Some(e) => Actor::Peer(Some(e.state())),
            None if Some(*peer) == self.directory.secretariat_peer() => Actor::Peer(None),
            None => Actor::Stranger,
        };
        let mut event = Event::new(now(), actor, Action::RequestRefused);
        event.state = if let Actor::Peer(s) = actor { s } else { None };
        event.object = Some(format!("peer {peer}"));
        // The detail of an invalid body may quote the body: only the code is kept.
        event.detail = if r.code == RefusalCode::InvalidBody {
            format!("{:?}", r.code)
        } else {
            format!("{:?}: {}", r.code, r.detail)
        };
        self.witness.record_refusal(&event);
    }

    /// The policy first, then one line per kind of request to the service
    /// that owns it.
    async fn dispatch(&self, peer: PeerId, request: NetRequest) -> Result<NetResponse, Refusal> {
        let view = self.directory.view();
        let secretariat = self.directory.secretariat_peer();
        let standing = Standing::of(&view, &peer, secretariat);
        let kind = Kind::of(&request);
        match policy::decide(self.role, kind, standing) {
            Ok(()) => {}
            Err(Refused::NotInDirectory) => {
                let why = match view.listed_peer(&peer) {
                    Some(e) => format!("{} is {} in directory version {}", e.state(), e.status, view.version()),
                    None => format!("peer {peer} is not an active node in directory version {}", view.version()),
                };
                return Err(refusal(RefusalCode::NotInDirectory, why));
            }
            Err(Refused::WrongRole) => return Err(self.wrong_role(kind)),
        }
        // The log's node and key a witness checks: the Secretariat's, or the
        // active State's that the policy let through.
        let signer = || match standing {
            Standing::Secretariat => self
                .directory
                .secretariat_key()
                .map(|key| (None, key))
                .ok_or_else(|| refusal(RefusalCode::NotInDirectory, "no Secretariat key is known here")),
            _ => view
                .active_peer(&peer)
                .map(|e| (Some(e.state()), e.identity_key()))
                .ok_or_else(|| refusal(RefusalCode::NotInDirectory, "sender not active")),
        };
        let active =
            || view.active_peer(&peer).ok_or_else(|| refusal(RefusalCode::NotInDirectory, "sender not active"));
        let publisher = || self.publisher.as_deref().ok_or_else(|| self.wrong_role(kind));
        let sync = || self.sync.as_deref().ok_or_else(|| self.wrong_role(kind));
        Ok(match request {
            NetRequest::Register(reg) => NetResponse::Registration(publisher()?.register(&peer, &reg).await?),
            NetRequest::FetchDirectory { after } => NetResponse::Directory(match &self.publisher {
                Some(publisher) => publisher.versions_after(after)?,
                None => sync()?.versions_after(after)?,
            }),
            NetRequest::FetchSnapshot => NetResponse::Directory(publisher()?.snapshot()?),
            NetRequest::RotateKeys(rotation) => {
                let version = publisher()?.rotate(&peer, &rotation).await?;
                NetResponse::Registration(RegistrationStatus::Admitted { version })
            }
            NetRequest::SubmitContacts(set) => NetResponse::Contacts(publisher()?.contacts(&peer, &set).await?),
            NetRequest::DirectoryUpdated { version } => {
                sync()?.announced(version);
                NetResponse::Acknowledged
            }
            NetRequest::Witness(c) => {
                let (node, key) = signer()?;
                NetResponse::Witnessed(self.witness.witness(node, &key, *c).await?.map(Box::new))
            }
            NetRequest::WitnessTree(offer) => {
                let (node, key) = signer()?;
                NetResponse::TreeWitnessed { held: self.witness.witness_tree(node, &key, *offer).await? }
            }
            NetRequest::Reconcile(inventory) => {
                NetResponse::Reconciled { missing: self.exchanges.reconcile(active()?.state(), inventory).await? }
            }
            NetRequest::FetchChunk { attachment, index } => {
                NetResponse::Chunk(self.attachments.serve(active()?.state(), attachment, index).await?)
            }
            NetRequest::CspDraft(signed) => {
                self.reports.receive_draft(active()?.state(), *signed).await?;
                NetResponse::Acknowledged
            }
            NetRequest::CspApproval { report_id, approval } => {
                let entry = active()?;
                self.reports.receive_approval(entry.state(), report_id, approval, entry.identity_key()).await?;
                NetResponse::Acknowledged
            }
            NetRequest::CspComment { report_id, draft_hash, text } => {
                self.reports.receive_comment(active()?.state(), report_id, draft_hash, text).await?;
                NetResponse::Acknowledged
            }
            NetRequest::SubmitCspReport(signed) => {
                publisher()?;
                let registration = self.reports.register_submitted(active()?.state(), *signed).await?;
                NetResponse::CspReportRegistered(Box::new(registration))
            }
            NetRequest::SubmitReport(report) => {
                publisher()?;
                NetResponse::Report(self.publications.receive_report(&peer, &report).await?)
            }
            NetRequest::FetchPublications { after } => {
                publisher()?;
                NetResponse::Publications(self.publications.publications_for(active()?.state(), after)?)
            }
            NetRequest::PublicationsUpdated { seq } => {
                sync()?;
                self.publications.announced(seq);
                NetResponse::Acknowledged
            }
            NetRequest::RegisterForMeeting(registration) => {
                publisher()?;
                let (notice, participants) = self.publications.register(&peer, &registration).await?;
                NetResponse::MeetingRegistered { notice, participants }
            }
            NetRequest::Deliver(envelope) => {
                let receipt = self.exchanges.receive(active()?, *envelope).await?;
                self.attachments.wake.notify_one();
                // A node that sends no mail clears the notices at its next
                // round, many at once, not a round per message.
                if self.mailer.configured() {
                    self.mailer.wake.notify_one();
                }
                NetResponse::Receipt(receipt)
            }
        })
    }

    fn wrong_role(&self, kind: Kind) -> Refusal {
        refusal(RefusalCode::WrongRole, format!("a {} node does not serve {}", self.role, kind.served_as()))
    }
}
