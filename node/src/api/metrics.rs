//! `GET /metrics`: the node's numbers in the OpenMetrics text format, which
//! Prometheus scrapes. Each value is read, at the scrape, from the service
//! that owns it: the swarm's counts from `net::Client`, the outbox, store
//! size and free disk from `Store`, deliveries from `Exchanges`, refusals
//! from `Peers`, the directory from `Directory` and `SyncClient`, the
//! checkpoint from `Witness`. Nothing here keeps state of its own. Names
//! follow Prometheus conventions (`veim_` prefix, unit in the name,
//! `_total` on counters); docs/OPERATIONS.md lists them with the alarms
//! worth raising.

use super::health::readiness;
use super::*;
use axum::http::header;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use std::fmt;
use veim_protocol::wire::RefusalCode;

/// The media type of the OpenMetrics text format.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The exposition, built on a blocking thread (it reads the store and the
/// file system).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "watching",
    summary = "Prometheus metrics (text exposition format). Open.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn metrics(State(node): State<Shared>) -> Response {
    let text = tokio::task::spawn_blocking(move || {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(NodeCollector(node)));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).map(|()| text)
    })
    .await;
    match text {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "metrics", "the metrics could not be encoded")
            .into_response(),
    }
}

/// Reads the node's services at each scrape.
#[derive(Debug)]
struct NodeCollector(Shared);

impl Collector for NodeCollector {
    fn encode(&self, mut out: DescriptorEncoder) -> Result<(), fmt::Error> {
        let node = &self.0;
        let at = now();
        let age = |t: i64| (at - t).max(0);
        let secs = Some(&Unit::Seconds);
        let bytes = Some(&Unit::Bytes);

        let net = node.client.stats();
        gauge(&mut out, "veim_peers_connected", "Peers with an open connection to this node.", None, net.peers())?;

        match node.store.outbox_depth() {
            Ok((queued, oldest)) => {
                gauge(
                    &mut out,
                    "veim_outbox_messages",
                    "Sent messages with a copy not yet delivered, refused or given up.",
                    None,
                    queued,
                )?;
                gauge(
                    &mut out,
                    "veim_outbox_oldest_message_age",
                    "Age of the oldest message in the outbox (0 when it is empty).",
                    secs,
                    oldest.map(age).unwrap_or(0),
                )?;
            }
            Err(e) => tracing::warn!(%e, "metrics: cannot read the outbox"),
        }

        if node.mailer.configured() {
            match node.mailer.queue() {
                Ok(mails) => {
                    gauge(
                        &mut out,
                        "veim_mail_queued",
                        "Notification mails waiting for the SMTP server.",
                        None,
                        mails.len() as u64,
                    )?;
                    gauge(
                        &mut out,
                        "veim_mail_oldest_age",
                        "Age of the oldest mail waiting (0 when none waits).",
                        secs,
                        mails.iter().map(|m| age(m.queued_at)).max().unwrap_or(0),
                    )?;
                }
                Err(e) => tracing::warn!(%e, "metrics: cannot read the mail queue"),
            }
            counter(
                &mut out,
                "veim_mail_sent",
                "Mails the SMTP server took, since the node started.",
                node.mailer.sent(),
            )?;
            counter(
                &mut out,
                "veim_mail_failures",
                "Attempts to send a mail that failed, since the node started.",
                node.mailer.failures(),
            )?;
            gauge(
                &mut out,
                "veim_mail_failing",
                "1 while the SMTP server fails (the last attempt failed), else 0.",
                None,
                u32::from(node.mailer.failing()),
            )?;
        }

        let tallies = node.exchanges.tallies();
        counter(
            &mut out,
            "veim_messages_delivered",
            "Copies of this node's messages delivered to a peer with a valid receipt, since the node started.",
            tallies.delivered(),
        )?;
        counter(
            &mut out,
            "veim_messages_received",
            "Messages from peers stored and receipted, since the node started.",
            tallies.received(),
        )?;
        by_code(
            &mut out,
            "veim_delivery_refusals",
            "Refusals peers answered this node's deliveries with, by refusal code, since the node started.",
            tallies.refused(),
        )?;
        if let Some(offset) = tallies.clock_offset() {
            gauge(
                &mut out,
                "veim_clock_offset",
                "How far this node's clock is ahead of its peers' (negative: behind): the median, over the peers, of \
                 the time in each one's latest receipt against this node's clock at the round trip.",
                secs,
                offset,
            )?;
        }
        let mut refused = node.peers.refused.counts();
        match refused.iter_mut().find(|(code, _)| *code == RefusalCode::Busy) {
            Some((_, n)) => *n += net.busy(),
            None if net.busy() > 0 => refused.push((RefusalCode::Busy, net.busy())),
            None => {}
        }
        by_code(
            &mut out,
            "veim_requests_refused",
            "Requests of peers this node refused, by refusal code, since the node started.",
            refused,
        )?;

        let view = node.directory.view();
        gauge(
            &mut out,
            "veim_directory_version",
            "The directory version this node holds (0: none).",
            None,
            view.version(),
        )?;
        if let Some(current) = &view.current {
            gauge(
                &mut out,
                "veim_directory_age",
                "Time since the Secretariat issued the directory version held.",
                secs,
                age(current.body.issued_at),
            )?;
        }
        if let Some(last) = node.sync.as_ref().and_then(|s| s.status().last_sync) {
            gauge(
                &mut out,
                "veim_directory_sync_age",
                "Time since this national node's last successful round with the Secretariat.",
                secs,
                age(last),
            )?;
        }

        match node.store.audit_head() {
            Ok((entries, _)) => counter(&mut out, "veim_audit_entries", "Entries in the audit log.", entries)?,
            Err(e) => tracing::warn!(%e, "metrics: cannot read the audit log's head"),
        }
        match node.witness.last_checkpoint() {
            Ok(Some((covered, signed_at))) => {
                gauge(
                    &mut out,
                    "veim_audit_checkpoint_age",
                    "Time since the latest audit checkpoint was signed (one is signed only when the log grew).",
                    secs,
                    age(signed_at),
                )?;
                gauge(
                    &mut out,
                    "veim_audit_checkpoint_entries",
                    "Audit entries the latest checkpoint covers.",
                    None,
                    covered,
                )?;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(%e, "metrics: cannot read the latest checkpoint"),
        }

        match node.store.disk_usage() {
            Ok(usage) => {
                gauge(&mut out, "veim_store_size", "Size of the store on disk.", bytes, usage.store_bytes)?;
                if let Some(free) = usage.free_bytes {
                    gauge(
                        &mut out,
                        "veim_store_disk_free",
                        "Free space on the store's file system, for the node's account.",
                        bytes,
                        free,
                    )?;
                }
            }
            Err(e) => tracing::warn!(%e, "metrics: cannot read the store's size"),
        }

        let checks = readiness(node).checks;
        let metric = out.encode_descriptor(
            "veim_ready",
            "1 when the readiness check passes, 0 when it fails (GET /readyz says why).",
            None,
            MetricType::Gauge,
        )?;
        let mut metric = metric;
        for c in checks {
            let labels = [("check", c.check.to_string())];
            ConstGauge::new(u32::from(c.ok)).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn gauge<N: prometheus_client::encoding::EncodeGaugeValue>(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: N,
) -> fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(out.encode_descriptor(name, help, unit, metric.metric_type())?)
}

fn counter(out: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(out.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// A counter per refusal code (the protocol's name of the code).
fn by_code(out: &mut DescriptorEncoder, name: &str, help: &str, mut counts: Vec<(RefusalCode, u64)>) -> fmt::Result {
    counts.sort_by_key(|(code, _)| format!("{code:?}"));
    let mut metric = out.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (code, n) in counts {
        let labels = [("code", format!("{code:?}"))];
        ConstCounter::new(n).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}
