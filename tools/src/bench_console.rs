//! `veim bench console`: does the web console slow message delivery? Two
//! real nodes on loopback; MEX sends 1 KiB requests to SWE (receipted, as in
//! `veim bench exchange`), one at a time and 64 in flight, in windows of a
//! second that alternate: nobody at the console, then 20 officials'
//! sessions browsing MEX's console (dashboard, inbox, exchanges, outbox in
//! turn, over HTTP with their session cookies), each reading a page every
//! `think` (as people do; zero: without pause, a stress rather than a day's
//! use), their rounds staggered as people's are. Each loaded window is
//! compared with the quiet one just before it, in the same process.

use crate::bench::{Figure, mex_and_swe, percentile, request_of, send_delivered};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Quiet and loaded windows per mode.
const PAIRS: usize = 5;
/// Each session's pause between pages by default: a fast reader.
pub const THINK: Duration = Duration::from_millis(1000);
/// Sessions browsing at once.
pub const SESSIONS: usize = 20;
const PASSWORD: &str = "a bench password of some length";
const PAGES: [&str; 4] = ["/console/", "/console/inbox", "/console/exchanges", "/console/outbox"];

/// Delivery with and without the console's load.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub in_flight: usize,
    /// Requests sent and receipted in the run.
    pub requests: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The slowest request of the run.
    pub max_ms: f64,
}

/// A mode's ratios, loaded window / the quiet window before it.
#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    pub in_flight: usize,
    /// The median of the pairs' messages/s ratios.
    pub rate: f64,
    /// The median of the pairs' p50 ratios.
    pub p50: f64,
    pub rates: Vec<f64>,
    pub medians: Vec<f64>,
}

/// The pages of one kind served while the loaded runs lasted.
#[derive(Debug, Clone, Serialize)]
pub struct Pages {
    pub path: String,
    pub served: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsoleBench {
    pub sessions: usize,
    /// Each session's pause between two pages, milliseconds.
    pub think_ms: u64,
    /// How long each window sends, seconds.
    pub window_secs: f64,
    /// Quiet and loaded windows per mode, alternating.
    pub pairs: usize,
    /// Every quiet window of a mode together.
    pub quiet: Vec<Delivery>,
    /// Every loaded window of a mode together.
    pub loaded: Vec<Delivery>,
    /// Pages the sessions were served while the loaded runs were measured.
    pub pages_per_second: f64,
    pub page_p50_ms: f64,
    pub page_p99_ms: f64,
    pub pages: Vec<Pages>,
    /// Exchanges open at MEX when the last run ended (every request opens one).
    pub open_exchanges: usize,
    /// Each pair's ratios (loaded window / the quiet one before it) and their medians, per mode.
    pub ratios: Vec<Ratios>,
    pub figures: Vec<Figure>,
    pub release_build: bool,
}

/// One official's session: logs in over HTTP as a browser does.
struct Session {
    base: String,
    agent: ureq::Agent,
    cookie: String,
}

fn set_cookie(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_string))
        .filter(|v| !v.is_empty())
}

impl Session {
    fn open(admin: &str, name: &str) -> anyhow::Result<Session> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://{admin}");
        let mut form = agent.get(format!("{base}/console/login")).call()?;
        let login = set_cookie(&form, "veim-login").ok_or_else(|| anyhow::anyhow!("no login cookie"))?;
        let html = form.body_mut().read_to_string()?;
        let csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or_else(|| anyhow::anyhow!("no form token on the login page"))?;
        let answer = agent
            .post(format!("{base}/console/login"))
            .header("Cookie", format!("veim-login={login}"))
            .header("Origin", &base)
            .send_form([("csrf", csrf), ("name", name), ("password", PASSWORD)])?;
        let session = set_cookie(&answer, "veim-session")
            .ok_or_else(|| anyhow::anyhow!("{name} could not log in: {}", answer.status()))?;
        Ok(Session { base, agent, cookie: format!("veim-session={session}") })
    }

    /// Reads `path`; the time it took, in milliseconds.
    fn read(&self, path: &str) -> anyhow::Result<f64> {
        let t = Instant::now();
        let mut page = self.agent.get(format!("{}{path}", self.base)).header("Cookie", &self.cookie).call()?;
        let body = page.body_mut().read_to_string()?;
        anyhow::ensure!(page.status() == 200 && !body.is_empty(), "{path} answered {}", page.status());
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    }
}

/// A page read: when it started, which page, how long it took (ms).
type Read = (Instant, usize, f64);

/// The requests of one window: each one's time (ms) and how long it lasted.
#[derive(Default)]
struct Sent {
    latencies: Vec<f64>,
    seconds: f64,
}

impl Sent {
    fn add(&mut self, other: &Sent) {
        self.latencies.extend_from_slice(&other.latencies);
        self.seconds += other.seconds;
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds.max(1e-9)
    }

    fn p50(&self) -> f64 {
        median(self.latencies.clone())
    }

    fn delivery(&self, in_flight: usize) -> Delivery {
        let sorted = sorted(self.latencies.clone());
        Delivery {
            in_flight,
            requests: sorted.len(),
            per_second: self.per_second(),
            p50_ms: percentile(&sorted, 0.5),
            p99_ms: percentile(&sorted, 0.99),
            max_ms: sorted.last().copied().unwrap_or(0.0),
        }
    }
}

/// Sends requests `in_flight` at a time, in rounds of `round`, until
/// `window` has passed.
async fn deliver<F, Fut>(window: Duration, round: usize, in_flight: usize, send: F) -> anyhow::Result<Sent>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let mut latencies = Vec::new();
    while started.elapsed() < window {
        latencies.extend(crate::bench::latencies(round, in_flight, |_| send()).await?);
    }
    Ok(Sent { latencies, seconds: started.elapsed().as_secs_f64() })
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(|a, b| a.total_cmp(b));
    values
}

fn median(values: Vec<f64>) -> f64 {
    percentile(&sorted(values), 0.5)
}

pub async fn console(quick: bool, think: Duration) -> anyhow::Result<ConsoleBench> {
    // Quiet and loaded windows alternate, `pairs` of each per mode: the
    // machine's own drift from one second to the next (the disk's, the
    // host's) is as large as the effect measured, so each loaded window is
    // compared with the quiet one just before it, and the figure is the
    // median of the pairs' ratios. Every request opens an exchange and none
    // is closed; the windows keep their number to a few thousand.
    let (pairs, window) = if quick { (2, Duration::from_millis(500)) } else { (PAIRS, Duration::from_secs(1)) };
    let dir = tempfile::Builder::new().prefix("veim-bench-").tempdir()?;
    let tune = |c: &mut veim_node::home::config::Config| {
        crate::localnet::deployed_periods(c);
        c.peer_requests_per_sec = 1e9;
        c.peer_request_burst = 1e9;
    };
    let net = mex_and_swe(&dir.path().join("net"), tune).await?;
    let mex = net.national("MEX").handle.as_ref().ok_or_else(|| anyhow::anyhow!("MEX stopped"))?;
    let (node, admin) = (mex.node.clone(), mex.admin.to_string());
    for i in 0..SESSIONS {
        let new = veim_node::accounts::NewAccount {
            name: format!("official{i}"),
            roles: vec!["operator".into()],
            password: Some(PASSWORD.into()),
            ..Default::default()
        };
        node.accounts.add(&new).await?;
    }
    let to = vec!["SWE".parse::<veim_protocol::StateCode>()?];
    let body = request_of(1024)?;
    let send = || {
        let (node, to, body) = (node.clone(), to.clone(), body.clone());
        async move { send_delivered(node, to, body, Duration::from_secs(60)).await }
    };
    // Something for the pages to list.
    for _ in 0..20 {
        send().await?;
    }

    // The sessions, each in a thread of its own, as many browsers would be,
    // logged in first (a password hash each) and browsing only while
    // `browsing` is set. Each starts a round a fraction of `think` after
    // the one before it, as officials at their desks do, not all at once.
    let stop = Arc::new(AtomicBool::new(false));
    let browsing = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for i in 0..SESSIONS {
        let (stop, browsing, ready, admin) = (stop.clone(), browsing.clone(), ready.clone(), admin.clone());
        let stagger = think.max(Duration::from_millis(100)) * i as u32 / SESSIONS as u32;
        threads.push(std::thread::spawn(move || -> anyhow::Result<Vec<Read>> {
            let session = Session::open(&admin, &format!("official{i}"));
            ready.fetch_add(1, Ordering::SeqCst);
            let session = session?;
            let mut reads = Vec::new();
            let mut was_browsing = false;
            let mut next = i % PAGES.len();
            while !stop.load(Ordering::SeqCst) {
                let now_browsing = browsing.load(Ordering::SeqCst);
                if !now_browsing {
                    was_browsing = false;
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                if !was_browsing {
                    was_browsing = true;
                    std::thread::sleep(stagger);
                }
                let at = Instant::now();
                reads.push((at, next, session.read(PAGES[next])?));
                next = (next + 1) % PAGES.len();
                std::thread::sleep(think);
            }
            Ok(reads)
        }));
    }
    while ready.load(Ordering::SeqCst) < SESSIONS {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let modes = [(1usize, 16usize), (64, 64)];
    let (mut quiet, mut loaded, mut measured, mut ratios) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (in_flight, round) in modes {
        let (mut all_quiet, mut all_loaded) = (Sent::default(), Sent::default());
        let (mut rates, mut medians) = (Vec::new(), Vec::new());
        for _ in 0..pairs {
            let q = deliver(window, round, in_flight, send)
                .await
                .map_err(|e| e.context(format!("{in_flight} in flight, nobody browsing")))?;
            browsing.store(true, Ordering::SeqCst);
            // Every session staggered in and past its first page.
            tokio::time::sleep(think.max(Duration::from_millis(100)) + Duration::from_millis(500)).await;
            let started = Instant::now();
            let l = deliver(window, round, in_flight, send)
                .await
                .map_err(|e| e.context(format!("{in_flight} in flight, {SESSIONS} sessions browsing")))?;
            measured.push((started, Instant::now()));
            browsing.store(false, Ordering::SeqCst);
            rates.push(l.per_second() / q.per_second().max(1e-9));
            medians.push(l.p50() / q.p50().max(1e-9));
            all_quiet.add(&q);
            all_loaded.add(&l);
        }
        quiet.push(all_quiet.delivery(in_flight));
        loaded.push(all_loaded.delivery(in_flight));
        ratios.push(Ratios { in_flight, rate: median(rates.clone()), p50: median(medians.clone()), rates, medians });
    }
    stop.store(true, Ordering::SeqCst);
    let mut reads = Vec::new();
    for t in threads {
        reads.extend(t.join().map_err(|_| anyhow::anyhow!("a session's thread panicked"))??);
    }
    let open_exchanges = node.tracking.open_exchanges(veim_node::clock::now())?.len();
    net.shutdown().await;
    reads.retain(|(at, _, _)| measured.iter().any(|(from, to)| (from..to).contains(&at)));
    let measured_secs: f64 = measured.iter().map(|(from, to)| (*to - *from).as_secs_f64()).sum();
    let all = sorted(reads.iter().map(|r| r.2).collect());
    let pages = PAGES
        .iter()
        .enumerate()
        .map(|(k, path)| {
            let times = sorted(reads.iter().filter(|r| r.1 == k).map(|r| r.2).collect());
            Pages {
                path: path.to_string(),
                served: times.len(),
                p50_ms: percentile(&times, 0.5),
                p99_ms: percentile(&times, 0.99),
            }
        })
        .collect();

    let mut figures = Vec::new();
    for ((l, q), r) in loaded.iter().zip(&quiet).zip(&ratios) {
        figures.push(Figure {
            what: format!("1 KiB, {} in flight, {SESSIONS} sessions browsing: messages/s", l.in_flight),
            per_second: l.per_second,
            baseline: "messages/s, nobody browsing, the window before".into(),
            baseline_per_second: q.per_second,
            ratio: r.rate,
        });
        figures.push(Figure {
            what: format!("1 KiB, {} in flight, {SESSIONS} sessions browsing: p50 (ms)", l.in_flight),
            per_second: l.p50_ms,
            baseline: "p50 (ms), nobody browsing, the window before".into(),
            baseline_per_second: q.p50_ms,
            ratio: r.p50,
        });
    }
    Ok(ConsoleBench {
        sessions: SESSIONS,
        think_ms: think.as_millis() as u64,
        window_secs: window.as_secs_f64(),
        pairs,
        quiet,
        loaded,
        pages_per_second: all.len() as f64 / measured_secs.max(1e-9),
        page_p50_ms: percentile(&all, 0.5),
        page_p99_ms: percentile(&all, 0.99),
        pages,
        open_exchanges,
        ratios,
        figures,
        release_build: !cfg!(debug_assertions),
    })
}

pub fn render(b: &ConsoleBench) -> String {
    let mut out = format!(
        "console: MEX -> SWE requests, {} quiet and {} loaded windows of {:.1} s a mode, alternating; {} sessions browse MEX's console in the loaded ones, a page every {} ms each{}\n",
        b.pairs,
        b.pairs,
        b.window_secs,
        b.sessions,
        b.think_ms,
        if b.release_build { "" } else { " — DEBUG BUILD: run with --release" }
    );
    out.push_str(&format!(
        "{:<22} {:>9} {:>9} {:>12} {:>9} {:>9} {:>9}\n",
        "", "in flight", "requests", "per second", "p50 ms", "p99 ms", "max ms"
    ));
    for (label, runs) in [("nobody browsing", &b.quiet), ("sessions browsing", &b.loaded)] {
        for r in runs {
            out.push_str(&format!(
                "{label:<22} {:>9} {:>9} {:>12.0} {:>9.2} {:>9.2} {:>9.1}\n",
                r.in_flight, r.requests, r.per_second, r.p50_ms, r.p99_ms, r.max_ms
            ));
        }
    }
    out.push_str(&format!(
        "pages served while measured: {:.1}/s, p50 {:.1} ms, p99 {:.1} ms; {} exchanges open at the end\n",
        b.pages_per_second, b.page_p50_ms, b.page_p99_ms, b.open_exchanges
    ));
    for p in &b.pages {
        out.push_str(&format!(
            "  {:<22} {:>5} served, p50 {:>7.1} ms, p99 {:>7.1} ms\n",
            p.path, p.served, p.p50_ms, p.p99_ms
        ));
    }
    for r in &b.ratios {
        let list = |v: &[f64]| v.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" ");
        out.push_str(&format!(
            "pairs, {} in flight: messages/s {}; p50 {}\n",
            r.in_flight,
            list(&r.rates),
            list(&r.medians)
        ));
    }
    out.push_str(
        "medians of the pairs' ratios, browsing / nobody browsing (target: messages/s at least 0.8, p50 at most 1.2):\n",
    );
    for f in &b.figures {
        out.push_str(&format!("  {:<58} {:>7.3}\n", f.what, f.ratio));
    }
    out
}
