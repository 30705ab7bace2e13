//! Tracking: where each exchange stands under Art. 11 (stage, provisions,
//! the measures every party recorded, the date to respond by, overdue or
//! not), and the figures of a period (per provision and per counterpart:
//! exchanges, measures, outcomes, response times).
//!
//! Everything here is derived, at the time it is asked, from the messages
//! the store holds: the request (its provisions and stage) and the progress
//! records are opened with the storage key, responses and closes are read
//! from their metadata. There is no index to keep in step with the messages,
//! their purge or a restore. The one thing kept is the mark of each overdue
//! exchange's audit entry (`Store::record_once`), so that it is recorded once
//! across restarts; subscribers ([`Tracking::subscribe`]) hear of each new
//! one.

use crate::home::vault::{Vault, VaultError};
use crate::storage::{ExchangeRecord, ExchangeStatus, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{Notify, broadcast};
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::progress::stage_name;
use veim_protocol::request::{Provision, Stage};
use veim_protocol::{Body, CalendarDate, ExchangeId, MeasureKind, MessageId, MessageKind, Outcome, StateCode};

/// The middle value (the mean of the two middle ones for an even count).
pub fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 })
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrackError {
    #[error("this node speaks for no State: only a national node tracks exchanges")]
    NoState,
    #[error("{0}")]
    BadPeriod(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// A measure as a party recorded it: the same at every party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedMeasure {
    pub by: StateCode,
    pub message_id: MessageId,
    /// When the party sent it (the envelope's `created_at`).
    pub recorded_at: i64,
    pub provision: Provision,
    pub kind: MeasureKind,
    pub date: CalendarDate,
    pub text: String,
}

/// A move of the exchange's stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    pub by: StateCode,
    pub at: i64,
    pub stage: Stage,
    pub text: String,
}

/// An exchange as `veim track` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedExchange {
    pub exchange_id: ExchangeId,
    pub summary: Option<String>,
    pub originator: StateCode,
    pub participants: Vec<StateCode>,
    pub status: ExchangeStatus,
    /// The latest stage move's, else the request's; `None` once the request's
    /// content is purged and no move was recorded.
    pub stage: Option<Stage>,
    pub stage_moves: Vec<StageChange>,
    /// The request's; empty once its content is purged.
    pub provisions: Vec<Provision>,
    /// Every party's measures, in the order they were sent.
    pub measures: Vec<RecordedMeasure>,
    pub opened_at: i64,
    pub days_open: i64,
    pub respond_by: Option<CalendarDate>,
    /// The parties whose response is awaited, as this node sees it (see [`Overdue`]).
    pub not_responded: Vec<StateCode>,
    pub overdue: bool,
    /// Closed exchanges: the outcome's name, or `not-recorded` for a plain close.
    pub outcome: Option<String>,
    /// When the first response to the request was sent, as this node holds it.
    pub first_response_at: Option<i64>,
}

/// An exchange that passed its date to respond by while some party had not
/// responded: what the node records once, and tells its subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overdue {
    pub exchange_id: ExchangeId,
    pub originator: StateCode,
    pub respond_by: CalendarDate,
    /// The parties whose response is awaited, as this node sees it: on the
    /// requesting State's node every party that has not responded; on
    /// another party's node, that party itself (it sees no other's response).
    pub counterparts: Vec<StateCode>,
}

/// How long the first responses took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseTimes {
    pub responses: u32,
    pub median_secs: Option<i64>,
    pub max_secs: Option<i64>,
    pub median_days: Option<f64>,
    pub max_days: Option<f64>,
}

impl ResponseTimes {
    fn of(delays: Vec<i64>) -> ResponseTimes {
        let days = |s: i64| (s as f64 / 86_400.0 * 100.0).round() / 100.0;
        let max = delays.iter().copied().max();
        let median = median(delays.clone());
        ResponseTimes {
            responses: delays.len() as u32,
            median_secs: median,
            max_secs: max,
            median_days: median.map(days),
            max_days: max.map(days),
        }
    }
}

/// Counts over a period (see [`Tracking::figures`] for what falls in it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Exchanges opened in the period.
    pub exchanges: u32,
    /// Of those, by their stage now.
    pub stages: BTreeMap<String, u32>,
    /// Measures dated in the period, by kind.
    pub measures: BTreeMap<String, u32>,
    /// Exchanges closed in the period, by outcome (`not-recorded` for a plain close).
    pub outcomes: BTreeMap<String, u32>,
    /// First responses to the requests opened in the period.
    pub first_response: ResponseTimes,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProvisionFigures {
    /// `11.1` … `13.2`, or `unknown` for exchanges whose request is purged.
    pub provision: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterpartFigures {
    pub state: StateCode,
    /// Exchanges with this State; measures this State recorded; responses
    /// between this node and it, either way.
    #[serde(flatten)]
    pub counts: Counts,
}

/// The figures of a period, from `from` to `to`, both days included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub from: CalendarDate,
    pub to: CalendarDate,
    pub total: Counts,
    pub by_provision: Vec<ProvisionFigures>,
    pub by_counterpart: Vec<CounterpartFigures>,
}

/// Which bodies of an exchange's messages a reading of its history opens
/// (each one is decrypted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opened {
    Everything,
    /// Those that set its dates (to respond by, closed): what being
    /// overdue depends on.
    Dates,
}

/// What one exchange's messages say of its progress.
struct History {
    exchange: ExchangeRecord,
    summary: Option<String>,
    request: Option<(Stage, Vec<Provision>)>,
    measures: Vec<RecordedMeasure>,
    stage_moves: Vec<StageChange>,
    /// The latest date to respond by.
    respond_by: Option<CalendarDate>,
    /// Each party's first response, when it was sent.
    responses: BTreeMap<StateCode, i64>,
    /// When and how it was closed (`None` outcome: a plain `Close`).
    closed: Option<(i64, Option<Outcome>)>,
}

impl History {
    fn stage(&self) -> Option<Stage> {
        self.stage_moves.last().map(|m| m.stage.clone()).or_else(|| self.request.as_ref().map(|r| r.0.clone()))
    }

    /// The parties whose response is awaited, as this node can know it: the
    /// requesting State receives every response, another party only sees
    /// its own (responses go to the requesting State alone).
    fn not_responded(&self, me: StateCode) -> Vec<StateCode> {
        let x = &self.exchange;
        x.participants
            .iter()
            .copied()
            .filter(|p| *p != x.originator && !self.responses.contains_key(p))
            .filter(|p| me == x.originator || *p == me)
            .collect()
    }

    /// Overdue on `today`: past its date, not closed, and a response awaited.
    fn overdue(&self, me: StateCode, today: CalendarDate) -> Option<Overdue> {
        let respond_by = self.respond_by?;
        let counterparts = self.not_responded(me);
        let due = self.exchange.status != ExchangeStatus::Closed && today > respond_by && !counterparts.is_empty();
        due.then_some(Overdue {
            exchange_id: self.exchange.exchange_id,
            originator: self.exchange.originator,
            respond_by,
            counterparts,
        })
    }

    fn outcome_name(&self) -> Option<String> {
        self.closed.as_ref().map(|(_, o)| o.as_ref().map_or("not-recorded", Outcome::as_str).to_string())
    }
}

/// Overdue exchanges first, then the oldest first.
fn overdue_first(list: &mut [TrackedExchange]) {
    list.sort_by_key(|t| (!t.overdue, t.opened_at, t.exchange_id.0));
}

/// The tracking service.
#[derive(Debug)]
pub struct Tracking {
    store: Store,
    vault: Arc<Vault>,
    state: Option<StateCode>,
    overdue: broadcast::Sender<Overdue>,
    /// Wakes the overdue loop before its period (a date to respond by was set).
    pub wake: Notify,
}

impl Tracking {
    pub fn new(store: Store, vault: Arc<Vault>, state: Option<StateCode>) -> Tracking {
        Tracking { store, vault, state, overdue: broadcast::channel(64).0, wake: Notify::new() }
    }

    /// Each exchange that becomes overdue, as [`Tracking::record_overdue`]
    /// records it (once per exchange and date). The hook for notifications.
    pub fn subscribe(&self) -> broadcast::Receiver<Overdue> {
        self.overdue.subscribe()
    }

    fn history(&self, exchange: ExchangeRecord) -> Result<History, TrackError> {
        self.read_history(exchange, Opened::Everything)
    }

    /// Like `history`, with only the bodies `opened` names decrypted.
    fn read_history(&self, exchange: ExchangeRecord, opened: Opened) -> Result<History, TrackError> {
        let mut h = History {
            exchange,
            summary: None,
            request: None,
            measures: Vec::new(),
            stage_moves: Vec::new(),
            respond_by: None,
            responses: BTreeMap::new(),
            closed: None,
        };
        let mut respond_by_at = i64::MIN;
        for id in h.exchange.messages.clone() {
            // The record alone, and the body only of the kinds read below.
            let Some(m) = self.store.message_record(id)? else { continue };
            match m.kind {
                MessageKind::Response => {
                    let first = h.responses.entry(m.sender).or_insert(m.created_at);
                    *first = (*first).min(m.created_at);
                    continue;
                }
                MessageKind::Close => {
                    h.closed = Some((m.created_at, None));
                    continue;
                }
                MessageKind::RespondBy | MessageKind::Closing => {}
                MessageKind::Request | MessageKind::Measure | MessageKind::StageMove
                    if opened == Opened::Everything => {}
                _ => continue,
            }
            let content = self.store.content_of(&m)?;
            match self.vault.open_body(m.message_id, content.as_deref())? {
                Some(Body::Request(r)) => {
                    h.summary = Some(r.summary);
                    h.request = Some((r.stage, r.provisions));
                }
                Some(Body::Measure(x)) => h.measures.push(RecordedMeasure {
                    by: m.sender,
                    message_id: m.message_id,
                    recorded_at: m.created_at,
                    provision: x.provision,
                    kind: x.kind,
                    date: x.date,
                    text: x.text,
                }),
                Some(Body::StageMove(s)) => {
                    h.stage_moves.push(StageChange { by: m.sender, at: m.created_at, stage: s.stage, text: s.text })
                }
                Some(Body::RespondBy(r)) if m.created_at >= respond_by_at => {
                    respond_by_at = m.created_at;
                    h.respond_by = Some(r.date);
                }
                Some(Body::Closing(c)) => h.closed = Some((m.created_at, Some(c.outcome))),
                _ => {}
            }
        }
        // Every party stored the exchange's messages in its own order: sent
        // order (then id) is the one they all agree on.
        h.measures.sort_by_key(|m| (m.recorded_at, m.message_id.0));
        h.stage_moves.sort_by_key(|m| (m.at, m.by));
        Ok(h)
    }

    fn tracked(h: History, me: StateCode, now: i64, today: CalendarDate) -> TrackedExchange {
        let overdue = h.overdue(me, today).is_some();
        TrackedExchange {
            stage: h.stage(),
            not_responded: h.not_responded(me),
            outcome: h.outcome_name(),
            first_response_at: h.responses.values().copied().min(),
            exchange_id: h.exchange.exchange_id,
            summary: h.summary,
            originator: h.exchange.originator,
            participants: h.exchange.participants,
            status: h.exchange.status,
            stage_moves: h.stage_moves,
            provisions: h.request.map(|r| r.1).unwrap_or_default(),
            measures: h.measures,
            opened_at: h.exchange.opened_at,
            days_open: (now - h.exchange.opened_at).max(0) / 86_400,
            respond_by: h.respond_by,
            overdue,
        }
    }

    /// The exchanges `keep` lets through, as tracked at `now`.
    pub fn exchanges(
        &self,
        now: i64,
        keep: impl Fn(&ExchangeRecord) -> bool,
    ) -> Result<Vec<TrackedExchange>, TrackError> {
        let me = self.state.ok_or(TrackError::NoState)?;
        let today = today(now)?;
        let mut out = Vec::new();
        for x in self.store.exchanges()?.into_iter().filter(|x| keep(x)) {
            out.push(Tracking::tracked(self.history(x)?, me, now, today));
        }
        Ok(out)
    }

    /// The exchanges not closed, overdue ones first, then the oldest first.
    pub fn open_exchanges(&self, now: i64) -> Result<Vec<TrackedExchange>, TrackError> {
        let mut out = self.exchanges(now, |x| x.status != ExchangeStatus::Closed)?;
        overdue_first(&mut out);
        Ok(out)
    }

    /// The open exchanges that need this State, overdue ones first: a
    /// request to it not answered yet, or overdue. An exchange is read
    /// whole (its bodies opened) only when its records say it may be one:
    /// sent to this State and no response from it, or a date to respond by
    /// set; the others cost their records alone.
    pub fn needing_attention(&self, now: i64) -> Result<Vec<TrackedExchange>, TrackError> {
        let me = self.state.ok_or(TrackError::NoState)?;
        let mut out = self.exchanges(now, |x| x.status != ExchangeStatus::Closed && self.may_need(x, me))?;
        out.retain(|t| t.overdue || (t.originator != me && t.not_responded.contains(&me)));
        overdue_first(&mut out);
        Ok(out)
    }

    /// Whether an open exchange may need this State, from its messages'
    /// records alone: only a date to respond by makes one overdue, and a
    /// request waits for `me` until `me` sent a response. A record that
    /// does not read says yes: reading the exchange whole reports it.
    fn may_need(&self, x: &ExchangeRecord, me: StateCode) -> bool {
        let mut answered = false;
        for id in &x.messages {
            match self.store.message_record(*id) {
                Ok(Some(m)) if m.kind == MessageKind::RespondBy => return true,
                Ok(Some(m)) if m.kind == MessageKind::Response && m.sender == me => answered = true,
                Ok(_) => {}
                Err(_) => return true,
            }
        }
        x.originator != me && x.participants.contains(&me) && !answered
    }

    /// Every exchange overdue on the day of `now`.
    pub fn overdue(&self, now: i64) -> Result<Vec<Overdue>, TrackError> {
        let Some(me) = self.state else { return Ok(Vec::new()) };
        let today = today(now)?;
        let mut out = Vec::new();
        // One at a time, and only the bodies that set dates opened: the
        // check runs every few minutes over every open exchange.
        for x in self.store.each_exchange() {
            let x = x?;
            if x.status == ExchangeStatus::Closed {
                continue;
            }
            if let Some(o) = self.read_history(x, Opened::Dates)?.overdue(me, today) {
                out.push(o);
            }
        }
        Ok(out)
    }

    /// Records the audit entry of each exchange that is overdue and was not
    /// recorded yet for its date (a later date to respond by is recorded
    /// again once passed), tells the subscribers, and returns them.
    pub fn record_overdue(&self, now: i64) -> Result<Vec<Overdue>, TrackError> {
        let mut recorded = Vec::new();
        for o in self.overdue(now)? {
            let mark = [o.exchange_id.0.as_slice(), &o.respond_by.days().to_be_bytes()].concat();
            let mut event = Event::new(now, Actor::Node, Action::ExchangeOverdue);
            event.exchange = Some(o.exchange_id);
            let waiting: Vec<String> = o.counterparts.iter().map(|s| s.to_string()).collect();
            event.detail = format!("respond by {}; no response from {}", o.respond_by, waiting.join(", "));
            if self.store.record_once(&mark, &event)? {
                tracing::info!(exchange = %o.exchange_id, respond_by = %o.respond_by, "exchange overdue");
                // No subscriber is not an error: the entry is the record.
                let _ = self.overdue.send(o.clone());
                recorded.push(o);
            }
        }
        Ok(recorded)
    }

    /// The figures of the days `from` to `to` (UTC, both included): the
    /// exchanges opened in it (their stage now, their provisions, the first
    /// responses to them), the measures dated in it, the exchanges closed in
    /// it by outcome. Per provision: the exchanges whose request names it and
    /// the measures recorded under it. Per counterpart: the exchanges it
    /// takes part in, the measures it recorded, and the first responses
    /// between it and this node.
    pub fn figures(&self, from: CalendarDate, to: CalendarDate) -> Result<Figures, TrackError> {
        let me = self.state.ok_or(TrackError::NoState)?;
        if from > to {
            return Err(TrackError::BadPeriod(format!("the period starts ({from}) after it ends ({to})")));
        }
        let (start, end) = (from.start(), to.start() + 86_400);
        let within = |t: i64| t >= start && t < end;
        let mut total = Counts::default();
        let mut provisions: BTreeMap<String, Counts> = BTreeMap::new();
        let mut counterparts: BTreeMap<StateCode, Counts> = BTreeMap::new();
        // First-response delays: in total, per provision, per counterpart.
        let mut delays: Vec<i64> = Vec::new();
        let mut provision_delays: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let mut counterpart_delays: BTreeMap<StateCode, Vec<i64>> = BTreeMap::new();
        for x in self.store.exchanges()? {
            let h = self.history(x)?;
            let x = &h.exchange;
            let names: Vec<String> = match &h.request {
                Some((_, p)) => p.iter().map(|p| p.as_str().to_string()).collect(),
                None => vec!["unknown".to_string()],
            };
            let others: Vec<StateCode> = x.participants.iter().copied().filter(|p| *p != me).collect();
            let mut each = |f: &mut dyn FnMut(&mut Counts)| {
                f(&mut total);
                for n in &names {
                    f(provisions.entry(n.clone()).or_default());
                }
                for c in &others {
                    f(counterparts.entry(*c).or_default());
                }
            };
            if within(x.opened_at) {
                let stage = h.stage().map_or("unknown", |s| stage_name(&s)).to_string();
                each(&mut |c| {
                    c.exchanges += 1;
                    *c.stages.entry(stage.clone()).or_default() += 1;
                });
                for (party, at) in &h.responses {
                    let delay = (at - x.opened_at).max(0);
                    delays.push(delay);
                    for n in &names {
                        provision_delays.entry(n.clone()).or_default().push(delay);
                    }
                    // Between this node and the counterpart, either way.
                    let counterpart =
                        if x.originator == me { Some(*party) } else { (*party == me).then_some(x.originator) };
                    if let Some(c) = counterpart {
                        counterpart_delays.entry(c).or_default().push(delay);
                    }
                }
            }
            if let (Some((at, _)), Some(outcome)) = (&h.closed, h.outcome_name())
                && within(*at)
            {
                each(&mut |c| *c.outcomes.entry(outcome.clone()).or_default() += 1);
            }
            for m in h.measures.iter().filter(|m| m.date >= from && m.date <= to) {
                let kind = m.kind.as_str().to_string();
                *total.measures.entry(kind.clone()).or_default() += 1;
                *provisions
                    .entry(m.provision.as_str().to_string())
                    .or_default()
                    .measures
                    .entry(kind.clone())
                    .or_default() += 1;
                if m.by != me {
                    *counterparts.entry(m.by).or_default().measures.entry(kind).or_default() += 1;
                }
            }
        }
        total.first_response = ResponseTimes::of(delays);
        for (n, d) in provision_delays {
            provisions.entry(n).or_default().first_response = ResponseTimes::of(d);
        }
        for (c, d) in counterpart_delays {
            counterparts.entry(c).or_default().first_response = ResponseTimes::of(d);
        }
        Ok(Figures {
            from,
            to,
            total,
            by_provision: provisions
                .into_iter()
                .map(|(provision, counts)| ProvisionFigures { provision, counts })
                .collect(),
            by_counterpart: counterparts
                .into_iter()
                .map(|(state, counts)| CounterpartFigures { state, counts })
                .collect(),
        })
    }
}

/// The UTC day of `now`.
pub fn today(now: i64) -> Result<CalendarDate, TrackError> {
    CalendarDate::of_time(now)
        .ok_or_else(|| TrackError::BadPeriod(format!("the clock ({now}) is outside the calendar")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5]), Some(5));
        assert_eq!(median(vec![9, 1, 5]), Some(5));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
    }

    #[test]
    fn response_times_in_seconds_and_days() {
        let t = ResponseTimes::of(vec![86_400, 3 * 86_400, 43_200]);
        assert_eq!((t.responses, t.median_secs, t.max_secs), (3, Some(86_400), Some(259_200)));
        assert_eq!((t.median_days, t.max_days), (Some(1.0), Some(3.0)));
        assert_eq!(ResponseTimes::of(Vec::new()), ResponseTimes::default());
    }
}
