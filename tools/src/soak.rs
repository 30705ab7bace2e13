//! `veim bench soak`: a Secretariat and 20 national nodes exchanging at a
//! steady rate for many minutes, with attachments, and with checkpoints and
//! reconciliation at the periods a deployed node has. A leak, or a slow
//! growth, is invisible in a run of seconds; here the process's resident
//! memory, its open files and threads, the nodes' size on disk and the
//! latency percentiles are sampled at intervals, and a straight line is
//! fitted to each series, so that a growth shows as a slope larger than its
//! error.

use crate::bench::{quantile, request_of, rss_mib, send_delivered, status_figure};
use crate::client::AdminClient;
use crate::localnet::{LocalNet, blocking, deployed_periods, wait_for};
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use veim_node::Node;
use veim_node::api::types::AttachmentView;
use veim_node::api::{
    ApproveManyRequest, ApproveRequest, AttachRequest, MessageView, PendingView, SendRequest, StageRequest, StatusView,
};
use veim_protocol::{Body, RequestForm, StateCode};

/// The national nodes: twenty States of ISO 3166, as many as take part in a
/// busy year of the mechanism.
pub const STATES: [&str; 20] = [
    "MEX", "SWE", "DEU", "FRA", "ITA", "ESP", "NLD", "BEL", "AUT", "PRT", "POL", "CZE", "HUN", "GRC", "IRL", "DNK",
    "FIN", "NOR", "CHE", "ARG",
];

/// One exchange is answered with an attachment about this often, whatever
/// the rate: attachments are rarer than requests, and each one stays on
/// disk at both ends.
const ATTACHMENT_EVERY_SECS: f64 = 10.0;
/// The size of each attachment.
const ATTACHMENT_BYTES: usize = 256 * 1024;
/// How long a request may take to be receipted before it counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an attachment may take from its answer to the requester holding
/// all of it.
const ATTACHMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// The run stops when nothing has succeeded for this long: a network that
/// delivers nothing has nothing left to measure.
const STALL: Duration = Duration::from_secs(60);
/// Error messages kept per sample, and for the whole run.
const KEPT_ERRORS: usize = 3;
const KEPT_RUN_ERRORS: usize = 10;
/// A slope counts as growth when it is at least this many standard errors.
const SIGNIFICANT: f64 = 2.0;
/// The first requests sent, before the load is measured, so that every
/// node has dialled the others before the first sample.
const WARM_SENDS: usize = 40;
const MIB: f64 = 1024.0 * 1024.0;

/// MiB of store pages each node of the soak keeps in memory: small, so that
/// the caches are full within minutes and what still grows after that is
/// not them (a deployed node's default is 64).
pub const CACHE_MIB: u64 = 4;

/// How every node of the soak is configured: the periods of a deployed
/// node, and a store cache of [`CACHE_MIB`].
fn soak_config(c: &mut veim_node::home::config::Config) {
    deployed_periods(c);
    c.store_cache_mib = CACHE_MIB;
}

/// The periods every node of the soak runs with: those `deployed_periods`
/// sets, so that checkpoints and reconciliation happen as often as on a
/// ministry's node, not every second or two as in the demo; and its store
/// cache.
#[derive(Debug, Clone, Serialize)]
pub struct Periods {
    pub directory_poll_secs: u64,
    pub audit_checkpoint_secs: u64,
    pub reconcile_secs: u64,
    pub retry_base_secs: i64,
    pub retry_max_secs: i64,
    pub store_cache_mib: u64,
}

impl Periods {
    fn deployed() -> Periods {
        let mut c = veim_node::home::config::Config::default();
        soak_config(&mut c);
        Periods {
            directory_poll_secs: c.directory_poll_secs,
            audit_checkpoint_secs: c.audit_checkpoint_secs,
            reconcile_secs: c.reconcile_secs,
            retry_base_secs: c.retry_base_secs,
            retry_max_secs: c.retry_max_secs,
            store_cache_mib: c.store_cache_mib,
        }
    }
}

/// What the process and the nodes looked like at one moment, and what the
/// load did since the sample before.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Minutes since the load started.
    pub minutes: f64,
    /// Resident memory of this process, which holds every node, MiB.
    pub rss_mib: f64,
    /// Entries of /proc/self/fd: files, sockets, pipes.
    pub open_files: u64,
    pub threads: u64,
    /// Every node's sled store, as sled counts it, MiB.
    pub store_mib: f64,
    /// Every node's home folder (store, attachments, the audit log's plain
    /// copy), MiB.
    pub disk_mib: f64,
    /// Requests started in the interval (attachment exchanges included).
    pub sent: usize,
    /// Requests receipted in the interval, and their latencies from the send
    /// to the last receipt (none when no request was receipted).
    pub requests: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Attachments held whole by their requester in the interval, and the
    /// time from the answer to the last chunk.
    pub attachments: usize,
    pub attachment_p50_s: Option<f64>,
    pub attachment_max_s: Option<f64>,
    /// Requests and attachments that failed in the interval, and the first
    /// few reasons.
    pub errors: usize,
    pub error_messages: Vec<String>,
    /// Requests and attachments under way when the sample was taken.
    pub in_flight: usize,
}

/// A straight line fitted by least squares, with the standard error of its
/// slope.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Line {
    pub intercept: f64,
    pub slope: f64,
    pub stderr: f64,
}

/// The slope of one series against minutes.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    pub series: String,
    pub unit: String,
    /// Samples fitted.
    pub points: usize,
    pub intercept: f64,
    /// Units per minute, and the standard error of that slope.
    pub slope_per_minute: f64,
    pub slope_stderr: f64,
    /// Whether the slope is upward by at least twice its standard error.
    pub grows: bool,
    /// Whether growth is what the series should do (the disk fills with the
    /// messages kept), rather than a leak.
    pub growth_expected: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakBench {
    pub minutes: f64,
    /// Requests per second, all nodes together.
    pub rate: f64,
    pub sample_secs: u64,
    pub states: Vec<String>,
    pub periods: Periods,
    /// Every this many exchanges, one is answered with an attachment.
    pub attachment_every: usize,
    pub attachment_kib: usize,
    pub attachment_chunk_kib: u32,
    /// Seconds to start the nodes and admit them all.
    pub setup_secs: f64,
    pub samples: Vec<Sample>,
    /// The first samples, left out of the fits: the nodes' connections and
    /// caches fill then.
    pub warmup_samples: usize,
    pub fits: Vec<Fit>,
    /// The growth of the stores and of the homes per exchange completed,
    /// from their fitted slopes.
    pub store_bytes_per_exchange: Option<f64>,
    pub disk_bytes_per_exchange: Option<f64>,
    pub requests: usize,
    pub attachments: usize,
    pub errors: usize,
    pub first_errors: Vec<String>,
    pub release_build: bool,
}

/// The load's shape.
#[derive(Debug, Clone, Copy)]
struct Plan {
    minutes: f64,
    rate: f64,
    sample_secs: u64,
    attachment_every: usize,
}

/// What the load did since the last sample.
#[derive(Debug, Default)]
struct Tally {
    sent: usize,
    latencies_ms: Vec<f64>,
    attachment_secs: Vec<f64>,
    errors: usize,
    messages: Vec<String>,
}

/// The national nodes and what the load needs to drive them.
struct Load {
    nodes: Vec<Arc<Node>>,
    apis: Vec<AdminClient>,
    states: Vec<StateCode>,
    body: Body,
    form: RequestForm,
    file: PathBuf,
    tally: Mutex<Tally>,
    run_errors: Mutex<Vec<String>>,
    last_success: Mutex<Instant>,
    /// One permit per request or attachment under way: a network that
    /// stalls makes the load skip sends rather than pile them up.
    slots: Arc<Semaphore>,
    capacity: usize,
}

/// Locks `m`; a task that panicked while holding it left a tally that is
/// still worth reading.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sender and the recipient of the `k`-th request: round robin, each
/// node in turn sending to each of the others in turn.
fn pair(k: usize, n: usize) -> (usize, usize) {
    let from = k % n;
    let to = (from + 1 + (k / n) % (n - 1)) % n;
    (from, to)
}

impl Load {
    fn new(net: &LocalNet, dir: &Path, rate: f64) -> anyhow::Result<Load> {
        let nodes = net
            .nationals
            .iter()
            .map(|n| n.handle.as_ref().map(|h| h.node.clone()).ok_or_else(|| anyhow::anyhow!("{} stopped", n.label)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let apis = net.nationals.iter().map(|n| n.api()).collect::<Result<Vec<_>, _>>()?;
        let states = net.nationals.iter().map(|n| n.state_code()).collect();
        let file = dir.join("answer.bin");
        let bytes: Vec<u8> =
            (0..ATTACHMENT_BYTES as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        std::fs::write(&file, bytes).with_context(|| format!("cannot write {}", file.display()))?;
        let capacity = (rate * SEND_TIMEOUT.as_secs_f64()).ceil().max(64.0) as usize;
        Ok(Load {
            nodes,
            apis,
            states,
            body: request_of(1024)?,
            form: toml::from_str(include_str!("../../deploy/examples/request.toml"))?,
            file,
            tally: Mutex::default(),
            run_errors: Mutex::default(),
            last_success: Mutex::new(Instant::now()),
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
        })
    }

    fn succeeded(&self, record: impl FnOnce(&mut Tally)) {
        record(&mut lock(&self.tally));
        *lock(&self.last_success) = Instant::now();
    }

    fn failed(&self, why: String) {
        let mut run = lock(&self.run_errors);
        if run.len() < KEPT_RUN_ERRORS {
            run.push(why.clone());
        }
        let mut t = lock(&self.tally);
        t.errors += 1;
        if t.messages.len() < KEPT_ERRORS {
            t.messages.push(why);
        }
    }

    /// What happened since the last call.
    fn take(&self) -> Tally {
        std::mem::take(&mut lock(&self.tally))
    }

    fn in_flight(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }

    /// An error naming the first failures when nothing has succeeded for
    /// `STALL`.
    fn check_progress(&self) -> anyhow::Result<()> {
        let quiet = lock(&self.last_success).elapsed();
        if quiet > STALL {
            let errors = lock(&self.run_errors).join("; ");
            anyhow::bail!(
                "no request was receipted and no attachment arrived in the last {quiet:.0?}; first errors: {errors}"
            );
        }
        Ok(())
    }

    /// One request from `from` to `to`, timed until it is receipted.
    async fn request(&self, from: usize, to: usize) {
        let started = Instant::now();
        let sent = send_delivered(self.nodes[from].clone(), vec![self.states[to]], self.body.clone(), SEND_TIMEOUT);
        match sent.await {
            Ok(()) => self.succeeded(|t| t.latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0)),
            Err(e) => self.failed(format!("request {} -> {}: {e:#}", self.states[from], self.states[to])),
        }
    }

    /// One exchange answered with an attachment, timed from the answer
    /// until the requester holds all of it.
    async fn attachment(&self, from: usize, to: usize) {
        match self.answer_with_attachment(from, to).await {
            Ok(secs) => self.succeeded(|t| t.attachment_secs.push(secs)),
            Err(e) => self.failed(format!("attachment {} -> {}: {e:#}", self.states[to], self.states[from])),
        }
    }

    /// `from` sends a request to `to` as the operator does; `to` stages the
    /// file and attaches it to the exchange; `from` fetches it on its own.
    async fn answer_with_attachment(&self, from: usize, to: usize) -> anyhow::Result<f64> {
        let (requester, answerer) = (&self.apis[from], &self.apis[to]);
        let send = SendRequest { to: vec![self.states[to].to_string()], request: self.form.clone() };
        let sent: MessageView =
            blocking(|| requester.post("/v1/requests", &send)).context("sending the request to answer")?;
        let exchange = format!("/v1/exchanges/{}", sent.exchange_id);
        wait_for("the answerer to hold the request", SEND_TIMEOUT, || {
            answerer.get::<serde_json::Value>(&exchange).ok()
        })
        .await?;
        let stage = StageRequest { path: self.file.display().to_string() };
        let staged: AttachmentView =
            blocking(|| answerer.post("/v1/attachments", &stage)).context("staging the attachment")?;
        let started = Instant::now();
        let attach = AttachRequest { text: String::new(), attachments: vec![staged.id.to_hex()], handling: None };
        let _: MessageView =
            blocking(|| answerer.post(&format!("{exchange}/attach"), &attach)).context("attaching the file")?;
        let node = &self.nodes[from];
        let held = wait_for("the requester to hold the attachment", ATTACHMENT_TIMEOUT, || {
            match node.store.attachment(staged.id) {
                Ok(Some(r)) if r.complete => Some(Ok(())),
                Ok(Some(r)) => r.error.map(|e| Err(anyhow::anyhow!("the requester gave up: {e}"))),
                Ok(None) => None,
                Err(e) => Some(Err(anyhow::anyhow!("reading the requester's store: {e}"))),
            }
        });
        held.await??;
        Ok(started.elapsed().as_secs_f64())
    }

    /// Waits until every request and attachment under way has ended (or
    /// timed out), so that the nodes stop with nothing half done.
    async fn drain(&self) {
        let all = u32::try_from(self.capacity).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(SEND_TIMEOUT + ATTACHMENT_TIMEOUT, self.slots.acquire_many(all)).await;
    }
}

/// Starts requests at `rate` a second until `stop` is set, each in a task
/// of its own, so that a slow request delays none of the others (a closed
/// loop would slow down with the nodes and hide what the soak looks for).
async fn drive(load: Arc<Load>, rate: f64, attachment_every: usize, stop: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // After a stall of the process, carry on at the rate rather than send
    // the missed requests in one burst.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut k = 0usize;
    loop {
        tick.tick().await;
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let (from, to) = pair(k, load.nodes.len());
        let answered = k % attachment_every == attachment_every - 1;
        k += 1;
        let Ok(slot) = load.slots.clone().try_acquire_owned() else {
            load.failed(format!("not sent: {} requests already under way", load.capacity));
            continue;
        };
        lock(&load.tally).sent += 1;
        let load = load.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if answered { load.attachment(from, to).await } else { load.request(from, to).await }
        });
    }
}

/// The Secretariat and the national nodes of `STATES`, each admitted under
/// the fingerprint its node shows, all in one directory version (as
/// `veim bench network` admits them), and holding that version.
async fn start_network(root: &Path) -> anyhow::Result<LocalNet> {
    let mut net = LocalNet::tuned(root, soak_config).await?;
    for state in STATES {
        net.add_national(state, "soak").await?;
    }
    let sec = net.secretariat.api()?;
    wait_for("every national node's registration", Duration::from_secs(120), || {
        let pending: Vec<PendingView> = sec.get("/v1/directory/pending").ok()?;
        (pending.len() >= STATES.len()).then_some(())
    })
    .await?;
    let mut approvals = Vec::with_capacity(STATES.len());
    for node in &net.nationals {
        let status: StatusView =
            blocking(|| node.api()?.get("/v1/status")).with_context(|| format!("the status of {}", node.label))?;
        approvals.push(ApproveRequest { state: node.label.clone(), fingerprint: status.fingerprint });
    }
    let version: veim_node::api::VersionView =
        blocking(|| sec.post("/v1/directory/approve-many", &ApproveManyRequest { approvals }))
            .context("approving the national nodes")?;
    net.wait_directory(version.version).await?;
    Ok(net)
}

/// Every node's store and home folder, measured at each sample.
struct Probe {
    nodes: Vec<Arc<Node>>,
    homes: Vec<PathBuf>,
}

impl Probe {
    fn new(net: &LocalNet) -> Probe {
        let all = std::iter::once(&net.secretariat).chain(&net.nationals);
        let nodes = all.clone().filter_map(|n| n.handle.as_ref().map(|h| h.node.clone())).collect();
        Probe { nodes, homes: all.map(|n| n.home.clone()).collect() }
    }

    fn sample(&self, elapsed: Duration, t: Tally, in_flight: usize) -> anyhow::Result<Sample> {
        let mut store = 0u64;
        for node in &self.nodes {
            let usage =
                node.store.disk_usage().map_err(|e| anyhow::anyhow!("the store of {}: {e}", node.home.display()));
            store += usage?.store_bytes;
        }
        let disk: u64 = blocking(|| self.homes.iter().map(|h| dir_bytes(h)).sum());
        let latencies = sorted(t.latencies_ms);
        let attachments = sorted(t.attachment_secs);
        Ok(Sample {
            minutes: elapsed.as_secs_f64() / 60.0,
            rss_mib: rss_mib("VmRSS:"),
            open_files: open_files(),
            threads: status_figure("Threads:") as u64,
            store_mib: store as f64 / MIB,
            disk_mib: disk as f64 / MIB,
            sent: t.sent,
            requests: latencies.len(),
            p50_ms: quantile(&latencies, 0.5),
            p99_ms: quantile(&latencies, 0.99),
            attachments: attachments.len(),
            attachment_p50_s: quantile(&attachments, 0.5),
            attachment_max_s: attachments.last().copied(),
            errors: t.errors,
            error_messages: t.messages,
            in_flight,
        })
    }
}

/// Bytes of the files under `path`. Files the nodes replace while it is
/// walked (sled's segments, the audit copy) count as they are found, or
/// not at all.
fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Open file descriptors of this process.
fn open_files() -> u64 {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0)
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(|a, b| a.total_cmp(b));
    values
}

/// Samples every `sample_secs` until `minutes` have passed, printing each
/// sample as it is taken (on stderr, so that `--json` keeps stdout to the
/// result).
async fn sample_until(probe: &Probe, load: &Load, plan: Plan) -> anyhow::Result<Vec<Sample>> {
    let start = tokio::time::Instant::now();
    let end = start + Duration::from_secs_f64(plan.minutes * 60.0);
    let every = Duration::from_secs(plan.sample_secs);
    let mut samples = Vec::new();
    let mut next = start;
    crate::say_err!("{}", sample_header());
    loop {
        next = (next + every).min(end);
        tokio::time::sleep_until(next).await;
        let sample = probe.sample(start.elapsed(), load.take(), load.in_flight())?;
        crate::say_err!("{}", sample_line(&sample));
        samples.push(sample);
        load.check_progress()?;
        if next >= end {
            return Ok(samples);
        }
    }
}

/// Runs the load while sampling, then stops it and waits for what is under
/// way, whether the sampling ended well or not.
async fn run_load(probe: &Probe, load: Arc<Load>, plan: Plan) -> anyhow::Result<Vec<Sample>> {
    // A first round of requests, unmeasured, so that each node has dialled
    // the others.
    for k in 0..WARM_SENDS {
        let (from, to) = pair(k, load.nodes.len());
        load.request(from, to).await;
    }
    load.take();
    *lock(&load.last_success) = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let driver = tokio::spawn(drive(load.clone(), plan.rate, plan.attachment_every, stop.clone()));
    let sampled = sample_until(probe, &load, plan).await;
    stop.store(true, Ordering::SeqCst);
    driver.await.context("the load's task")?;
    load.drain().await;
    sampled
}

/// Soaks a Secretariat and 20 national nodes: `rate` requests a second in
/// all for `minutes`, sampled every `sample_secs`.
pub async fn soak(minutes: f64, rate: f64, sample_secs: u64) -> anyhow::Result<SoakBench> {
    anyhow::ensure!(minutes.is_finite() && minutes > 0.0, "--minutes must be a positive number, not {minutes}");
    // Below a request every ten seconds, a minute could pass without one,
    // and the run would stop as stalled.
    anyhow::ensure!(rate.is_finite() && rate >= 0.1, "--rate must be at least 0.1 requests a second, not {rate}");
    anyhow::ensure!(sample_secs > 0, "--sample-secs must be at least 1");
    let plan = Plan {
        minutes,
        rate,
        sample_secs,
        // At least every other exchange is a plain request, so that request
        // latencies are measured at any rate.
        attachment_every: ((rate * ATTACHMENT_EVERY_SECS).round() as usize).max(2),
    };
    let dir = tempfile::Builder::new().prefix("veim-bench-").tempdir()?;
    let started = Instant::now();
    crate::say_err!("soak: starting a Secretariat and {} national nodes ...", STATES.len());
    let net = start_network(&dir.path().join("net")).await?;
    let setup_secs = started.elapsed().as_secs_f64();
    crate::say_err!("soak: admitted in {setup_secs:.0} s; {minutes} min at {rate} requests/s");
    let load = Arc::new(Load::new(&net, dir.path(), rate)?);
    let chunk = load.nodes.first().map(|n| n.config.attachment_chunk_bytes / 1024).unwrap_or(0);
    let probe = Probe::new(&net);
    let sampled = run_load(&probe, load.clone(), plan).await;
    let first_errors = lock(&load.run_errors).clone();
    drop((probe, load));
    net.shutdown().await;
    let mut bench = summarize(plan, sampled?, first_errors);
    bench.setup_secs = setup_secs;
    bench.attachment_chunk_kib = chunk;
    Ok(bench)
}

/// Samples left out of the fits: the first, and the second too in a run
/// long enough to spare it; in a run of ten samples or more, the first
/// third. The stores' caches fill while the first exchanges are stored
/// (sled alone, at this rate, with 21 caches of 4 MiB: its memory grows for
/// 6 to 10 minutes, then holds level), and that growth is bounded by the
/// configuration, not a leak: a leak shows in the rest of the run.
fn warmup(samples: usize) -> usize {
    match samples {
        0..=3 => 0,
        4..=9 => 1,
        n => (n / 3).max(2),
    }
}

/// The least-squares line through `points`; `None` with fewer than three
/// points (no error to estimate) or all at one abscissa.
pub fn fit(points: &[(f64, f64)]) -> Option<Line> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let residuals: f64 = points.iter().map(|p| (p.1 - intercept - slope * p.0).powi(2)).sum();
    Some(Line { intercept, slope, stderr: (residuals / (n - 2.0) / sxx).sqrt() })
}

/// Whether `line` rises by more than noise: a positive slope of at least
/// `SIGNIFICANT` standard errors.
pub fn grows(line: &Line) -> bool {
    line.slope > 0.0 && line.slope >= SIGNIFICANT * line.stderr
}

fn fit_series(
    samples: &[Sample],
    series: &str,
    unit: &str,
    growth_expected: bool,
    value: fn(&Sample) -> Option<f64>,
) -> Option<Fit> {
    let points: Vec<(f64, f64)> = samples.iter().filter_map(|s| Some((s.minutes, value(s)?))).collect();
    let line = fit(&points)?;
    Some(Fit {
        series: series.into(),
        unit: unit.into(),
        points: points.len(),
        intercept: line.intercept,
        slope_per_minute: line.slope,
        slope_stderr: line.stderr,
        grows: grows(&line),
        growth_expected,
    })
}

fn summarize(plan: Plan, samples: Vec<Sample>, first_errors: Vec<String>) -> SoakBench {
    let warmup_samples = warmup(samples.len());
    let fitted = &samples[warmup_samples..];
    let fits: Vec<Fit> = [
        fit_series(fitted, "resident memory", "MiB", false, |s| Some(s.rss_mib)),
        fit_series(fitted, "open files", "files", false, |s| Some(s.open_files as f64)),
        fit_series(fitted, "threads", "threads", false, |s| Some(s.threads as f64)),
        fit_series(fitted, "p99 latency", "ms", false, |s| s.p99_ms),
        fit_series(fitted, "stores", "MiB", true, |s| Some(s.store_mib)),
        fit_series(fitted, "homes on disk", "MiB", true, |s| Some(s.disk_mib)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let requests = samples.iter().map(|s| s.requests).sum();
    let attachments = samples.iter().map(|s| s.attachments).sum();
    // Exchanges completed a minute over the whole run: the rate is steady.
    let per_minute = samples.last().map(|s| (requests + attachments) as f64 / s.minutes.max(1e-9)).unwrap_or(0.0);
    let per_exchange = |series: &str| {
        let f = fits.iter().find(|f| f.series == series)?;
        (per_minute > 0.0).then(|| f.slope_per_minute * MIB / per_minute)
    };
    SoakBench {
        minutes: plan.minutes,
        rate: plan.rate,
        sample_secs: plan.sample_secs,
        states: STATES.iter().map(|s| s.to_string()).collect(),
        periods: Periods::deployed(),
        attachment_every: plan.attachment_every,
        attachment_kib: ATTACHMENT_BYTES / 1024,
        attachment_chunk_kib: 0,
        setup_secs: 0.0,
        store_bytes_per_exchange: per_exchange("stores"),
        disk_bytes_per_exchange: per_exchange("homes on disk"),
        warmup_samples,
        fits,
        requests,
        attachments,
        errors: samples.iter().map(|s| s.errors).sum(),
        first_errors,
        samples,
        release_build: !cfg!(debug_assertions),
    }
}

fn sample_header() -> String {
    format!(
        "{:>6} {:>8} {:>6} {:>7} {:>9} {:>8} {:>6} {:>6} {:>8} {:>8} {:>4} {:>7} {:>6} {:>6}",
        "min",
        "RSS MiB",
        "files",
        "threads",
        "store MiB",
        "disk MiB",
        "sent",
        "done",
        "p50 ms",
        "p99 ms",
        "att",
        "att s",
        "errors",
        "flight"
    )
}

fn sample_line(s: &Sample) -> String {
    let opt = |v: Option<f64>, digits: usize| v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "-".into());
    let mut line = format!(
        "{:>6.2} {:>8.1} {:>6} {:>7} {:>9.1} {:>8.1} {:>6} {:>6} {:>8} {:>8} {:>4} {:>7} {:>6} {:>6}",
        s.minutes,
        s.rss_mib,
        s.open_files,
        s.threads,
        s.store_mib,
        s.disk_mib,
        s.sent,
        s.requests,
        opt(s.p50_ms, 1),
        opt(s.p99_ms, 1),
        s.attachments,
        opt(s.attachment_p50_s, 2),
        s.errors,
        s.in_flight
    );
    if let Some(first) = s.error_messages.first() {
        line.push_str(&format!("  first error: {first}"));
    }
    line
}

fn render_fit(f: &Fit, per_exchange: Option<f64>) -> String {
    let verdict = match (f.growth_expected, f.grows, per_exchange) {
        (true, _, Some(bytes)) => {
            format!("expected: messages and attachments are kept, {:.1} KiB per exchange", bytes / 1024.0)
        }
        (true, _, None) => "expected: messages and attachments are kept".into(),
        (false, true, _) => "GROWS".into(),
        (false, false, _) => "no upward slope beyond noise".into(),
    };
    format!(
        "  {:<16} {:>+10.4} ± {:<8.4} {:<7} per minute  ({:>2} samples)  {verdict}\n",
        f.series, f.slope_per_minute, f.slope_stderr, f.unit, f.points
    )
}

pub fn render(b: &SoakBench) -> String {
    let p = &b.periods;
    let mut out = format!(
        "soak: a Secretariat and {} national nodes on loopback, {} min at {} requests/s in all (1 KiB, round robin, \
         receipted); one exchange in {} answered with a {} KiB attachment in {} KiB chunks{}\n",
        b.states.len(),
        b.minutes,
        b.rate,
        b.attachment_every,
        b.attachment_kib,
        b.attachment_chunk_kib,
        if b.release_build { "" } else { " — DEBUG BUILD: run with --release" }
    );
    out.push_str(&format!(
        "periods as deployed: directory poll {} s, audit checkpoint {} s, reconciliation {} s, retries {}-{} s; \
         store cache {} MiB a node; nodes started and admitted in {:.0} s\n",
        p.directory_poll_secs,
        p.audit_checkpoint_secs,
        p.reconcile_secs,
        p.retry_base_secs,
        p.retry_max_secs,
        p.store_cache_mib,
        b.setup_secs
    ));
    out.push_str(&format!("samples every {} s (done, p50, p99, att: what ended in the interval):\n", b.sample_secs));
    out.push_str(&sample_header());
    out.push('\n');
    for s in &b.samples {
        out.push_str(&sample_line(s));
        out.push('\n');
    }
    let warm_end =
        b.samples.get(b.warmup_samples.saturating_sub(1)).map(|s| s.minutes).filter(|_| b.warmup_samples > 0);
    out.push_str(&match warm_end {
        Some(m) => format!(
            "least-squares slopes against minutes, the first {} sample(s) left out (warm-up, to minute {m:.2}); \
             growth: slope at least {SIGNIFICANT} standard errors:\n",
            b.warmup_samples
        ),
        None => {
            format!("least-squares slopes against minutes; growth: slope at least {SIGNIFICANT} standard errors:\n")
        }
    });
    if b.fits.is_empty() {
        out.push_str("  too few samples to fit a slope: run longer or sample more often\n");
    }
    for f in &b.fits {
        let per_exchange = match f.series.as_str() {
            "stores" => b.store_bytes_per_exchange,
            "homes on disk" => b.disk_bytes_per_exchange,
            _ => None,
        };
        out.push_str(&render_fit(f, per_exchange));
    }
    out.push_str(&format!(
        "{} requests receipted, {} attachments fetched, {} errors\n",
        b.requests, b.attachments, b.errors
    ));
    for e in &b.first_errors {
        out.push_str(&format!("  error: {e}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_straight_line_is_fitted_exactly_and_grows() {
        let points: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 + 2.0 * x as f64)).collect();
        let line = fit(&points).expect("a line");
        assert!((line.slope - 2.0).abs() < 1e-12 && (line.intercept - 3.0).abs() < 1e-12);
        assert!(line.stderr < 1e-9);
        assert!(grows(&line));
    }

    #[test]
    fn the_slope_and_its_error_match_the_textbook_values() {
        // Mean x 2, mean y 3, Sxx 10, Sxy 8: slope 0.8, intercept 1.4,
        // residuals' squares summing to 3.6, error sqrt(3.6 / 3 / 10).
        let points = [(0.0, 1.0), (1.0, 3.0), (2.0, 2.0), (3.0, 5.0), (4.0, 4.0)];
        let line = fit(&points).expect("a line");
        assert!((line.slope - 0.8).abs() < 1e-12);
        assert!((line.intercept - 1.4).abs() < 1e-12);
        assert!((line.stderr - 0.12f64.sqrt()).abs() < 1e-12);
        assert!(grows(&line), "0.8 is more than twice 0.346");
    }

    #[test]
    fn noise_around_a_level_is_no_growth() {
        let points: Vec<(f64, f64)> =
            (0..30).map(|x| (x as f64, 100.0 + if x % 2 == 0 { 3.0 } else { -3.0 } + (x % 7) as f64 * 0.1)).collect();
        let line = fit(&points).expect("a line");
        assert!(!grows(&line), "{line:?}");
        let falling = [(0.0, 10.0), (1.0, 9.0), (2.0, 8.0)];
        assert!(!grows(&fit(&falling).expect("a line")));
    }

    #[test]
    fn no_line_without_an_error_to_estimate() {
        assert_eq!(fit(&[(0.0, 1.0), (1.0, 2.0)]), None);
        assert_eq!(fit(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
    }

    #[test]
    fn round_robin_pairs_cover_every_sender_and_recipient_once_a_cycle() {
        let n = STATES.len();
        let mut seen = std::collections::HashSet::new();
        for k in 0..n * (n - 1) {
            let (from, to) = pair(k, n);
            assert_ne!(from, to);
            assert!(seen.insert((from, to)), "({from}, {to}) twice");
        }
        assert_eq!(seen.len(), n * (n - 1));
    }

    #[test]
    fn every_state_is_an_iso_code() {
        for s in STATES {
            s.parse::<StateCode>().expect(s);
        }
    }
}
