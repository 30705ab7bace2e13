//! `veim`: the operator's, the Secretariat's and the demo's command line.
//!
//! Exit codes: one per outcome, the same for every command
//! ([`veim_tools::client::Outcome`]; README, "Exit codes").

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use veim_node::api::types::DisclosureSummary;
use veim_node::api::types::{ConsentView, Reciprocity};
use veim_node::api::{
    ApproveRequest, CloseRequest, ContactsDecision, ContactsView, DirectoryListing, Done, ExchangeView, ListQuery,
    MessageView, NoteRequest, PendingView, PublicDirectory, RejectRequest, RespondRequest, SendRequest,
    StatusChangeRequest, StatusView, SubmitContactsRequest, VersionView,
};
use veim_node::api::{
    AskConsent, AttachRequest, DecideConsent, Disclose, DisclosureRequestView, ExchangeSummary, MailTestAnswer,
    MailTestRequest, PurgeRequest, PurgeView, QueuedMailView, RefuseDisclosure, RevokeRequest, SaveRequest,
    StageRequest,
};
use veim_node::api::{Figures, MeasureForm, RespondByRequest, StageMoveRequest, TrackedExchange};
use veim_node::home::config::{Config, Role, SecretariatPin};
use veim_node::home::init_home;
use veim_protocol::contacts::ContactSetForm;
use veim_protocol::{Authority, AuthorityKind};
use veim_protocol::{EntryAction, RequestForm, ResponseForm, StateCode};
use veim_tools::client::{Outcome, resolve_home};
use veim_tools::{AdminClient, ClientError, render, terminal};

#[global_allocator]
static ALLOCATOR: veim_node::Allocator = veim_node::Allocator;

/// The exit codes, as `veim --help` lists them ([`Outcome`]; README).
const EXIT_CODES: &str = "Exit codes (the same for every command):
  0  done
  1  failed: an error in the node or on this machine
  2  wrong usage of the command line
  3  the node is not running, or cannot be connected to
  4  invalid input: a file or value with problems; nothing was done
  5  refused by the node (no consent, unknown id, not admitted, a conflict)
  6  the node runs but is not healthy (veim status)
  7  the command is for the other kind of node (Secretariat or national)
  8  not authorized: wrong or missing personal token, a disabled account, a role the command
     needs and the account lacks, too many failed logins, a request from a web page
  9  does NOT verify (audit verify, disclosure verify, report verify, report html)";

#[derive(Debug, Parser)]
#[command(
    name = "veim",
    version,
    about = "veim: the Voluntary Exchange of Information Mechanism of the Arms Trade Treaty",
    after_help = EXIT_CODES
)]
struct Cli {
    /// The node's home folder (default: $VEIM_HOME, else ./veim-home).
    #[arg(long, global = true)]
    home: Option<PathBuf>,
    /// Print the node's answer as JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a node: keys, configuration and the first account's token (tokens/admin.token).
    #[command(
        after_help = "Example:\n  veim init --home /var/lib/veim --role national --state MEX --secretariat-key 9f1c… --secretariat-addr /dns4/directory.example.org/tcp/7040 --announce /ip4/198.51.100.23/tcp/7040"
    )]
    Init(InitArgs),
    /// Run a node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Show the node's identity, directory version, registration and health; exits 6 when the
    /// node runs but is not healthy (not ready, or its last directory sync failed).
    #[command(after_help = "Example:\n  veim status --json")]
    Status,
    /// Whether the node's process is up and its API answers (GET /healthz: no audit entry). For a
    /// supervisor's or a container's liveness probe; `veim status` says whether it can do its work.
    #[command(after_help = "Example:\n  veim health || echo \"the node is down\"    # exit 0: up; 3: not running")]
    Health,
    /// The directory of national nodes.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Requests (Annex 1 of the working paper).
    #[command(subcommand)]
    Request(RequestCommand),
    /// Messages received, oldest first, a page at a time.
    #[command(after_help = "Example:\n  veim inbox --kind request --since 2026-01-01 --limit 20 --page 2")]
    Inbox(ListArgs),
    /// Messages sent, oldest first, with the delivery state of each copy (queued, attempting, delivered,
    /// refused, failed).
    #[command(after_help = "Example:\n  veim outbox --state attempting")]
    Outbox {
        #[command(flatten)]
        list: ListArgs,
        #[command(subcommand)]
        action: Option<OutboxCommand>,
    },
    /// Exchanges: a request and everything said in answer.
    #[command(subcommand)]
    Exchange(ExchangeCommand),
    /// Answer a request with the information items of a response file (Annex 2).
    #[command(after_help = "Example:\n  veim respond 3f2a9c01 --file response.toml")]
    Respond {
        /// Exchange id (or a unique prefix of at least 6 hex digits).
        id: String,
        /// The response, as TOML (see deploy/examples/response.toml).
        #[arg(long)]
        file: PathBuf,
    },
    /// Add a note to an exchange.
    #[command(after_help = "Example:\n  veim note 3f2a9c01 \"The licence number is MX-2016-0412.\"")]
    Note {
        /// Exchange id (or a unique prefix of at least 6 hex digits).
        id: String,
        /// The note, as its recipients will read it.
        text: String,
    },
    /// Send files in an exchange: each is encrypted chunk by chunk, and the recipients fetch the chunks.
    #[command(
        after_help = "Example:\n  veim attach 3f2a9c01 licence.pdf end-user-certificate.pdf --text \"Copies as asked\""
    )]
    Attach {
        /// Exchange id (or a unique prefix).
        id: String,
        /// Files to send (up to 16).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A note sent with the files.
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Attachments sent and received.
    #[command(subcommand)]
    Attachment(AttachmentCommand),
    /// Close an exchange (requesting State), with what it came to.
    #[command(
        after_help = "Outcomes: diversion-confirmed, diversion-prevented, risk-mitigated, not-confirmed, inconclusive, other:TEXT.\n\nExample:\n  veim close 3f2a9c01 --outcome diversion-prevented --reason \"shipment held at the border\""
    )]
    Close {
        /// Exchange id (or a unique prefix of at least 6 hex digits).
        id: String,
        /// Why, as the other States will read it.
        #[arg(long, default_value = "")]
        reason: String,
        /// What the exchange came to; without it the outcome is not recorded.
        #[arg(long)]
        outcome: Option<String>,
    },
    /// Measures taken under Art. 11, recorded in an exchange for every party.
    #[command(subcommand)]
    Measure(MeasureCommand),
    /// Move an exchange to another stage of Annex 1 (told to every party).
    #[command(
        after_help = "Stages: risk-analysis, diversion-detected, reached-end-user, other:TEXT.\n\nExample:\n  veim stage 3f2a9c01 diversion-detected --text \"consignment found in a third State\""
    )]
    Stage {
        /// Exchange id (or a unique prefix of at least 6 hex digits).
        id: String,
        /// The new stage.
        stage: String,
        /// Why, as the other States will read it.
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Requesting State: the date by which it asks for a response (past it, unanswered, the exchange is overdue).
    #[command(name = "respond-by", after_help = "Example:\n  veim respond-by 3f2a9c01 2026-12-15")]
    RespondBy {
        /// Exchange id (or a unique prefix of at least 6 hex digits).
        id: String,
        /// The day, YYYY-MM-DD (UTC).
        date: String,
        /// A word to the other States.
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Open exchanges (overdue first) with stage, provisions and every party's measures; or the figures of a period.
    #[command(after_help = "Examples:\n  veim track\n  veim track --figures --from 2026-01-01 --to 2026-12-31 --json")]
    Track {
        /// The figures of a period instead: per provision and per counterpart, exchanges, measures, outcomes, response times.
        #[arg(long)]
        figures: bool,
        /// First day of the period, YYYY-MM-DD (default: 364 days before --to).
        #[arg(long, requires = "figures")]
        from: Option<String>,
        /// Last day of the period, YYYY-MM-DD (default: today, UTC).
        #[arg(long, requires = "figures")]
        to: Option<String>,
    },
    /// This node's keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Points of contact: submit this State's (national node), review those
    /// submitted (Secretariat).
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// Reports of measures through the Secretariat (Art. 11.6, 13.2): submit (national node),
    /// review and circulate (Secretariat), and the register of circulated reports.
    #[command(subcommand)]
    Reports(veim_tools::publish::ReportsCommand),
    /// The annual meeting of national points of contact: the notice, registrations,
    /// the participant list, the recommendations for the CSP.
    #[command(subcommand)]
    Meeting(veim_tools::publish::MeetingCommand),
    /// Consent to disclose received items (terms of reference, Annex 2).
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Export a disclosure package of received items, if a valid grant covers them.
    #[command(
        after_help = "Example:\n  veim disclose 3f2a9c01 --item 5d1e77a0#0 --authority-kind court --authority \"Juzgado Primero\" --case 123/2026\nThen another official, an approver:\n  veim disclosure approve 9b41c2d0 --out package.json --markdown package.md"
    )]
    Disclose(DiscloseArgs),
    /// Disclosure packages: verify one offline, or list those made.
    #[command(subcommand)]
    Disclosure(DisclosureCommand),
    /// Reports to the Conference of States Parties, individual and joint: draft, approve, submit,
    /// verify offline, and print as HTML in English, French or Spanish.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Requests sent to and received from each State, answered or not, and how fast.
    #[command(after_help = "Example:\n  veim reciprocity --json")]
    Reciprocity,
    /// Measurements against the raw primitive, in the same run (build with --release).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The node's tamper-evident audit log, read from its files (the node may be running or not).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Remove the content of received messages older than the retention period (metadata stays).
    #[command(after_help = "Example:\n  veim purge --older-than-days 365")]
    Purge {
        /// Age in days; the node's retention policy when absent.
        #[arg(long)]
        older_than_days: Option<u32>,
    },
    /// Write an encrypted copy of the running node (store, keys, configuration, attachment files)
    /// to a new file, without stopping it.
    #[command(after_help = "Example:\n  veim backup --out /backup/mex.veim --passphrase-file /root/backup-passphrase")]
    Backup {
        /// The file to write; an existing file is refused.
        #[arg(long)]
        out: PathBuf,
        /// A file whose first line is the backup passphrase (else $VEIM_BACKUP_PASSPHRASE).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Make a new home folder (--home, absent or empty) from a backup, then start it with
    /// `veim node run`.
    #[command(after_help = "Example:\n  veim restore /backup/mex.veim --home /var/lib/veim")]
    Restore {
        /// The backup file, made by `veim backup`.
        file: PathBuf,
        /// A file whose first line is the backup passphrase (else $VEIM_BACKUP_PASSPHRASE).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// The node's configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// E-mail notifications ([mail] in config.toml): a test mail, the mails waiting.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Officials' accounts at this node: add, list, show, update, disable, enable, reset (administrator).
    #[command(subcommand)]
    Users(veim_tools::users::UsersCommand),
    /// Shell completions for veim, generated from its command-line definition.
    #[command(after_help = "Example:\n  veim completions bash > /etc/bash_completion.d/veim")]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Manual pages (roff) of veim and of each of its commands, generated from its command-line definition.
    #[command(after_help = "Example:\n  veim man --out /usr/local/share/man/man1")]
    Man {
        /// Folder to write veim.1 and a page per command (veim-directory-approve.1, ...) in; without it,
        /// veim.1 goes to the standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Start a Secretariat and three national nodes on loopback and run a full exchange.
    #[command(after_help = "Example:\n  veim demo --exit --out demo-files")]
    Demo {
        /// Exit when the demo is done (0 only if every step succeeded) instead of keeping the network up.
        #[arg(long)]
        exit: bool,
        /// Folder for the files the demo exports (disclosure package, public directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Which page of a listing to show.
#[derive(Debug, Args)]
struct PageArgs {
    /// Items per page (1 to 1000).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// The page to show, counted from 1.
    #[arg(long, default_value_t = 1)]
    page: usize,
    /// Every page, one after the other, instead of one page.
    #[arg(long, conflicts_with = "page")]
    all: bool,
}

impl PageArgs {
    fn query(&self) -> ListQuery {
        ListQuery { limit: Some(self.limit), page: Some(self.page), ..ListQuery::default() }
    }
}

/// A page of a listing and its filters; every filter given must hold.
#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    paging: PageArgs,
    /// Sent messages: a copy queued, attempting, delivered, refused or failed. Exchanges: open, answered or
    /// closed.
    #[arg(long)]
    state: Option<String>,
    /// Messages of one kind: request, response, note, close, consent-request, consent-decision,
    /// consent-revocation, attachments.
    #[arg(long)]
    kind: Option<String>,
    /// From this day (YYYY-MM-DD, UTC) or Unix time.
    #[arg(long)]
    since: Option<String>,
    /// Until this day (inclusive) or Unix time.
    #[arg(long)]
    until: Option<String>,
    /// An exchange id, or its first hex digits.
    #[arg(long)]
    exchange: Option<String>,
}

impl ListArgs {
    fn query(&self) -> anyhow::Result<ListQuery> {
        Ok(ListQuery {
            state: self.state.clone(),
            kind: self.kind.clone(),
            since: self.since.as_deref().map(|t| parse_when(t, false)).transpose()?,
            until: self.until.as_deref().map(|t| parse_when(t, true)).transpose()?,
            exchange: self.exchange.clone(),
            ..self.paging.query()
        })
    }
}

/// Prints one page of a listing (or all of it, with `--all`), and where the
/// next page is.
fn listing<T: Serialize + serde::de::DeserializeOwned>(
    client: &AdminClient,
    json: bool,
    path: &str,
    (args, query): (&PageArgs, ListQuery),
    what: &str,
    human: impl FnOnce(&[T]) -> String,
) -> anyhow::Result<()> {
    let (items, total) = if args.all {
        let all = client.get_all::<T>(path, &query)?;
        let total = all.len() as u64;
        (all, Some(total))
    } else {
        client.get_page::<T>(path, &query)?
    };
    if json {
        return print(json, &items, |_| String::new());
    }
    let mut out = human(&items);
    if let Some(total) = total.filter(|_| !args.all) {
        let first = (args.page - 1) * args.limit;
        if total > 0 && !items.is_empty() {
            out.push_str(&format!("\n{what} {}–{} of {total}", first + 1, first + items.len()));
            if ((first + items.len()) as u64) < total {
                out.push_str(&format!("; the next: --page {} (or --all)", args.page + 1));
            }
            out.push('\n');
        } else if total > 0 {
            out = format!(
                "Page {} is past the end: {total} {what} in {} page(s).\n",
                args.page,
                total.div_ceil(args.limit as u64)
            );
        }
    }
    terminal::out(&out);
    Ok(())
}

#[derive(Debug, Args)]
struct AuthorityArgs {
    /// court, administrative-body, law-enforcement, prosecution or state-party.
    #[arg(long)]
    authority_kind: String,
    /// The authority's name.
    #[arg(long)]
    authority: String,
    /// The State of the authority (for state-party, the State forwarded to); this State when absent.
    #[arg(long)]
    authority_state: Option<String>,
}

/// `veim measure`.
#[derive(Debug, Subcommand)]
enum MeasureCommand {
    /// Record a measure taken under a provision; every party of the exchange receives it, signed.
    #[command(
        after_help = "Provisions: 11.1, 11.2, 11.3, 11.4, 11.5, 11.6, 13.2 (`veim measure kinds` lists the kinds each takes).\n\nExample:\n  veim measure add 3f2a9c01 --provision 11.4 --kind shipment-examined --date 2026-11-30 --text \"Container opened at the port of entry\""
    )]
    Add {
        /// Exchange id (or a unique prefix of at least 6 hex digits).
        id: String,
        /// The ATT provision the measure was taken under.
        #[arg(long)]
        provision: String,
        /// What was done (`veim measure kinds`).
        #[arg(long)]
        kind: String,
        /// The day it was done, YYYY-MM-DD (UTC); not after today.
        #[arg(long)]
        date: String,
        /// In your words, as the other States will read it (required for kind `other`).
        #[arg(long, default_value = "")]
        text: String,
    },
    /// The kinds of measure, and the provisions each may be recorded under.
    #[command(after_help = "Example:\n  veim measure kinds")]
    Kinds,
}

/// One row of `veim measure kinds`.
#[derive(Debug, Serialize)]
struct MeasureKindRow {
    kind: &'static str,
    provisions: Vec<&'static str>,
}

#[derive(Debug, Subcommand)]
enum ConsentCommand {
    /// Ask the originator of received items for consent to disclose them.
    #[command(
        after_help = "Example:\n  veim consent ask 3f2a9c01 --item 5d1e77a0#0 --authority-kind court --authority \"Juzgado Primero\" --purpose \"criminal proceedings\" --case 123/2026"
    )]
    Ask {
        /// Exchange id (or a unique prefix).
        exchange: String,
        /// An item as `exchange show` lists it, MESSAGE#N (repeatable).
        #[arg(long = "item", required = true)]
        items: Vec<String>,
        #[command(flatten)]
        authority: AuthorityArgs,
        /// What the items are to be used for, as the originator will read it.
        #[arg(long)]
        purpose: String,
        /// The case reference (court file, investigation number).
        #[arg(long = "case")]
        case_reference: String,
    },
    /// Consent requests asked by or of this State, and their decisions.
    #[command(after_help = "Example:\n  veim consent list --limit 20")]
    List(PageArgs),
    /// Grant a consent request (all items asked for, or those named).
    #[command(
        after_help = "Example:\n  veim consent grant 7b3c9d20 --condition \"not to be made public\" --expires 2027-12-31"
    )]
    Grant {
        /// Consent request id (or a unique prefix), as `consent list` shows it.
        id: String,
        /// An item granted, MESSAGE#N (repeatable); all those asked for when absent.
        #[arg(long = "item")]
        items: Vec<String>,
        /// A condition of use the authority must respect (repeatable).
        #[arg(long = "condition")]
        conditions: Vec<String>,
        /// Last day of the grant (YYYY-MM-DD, UTC).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Refuse a consent request.
    #[command(
        after_help = "Example:\n  veim consent refuse 7b3c9d20 --reason \"the information is still under investigation\""
    )]
    Refuse {
        /// Consent request id (or a unique prefix).
        id: String,
        /// Why, as the asking State will read it.
        #[arg(long)]
        reason: String,
    },
    /// Revoke a grant; disclosures already made stand.
    #[command(after_help = "Example:\n  veim consent revoke 7b3c9d20 --reason \"the investigation reopened\"")]
    Revoke {
        /// Consent request id (or a unique prefix) of the grant.
        id: String,
        /// Why, as the other State will read it.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
struct DiscloseArgs {
    /// Exchange id (or a unique prefix).
    exchange: String,
    /// An item, MESSAGE#N (repeatable).
    #[arg(long = "item", required = true)]
    items: Vec<String>,
    #[command(flatten)]
    authority: AuthorityArgs,
    /// As in the grant (taken from it when absent).
    #[arg(long)]
    purpose: Option<String>,
    /// The case reference, as in the grant (taken from it when absent).
    #[arg(long = "case")]
    case_reference: Option<String>,
}

#[derive(Debug, Subcommand)]
enum AttachmentCommand {
    /// Every attachment, with how much of it is held.
    #[command(after_help = "Example:\n  veim attachment list")]
    List(PageArgs),
    /// Write a complete attachment to a file (decrypted and checked), readable by the operator alone.
    #[command(after_help = "Example:\n  veim attachment save 8c02e4f1 --out licence.pdf")]
    Save {
        /// Attachment id (or a unique prefix), as `attachment list` shows it.
        id: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// Replace FILE if it exists (otherwise an existing file is refused).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Try the undelivered copies of a sent message now.
    #[command(after_help = "Example:\n  veim outbox retry 5d1e77a0")]
    Retry {
        /// Message id (or a unique prefix of at least 6 hex digits), as `veim outbox` lists it.
        id: String,
    },
    /// Give up the undelivered copies of a sent message.
    #[command(after_help = "Example:\n  veim outbox cancel 5d1e77a0")]
    Cancel {
        /// Message id (or a unique prefix of at least 6 hex digits), as `veim outbox` lists it.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Entries per second `veim audit verify` checks, next to raw SHA-256 of the same entries.
    #[command(after_help = "Example:\n  veim bench audit --entries 100000")]
    Audit {
        /// Entries in the log measured.
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
    },
    /// An attachment between two nodes, next to a plain TCP copy and raw ChaCha20-Poly1305.
    #[command(after_help = "Example:\n  veim bench attachment --mib 64")]
    Attachment {
        /// Size of the attachment, in MiB.
        #[arg(long, default_value_t = 256)]
        mib: u64,
    },
    /// Requests between two nodes, one at a time and 64 in flight, next to a libp2p echo.
    #[command(after_help = "Example:\n  veim bench exchange --quick")]
    Exchange {
        /// Fewer requests: a smoke run.
        #[arg(long)]
        quick: bool,
    },
    /// Requests between two nodes while 20 officials' sessions browse the sender's console,
    /// next to the same requests with nobody browsing.
    #[command(after_help = "Example:\n  veim bench console --quick")]
    Console {
        /// Fewer requests: a smoke run.
        #[arg(long)]
        quick: bool,
        /// Each session's pause between two pages, in milliseconds (0: without pause).
        #[arg(long, default_value_t = 1000)]
        think_ms: u64,
    },
    /// Envelope seal and open for 1, 5 and 20 recipients, next to raw ChaCha20-Poly1305 and Ed25519.
    #[command(after_help = "Example:\n  veim bench crypto --quick")]
    Crypto {
        /// Fewer rounds: a smoke run.
        #[arg(long)]
        quick: bool,
    },
    /// Durable message stores, next to a raw sled insert+flush and a raw fsync loop.
    #[command(after_help = "Example:\n  veim bench storage --quick")]
    Storage {
        /// Fewer messages: a smoke run.
        #[arg(long)]
        quick: bool,
    },
    /// A Secretariat and N national nodes: time until every node holds the
    /// current directory and has exchanged one request with five others, and
    /// memory per node, next to plain libp2p swarms doing the same traffic,
    /// and to their floor (the same swarms checking every directory entry's
    /// signature once and making each directory version durable).
    #[command(after_help = "Example:\n  veim bench network --nodes 50,100")]
    Network {
        /// Network sizes, each run in a child process of its own.
        #[arg(long, value_delimiter = ',', default_values_t = [50, 100, 200])]
        nodes: Vec<usize>,
        /// States the Secretariat admits per directory version.
        #[arg(long, default_value_t = 50)]
        batch: usize,
        /// One run in this process: `veim`, `libp2p` or `floor` (what the child processes do).
        #[arg(long, hide = true)]
        one: Option<String>,
        /// For `--one libp2p|floor`: bytes the hub answers with (the directory's size).
        #[arg(long, hide = true, default_value_t = 100_000)]
        directory_bytes: usize,
        /// For `--one floor`: directory versions each node makes durable.
        #[arg(long, hide = true, default_value_t = 1)]
        versions: u64,
    },
    /// A State admitted after the Secretariat has published many directory
    /// versions: time from its approval to its node holding the current
    /// version (every version since the first, fetched and checked), next to
    /// the floor (the same frames over bare swarms, each version checked,
    /// one fsync a frame).
    #[command(after_help = "Example:\n  veim bench joiner --versions 1000")]
    Joiner {
        /// Directory versions published before the new State's admission.
        #[arg(long, default_value_t = 1000)]
        versions: u64,
        /// States listed before it (each a node of its own).
        #[arg(long, default_value_t = 20)]
        listed: usize,
    },
    /// A national node (its own process) attacked by strangers while another
    /// State sends it requests: its memory idle, at peak and settled, a listed
    /// State's new connections, and the round trips with and without attack.
    #[command(after_help = "Example:\n  veim bench hostile --quick")]
    Hostile {
        /// Smaller attacks and a shorter settling time: a smoke run.
        #[arg(long)]
        quick: bool,
        /// Seconds to wait after the attacks before the settled memory is read
        /// (5 with --quick, else 60).
        #[arg(long)]
        settle_secs: Option<u64>,
    },
    /// A Secretariat and 20 national nodes exchanging at a steady rate, with
    /// attachments, checkpoints and reconciliation at deployed periods: memory,
    /// open files, size on disk and latency sampled at intervals, and the
    /// slope of each fitted, so that a leak shows as a growth beyond noise.
    #[command(after_help = "Example:\n  veim bench soak --minutes 30\n  veim bench soak --minutes 2 --sample-secs 20")]
    Soak {
        /// How long the load runs, in minutes.
        #[arg(long, default_value_t = 30.0)]
        minutes: f64,
        /// Requests per second, all nodes together.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// Seconds between two samples.
        #[arg(long, default_value_t = 60)]
        sample_secs: u64,
    },
    /// Every scenario in turn, each table printed and its JSON written to
    /// `--out` (a few minutes; `--quick`: smaller sizes, for a smoke run).
    #[command(after_help = "Example:\n  veim bench all --quick --out target/veim-bench")]
    All {
        /// Smaller sizes: a smoke run.
        #[arg(long)]
        quick: bool,
        /// Folder for the JSON of each scenario.
        #[arg(long, default_value = "target/veim-bench")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the chain, the checkpoints, and checkpoints of this log held by other nodes; names the first entry that fails.
    #[command(after_help = "Example:\n  veim audit verify --witness swe-holds.json")]
    Verify {
        /// Verify an export instead of the node's own files.
        #[arg(long)]
        export: Option<PathBuf>,
        /// A checkpoint of this node's log held by another node (`veim audit witness STATE --json` there); repeatable.
        #[arg(long = "witness")]
        witnesses: Vec<PathBuf>,
    },
    /// Entries, oldest first, with filters.
    #[command(after_help = "Example:\n  veim audit show --since 2026-01-01 --action consent-granted --state SWE")]
    Show {
        /// Read an export instead of the node's own files.
        #[arg(long)]
        export: Option<PathBuf>,
        /// From this day (YYYY-MM-DD, UTC) or Unix time.
        #[arg(long)]
        since: Option<String>,
        /// Until this day (inclusive) or Unix time.
        #[arg(long)]
        until: Option<String>,
        /// An action, e.g. message-received, consent-granted (repeatable).
        #[arg(long = "action")]
        actions: Vec<String>,
        /// The counterpart State.
        #[arg(long)]
        state: Option<String>,
        /// An exchange id or its first hex digits.
        #[arg(long)]
        exchange: Option<String>,
        /// Who acted: an official's account name, a peer's State code, or node, operator, stranger.
        #[arg(long)]
        actor: Option<String>,
    },
    /// Write the log and its checkpoints as one JSON Lines file.
    #[command(after_help = "Example:\n  veim audit export --out audit.jsonl")]
    Export {
        /// The file to write (JSON Lines).
        #[arg(long)]
        out: PathBuf,
    },
    /// The latest checkpoint of STATE's log (or `secretariat`) that this node holds.
    #[command(after_help = "Example:\n  veim audit witness SWE --json")]
    Witness {
        /// The State whose log's checkpoint is wanted (ISO 3166-1 alpha-3), or `secretariat`.
        state: String,
    },
}

#[derive(Debug, Subcommand)]
enum DisclosureCommand {
    /// Check a package offline: signatures, items, consent, directory.
    #[command(after_help = "Example:\n  veim disclosure verify package.json --secretariat-key 9f1c…")]
    Verify {
        /// The package (JSON), as `veim disclose` wrote it.
        file: PathBuf,
        /// The Secretariat's public key (hex) to require; otherwise its fingerprint is shown to compare.
        #[arg(long)]
        secretariat_key: Option<String>,
    },
    /// Disclosures this node made.
    #[command(after_help = "Example:\n  veim disclosure list")]
    List(PageArgs),
    /// Disclosures asked for (`veim disclose`), waiting for an approver's decision.
    #[command(after_help = "Example:\n  veim disclosure requests")]
    Requests,
    /// Approver: make the package another official asked for, and write it.
    #[command(after_help = "Example:\n  veim disclosure approve 9b41c2d0 --out package.json --markdown package.md")]
    Approve {
        /// The request's id, or its first hex digits (`veim disclosure requests`).
        id: String,
        /// Where to write the package (JSON); an existing file is refused without --force.
        #[arg(long)]
        out: PathBuf,
        /// Also write a readable rendering (Markdown).
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Replace the files of --out and --markdown if they exist.
        #[arg(long)]
        force: bool,
    },
    /// Approver: refuse a disclosure asked for (or withdraw your own), saying why; nothing is disclosed.
    #[command(
        after_help = "Example:\n  veim disclosure refuse 9b41c2d0 --reason \"the court asked for the summary only\""
    )]
    Refuse {
        /// The request's id, or its first hex digits.
        id: String,
        /// Why, recorded in the audit log.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Draft a report from this node's exchanges in a period; it is signed by this State and sent to
    /// the co-authors named with --with. Edit the file written with --out and load it back with
    /// `veim report update`.
    #[command(after_help = "Example:\n  veim report draft --period 2026-01-01..2026-12-31 --with SWE --out draft.json")]
    Draft {
        /// The dates covered, both included: FROM..TO.
        #[arg(long)]
        period: String,
        /// Co-authors, comma-separated State codes.
        #[arg(long, value_delimiter = ',')]
        with: Vec<String>,
        /// The report's title (default: "Report to the Conference of States Parties, PERIOD").
        #[arg(long)]
        title: Option<String>,
        /// The language the report is written in: en, fr or es.
        #[arg(long, default_value = "en")]
        language: String,
        /// Write the draft (JSON) to this file, to edit.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Load an edited draft (the JSON `draft --out` or `show --draft` wrote) as the next revision:
    /// the co-authors' earlier approvals no longer count, and it is sent to them anew.
    #[command(after_help = "Example:\n  veim report update draft.json")]
    Update {
        /// The edited draft (JSON).
        file: PathBuf,
    },
    /// The reports this State drafts or co-authors.
    #[command(after_help = "Example:\n  veim report list")]
    List,
    /// One report: its draft, who approved it, comments; --out writes the file `verify` and `html` read,
    /// --draft the draft alone, to edit.
    #[command(after_help = "Example:\n  veim report show 4d4558a1b2c3d4 --out report.json")]
    Show {
        /// Report id (or a unique prefix of at least 14 hex digits); on the Secretariat, the register number.
        id: String,
        /// Write the report file (draft, approvals, keys, registration) that `verify` and `html` read.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the current draft alone (JSON), to edit and load with `update`.
        #[arg(long)]
        draft: Option<PathBuf>,
    },
    /// Approve the current draft as a co-author: signed over its exact bytes and sent to the drafter.
    #[command(after_help = "Example:\n  veim report approve 4d4558a1b2c3d4")]
    Approve {
        /// Report id (or a unique prefix of at least 14 hex digits).
        id: String,
    },
    /// Return comments on the current draft to the drafter.
    #[command(
        after_help = "Example:\n  veim report comment 4d4558a1b2c3d4 --text \"Please name the stage of case 2.\""
    )]
    Comment {
        /// Report id (or a unique prefix of at least 14 hex digits).
        id: String,
        /// The comments, as the drafter will read them.
        #[arg(long)]
        text: String,
    },
    /// Send the current draft again to the co-authors (after one could not be reached).
    #[command(after_help = "Example:\n  veim report send 4d4558a1b2c3d4")]
    Send {
        /// Report id (or a unique prefix of at least 14 hex digits).
        id: String,
    },
    /// Submit the report to the Secretariat's register; refused while a co-author has not approved
    /// the current draft.
    #[command(after_help = "Example:\n  veim report submit 4d4558a1b2c3d4")]
    Submit {
        /// Report id (or a unique prefix of at least 14 hex digits).
        id: String,
    },
    /// The Secretariat's register of reports to the CSP.
    #[command(after_help = "Example:\n  veim report register")]
    Register,
    /// Check a report file offline: every author's signature on this exact draft, the States it names,
    /// and the Secretariat's registration.
    #[command(after_help = "Example:\n  veim report verify report.json --secretariat-key 9f1c…")]
    Verify {
        /// The report file (JSON), as `veim report show ID --out FILE` wrote it.
        file: PathBuf,
        /// The Secretariat's public key (hex) to require; otherwise its fingerprint is shown to compare.
        #[arg(long)]
        secretariat_key: Option<String>,
    },
    /// A self-contained, print-ready HTML page of a verified report file.
    #[command(after_help = "Example:\n  veim report html report.json --lang fr --out rapport.html")]
    Html {
        /// The report file (JSON); it must verify.
        file: PathBuf,
        /// The language of the page's labels: en, fr or es.
        #[arg(long, default_value = "en")]
        lang: String,
        /// The page to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
struct InitArgs {
    /// national (a State Party's node) or secretariat (the ATT Secretariat's directory node).
    #[arg(long, value_parser = ["national", "secretariat"])]
    role: String,
    /// ISO 3166-1 alpha-3 code of the State (national nodes).
    #[arg(long)]
    state: Option<String>,
    /// The authority running the node, shown in the directory.
    #[arg(long, default_value = "")]
    operator: String,
    /// Hex Ed25519 public key of the Secretariat (national nodes).
    #[arg(long)]
    secretariat_key: Option<String>,
    /// Address of the Secretariat's node, by IP or DNS name: /ip4/192.0.2.1/tcp/7040,
    /// /dns4/directory.example.org/tcp/7040 (also /ip6, /dns6, /dns) (national nodes).
    #[arg(long)]
    secretariat_addr: Option<String>,
    /// libp2p listen address: an IP address of this machine, /ip4/0.0.0.0/tcp/PORT for all (repeatable).
    #[arg(long, default_value = "/ip4/0.0.0.0/tcp/7040")]
    listen: Vec<String>,
    /// Address to publish in the directory instead of the listen address, by IP or DNS name,
    /// e.g. /dns4/veim.example.gov/tcp/7040; behind NAT, the public one (repeatable).
    #[arg(long)]
    announce: Vec<String>,
    /// Admin API address (loopback only).
    #[arg(long, default_value = "127.0.0.1:7041")]
    admin: String,
    /// Seconds between directory polls (national nodes).
    #[arg(long, default_value_t = 30)]
    poll_secs: u64,
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Run the node in the foreground until Ctrl-C or SIGTERM. It logs to stderr: the levels
    /// of RUST_LOG (default info), coloured only on a terminal without NO_COLOR.
    #[command(after_help = "Example:\n  veim node run --home /var/lib/veim --log-format json")]
    Run {
        /// `text` for people, `json` for one JSON object per line.
        #[arg(long, env = "VEIM_LOG_FORMAT", value_parser = ["text", "json"])]
        log_format: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DirectoryCommand {
    /// The current directory version and its entries.
    #[command(after_help = "Example:\n  veim directory list")]
    List,
    /// Secretariat: registrations waiting for approval.
    #[command(after_help = "Example:\n  veim directory pending")]
    Pending,
    /// Secretariat: admit a State whose registration is pending, naming the
    /// key fingerprint checked with the State's operator out of band.
    #[command(after_help = "Example:\n  veim directory approve MEX --fingerprint \"19c9 33de 0a7b …\"")]
    Approve {
        /// ISO 3166-1 alpha-3 code of the State whose registration is approved.
        state: String,
        /// The fingerprint as the State's operator read it, e.g. "19c9 33de ...".
        #[arg(long)]
        fingerprint: String,
    },
    /// Secretariat: admit several States in one directory version (all or
    /// none), as when many join at once. FILE holds one State per line: its
    /// code, then the fingerprint checked with its operator ("MEX 19c9 33de
    /// ..."); blank lines and lines starting with # are skipped.
    #[command(after_help = "Example:\n  veim directory approve-many admitted.txt")]
    ApproveMany {
        /// The approvals: one `STATE FINGERPRINT` per line.
        file: PathBuf,
    },
    /// Secretariat: refuse a pending registration; the State's node learns it, with the reason, at its next poll.
    #[command(
        after_help = "Example:\n  veim directory reject MEX --fingerprint \"19c9 33de 0a7b …\" --reason \"the key was not confirmed by Note Verbale\""
    )]
    Reject {
        /// ISO 3166-1 alpha-3 code of the State whose registration is refused.
        state: String,
        /// The fingerprint of the registration refused, as `directory pending` shows it.
        #[arg(long)]
        fingerprint: String,
        /// Why, as the State's operator will read it.
        #[arg(long)]
        reason: String,
    },
    /// Secretariat: suspend a State; its peers refuse its messages until it is reinstated.
    #[command(after_help = "Example:\n  veim directory suspend MEX --reason \"at the State's request\"")]
    Suspend {
        /// ISO 3166-1 alpha-3 code of the State.
        state: String,
        /// Why, as recorded in the directory version.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Secretariat: reinstate a suspended State.
    #[command(after_help = "Example:\n  veim directory reinstate MEX --reason \"as decided by the Conference\"")]
    Reinstate {
        /// ISO 3166-1 alpha-3 code of the State.
        state: String,
        /// Why, as recorded in the directory version.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Secretariat: record a State's withdrawal (its entry stays, withdrawn).
    #[command(
        after_help = "Example:\n  veim directory withdraw MEX --reason \"withdrawal notified to the depositary\""
    )]
    Withdraw {
        /// ISO 3166-1 alpha-3 code of the State.
        state: String,
        /// Why, as recorded in the directory version.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// One State's entry, with its points of contact.
    #[command(after_help = "Example:\n  veim directory show SWE")]
    Show {
        /// ISO 3166-1 alpha-3 code of the State.
        state: String,
    },
    /// Entries matching every filter given.
    #[command(after_help = "Example:\n  veim directory search --region americas --language es --role national-poc")]
    Search {
        /// ISO 3166-1 alpha-3 code.
        #[arg(long)]
        state: Option<String>,
        /// UN M49 region or subregion, e.g. americas, western-africa.
        #[arg(long)]
        region: Option<String>,
        /// ISO 639-1 working language of a contact, e.g. es.
        #[arg(long)]
        language: Option<String>,
        /// national-poc, alternate or focal-point.
        #[arg(long)]
        role: Option<String>,
    },
    /// Write the public section of the directory (no restricted entry or field).
    #[command(
        after_help = "Example:\n  veim directory export --public --format html --language fr --out public-fr.html"
    )]
    Export {
        /// Required: only the public section can be exported.
        #[arg(long, required = true)]
        public: bool,
        /// json (the data) or html (a static page to publish).
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The HTML page's language: en, fr or es.
        #[arg(long, default_value = "en", value_parser = ["en", "fr", "es"])]
        language: String,
        /// File to write.
        #[arg(long, alias = "output")]
        out: PathBuf,
    },
    /// Every directory version, with what changed.
    #[command(after_help = "Example:\n  veim directory log")]
    Log(PageArgs),
    /// National node: ask the Secretariat for new versions now.
    #[command(after_help = "Example:\n  veim directory sync")]
    Sync,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check config.toml: every field, with the bounds of every period, window, rate and size; each bad
    /// field is named with what is allowed (exit 4).
    #[command(after_help = "Example:\n  veim config check --home /var/lib/veim")]
    Check {
        /// A configuration file to check instead of the home folder's config.toml.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// Send a test mail now through the SMTP server of [mail], to one address or to every recipient (each
    /// in its language); on failure, says what failed (connection, TLS, login, refusal) and what to check.
    #[command(after_help = "Examples:\n  veim mail test\n  veim mail test --to att-desk@example.org")]
    Test {
        /// The one address to send it to (in the node's language); else every recipient of [mail].
        #[arg(long)]
        to: Option<String>,
    },
    /// The mails waiting for the SMTP server, oldest first: what each tells of, to whom, its attempts and
    /// last error.
    #[command(after_help = "Example:\n  veim mail queue --json")]
    Queue,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Move this State to new keys: the rotation is signed with the current
    /// key, published by the Secretariat, and taken up by every peer.
    #[command(after_help = "Example:\n  veim keys rotate")]
    Rotate,
}

#[derive(Debug, Subcommand)]
enum ContactsCommand {
    /// Sign and submit this State's points of contact (see deploy/examples/contacts.toml).
    #[command(after_help = "Example:\n  veim contacts submit --file contacts.toml")]
    Submit {
        /// The points of contact, as TOML (see deploy/examples/contacts.toml).
        #[arg(long)]
        file: PathBuf,
    },
    /// This State's latest submission and where it stands.
    #[command(after_help = "Example:\n  veim contacts show --json")]
    Show,
    /// Secretariat: submissions waiting for review.
    #[command(after_help = "Example:\n  veim contacts pending")]
    Pending,
    /// Secretariat: accept a State's submission into the next directory version.
    #[command(after_help = "Example:\n  veim contacts accept MEX")]
    Accept {
        /// ISO 3166-1 alpha-3 code of the State whose submission is accepted.
        state: String,
    },
    /// Secretariat: reject a State's submission; its node learns it, with the reason, at its next poll.
    #[command(after_help = "Example:\n  veim contacts reject MEX --reason \"the e-mail domain is not the ministry's\"")]
    Reject {
        /// ISO 3166-1 alpha-3 code of the State whose submission is refused.
        state: String,
        /// Why, as the State's operator will read it.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Json,
    Html,
}

#[derive(Debug, Subcommand)]
enum RequestCommand {
    /// Send a request file to one or several States.
    #[command(after_help = "Example:\n  veim request send --to SWE,DEU --file request.toml")]
    Send {
        /// Recipient States, comma-separated ISO 3166-1 alpha-3 codes.
        #[arg(long, value_delimiter = ',', required = true)]
        to: Vec<String>,
        /// The request, as TOML (see deploy/examples/request.toml).
        #[arg(long)]
        file: PathBuf,
    },
    /// Check a request file without sending it.
    #[command(after_help = "Example:\n  veim request check --file request.toml")]
    Check {
        /// The request, as TOML (see deploy/examples/request.toml).
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ExchangeCommand {
    /// Exchanges, the most recently changed first, a page at a time.
    #[command(after_help = "Example:\n  veim exchange list --state open --since 2026-01-01")]
    List(ListArgs),
    /// One exchange with all its messages, decrypted.
    #[command(after_help = "Example:\n  veim exchange show 3f2a9c01")]
    Show {
        /// Exchange id (or a unique prefix of at least 6 hex digits).
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            veim_tools::say_err!("error: {e:#}");
            ExitCode::from(outcome(&e).code())
        }
    }
}

/// The outcome of a failed command, from the first error in its chain that
/// says what happened.
fn outcome(e: &anyhow::Error) -> Outcome {
    use veim_node::home::InitError;
    use veim_node::home::config::ConfigError;
    use veim_tools::audit::LogError;
    use veim_tools::terms::VerifyError;
    for cause in e.chain() {
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            return e.outcome();
        }
        if let Some(e) = cause.downcast_ref::<LogError>() {
            return match e {
                LogError::Read(_) => Outcome::Failed,
                LogError::Witness { .. } => Outcome::Invalid,
                _ => Outcome::NotVerified,
            };
        }
        if let Some(e) = cause.downcast_ref::<VerifyError>() {
            return match e {
                VerifyError::Read { .. } => Outcome::Failed,
                VerifyError::NotAPackage { .. } | VerifyError::Key(_) => Outcome::Invalid,
                _ => Outcome::NotVerified,
            };
        }
        if let Some(e) = cause.downcast_ref::<veim_tools::report::ReportFileError>() {
            use veim_tools::report::ReportFileError as E;
            return match e {
                E::Read { .. } | E::Labels { .. } => Outcome::Failed,
                E::NotAReport { .. } | E::Key(_) => Outcome::Invalid,
                _ => Outcome::NotVerified,
            };
        }
        if let Some(e) = cause.downcast_ref::<InitError>() {
            return match e {
                InitError::Invalid(_) => Outcome::Invalid,
                InitError::Config(ConfigError::AlreadyInitialised { .. }) => Outcome::Refused,
                _ => Outcome::Failed,
            };
        }
        if cause.is::<veim_protocol::state::UnknownStateCode>() {
            return Outcome::Invalid;
        }
    }
    Outcome::Failed
}

/// Prints a command's result: the node's answer as JSON with `--json`, else
/// its human rendering, through `terminal::out`, which strips what another
/// State could have put there for the terminal to obey.
fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) -> anyhow::Result<()> {
    if json {
        terminal::json(&serde_json::to_string_pretty(value)?);
    } else {
        terminal::out(&human(value));
    }
    Ok(())
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| ClientError::Invalid(format!("{} is not a valid file: {e}", path.display())).into())
}

/// The backup passphrase: the first line of `file`, else `$VEIM_BACKUP_PASSPHRASE`.
fn backup_passphrase(file: Option<&Path>) -> anyhow::Result<String> {
    match file {
        Some(f) => {
            let text = std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
            Ok(text.lines().next().unwrap_or_default().to_owned())
        }
        None => std::env::var(BACKUP_PASSPHRASE_ENV).map_err(|_| {
            invalid_value(format!("no backup passphrase: give --passphrase-file FILE or set {BACKUP_PASSPHRASE_ENV}"))
        }),
    }
}

const BACKUP_PASSPHRASE_ENV: &str = "VEIM_BACKUP_PASSPHRASE";

fn run(cli: Cli) -> anyhow::Result<()> {
    let home = resolve_home(cli.home.clone());
    let json = cli.json;
    let client = || AdminClient::for_home(&home);
    match cli.command {
        Command::Init(args) => init(&home, args, json),
        Command::Backup { out, passphrase_file } => {
            if out.exists() {
                return Err(invalid_value(format!("{} exists: give a new file for the backup", out.display())));
            }
            let passphrase = backup_passphrase(passphrase_file.as_deref())?;
            let (bytes, info) = client()?.post_for_bytes(
                "/v1/backup",
                &veim_node::api::BackupRequest { passphrase },
                veim_node::api::BACKUP_INFO_HEADER,
            )?;
            let info: veim_node::api::BackupInfo =
                info.and_then(|i| serde_json::from_str(&i).ok()).ok_or_else(|| {
                    anyhow::anyhow!(
                        "the node's answer does not describe the backup; are the CLI and node the same version?"
                    )
                })?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            std::io::Write::write_all(&mut file, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
            file.sync_all().with_context(|| format!("cannot write {}", out.display()))?;
            print(json, &info, |i| render::backup(i, &out, bytes.len()))
        }
        Command::Restore { file, passphrase_file } => {
            let passphrase = backup_passphrase(passphrase_file.as_deref())?;
            let info = veim_node::backup::restore(&file, &passphrase, &home).map_err(|e| match e {
                veim_node::backup::RestoreError::Write { .. } | veim_node::backup::RestoreError::Store(_) => {
                    anyhow::Error::new(e)
                }
                other => invalid_value(other.to_string()),
            })?;
            print(json, &info, |i| render::restored(i, &home))
        }
        Command::Node(NodeCommand::Run { log_format }) => {
            let format = veim_node::LogFormat::chosen(log_format.as_deref()).map_err(anyhow::Error::msg)?;
            veim_node::init_tracing("info", format);
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(veim_node::app::run(&home))?;
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate) => {
            let status: serde_json::Value = client()?.post("/v1/keys/rotate", &())?;
            print(json, &status, |s| {
                format!(
                    "New keys made (fingerprint {}). The node moves to them, and restarts, once the Secretariat publishes the rotation.\n",
                    s["fingerprint"].as_str().unwrap_or("?")
                )
            })
        }
        Command::Health => {
            let up: serde_json::Value = client()?.get("/healthz")?;
            print(json, &up, |_| "up\n".into())
        }
        Command::Status => {
            let status = client()?.get::<StatusView>("/v1/status")?;
            print(json, &status, render::status)?;
            match render::unhealthy(&status) {
                Some(why) => Err(ClientError::Unhealthy(why).into()),
                None => Ok(()),
            }
        }
        Command::Directory(DirectoryCommand::List) => {
            print(json, &client()?.get::<DirectoryListing>("/v1/directory")?, render::directory)
        }
        Command::Directory(DirectoryCommand::Pending) => {
            print(json, &client()?.get::<Vec<PendingView>>("/v1/directory/pending")?, |p| render::pending(p))
        }
        Command::Directory(DirectoryCommand::Approve { state, fingerprint }) => {
            let v: VersionView = client()?.post("/v1/directory/approve", &ApproveRequest { state, fingerprint })?;
            print(json, &v, |v| format!("Published directory version {}: {}\n", v.version, v.change))
        }
        Command::Directory(DirectoryCommand::ApproveMany { file }) => {
            let approvals = approvals_file(&file)?;
            let v: VersionView =
                client()?.post("/v1/directory/approve-many", &veim_node::api::ApproveManyRequest { approvals })?;
            print(json, &v, |v| format!("Published directory version {}: {}\n", v.version, v.change))
        }
        Command::Directory(DirectoryCommand::Reject { state, fingerprint, reason }) => {
            let done: Done = client()?.post("/v1/directory/reject", &RejectRequest { state, fingerprint, reason })?;
            print(json, &done, |d| format!("{}\n", d.done))
        }
        Command::Directory(DirectoryCommand::Suspend { state, reason }) => {
            change_status(&client()?, json, state, EntryAction::Suspend, reason)
        }
        Command::Directory(DirectoryCommand::Reinstate { state, reason }) => {
            change_status(&client()?, json, state, EntryAction::Reinstate, reason)
        }
        Command::Directory(DirectoryCommand::Withdraw { state, reason }) => {
            change_status(&client()?, json, state, EntryAction::Withdraw, reason)
        }
        Command::Directory(DirectoryCommand::Show { state }) => {
            let listing: DirectoryListing = client()?.get("/v1/directory")?;
            let code: StateCode = state.parse()?;
            let entry = listing.entries.into_iter().find(|e| e.state == code).ok_or_else(|| {
                ClientError::Refused(format!("{code} is not in directory version {}", listing.version))
            })?;
            print(json, &entry, render::entry)
        }
        Command::Directory(DirectoryCommand::Search { state, region, language, role }) => {
            // A code, checked here: the node would also take part of a name.
            let state = state.map(|s| s.parse::<StateCode>()).transpose()?.map(|s| s.to_string());
            let query: Vec<(&str, String)> =
                [("state", state), ("region", region), ("language", language), ("role", role)]
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, v?)))
                    .collect();
            let query = serde_urlencoded::to_string(&query)?;
            let listing: DirectoryListing = client()?.get(&format!("/v1/directory?{query}"))?;
            print(json, &listing.entries, |list| {
                if list.is_empty() {
                    "No entry matches.\n".into()
                } else {
                    list.iter().map(render::entry).collect::<Vec<_>>().join("\n")
                }
            })
        }
        Command::Directory(DirectoryCommand::Export { public: _, format, language, out: output }) => {
            let client = client()?;
            let public: PublicDirectory = client.get("/v1/directory/public")?;
            let bytes = match format {
                ExportFormat::Json => serde_json::to_vec_pretty(&public)?,
                ExportFormat::Html => {
                    client.get_text(&format!("/v1/directory/public?format=html&language={language}"))?.into_bytes()
                }
            };
            write_out(&output, &bytes, false)?;
            print(json, &public, |p| {
                format!(
                    "Wrote the public section ({} State(s), directory version {}) to {}\n",
                    p.states.len(),
                    p.directory_version,
                    output.display()
                )
            })
        }
        Command::Reports(command) => {
            let done = veim_tools::publish::reports(&client()?, command)?;
            print(json, &done.json, |_| done.text.clone())
        }
        Command::Meeting(command) => {
            let done = veim_tools::publish::meeting(&client()?, command)?;
            print(json, &done.json, |_| done.text.clone())
        }
        Command::Users(command) => {
            let done = veim_tools::users::users(&client()?, command)?;
            print(json, &done.json, |_| done.text.clone())
        }
        Command::Contacts(ContactsCommand::Submit { file }) => {
            let contacts: ContactSetForm = read_toml(&file)?;
            let view: ContactsView = client()?.post("/v1/contacts", &SubmitContactsRequest { contacts })?;
            print(json, &view, render::contacts)
        }
        Command::Contacts(ContactsCommand::Show) => {
            print(json, &client()?.get::<ContactsView>("/v1/contacts")?, render::contacts)
        }
        Command::Contacts(ContactsCommand::Pending) => {
            let list: Vec<ContactsView> = client()?.get("/v1/contacts/pending")?;
            print(json, &list, |l| {
                if l.is_empty() {
                    "No points of contact are waiting for review.\n".into()
                } else {
                    l.iter().map(render::contacts).collect::<Vec<_>>().join("\n")
                }
            })
        }
        Command::Contacts(ContactsCommand::Accept { state }) => {
            let v: VersionView =
                client()?.post("/v1/contacts/accept", &ContactsDecision { state, reason: String::new() })?;
            print(json, &v, |v| format!("Published directory version {}: {}\n", v.version, v.change))
        }
        Command::Contacts(ContactsCommand::Reject { state, reason }) => {
            let done: Done = client()?.post("/v1/contacts/reject", &ContactsDecision { state, reason })?;
            print(json, &done, |d| format!("{}\n", d.done))
        }
        Command::Directory(DirectoryCommand::Log(paging)) => listing::<VersionView>(
            &client()?,
            json,
            "/v1/directory/history",
            (&paging, paging.query()),
            "directory versions",
            render::history,
        ),
        Command::Directory(DirectoryCommand::Sync) => {
            print(json, &client()?.post::<_, StatusView>("/v1/directory/sync", &())?, render::status)
        }
        Command::Request(RequestCommand::Check { file }) => {
            let form: RequestForm = read_toml(&file)?;
            match form.parse() {
                Ok(request) => print(json, &request, |_| format!("{} is a valid request.\n", file.display())),
                Err(errors) => Err(invalid_file(&file, "request", errors, "").into()),
            }
        }
        Command::Request(RequestCommand::Send { to, file }) => {
            let request: RequestForm = read_toml(&file)?;
            // Check locally first: nothing is sent when the file has problems.
            if let Err(errors) = request.parse() {
                return Err(invalid_file(&file, "request", errors, "; nothing was sent").into());
            }
            let sent: MessageView = client()?.post("/v1/requests", &SendRequest { to, request })?;
            print(json, &sent, render::sent)
        }
        Command::Inbox(list) => listing::<MessageView>(
            &client()?,
            json,
            "/v1/inbox",
            (&list.paging, list.query()?),
            "messages",
            render::messages,
        ),
        Command::Outbox { list, action: None } => listing::<MessageView>(
            &client()?,
            json,
            "/v1/outbox",
            (&list.paging, list.query()?),
            "messages",
            render::outbox,
        ),
        Command::Outbox { action: Some(OutboxCommand::Retry { id }), .. } => {
            let m: MessageView = client()?.post(&format!("/v1/outbox/{id}/retry"), &())?;
            print(json, &m, render::sent)
        }
        Command::Outbox { action: Some(OutboxCommand::Cancel { id }), .. } => {
            let m: MessageView = client()?.post(&format!("/v1/outbox/{id}/cancel"), &())?;
            print(json, &m, render::sent)
        }
        Command::Exchange(ExchangeCommand::List(list)) => listing::<ExchangeSummary>(
            &client()?,
            json,
            "/v1/exchanges",
            (&list.paging, list.query()?),
            "exchanges",
            render::exchanges,
        ),
        Command::Exchange(ExchangeCommand::Show { id }) => {
            print(json, &client()?.get::<ExchangeView>(&format!("/v1/exchanges/{id}"))?, render::exchange)
        }
        Command::Respond { id, file } => {
            let response: ResponseForm = read_toml(&file)?;
            let sent: MessageView =
                client()?.post(&format!("/v1/exchanges/{id}/respond"), &RespondRequest { response })?;
            print(json, &sent, render::sent)
        }
        Command::Note { id, text } => {
            let sent: MessageView =
                client()?.post(&format!("/v1/exchanges/{id}/note"), &NoteRequest { text, handling: None })?;
            print(json, &sent, render::sent)
        }
        Command::Attach { id, files, text } => {
            let api = client()?;
            let mut staged = Vec::new();
            for f in &files {
                let path = std::fs::canonicalize(f).with_context(|| format!("cannot read {}", f.display()))?;
                let a: veim_node::api::types::AttachmentView =
                    api.post("/v1/attachments", &StageRequest { path: path.display().to_string() })?;
                staged.push(a.id.to_hex());
            }
            let sent: MessageView = api.post(
                &format!("/v1/exchanges/{id}/attach"),
                &AttachRequest { text, attachments: staged, handling: None },
            )?;
            print(json, &sent, render::sent)
        }
        Command::Attachment(AttachmentCommand::List(paging)) => listing::<veim_node::api::types::AttachmentView>(
            &client()?,
            json,
            "/v1/attachments",
            (&paging, paging.query()),
            "attachments",
            render::attachments,
        ),
        Command::Attachment(AttachmentCommand::Save { id, out, force }) => {
            let out = std::path::absolute(&out).with_context(|| format!("bad path {}", out.display()))?;
            let a: veim_node::api::types::AttachmentView = client()?
                .post(&format!("/v1/attachments/{id}/save"), &SaveRequest { out: out.display().to_string(), force })?;
            print(json, &a, |a| format!("Wrote {} ({} bytes) to {}\n", a.name, a.size, out.display()))
        }
        Command::Close { id, reason, outcome } => {
            if let Some(o) = &outcome {
                veim_protocol::Outcome::parse(o).map_err(|e| invalid_value(format!("--outcome: {e}")))?;
            }
            let sent: MessageView =
                client()?.post(&format!("/v1/exchanges/{id}/close"), &CloseRequest { reason, outcome })?;
            print(json, &sent, render::sent)
        }
        Command::Measure(MeasureCommand::Add { id, provision, kind, date, text }) => {
            let form = MeasureForm { provision, kind, date, text, handling: None };
            // Checked here first: nothing is sent when a value has problems.
            if let Err(errors) = form.parse() {
                let problems: Vec<String> =
                    errors.0.iter().map(|p| format!("  - {}: {}", p.field, p.problem)).collect();
                return Err(invalid_value(format!(
                    "the measure has problems; nothing was sent\n{}",
                    problems.join("\n")
                )));
            }
            let sent: MessageView = client()?.post(&format!("/v1/exchanges/{id}/measures"), &form)?;
            print(json, &sent, render::sent)
        }
        Command::Measure(MeasureCommand::Kinds) => {
            let rows: Vec<MeasureKindRow> = veim_protocol::MeasureKind::ALL
                .iter()
                .map(|(_, name, provisions)| MeasureKindRow {
                    kind: name,
                    provisions: provisions.iter().map(|p| p.as_str()).collect(),
                })
                .collect();
            print(json, &rows, |rows| {
                rows.iter().map(|r| format!("{:30} {}\n", r.kind, r.provisions.join(", "))).collect()
            })
        }
        Command::Stage { id, stage, text } => {
            veim_protocol::progress::parse_stage(&stage).map_err(|e| invalid_value(e.to_string()))?;
            let sent: MessageView =
                client()?.post(&format!("/v1/exchanges/{id}/stage"), &StageMoveRequest { stage, text })?;
            print(json, &sent, render::sent)
        }
        Command::RespondBy { id, date, text } => {
            if veim_protocol::CalendarDate::parse(&date).is_none() {
                return Err(invalid_value(format!("{date:?} is not a date; write YYYY-MM-DD")));
            }
            let sent: MessageView =
                client()?.post(&format!("/v1/exchanges/{id}/respond-by"), &RespondByRequest { date, text })?;
            print(json, &sent, render::sent)
        }
        Command::Track { figures: false, .. } => {
            print(json, &client()?.get::<Vec<TrackedExchange>>("/v1/track")?, |t| render::track(t))
        }
        Command::Track { figures: true, from, to } => {
            let mut query = Vec::new();
            for (name, day) in [("from", &from), ("to", &to)] {
                if let Some(d) = day {
                    if veim_protocol::CalendarDate::parse(d).is_none() {
                        return Err(invalid_value(format!("--{name} {d:?} is not a date; write YYYY-MM-DD")));
                    }
                    query.push(format!("{name}={d}"));
                }
            }
            let path = if query.is_empty() {
                "/v1/track/figures".to_string()
            } else {
                format!("/v1/track/figures?{}", query.join("&"))
            };
            print(json, &client()?.get::<Figures>(&path)?, render::figures)
        }
        Command::Consent(c) => consent(&client()?, json, c),
        Command::Disclose(args) => disclose(&client()?, json, args),
        Command::Disclosure(DisclosureCommand::Verify { file, secretariat_key }) => {
            let verified = veim_tools::terms::verify_file(&file, secretariat_key.as_deref())?;
            print(json, &verified, render::verified)
        }
        Command::Report(command) => report(client, json, command),
        Command::Disclosure(DisclosureCommand::Requests) => {
            print(json, &client()?.get::<Vec<DisclosureRequestView>>("/v1/disclosures/requests")?, |list| {
                if list.is_empty() {
                    return "No disclosure waits for approval.\n".into();
                }
                list.iter()
                    .map(|r| {
                        format!(
                            "{}  {} item(s) from {} to {}, asked by {} at {}\n",
                            &r.id[..8],
                            r.items.len(),
                            r.originator,
                            r.authority,
                            r.asked_by,
                            render::time(r.asked_at)
                        )
                    })
                    .collect()
            })
        }
        Command::Disclosure(DisclosureCommand::Approve { id, out, markdown, force }) => {
            approve_disclosure(&client()?, json, &id, &out, markdown.as_deref(), force)
        }
        Command::Disclosure(DisclosureCommand::Refuse { id, reason }) => {
            let done: DisclosureRequestView =
                client()?.post(&format!("/v1/disclosures/requests/{id}/refuse"), &RefuseDisclosure { reason })?;
            print(json, &done, |r| format!("Disclosure request {} refused; nothing was disclosed.\n", &r.id[..8]))
        }
        Command::Disclosure(DisclosureCommand::List(paging)) => listing::<DisclosureSummary>(
            &client()?,
            json,
            "/v1/disclosures",
            (&paging, paging.query()),
            "disclosures",
            render::disclosures,
        ),
        Command::Audit(command) => audit(&home, json, command),
        Command::Bench(BenchCommand::Attachment { mib }) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let result = runtime.block_on(veim_tools::bench::attachment(mib))?;
            print(json, &result, veim_tools::bench::render_attachment)
        }
        Command::Bench(BenchCommand::Exchange { quick }) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let result = runtime.block_on(veim_tools::bench::exchange(quick))?;
            print(json, &result, veim_tools::bench::render_exchange)
        }
        Command::Bench(BenchCommand::Console { quick, think_ms }) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let think = std::time::Duration::from_millis(think_ms);
            let result = runtime.block_on(veim_tools::bench_console::console(quick, think))?;
            print(json, &result, veim_tools::bench_console::render)
        }
        Command::Bench(BenchCommand::Crypto { quick }) => {
            let result = veim_tools::bench::crypto(quick)?;
            print(json, &result, |b| {
                veim_tools::bench::render_figures("crypto: the envelope of a 1 KiB body", &b.figures, b.release_build)
            })
        }
        Command::Bench(BenchCommand::Storage { quick }) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let result = runtime.block_on(veim_tools::bench::storage(quick))?;
            print(json, &result, |b| {
                veim_tools::bench::render_figures(
                    "storage: durable stores of received messages",
                    &b.figures,
                    b.release_build,
                )
            })
        }
        Command::Bench(BenchCommand::Network { nodes, batch, one, directory_bytes, versions }) => {
            match one.as_deref() {
                Some(kind) => {
                    let n = *nodes.first().ok_or_else(|| anyhow::anyhow!("--nodes names no size"))?;
                    let runtime = tokio::runtime::Runtime::new()?;
                    let run = match kind {
                        "veim" => runtime.block_on(veim_tools::scale::veim_run(n, batch))?,
                        "libp2p" => runtime.block_on(veim_tools::scale::libp2p_run(n, directory_bytes, None))?,
                        "floor" => {
                            let work = veim_tools::scale::DirectoryWork { versions };
                            runtime.block_on(veim_tools::scale::libp2p_run(n, directory_bytes, Some(work)))?
                        }
                        other => anyhow::bail!("--one {other:?}: expected veim, libp2p or floor"),
                    };
                    // Leave the nodes' remaining tasks behind: the run is measured.
                    runtime.shutdown_background();
                    print(json, &run, |r| format!("{r:?}\n"))
                }
                None => print(json, &veim_tools::scale::network(&nodes, batch)?, veim_tools::scale::render),
            }
        }
        Command::Bench(BenchCommand::Hostile { quick, settle_secs }) => {
            let settle = std::time::Duration::from_secs(settle_secs.unwrap_or(if quick { 5 } else { 60 }));
            let runtime = tokio::runtime::Runtime::new()?;
            let options = veim_tools::hostile::HostileOptions { quick, settle };
            let result = runtime.block_on(veim_tools::hostile::hostile(options))?;
            runtime.shutdown_background();
            print(json, &result, veim_tools::hostile::render_hostile)
        }
        Command::Bench(BenchCommand::Joiner { versions, listed }) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let result = runtime.block_on(veim_tools::joiner::joiner(versions, listed))?;
            runtime.shutdown_background();
            print(json, &result, veim_tools::joiner::render)
        }
        Command::Bench(BenchCommand::Soak { minutes, rate, sample_secs }) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let result = runtime.block_on(veim_tools::soak::soak(minutes, rate, sample_secs))?;
            // The nodes' leftover tasks are not waited for: the run is measured.
            runtime.shutdown_background();
            print(json, &result, veim_tools::soak::render)
        }
        Command::Bench(BenchCommand::All { quick, out }) => veim_tools::bench::all(quick, &out),
        Command::Bench(BenchCommand::Audit { entries }) => {
            print(json, &veim_tools::bench::audit(entries)?, veim_tools::bench::render_audit)
        }
        Command::Mail(MailCommand::Test { to }) => {
            let answer: MailTestAnswer = client()?.post("/v1/mail/test", &MailTestRequest { to })?;
            print(json, &answer, |a| {
                format!("{} took the test mail for {}. Check that it arrived.\n", a.server, a.sent_to.join(", "))
            })
        }
        Command::Mail(MailCommand::Queue) => {
            print(json, &client()?.get::<Vec<QueuedMailView>>("/v1/mail/queue")?, |q| render::mail_queue(q))
        }
        Command::Reciprocity => {
            print(json, &client()?.get::<Vec<Reciprocity>>("/v1/reciprocity")?, |r| render::reciprocity(r))
        }
        Command::Purge { older_than_days } => {
            let req = PurgeRequest { older_than_secs: older_than_days.map(|d| i64::from(d) * 86_400) };
            let done: PurgeView = client()?.post("/v1/purge", &req)?;
            print(json, &done, |d| {
                format!(
                    "Purged the content of {} received message(s) older than {} day(s); their metadata stays.\n",
                    d.purged.len(),
                    d.older_than_secs / 86_400
                )
            })
        }
        Command::Config(ConfigCommand::Check { file }) => config_check(&home, file, json),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "veim", &mut out);
            terminal::raw(&out);
            Ok(())
        }
        Command::Man { out } => {
            let cli = <Cli as clap::CommandFactory>::command();
            match out {
                Some(dir) => {
                    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                    clap_mangen::generate_to(cli, &dir)
                        .with_context(|| format!("cannot write in {}", dir.display()))?;
                    terminal::out(&format!("Wrote the manual pages to {}\n", dir.display()));
                }
                None => {
                    let mut page = Vec::new();
                    clap_mangen::Man::new(cli).render(&mut page)?;
                    terminal::raw(&page);
                }
            }
            Ok(())
        }
        Command::Demo { exit, out } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let ok = runtime.block_on(veim_tools::demo::run(exit, out.as_deref()))?;
            if ok { Ok(()) } else { anyhow::bail!("the demo failed (see the step marked FAILED above)") }
        }
    }
}

/// A file that has problems, each listed under it.
fn invalid_file(file: &Path, what: &str, errors: veim_protocol::ValidationErrors, then: &str) -> ClientError {
    let mut message = format!("{} is not a valid {what}: {} problem(s){then}", file.display(), errors.0.len());
    for p in &errors.0 {
        message.push_str(&format!("\n  - {}: {}", p.field, p.problem));
    }
    ClientError::Invalid(message)
}

/// What `veim config check` found.
#[derive(Debug, Serialize)]
struct ConfigReport {
    file: String,
    valid: bool,
    problems: Vec<veim_protocol::FieldError>,
}

fn config_check(home: &Path, file: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let path = file.unwrap_or_else(|| home.join(veim_node::home::CONFIG_FILE));
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let problems = match toml::from_str::<Config>(&text) {
        Ok(config) => {
            let mut problems = config.problems().0;
            // The SMTP password and CA live in files beside config.toml.
            let folder = path.parent().unwrap_or(Path::new("."));
            for (field, problem) in config.mail.as_ref().map(|m| m.file_problems(folder)).unwrap_or_default() {
                problems.push(veim_protocol::FieldError { field, problem });
            }
            problems
        }
        // Not even TOML of a configuration: where, and what (an unknown
        // field's message lists the known ones).
        Err(e) => vec![veim_protocol::FieldError {
            field: e
                .span()
                .map(|s| format!("line {}", text[..s.start.min(text.len())].matches('\n').count() + 1))
                .unwrap_or_else(|| "file".into()),
            problem: e.message().to_string(),
        }],
    };
    let report = ConfigReport { file: path.display().to_string(), valid: problems.is_empty(), problems };
    print(json, &report, |r| if r.valid { format!("{} is a valid configuration.\n", r.file) } else { String::new() })?;
    if report.valid {
        return Ok(());
    }
    let mut message = format!("{} is not a valid configuration: {} problem(s)", report.file, report.problems.len());
    for p in &report.problems {
        message.push_str(&format!("\n  - {}: {}", p.field, p.problem));
    }
    Err(ClientError::Invalid(message).into())
}

/// Reads an approvals file: `STATE FINGERPRINT` per line.
fn approvals_file(path: &Path) -> anyhow::Result<Vec<ApproveRequest>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (state, fingerprint) = line.split_once(char::is_whitespace).ok_or_else(|| {
            ClientError::Invalid(format!(
                "{} line {}: expected a State code and the fingerprint checked with its operator, e.g. \"MEX 19c9 33de ...\"",
                path.display(),
                n + 1
            ))
        })?;
        out.push(ApproveRequest { state: state.to_string(), fingerprint: fingerprint.trim().to_string() });
    }
    if out.is_empty() {
        return Err(ClientError::Invalid(format!("{} names no State to approve", path.display())).into());
    }
    Ok(out)
}

fn change_status(
    client: &AdminClient,
    json: bool,
    state: String,
    action: EntryAction,
    reason: String,
) -> anyhow::Result<()> {
    let v: VersionView = client.post("/v1/directory/status", &StatusChangeRequest { state, action, reason })?;
    print(json, &v, |v| format!("Published directory version {}: {}\n", v.version, v.change))
}

#[derive(Debug, Serialize)]
struct InitReport {
    home: String,
    role: Role,
    state: Option<StateCode>,
    peer_id: String,
    identity_key: String,
    fingerprint: String,
}

fn init(home: &Path, args: InitArgs, json: bool) -> anyhow::Result<()> {
    let role = if args.role == "secretariat" { Role::Secretariat } else { Role::National };
    let state = args.state.as_deref().map(str::parse::<StateCode>).transpose()?;
    let secretariat = match (role, args.secretariat_key, args.secretariat_addr) {
        (Role::National, Some(public_key), Some(address)) => Some(SecretariatPin { public_key, address }),
        (Role::National, _, _) => {
            return Err(ClientError::Invalid(
                "a national node needs --secretariat-key and --secretariat-addr (ask the ATT Secretariat for both)"
                    .into(),
            )
            .into());
        }
        (Role::Secretariat, _, _) => None,
    };
    let config = Config {
        role,
        state,
        operator: args.operator,
        listen: args.listen,
        announce: args.announce,
        admin_listen: args.admin,
        replay_window_secs: 3600,
        directory_poll_secs: args.poll_secs,
        secretariat,
        ..Config::default()
    };
    let keys = init_home(home, &config)?;
    let report = InitReport {
        home: home.display().to_string(),
        role,
        state,
        peer_id: keys.peer_id().to_string(),
        identity_key: keys.identity.public().to_string(),
        fingerprint: keys.identity.public().fingerprint(),
    };
    print(json, &report, |r| {
        let mut out = format!(
            "Created a {} node in {}\n  peer id      {}\n  identity key {}\n  fingerprint  {}\n",
            r.role, r.home, r.peer_id, r.identity_key, r.fingerprint
        );
        match r.role {
            Role::National => out.push_str("Read the fingerprint to the ATT Secretariat by a channel you trust (telephone, Note Verbale): they check it before approving this node.\n"),
            Role::Secretariat => out.push_str(&format!("Give national nodes: --secretariat-key {} --secretariat-addr <this node's public address>\n", r.identity_key)),
        }
        out
    })
}

fn authority(client: &AdminClient, args: AuthorityArgs) -> anyhow::Result<Authority> {
    let kind: AuthorityKind = args.authority_kind.parse().map_err(|e: String| invalid_value(e))?;
    let state = match args.authority_state {
        Some(s) => s.parse().map_err(|e: veim_protocol::state::UnknownStateCode| invalid_value(e.to_string()))?,
        None => client
            .get::<StatusView>("/v1/status")?
            .state
            .ok_or_else(|| ClientError::Invalid("this node speaks for no State; give --authority-state".into()))?,
    };
    Ok(Authority { kind, name: args.authority, state })
}

/// An error in what the operator gave (exit code 4).
fn invalid_value(message: String) -> anyhow::Error {
    ClientError::Invalid(message).into()
}

/// The end of a day given as YYYY-MM-DD, UTC, in Unix seconds.
fn end_of_day(date: &str) -> anyhow::Result<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(date.trim(), &format)
        .map_err(|_| invalid_value(format!("{date:?} is not a date; write YYYY-MM-DD")))?;
    let next = day.next_day().ok_or_else(|| invalid_value(format!("{date:?} is out of range")))?;
    Ok(next.midnight().assume_utc().unix_timestamp())
}

/// Writes a JSON file for the operator (a draft to edit, a report file),
/// owner-only: a draft is the State's own until it is registered.
fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    write_out(path, (text + "\n").as_bytes(), true)
}

/// Writes a file the operator asked for (`secret`: owner-only). A device or
/// a pipe (`--out /dev/stdout`, a FIFO) is written to as it is, once opened
/// and seen to be one; anything else goes through a temporary of fresh name
/// and a rename (`home::write_file`), so that a link planted at `path` is
/// replaced, never written through.
fn write_out(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let cannot = || format!("cannot write {}", path.display());
    if let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(path)
        && file.metadata().is_ok_and(|m| !m.is_file())
    {
        return file.write_all(bytes).with_context(cannot);
    }
    veim_node::home::write_file(path, bytes, secret).with_context(cannot)
}

fn report(
    client: impl Fn() -> Result<AdminClient, ClientError>,
    json: bool,
    command: ReportCommand,
) -> anyhow::Result<()> {
    use veim_node::api::{DraftReportRequest, DraftView, RegisteredView, ReportCommentRequest, ReportView};
    use veim_protocol::report::{CspReport, Language, ReportFile};
    use veim_tools::report as r;
    match command {
        ReportCommand::Draft { period, with, title, language, out } => {
            let request = DraftReportRequest { period, with, title, language: Some(language) };
            let drafted: DraftView = client()?.post("/v1/csp-reports", &request)?;
            if let Some(out) = &out {
                write_json(out, &drafted.report.report)?;
            }
            print(json, &drafted, |d| {
                let mut text = r::render_view(&d.report);
                for note in &d.notes {
                    text.push_str(&format!("Note: {note}\n"));
                }
                if let Some(out) = &out {
                    text.push_str(&format!(
                        "The draft is in {}: edit it, then load it with `veim report update {}`.\n",
                        out.display(),
                        out.display()
                    ));
                }
                text
            })
        }
        ReportCommand::Update { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let report: CspReport = serde_json::from_str(&text)
                .map_err(|e| invalid_value(format!("{} is not a draft of a report: {e}", file.display())))?;
            if let Err(errors) = report.validate() {
                return Err(invalid_file(&file, "draft", errors, "; nothing was sent").into());
            }
            let id = report.report_id.to_hex();
            let view: ReportView = client()?
                .post(&format!("/v1/csp-reports/{id}/update"), &veim_node::api::UpdateReportRequest { report })?;
            print(json, &view, r::render_view)
        }
        ReportCommand::List => {
            let list: Vec<ReportView> = client()?.get("/v1/csp-reports")?;
            print(json, &list, |l| r::render_list(l))
        }
        ReportCommand::Show { id, out, draft } => {
            let api = client()?;
            if let Some(out) = &out {
                let file: ReportFile = api.get(&format!("/v1/csp-reports/{id}/file"))?;
                write_json(out, &file)?;
                return print(json, &file, |f| format!("Report {} written to {}\n", f.report.report_id, out.display()));
            }
            let view: ReportView = api.get(&format!("/v1/csp-reports/{id}"))?;
            if let Some(path) = &draft {
                write_json(path, &view.report)?;
            }
            print(json, &view, r::render_view)
        }
        ReportCommand::Approve { id } => {
            let view: ReportView = client()?.post(&format!("/v1/csp-reports/{id}/approve"), &())?;
            print(json, &view, |v| format!("Approved and sent to {}.\n{}", v.drafter, r::render_view(v)))
        }
        ReportCommand::Comment { id, text } => {
            let view: ReportView =
                client()?.post(&format!("/v1/csp-reports/{id}/comment"), &ReportCommentRequest { text })?;
            print(json, &view, |v| format!("Comments sent to {}.\n{}", v.drafter, r::render_view(v)))
        }
        ReportCommand::Send { id } => {
            let view: ReportView = client()?.post(&format!("/v1/csp-reports/{id}/send"), &())?;
            print(json, &view, r::render_view)
        }
        ReportCommand::Submit { id } => {
            let view: ReportView = client()?.post(&format!("/v1/csp-reports/{id}/submit"), &())?;
            print(json, &view, r::render_view)
        }
        ReportCommand::Register => {
            let list: Vec<RegisteredView> = client()?.get("/v1/csp-register")?;
            print(json, &list, |l| r::render_register(l))
        }
        ReportCommand::Verify { file, secretariat_key } => {
            let verified = r::verify_file(&file, secretariat_key.as_deref())?;
            print(json, &verified, r::render_verified)
        }
        ReportCommand::Html { file, lang, out } => {
            let lang: Language = lang.parse().map_err(|e: String| invalid_value(format!("--lang: {e}")))?;
            let verified = r::verify_file(&file, None)?;
            let page = r::html(&r::read_file(&file)?, &verified, lang)?;
            write_out(&out, page.as_bytes(), false)?;
            print(json, &verified, |_| format!("Wrote {} ({lang})\n", out.display()))
        }
    }
}

fn consent(client: &AdminClient, json: bool, command: ConsentCommand) -> anyhow::Result<()> {
    match command {
        ConsentCommand::Ask { exchange, items, authority: a, purpose, case_reference } => {
            let authority = authority(client, a)?;
            let sent: MessageView = client.post(
                &format!("/v1/exchanges/{exchange}/consent"),
                &AskConsent { items, authority, purpose, case_reference },
            )?;
            print(json, &sent, |m| format!("Consent asked: id {}\n{}", m.message_id, render::sent(m)))
        }
        ConsentCommand::List(paging) => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            listing::<ConsentView>(client, json, "/v1/consents", (&paging, paging.query()), "consent requests", |l| {
                render::consents(l, now)
            })
        }
        ConsentCommand::Grant { id, items, conditions, expires } => {
            let expires_at = expires.as_deref().map(end_of_day).transpose()?;
            let items = (!items.is_empty()).then_some(items);
            let sent: MessageView = client
                .post(&format!("/v1/consents/{id}/decide"), &DecideConsent::Grant { items, conditions, expires_at })?;
            print(json, &sent, |m| format!("Consent granted and signed.\n{}", render::sent(m)))
        }
        ConsentCommand::Refuse { id, reason } => {
            let sent: MessageView =
                client.post(&format!("/v1/consents/{id}/decide"), &DecideConsent::Refuse { reason })?;
            print(json, &sent, |m| format!("Consent refused.\n{}", render::sent(m)))
        }
        ConsentCommand::Revoke { id, reason } => {
            let sent: MessageView = client.post(&format!("/v1/consents/{id}/revoke"), &RevokeRequest { reason })?;
            print(json, &sent, |m| format!("Consent revoked.\n{}", render::sent(m)))
        }
    }
}

fn disclose(client: &AdminClient, json: bool, args: DiscloseArgs) -> anyhow::Result<()> {
    let authority = authority(client, args.authority)?;
    let request = Disclose {
        exchange: args.exchange,
        items: args.items,
        authority,
        purpose: args.purpose,
        case_reference: args.case_reference,
    };
    let asked: DisclosureRequestView = client.post("/v1/disclosures", &request)?;
    print(json, &asked, |a| {
        format!(
            "Disclosure of {} item(s) from {} to {} asked for (request {}). It is made once an approver other \
             than {} approves it: veim disclosure approve {} --out package.json\n",
            a.items.len(),
            a.originator,
            a.authority,
            a.id,
            a.asked_by,
            &a.id[..8]
        )
    })
}

fn approve_disclosure(
    client: &AdminClient,
    json: bool,
    id: &str,
    out: &Path,
    markdown: Option<&Path>,
    force: bool,
) -> anyhow::Result<()> {
    // Checked before the node is asked: a disclosure is recorded once made.
    for file in std::iter::once(out).chain(markdown) {
        if file.exists() && !force {
            return Err(ClientError::Refused(format!(
                "{} exists; nothing was disclosed. Choose another file, or give --force to replace it",
                file.display()
            ))
            .into());
        }
    }
    let package: veim_protocol::disclosure::Package =
        client.post(&format!("/v1/disclosures/requests/{id}/approve"), &())?;
    let bytes = serde_json::to_vec_pretty(&package)?;
    write_out(out, &bytes, true)?;
    if let Some(md) = markdown {
        write_out(md, render::package_markdown(&package).as_bytes(), true)?;
    }
    print(json, &package, |p| {
        format!(
            "Disclosure {} of {} item(s) from {} to {} written to {}\n",
            p.disclosure_id,
            p.items.len(),
            p.originator,
            p.authority,
            out.display()
        )
    })
}

/// A day (YYYY-MM-DD, UTC) or Unix seconds; `end` takes the last second of the day.
fn parse_when(text: &str, end: bool) -> anyhow::Result<i64> {
    if let Ok(t) = text.trim().parse::<i64>() {
        return Ok(t);
    }
    let start = end_of_day(text)? - 86_400;
    Ok(if end { start + 86_399 } else { start })
}

fn audit(home: &Path, json: bool, command: AuditCommand) -> anyhow::Result<()> {
    use veim_tools::audit as a;
    let node = Config::load(home).ok().and_then(|c| c.state);
    match command {
        AuditCommand::Verify { export, witnesses } => {
            let log = a::read(home, export.as_deref())?;
            let mut witnessed = a::Witnessed::default();
            for w in &witnesses {
                witnessed.read(w)?;
            }
            let report = a::verify(&log, &witnessed)?;
            let running = export.is_none() && node_process_alive(home);
            a::check_covered(&report, running)?;
            let verified = a::Verified { clock_went_back: a::clock_went_back(&log.entries), report };
            print(json, &verified, |v| {
                render::audit_report(&v.report, witnessed.checkpoints.len(), witnessed.trees.len())
                    + &render::clock_went_back(&v.clock_went_back)
            })
        }
        AuditCommand::Show { export, since, until, actions, state, exchange, actor } => {
            let log = a::read(home, export.as_deref())?;
            let filter = a::Filter {
                since: since.as_deref().map(|t| parse_when(t, false)).transpose()?,
                until: until.as_deref().map(|t| parse_when(t, true)).transpose()?,
                actions: actions
                    .iter()
                    .map(|x| x.parse().map_err(invalid_value))
                    .collect::<anyhow::Result<Vec<veim_protocol::audit::Action>>>()?,
                state: state
                    .map(|s| {
                        s.parse().map_err(|e: veim_protocol::state::UnknownStateCode| invalid_value(e.to_string()))
                    })
                    .transpose()?,
                exchange: exchange.map(|x| x.trim().to_ascii_lowercase()),
                actor,
            };
            let entries: Vec<_> = log.entries.into_iter().filter(|e| filter.keeps(e)).collect();
            print(json, &entries, |e| render::audit_entries(e))
        }
        AuditCommand::Export { out } => {
            let log = a::read(home, None)?;
            let text = log.export(node, time::OffsetDateTime::now_utc().unix_timestamp())?;
            write_out(&out, text.as_bytes(), false)?;
            #[derive(Serialize)]
            struct Exported {
                file: String,
                entries: usize,
                checkpoints: usize,
                witnessed: usize,
            }
            let done = Exported {
                file: out.display().to_string(),
                entries: log.entries.len(),
                checkpoints: log.checkpoints.len(),
                witnessed: log.witnessed.len(),
            };
            print(json, &done, |d| {
                format!(
                    "Wrote {} entries, {} checkpoint(s) and {} checkpoint(s) of other nodes to {}\n",
                    d.entries, d.checkpoints, d.witnessed, d.file
                )
            })
        }
        AuditCommand::Witness { state } => {
            let of = if state.eq_ignore_ascii_case("secretariat") {
                None
            } else {
                Some(state.parse().map_err(|e: veim_protocol::state::UnknownStateCode| invalid_value(e.to_string()))?)
            };
            let held = a::witness(home, node, of)?;
            if held.checkpoints.is_empty() {
                return Err(ClientError::Refused(format!(
                    "this node holds no checkpoint of {state}'s log yet: they arrive once both nodes are in the directory and that node's log grows"
                ))
                .into());
            }
            print(json, &held, render::held_checkpoints)
        }
    }
}

/// Whether the node of `home` runs now: its `runtime.json` names a live
/// process (the file stays behind a node that was killed).
fn node_process_alive(home: &Path) -> bool {
    let Ok(bytes) = std::fs::read(home.join(veim_node::home::RUNTIME_FILE)) else { return false };
    let Ok(runtime) = serde_json::from_slice::<veim_node::home::Runtime>(&bytes) else { return false };
    if cfg!(target_os = "linux") { Path::new(&format!("/proc/{}", runtime.pid)).exists() } else { true }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    #[cfg(unix)]
    fn an_output_replaces_a_planted_link_and_writes_to_a_device_as_it_is() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"untouched").expect("victim");
        let out = dir.path().join("directory.json");
        std::os::unix::fs::symlink(&victim, &out).expect("link");
        write_out(&out, b"exported", false).expect("write");
        assert_eq!(std::fs::read(&victim).expect("read"), b"untouched", "the link is replaced, not followed");
        assert_eq!(std::fs::read(&out).expect("read"), b"exported");
        assert_eq!(std::fs::metadata(&out).expect("meta").permissions().mode() & 0o777, 0o644);
        let draft = dir.path().join("draft.json");
        write_json(&draft, &serde_json::json!({ "draft": true })).expect("draft");
        assert_eq!(std::fs::metadata(&draft).expect("meta").permissions().mode() & 0o777, 0o600);
        // A pipe (as `--out /dev/stdout` into one) is written to, not replaced.
        use std::os::unix::fs::FileTypeExt;
        let pipe = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&pipe).status().expect("mkfifo");
        assert!(made.success());
        let reader = {
            let pipe = pipe.clone();
            std::thread::spawn(move || std::fs::read(pipe).expect("read the pipe"))
        };
        write_out(&pipe, b"piped", false).expect("write to the pipe");
        assert!(std::fs::symlink_metadata(&pipe).expect("meta").file_type().is_fifo(), "still the pipe");
        assert_eq!(reader.join().expect("reader"), b"piped");
    }

    /// Every command below `veim`, with its path (`directory approve`).
    fn commands(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let name = format!("{path} {}", sub.get_name()).trim().to_string();
            out.push((name.clone(), sub.clone()));
            commands(sub, &name, out);
        }
    }

    #[test]
    fn every_option_has_help_and_every_command_an_example() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        let mut all = Vec::new();
        commands(&cli, "", &mut all);
        let mut missing = Vec::new();
        for (name, cmd) in &all {
            if cmd.is_hide_set() {
                continue;
            }
            if cmd.get_about().is_none() {
                missing.push(format!("veim {name}: no description"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" || arg.is_global_set() {
                    continue;
                }
                if arg.get_help().is_none() {
                    missing.push(format!("veim {name}: {id} has no help text"));
                }
            }
            let leaf = cmd.get_subcommands().next().is_none();
            let example = cmd.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            if leaf && !example.contains(&format!("veim {name}")) {
                missing.push(format!("veim {name}: no example"));
            }
        }
        assert!(missing.is_empty(), "{} missing:\n{}", missing.len(), missing.join("\n"));
    }
}
