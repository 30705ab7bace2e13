//! `veim bench console`: does the web console slow message delivery? Two
//! real nodes on loopback; MEX sends 1 KiB requests to SWE (receipted, as in
//! `veim bench exchange`) for a few seconds a run, one at a time and 64 in
//! flight, each mode first with nobody at the console, then while 20
//! officials' sessions browse MEX's console (dashboard, inbox, exchanges,
//! outbox in turn, over HTTP with their session cookies), each reading a
//! page every `think` (as people do; zero: without pause, a stress rather
//! than a day's use), their rounds staggered as people's are. The quiet
//! run is the baseline of the loaded one, in the same process.

use crate::bench::{Figure, mex_and_swe, request_of, send_delivered};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
    /// How long each run sends, seconds.
    pub window_secs: f64,
    pub quiet: Vec<Delivery>,
    pub loaded: Vec<Delivery>,
    /// Pages the sessions were served while the loaded runs were measured.
    pub pages_per_second: f64,
    pub page_p50_ms: f64,
    pub page_p99_ms: f64,
    pub pages: Vec<Pages>,
    /// Exchanges open at MEX when the last run ended (every request opens one).
    pub open_exchanges: usize,
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A page read: when it started, which page, how long it took (ms).
type Read = (Instant, usize, f64);

/// Sends requests `in_flight` at a time, in rounds of `round`, until
/// `window` has passed.
async fn deliver<F, Fut>(window: Duration, round: usize, in_flight: usize, send: F) -> anyhow::Result<Delivery>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    use futures::StreamExt;
    let started = Instant::now();
    let mut latencies = Vec::new();
    while started.elapsed() < window {
        let round: Vec<f64> = futures::stream::iter(0..round)
            .map(|_| {
                let fut = send();
                async move {
                    let t = Instant::now();
                    fut.await.map(|_| t.elapsed().as_secs_f64() * 1000.0)
                }
            })
            .buffer_unordered(in_flight.max(1))
            .collect::<Vec<anyhow::Result<f64>>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
        latencies.extend(round);
    }
    let per_second = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok(Delivery {
        in_flight,
        requests: latencies.len(),
        per_second,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(0.0),
    })
}

pub async fn console(quick: bool, think: Duration) -> anyhow::Result<ConsoleBench> {
    // Each run sends for this long, so that it spans many pages of every
    // session (a run of a fraction of a second measures whichever pages
    // happen to fall in it). Every request opens an exchange, and the
    // dashboard's tracking card reads every open exchange at each view: the
    // window keeps the count near what a busy desk has open.
    let window = if quick { Duration::from_secs(2) } else { Duration::from_secs(4) };
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

    // Quiet and loaded runs alternate, so that the store's growth between
    // them weighs on both alike.
    let modes = [(1usize, 16usize), (64, 64)];
    let (mut quiet, mut loaded, mut measured) = (Vec::new(), Vec::new(), Vec::new());
    for (in_flight, round) in modes {
        let run = deliver(window, round, in_flight, send)
            .await
            .map_err(|e| e.context(format!("{in_flight} in flight, nobody browsing")))?;
        quiet.push(run);
        browsing.store(true, Ordering::SeqCst);
        // Every session staggered in and past its first page.
        tokio::time::sleep(think.max(Duration::from_millis(100)) + Duration::from_millis(500)).await;
        let started = Instant::now();
        let run = deliver(window, round, in_flight, send)
            .await
            .map_err(|e| e.context(format!("{in_flight} in flight, {SESSIONS} sessions browsing")))?;
        measured.push((started, Instant::now()));
        loaded.push(run);
        browsing.store(false, Ordering::SeqCst);
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
    let sorted = |mut times: Vec<f64>| {
        times.sort_by(|a, b| a.total_cmp(b));
        times
    };
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
    for (l, q) in loaded.iter().zip(&quiet) {
        figures.push(Figure {
            what: format!("1 KiB, {} in flight, {SESSIONS} sessions browsing: messages/s", l.in_flight),
            per_second: l.per_second,
            baseline: "messages/s, nobody browsing".into(),
            baseline_per_second: q.per_second,
            ratio: l.per_second / q.per_second.max(1e-9),
        });
        figures.push(Figure {
            what: format!("1 KiB, {} in flight, {SESSIONS} sessions browsing: p50 (ms)", l.in_flight),
            per_second: l.p50_ms,
            baseline: "p50 (ms), nobody browsing".into(),
            baseline_per_second: q.p50_ms,
            ratio: l.p50_ms / q.p50_ms.max(1e-9),
        });
    }
    Ok(ConsoleBench {
        sessions: SESSIONS,
        think_ms: think.as_millis() as u64,
        window_secs: window.as_secs_f64(),
        quiet,
        loaded,
        pages_per_second: all.len() as f64 / measured_secs.max(1e-9),
        page_p50_ms: percentile(&all, 0.5),
        page_p99_ms: percentile(&all, 0.99),
        pages,
        open_exchanges,
        figures,
        release_build: !cfg!(debug_assertions),
    })
}

pub fn render(b: &ConsoleBench) -> String {
    let mut out = format!(
        "console: MEX -> SWE requests for {:.0} s a run while {} sessions browse MEX's console, a page every {} ms each{}\n",
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
    out.push_str("ratios browsing / nobody browsing (target: messages/s at least 0.8, p50 at most 1.2):\n");
    for f in &b.figures {
        out.push_str(&format!("  {:<58} {:>7.3}\n", f.what, f.ratio));
    }
    out
}
