//! What stands between the admin listener and the handlers.
//!
//! The admin API listens on a loopback address, so only processes of this
//! machine reach it; but a web page open in a browser on this machine is
//! such a process too. So, before any handler runs:
//! - a request a browser made for a page of another origin (an `Origin`
//!   header other than the API's own, a `Sec-Fetch-Site` other than
//!   `same-origin` or `none`) or under another host name (DNS rebinding: a
//!   `Host` that is not a loopback name) is refused;
//! - the bearer token names an official's account (`crate::accounts`): it
//!   is looked up by its SHA-256, so how long the lookup takes says nothing
//!   of a right token; the account must be enabled and hold a role the
//!   route needs ([`crate::accounts::need`]), else `403`, recorded; the
//!   call then runs as that official (`crate::acting`), so every entry it
//!   writes names the account; failed logins past a
//!   token bucket are answered `429`, and failures are recorded one by one
//!   only up to `audit_admin_failures_per_minute` and counted past it, so
//!   that no local process can fill the audit log;
//! - a failed login is on disk before its answer leaves, as every other
//!   entry is: one recorded one by one gets its own flush; the count of
//!   those past the allowance is kept in the store and made durable by a
//!   flush that starts at most every [`COUNTED_FLUSH_EVERY`] (their answers
//!   wait for it), so that a flood of wrong tokens cannot make the node
//!   sync its disk more than a few times a second;
//! - every call that changes something is recorded, and that entry (with
//!   any other a call wrote, such as content shown by a read) is on disk
//!   before the answer leaves, as every other entry is;
//! - except that `GET` of the health and metrics paths (`OPEN_PATHS`) is
//!   served without the token and without an audit entry, once the checks
//!   of origin and host name have passed: supervisors probe them every few
//!   seconds, and they answer nothing confidential.
//!
//! The path a client chose is recorded cut to [`MAX_RECORDED_PATH`] bytes.

use super::ApiError;
use super::health::OPEN_PATHS;
use crate::accounts::{Account, AccountRole, Need, need};
use crate::app::Node;
use crate::clock::now;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use veim_protocol::audit::{AccountName, Action, Actor, Event};

/// The longest path (in bytes) an audit entry keeps of a request.
pub const MAX_RECORDED_PATH: usize = 128;

/// Failed logins answered per second, on average, and in one burst; past
/// them a wrong token is answered `429` at once and only counted.
const FAILURES_PER_SEC: f64 = 10.0;
const FAILURE_BURST: f64 = 50.0;

/// How often, at most, a flush starts for failed logins past the minute's
/// allowance (only counted): each such answer waits for the next one.
/// Every wrong token must be on disk before its answer, so a client that
/// sends them one after the other gets at most four answers a second past
/// the allowance; many at once share each flush.
pub const COUNTED_FLUSH_EVERY: Duration = Duration::from_millis(250);

/// The admin listener's guard: the port it listens on, the failures'
/// allowance, and when the next flush for counted failures starts.
#[derive(Debug)]
pub(crate) struct Guard {
    port: u16,
    /// The console's public origin behind a reverse proxy: its scheme and
    /// host (`https`, `veim.example.gov`), whose requests are the node's own.
    public: Option<(String, String)>,
    failures: Mutex<(f64, Instant)>,
    counted_flush: Mutex<Option<Instant>>,
}

/// A call the console makes to the admin API in process, for the official
/// of its session: the guard takes it as that account's, without a token.
/// Only code of this process can put it on a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConsoleCaller(pub AccountName);

impl Guard {
    pub(crate) fn new(port: u16, public: Option<(String, String)>) -> Guard {
        Guard { port, public, failures: Mutex::new((FAILURE_BURST, Instant::now())), counted_flush: Mutex::new(None) }
    }

    /// When the flush that covers a failure counted now starts: the one
    /// already set for later, or a new one at least
    /// [`COUNTED_FLUSH_EVERY`] after the last.
    fn counted_flush_at(&self, now: Instant) -> Instant {
        let Ok(mut next) = self.counted_flush.lock() else { return now };
        match *next {
            Some(at) if at > now => at,
            last => {
                let at = last.map_or(now, |l| (l + COUNTED_FLUSH_EVERY).max(now));
                *next = Some(at);
                at
            }
        }
    }

    /// Takes one failure from the allowance; `false` when it is spent.
    fn take_failure(&self) -> bool {
        let Ok(mut bucket) = self.failures.lock() else { return false };
        let (tokens, at) = &mut *bucket;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * FAILURES_PER_SEC).min(FAILURE_BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Why a request does not come from the operator's own tools, if it does
    /// not: a page of another origin, or a host name that is neither
    /// loopback nor the console's public one.
    pub(crate) fn foreign(&self, headers: &HeaderMap) -> Option<String> {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let public = self.public.as_ref().filter(|(_, h)| host.is_some_and(|host| host.eq_ignore_ascii_case(h)));
        if let Some(host) = host {
            let loopback = ["127.0.0.1", "localhost", "[::1]"]
                .iter()
                .any(|name| host == *name || host == format!("{name}:{}", self.port));
            if !loopback && public.is_none() {
                return Some(format!("host {}", cut(host)));
            }
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let own = match public {
                Some((scheme, host)) => Some(format!("{scheme}://{host}")),
                None => host.map(|h| format!("http://{h}")),
            };
            if origin.to_str().ok() != own.as_deref() {
                return Some(format!("origin {}", cut(&String::from_utf8_lossy(origin.as_bytes()))));
            }
        }
        match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            None | Some("same-origin") | Some("none") => None,
            Some(site) => Some(format!("a {} request from a web page", cut(site))),
        }
    }
}

/// `text` cut to [`MAX_RECORDED_PATH`] bytes (on a character boundary),
/// saying how long it was.
pub fn cut(text: &str) -> String {
    if text.len() <= MAX_RECORDED_PATH {
        return text.to_string();
    }
    let mut end = MAX_RECORDED_PATH;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// Checks the request against the guard, records what the log needs, and
/// runs the handler only for the operator's own tools with the right token.
pub(super) async fn authorize(node: &Node, guard: &Guard, req: Request, next: Next) -> Response {
    let path = cut(req.uri().path());
    let changes = req.method() != axum::http::Method::GET;
    let open = OPEN_PATHS.contains(&req.uri().path())
        && (req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD);
    if let Some(why) = guard.foreign(req.headers()) {
        failed(node, guard, path, format!("refused: {why}")).await;
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden-origin",
            "the admin API answers only the operator's own tools on this machine; requests from web pages are refused",
        )
        .into_response();
    }
    if open {
        return next.run(req).await;
    }
    if let Some(ConsoleCaller(name)) = req.extensions().get::<ConsoleCaller>().copied() {
        return match node.accounts.get(name.as_str()) {
            Ok(account) if !account.disabled => {
                crate::acting::as_official(name, granted(node, account, path, changes, true, req, next)).await
            }
            _ => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", format!("the account {name} is disabled"))
                .into_response(),
        };
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let account = match node.accounts.authenticate(presented) {
        Ok(account) => account,
        Err(e) => {
            tracing::error!(%e, "cannot read the accounts");
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", format!("cannot read the accounts: {e}"))
                .into_response();
        }
    };
    match guard.check(account.is_some()) {
        Check::Granted => {
            let Some(account) = account else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
            let name = account.name;
            crate::acting::as_official(name, granted(node, account, path, changes, false, req, next)).await
        }
        Check::Refused => {
            failed(node, guard, path, if presented.is_empty() { "no token".into() } else { "wrong token".into() })
                .await;
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token, or a disabled account: present your personal token (the CLI reads the \
                 file named by VEIM_TOKEN_FILE, else tokens/admin.token in the node's home folder)",
            )
            .into_response()
        }
        Check::TooFast => {
            failed(node, guard, path, "too many failed logins; not checked".into()).await;
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-failures",
                "too many failed logins in a short time; wait a few seconds, and present your personal token",
            )
            .into_response()
        }
    }
}

/// Runs a call of `account`: refused, and recorded, unless the account
/// holds a role the route needs; else run, with what it changed recorded
/// and every entry it wrote durable before the answer; a console read's
/// (`from_console`), before the answer of its page, which flushes once for
/// all its calls (`console::durable`).
async fn granted(
    node: &Node,
    account: Account,
    path: String,
    changes: bool,
    from_console: bool,
    req: Request,
    next: Next,
) -> Response {
    // A route whose roles no account of this kind of node can hold (the
    // Secretariat's work, on a national node) is left to its handler, which
    // says the node is the wrong one: the truer answer.
    let held_here = AccountRole::of_node(node.config.role);
    let refused = match need(req.method().as_str(), req.uri().path()) {
        Need::Anyone => None,
        Need::Roles(roles) => {
            let possible = roles.iter().any(|r| held_here.contains(r));
            (possible && !roles.iter().any(|r| account.holds(*r))).then_some(roles)
        }
    };
    if let Some(roles) = refused {
        let needs = roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ");
        let held: Vec<&str> = account.roles.iter().map(|r| r.as_str()).collect();
        let mut event = Event::new(now(), Actor::Operator, Action::AdminCall);
        event.object = Some(path);
        event.detail = format!("403 refused: needs {needs}");
        node.store.record(&event);
        if let Err(e) = node.store.flush().await {
            tracing::error!(%e, "the refused call's audit entry could not be made durable");
        }
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "not-permitted",
            format!(
                "the account {} ({}) may not do this: it needs the role {needs}. An administrator gives roles with \
                 `veim users update {} --role …`",
                account.name,
                held.join(", "),
                account.name
            ),
        )
        .into_response();
    }
    let entries = || node.store.audit_head().map(|(count, _)| count).ok();
    let before = entries();
    let response = next.run(req).await;
    if changes {
        let mut event = Event::new(now(), Actor::Operator, Action::AdminCall);
        event.object = Some(path);
        event.detail = response.status().as_u16().to_string();
        node.store.record(&event);
    }
    // The call's entries (its own, content shown by a read) are on
    // disk before the answer, as every other entry is.
    let grew = before.is_none() || entries() != before;
    if (changes || (grew && !from_console))
        && let Err(e) = node.store.flush().await
    {
        tracing::error!(%e, "the admin call's audit entries could not be made durable");
    }
    response
}

/// What the token check came to.
pub(crate) enum Check {
    Granted,
    Refused,
    /// A wrong token, with failures coming faster than the allowance.
    TooFast,
}

impl Guard {
    /// Grants a request whose token is right (the operator is never shut
    /// out); a wrong one takes from the failures' allowance, and once that is
    /// spent it is answered at once and recorded only in the count.
    pub(crate) fn check(&self, right: bool) -> Check {
        if right {
            Check::Granted
        } else if self.take_failure() {
            Check::Refused
        } else {
            Check::TooFast
        }
    }
}

/// Records a failed login at `path` (one by one up to the minute's
/// allowance, counted past it) and makes it durable before the answer: at
/// once when recorded one by one, at the next paced flush when counted.
pub(crate) async fn failed(node: &Node, guard: &Guard, path: String, detail: String) {
    let mut event = Event::new(now(), Actor::Stranger, Action::AdminAuthFailed);
    event.object = Some(path);
    event.detail = detail;
    if !node.witness.record_admin_failure(&event) {
        tokio::time::sleep_until(guard.counted_flush_at(Instant::now()).into()).await;
    }
    if let Err(e) = node.store.flush().await {
        tracing::error!(%e, "a failed login's audit entry could not be made durable");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_on_a_character_boundary_saying_how_long_they_were() {
        assert_eq!(cut("/v1/status"), "/v1/status");
        let long = format!("/{}", "é".repeat(30_000));
        let kept = cut(&long);
        assert!(kept.len() < MAX_RECORDED_PATH + 32, "{}", kept.len());
        assert!(kept.ends_with(&format!("… ({} bytes)", long.len())), "{kept}");
    }

    #[test]
    fn requests_of_web_pages_and_other_host_names_are_foreign() {
        let guard = Guard::new(7041, None);
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().expect("header value"));
            }
            h
        };
        assert_eq!(guard.foreign(&headers(&[("host", "127.0.0.1:7041")])), None);
        assert_eq!(guard.foreign(&headers(&[("host", "localhost:7041"), ("sec-fetch-site", "none")])), None);
        assert_eq!(
            guard.foreign(&headers(&[("host", "127.0.0.1:7041"), ("origin", "http://127.0.0.1:7041")])),
            None,
            "the API's own origin (a console it serves) is not foreign"
        );
        for foreign in [
            headers(&[("host", "evil.example:7041")]),
            headers(&[("host", "127.0.0.1:7041"), ("origin", "http://evil.example")]),
            headers(&[("host", "127.0.0.1:7041"), ("origin", "http://127.0.0.1:8080")]),
            headers(&[("host", "127.0.0.1:7041"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "127.0.0.1:7041"), ("sec-fetch-site", "same-site")]),
        ] {
            assert!(guard.foreign(&foreign).is_some(), "{foreign:?}");
        }
    }

    #[test]
    fn behind_a_reverse_proxy_its_public_origin_is_the_node_s_own() {
        let guard = Guard::new(7041, Some(("https".into(), "veim.example.gov".into())));
        let mut h = HeaderMap::new();
        h.insert("host", "veim.example.gov".parse().expect("host"));
        h.insert("origin", "https://veim.example.gov".parse().expect("origin"));
        h.insert("sec-fetch-site", "same-origin".parse().expect("site"));
        assert_eq!(guard.foreign(&h), None);
        h.insert("origin", "http://veim.example.gov".parse().expect("origin"));
        assert!(guard.foreign(&h).is_some(), "the proxy's origin is https");
        h.insert("host", "evil.example".parse().expect("host"));
        h.remove("origin");
        assert!(guard.foreign(&h).is_some());
    }

    #[test]
    fn counted_failures_share_flushes_that_start_at_most_once_a_pace() {
        let guard = Guard::new(1, None);
        let t0 = Instant::now();
        assert_eq!(guard.counted_flush_at(t0), t0, "the first flushes at once");
        let next = t0 + COUNTED_FLUSH_EVERY;
        for part in [1000, 100, 2, 1] {
            let at = t0 + COUNTED_FLUSH_EVERY / part;
            assert_eq!(guard.counted_flush_at(at - Duration::from_nanos(1)), next, "joins the next one");
        }
        // Once that one has started, the next is a pace later.
        assert_eq!(guard.counted_flush_at(next), next + COUNTED_FLUSH_EVERY);
        // After a quiet spell, at once again.
        let later = t0 + 10 * COUNTED_FLUSH_EVERY;
        assert_eq!(guard.counted_flush_at(later), later);
    }

    #[test]
    fn failed_logins_past_the_burst_are_answered_at_once_and_the_operator_still_gets_in() {
        let guard = Guard::new(1, None);
        let refused = (0..FAILURE_BURST as usize).filter(|_| matches!(guard.check(false), Check::Refused));
        assert_eq!(refused.count(), FAILURE_BURST as usize);
        assert!(matches!(guard.check(false), Check::TooFast));
        assert!(matches!(guard.check(true), Check::Granted), "the right token is never refused");
    }
}
