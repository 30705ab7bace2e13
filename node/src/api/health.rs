//! What a supervisor or a monitoring system asks of the node without the
//! token: `GET /healthz` (the process is up and serving), `GET /readyz`
//! (the node can do its work) and `GET /metrics` (in `metrics`). The guard
//! still refuses web pages and foreign host names for them, but checks no
//! token and records no audit entry: a probe every few seconds must not fill
//! the log. So they answer only what is not confidential: checks passed or
//! failed, counts, versions and ages, never a message, a key or a path.

use super::*;
use crate::clock::now;

/// The paths answered without the token and without an audit entry.
pub(super) const OPEN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// No successful round with the Secretariat for this many polls makes the
/// directory stale (national nodes)...
const STALE_POLLS: i64 = 3;
/// ...and never less than this, so that a short poll period does not turn
/// a Secretariat's restart into an alarm.
const STALE_FLOOR_SECS: i64 = 15 * 60;

/// How long a national node may go without a successful round with the
/// Secretariat before its directory counts as stale.
pub fn stale_after(directory_poll_secs: u64) -> i64 {
    i64::try_from(directory_poll_secs).unwrap_or(i64::MAX).saturating_mul(STALE_POLLS).max(STALE_FLOOR_SECS)
}

#[derive(Debug, serde::Serialize)]
pub(super) struct Up {
    status: &'static str,
}

/// The process is up and its API serves.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "watching",
    summary = "Whether the node's process answers. Open: no token, no audit entry.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn healthz() -> Json<Up> {
    Json(Up { status: "up" })
}

/// 200 when every check passes, else 503; the body names each check.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "watching",
    summary = "Whether the node can do its work (store writable, directory held, peers reachable): 200 or 503. Open.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn readyz(State(node): State<Shared>) -> Response {
    let readiness = readiness(&node);
    let status = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(readiness)).into_response()
}

/// The node's checks, each read from the service that owns what it checks.
pub(super) fn readiness(node: &Node) -> Readiness {
    let checks = vec![store_check(node), network_check(node), directory_check(node)];
    Readiness { ready: checks.iter().all(|c| c.ok), checks }
}

fn check(check: HealthCheck, failure: Option<String>, passed: impl FnOnce() -> String) -> ReadinessCheck {
    match failure {
        Some(detail) => ReadinessCheck { check, ok: false, detail },
        None => ReadinessCheck { check, ok: true, detail: passed() },
    }
}

fn store_check(node: &Node) -> ReadinessCheck {
    // The reason itself (an I/O error naming files) goes to the log and to
    // `veim status`, which need the token.
    let failure = node.store.failure().map(|_| {
        "the store cannot write to disk; the node restarts itself to reopen it (see its log and `veim status`)"
            .to_string()
    });
    check(HealthCheck::Store, failure, || "writable".into())
}

fn network_check(node: &Node) -> ReadinessCheck {
    let stats = node.client.stats();
    let failure = (!node.client.listening()).then(|| "the network is not listening on any address".to_string());
    check(HealthCheck::Network, failure, || {
        format!("listening on {} address(es), {} peer(s) connected", stats.listen_addrs(), stats.peers())
    })
}

fn directory_check(node: &Node) -> ReadinessCheck {
    let view = node.directory.view();
    let version = view.version();
    let failure = match (node.config.state, &node.sync) {
        (Some(state), Some(sync)) => {
            let limit = stale_after(node.config.directory_poll_secs);
            // Before the first round since the start, the version read from
            // the store counts as fresh for as long as a round may take.
            let since = sync.status().last_sync.unwrap_or(node.started_at);
            let age = now() - since;
            if version == 0 {
                Some("no directory version held yet: the node has not received one from the Secretariat".to_string())
            } else if !view.entry(state).is_some_and(|e| e.is_active()) {
                Some(format!(
                    "{state} is not listed as active in directory version {version}: it can neither send nor receive"
                ))
            } else if age > limit {
                Some(format!("no successful round with the Secretariat for {age} s (stale after {limit} s)"))
            } else {
                None
            }
        }
        // The Secretariat's node publishes the directory: what it holds is
        // current by definition, and version 0 (nobody admitted) is normal.
        _ => None,
    };
    check(HealthCheck::Directory, failure, || format!("version {version} held"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_stale_after_three_polls_and_never_before_fifteen_minutes() {
        assert_eq!(stale_after(1), 900);
        assert_eq!(stale_after(30), 900);
        assert_eq!(stale_after(600), 1800);
        assert_eq!(stale_after(u64::MAX), i64::MAX, "no overflow");
    }
}
