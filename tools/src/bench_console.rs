//! `veim bench console`: does the web console slow message delivery? Two
//! real nodes on loopback; MEX sends 1 KiB requests to SWE (receipted, as in
//! `veim bench exchange`), first with nobody at the console, then while 20
//! officials' sessions browse MEX's console (dashboard, inbox, exchanges,
//! outbox in turn, over HTTP with their session cookies), each reading a
//! page every `think` (as people do; zero: without pause, a stress rather
//! than a day's use). The quiet run is the baseline of the loaded one, in
//! the same process.

use crate::bench::{Figure, drive, mex_and_swe, request_of, send_delivered};
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
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsoleBench {
    pub sessions: usize,
    /// Each session's pause between two pages, milliseconds.
    pub think_ms: u64,
    pub quiet: Vec<Delivery>,
    pub loaded: Vec<Delivery>,
    /// Pages the sessions were served while the loaded runs lasted.
    pub pages_per_second: f64,
    pub page_p50_ms: f64,
    pub page_p99_ms: f64,
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

pub async fn console(quick: bool, think: Duration) -> anyhow::Result<ConsoleBench> {
    // Every request opens an exchange, and the dashboard's tracking card
    // reads every open exchange at each view: the count is kept to what a
    // desk has open, so that the figure is the console's cost on a
    // working day, not on a backlog of thousands.
    let n = if quick { 32 } else { 64 };
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
    let send = |node: Arc<veim_node::Node>| {
        let (to, body) = (to.clone(), body.clone());
        async move { send_delivered(node, to, body, Duration::from_secs(60)).await }
    };
    // Something for the pages to list.
    for _ in 0..20 {
        send(node.clone()).await?;
    }
    let modes = [1usize, 64];
    let mut quiet = Vec::new();
    for in_flight in modes {
        let (per_second, p50_ms, p99_ms) = drive(n, in_flight, |_| send(node.clone()))
            .await
            .map_err(|e| e.context(format!("{in_flight} in flight, nobody browsing")))?;
        quiet.push(Delivery { in_flight, per_second, p50_ms, p99_ms });
    }

    // The sessions, each in a thread of its own, as many browsers would be.
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for i in 0..SESSIONS {
        let (stop, ready, admin) = (stop.clone(), ready.clone(), admin.clone());
        threads.push(std::thread::spawn(move || -> anyhow::Result<Vec<f64>> {
            let session = Session::open(&admin, &format!("official{i}"));
            ready.fetch_add(1, Ordering::SeqCst);
            let session = session?;
            let mut times = Vec::new();
            for page in PAGES.iter().cycle() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                times.push(session.read(page)?);
                std::thread::sleep(think);
            }
            Ok(times)
        }));
    }
    while ready.load(Ordering::SeqCst) < SESSIONS {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let mut loaded = Vec::new();
    for in_flight in modes {
        let (per_second, p50_ms, p99_ms) = drive(n, in_flight, |_| send(node.clone()))
            .await
            .map_err(|e| e.context(format!("{in_flight} in flight, {SESSIONS} sessions browsing")))?;
        loaded.push(Delivery { in_flight, per_second, p50_ms, p99_ms });
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let mut pages = Vec::new();
    for t in threads {
        let times = t.join().map_err(|_| anyhow::anyhow!("a session's thread panicked"))??;
        pages.extend(times);
    }
    net.shutdown().await;
    pages.sort_by(|a, b| a.total_cmp(b));

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
        quiet,
        loaded,
        pages_per_second: pages.len() as f64 / elapsed.max(1e-9),
        page_p50_ms: percentile(&pages, 0.5),
        page_p99_ms: percentile(&pages, 0.99),
        figures,
        release_build: !cfg!(debug_assertions),
    })
}

pub fn render(b: &ConsoleBench) -> String {
    let mut out = format!(
        "console: MEX -> SWE requests while {} sessions browse MEX's console, a page every {} ms each{}\n",
        b.sessions,
        b.think_ms,
        if b.release_build { "" } else { " — DEBUG BUILD: run with --release" }
    );
    out.push_str(&format!("{:<22} {:>9} {:>12} {:>9} {:>9}\n", "", "in flight", "per second", "p50 ms", "p99 ms"));
    for (label, runs) in [("nobody browsing", &b.quiet), ("sessions browsing", &b.loaded)] {
        for r in runs {
            out.push_str(&format!(
                "{label:<22} {:>9} {:>12.0} {:>9.2} {:>9.2}\n",
                r.in_flight, r.per_second, r.p50_ms, r.p99_ms
            ));
        }
    }
    out.push_str(&format!(
        "pages served: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms\nratios browsing / nobody browsing (target: messages/s at least 0.8, p50 at most 1.2):\n",
        b.pages_per_second, b.page_p50_ms, b.page_p99_ms
    ));
    for f in &b.figures {
        out.push_str(&format!("  {:<58} {:>7.3}\n", f.what, f.ratio));
    }
    out
}
