//! Disclosure: a package of exactly the items a valid grant of the
//! originator covers, with the proofs that let anyone verify it offline.

use super::*;
use crate::clock::now;
use crate::storage::{DisclosureRecord, DisclosureRequestRecord, DisclosureSummary, ExchangeRecord};
use serde::{Deserialize, Serialize};
use veim_protocol::audit::AccountName;
use veim_protocol::audit::{Action, Actor, Event};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::consent::{Authority, Decision, ItemRef, SignedConsent};
use veim_protocol::disclosure::{self, ConsentSummary, DisclosedItem, DisclosedMessage, Package, Proofs};
use veim_protocol::ids::DisclosureId;
use veim_protocol::keys::PublicIdentity;
use veim_protocol::{Body, Bytes32, Envelope, FieldError, Response, StateCode, ValidationErrors};

/// What the operator wants to disclose, and to whom.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Disclose {
    pub exchange: String,
    /// Items as `MESSAGE#N`.
    pub items: Vec<String>,
    pub authority: Authority,
    /// As in the grant; taken from it when absent.
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub case_reference: Option<String>,
}

fn problem(field: impl Into<String>, text: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), problem: text.into() }
}

/// Why one grant cannot serve this disclosure; empty when it can.
fn grant_problems(
    c: &ConsentView,
    authority: &Authority,
    purpose: Option<&str>,
    case: Option<&str>,
    needed: &[ItemRef],
    at: i64,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(d) = &c.decision else { return vec!["is not decided yet".into()] };
    let r = &d.record;
    match c.status {
        ConsentStatus::Refused => out.push("was refused".into()),
        ConsentStatus::Revoked => out.push(format!(
            "was revoked{}",
            c.revocation_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        )),
        _ => {}
    }
    if c.expired(at) {
        out.push(format!("expired at {}", r.expires_at().map(crate::clock::format_time).unwrap_or_default()));
    }
    if !r.authority.same_as(authority) {
        out.push(format!("is for {}, not for {authority}", r.authority));
    }
    if purpose.is_some_and(|p| p.trim() != r.purpose.trim()) {
        out.push(format!("is for the purpose {:?}", r.purpose));
    }
    if case.is_some_and(|p| p.trim() != r.case_reference.trim()) {
        out.push(format!("is for case {:?}", r.case_reference));
    }
    if c.status == ConsentStatus::Granted || c.status == ConsentStatus::Revoked {
        let missing: Vec<String> =
            needed.iter().filter(|i| !r.granted_items().contains(i)).map(ToString::to_string).collect();
        if !missing.is_empty() {
            out.push(format!("does not cover {}", missing.join(", ")));
        }
    }
    out
}

/// Builds the disclosure package in memory, or refuses and says what is
/// missing: the checks of a disclosure, run when it is asked for and again
/// when it is approved (a grant may have been revoked meanwhile).
fn prepare(terms: &Terms, req: &Disclose) -> Result<(Package, Vec<ItemRef>), TermsError> {
    let me = terms.state.ok_or_else(|| TermsError::Conflict("this node speaks for no State".into()))?;
    let mut errors = ValidationErrors::default();
    req.authority.check("authority", &mut errors);
    if req.items.is_empty() {
        errors.push("items", "is missing; name at least one item");
    }
    if !errors.is_empty() {
        return Err(TermsError::Invalid(errors));
    }
    let x = terms.store.find_exchange(&req.exchange)?;
    let messages = exchange_messages(terms, &x)?;
    let mut items = Vec::new();
    for (i, text) in req.items.iter().enumerate() {
        let r = resolve_item(&messages, text, &format!("items[{i}]"))?;
        if items.contains(&r) {
            return Err(invalid(&format!("items[{i}]"), format!("{r} is named twice")));
        }
        items.push(r);
    }
    let originator = single_originator(&messages, &items)?;
    if req.authority.kind == veim_protocol::AuthorityKind::StateParty && req.authority.state == originator {
        return Err(invalid("authority.state", "the items came from this State; there is nothing to forward to it"));
    }
    let at = now();
    let mut problems = Vec::new();
    let mut needed = Vec::new();
    let mut sources: Vec<(&Opened, &Response)> = Vec::new();
    for r in &items {
        let Some(m) = messages.iter().find(|m| m.record.message_id == r.message_id) else { continue };
        let Some(Body::Response(response)) = &m.body else {
            problems.push(problem(r.to_string(), "its content was purged under the retention policy"));
            continue;
        };
        if response.handling.use_expired(at) {
            problems.push(problem(
                r.to_string(),
                format!(
                    "{originator} allowed its use until {} only",
                    response.handling.use_until.as_deref().unwrap_or_default()
                ),
            ));
        }
        if response.handling.needs_consent(&req.authority, me) {
            needed.push(*r);
        }
        if !sources.iter().any(|(s, _)| s.record.message_id == m.record.message_id) {
            sources.push((m, response));
        }
    }
    if !problems.is_empty() {
        return Err(TermsError::Refused {
            message: format!("disclosure refused: {} item(s) cannot be disclosed", problems.len()),
            problems,
        });
    }
    let consent = if needed.is_empty() {
        None
    } else {
        let candidates: Vec<ConsentView> = consents(terms)?
            .into_iter()
            .filter(|c| c.asked_of == originator && c.asked_by == me && c.exchange_id == x.exchange_id)
            .filter(|c| c.decision.is_some())
            .collect();
        let purpose = req.purpose.as_deref();
        let case = req.case_reference.as_deref();
        let usable =
            candidates.iter().find(|c| grant_problems(c, &req.authority, purpose, case, &needed, at).is_empty());
        match usable {
            Some(c) => c.decision.clone(),
            None => {
                let mut problems: Vec<FieldError> = candidates
                    .iter()
                    .map(|c| {
                        let why = grant_problems(c, &req.authority, purpose, case, &needed, at);
                        problem(format!("consent {}", c.consent_id), why.join("; "))
                    })
                    .collect();
                if problems.is_empty() {
                    problems.push(problem(
                        "consent",
                        format!(
                            "{originator} has granted no consent for these items; ask with `veim consent ask` and wait for its decision"
                        ),
                    ));
                }
                let named: Vec<String> = needed.iter().map(ToString::to_string).collect();
                return Err(TermsError::Refused {
                    message: format!(
                        "disclosure refused: no valid, unexpired, unrevoked grant from {originator} covers {} for {}",
                        named.join(", "),
                        req.authority
                    ),
                    problems,
                });
            }
        }
    };
    let package = build_package(terms, me, originator, &x, req, &items, &sources, consent, at)?;
    Ok((package, items))
}

/// A disclosure asked for, waiting for a second official.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureRequestView {
    /// 32 hex digits; its first 8 are enough to name it.
    pub id: String,
    pub exchange_id: ExchangeId,
    pub originator: StateCode,
    pub items: Vec<String>,
    pub authority: String,
    pub asked_by: AccountName,
    pub asked_at: i64,
}

impl DisclosureRequestView {
    fn of(r: &DisclosureRequestRecord, req: &Disclose) -> DisclosureRequestView {
        DisclosureRequestView {
            id: hex::encode(r.id),
            exchange_id: r.exchange_id,
            originator: r.originator,
            items: r.items.clone(),
            authority: req.authority.to_string(),
            asked_by: r.asked_by,
            asked_at: r.asked_at,
        }
    }
}

/// The request a record holds, opened with the storage key.
fn opened(terms: &Terms, r: &DisclosureRequestRecord) -> Result<Disclose, TermsError> {
    let json = terms.vault.open("disclosure request", &r.id, &r.request)?;
    serde_json::from_slice(&json)
        .map_err(|e| TermsError::Conflict(format!("the stored disclosure request is damaged: {e}")))
}

fn official(doing: &str) -> Result<AccountName, TermsError> {
    crate::acting::acting().ok_or_else(|| {
        TermsError::Conflict(format!("{doing} takes an official's account (a personal token): two persons see to it"))
    })
}

fn request_event(action: Action, r: &DisclosureRequestRecord, detail: String) -> Event {
    let mut event = Event::new(now(), Actor::Operator, action);
    event.state = Some(r.originator);
    event.exchange = Some(r.exchange_id);
    event.object = Some(format!("disclosure request {}", hex::encode(r.id)));
    event.detail = detail;
    event
}

/// Asks for a disclosure: checked now as it would be made, kept until an
/// approver who is not the official asking approves or refuses it.
pub async fn ask_disclosure(terms: &Terms, req: Disclose) -> Result<DisclosureRequestView, TermsError> {
    let asked_by = official("a disclosure")?;
    let (package, items) = prepare(terms, &req)?;
    let mut id = [0u8; 16];
    rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut id);
    let record = DisclosureRequestRecord {
        id,
        exchange_id: package.exchange_id,
        originator: package.originator,
        items: items.iter().map(ToString::to_string).collect(),
        request: terms.vault.seal(
            "disclosure request",
            &id,
            &serde_json::to_vec(&req).map_err(|e| TermsError::Conflict(e.to_string()))?,
        )?,
        asked_by,
        asked_at: now(),
    };
    // The entry names the authority's kind and State, as a disclosure's
    // does, never its name.
    let detail = format!("{} item(s) to a {} of {}", record.items.len(), req.authority.kind, req.authority.state);
    terms.store.put_disclosure_request(&record, &request_event(Action::DisclosureAsked, &record, detail))?;
    terms.store.flush().await?;
    Ok(DisclosureRequestView::of(&record, &req))
}

/// The disclosures asked for and not yet approved or refused, oldest first.
pub fn disclosure_requests(terms: &Terms) -> Result<Vec<DisclosureRequestView>, TermsError> {
    let mut all = terms.store.disclosure_requests()?;
    all.sort_by_key(|r| r.asked_at);
    all.iter().map(|r| Ok(DisclosureRequestView::of(r, &opened(terms, r)?))).collect()
}

fn request(terms: &Terms, prefix: &str) -> Result<DisclosureRequestRecord, TermsError> {
    let p = prefix.trim().to_ascii_lowercase();
    let found: Vec<DisclosureRequestRecord> = terms
        .store
        .disclosure_requests()?
        .into_iter()
        .filter(|r| !p.is_empty() && hex::encode(r.id).starts_with(&p))
        .collect();
    match found.len() {
        1 => Ok(found.into_iter().next().expect("one")),
        0 => Err(TermsError::NotFound(format!(
            "no disclosure request has an id beginning with {prefix:?}; `veim disclosure requests` lists them"
        ))),
        n => Err(TermsError::Conflict(format!("{prefix:?} names {n} disclosure requests; give more digits"))),
    }
}

/// Approves a disclosure asked for by another official: checked again,
/// then made, and the request forgotten in the same step.
pub async fn approve_disclosure(terms: &Terms, prefix: &str) -> Result<Package, TermsError> {
    let approver = official("approving a disclosure")?;
    let r = request(terms, prefix)?;
    if r.asked_by == approver {
        return Err(TermsError::SameOfficial(r.asked_by));
    }
    let req = opened(terms, &r)?;
    let (package, items) = prepare(terms, &req)?;
    record_disclosure(terms, &package, &items, Some((r.id, r.asked_by))).await?;
    Ok(package)
}

/// Refuses a disclosure asked for (or the official who asked withdraws
/// it): nothing is disclosed; the reason is recorded.
pub async fn refuse_disclosure(terms: &Terms, prefix: &str, reason: &str) -> Result<DisclosureRequestView, TermsError> {
    let by = official("refusing a disclosure")?;
    if reason.trim().is_empty() {
        return Err(invalid("reason", "is missing; say why the disclosure is refused"));
    }
    let r = request(terms, prefix)?;
    let what = if by == r.asked_by { "withdrawn" } else { "refused" };
    let event = request_event(Action::DisclosureRequestRefused, &r, format!("{what}: {}", reason.trim()));
    if !terms.store.remove_disclosure_request(r.id, &event)? {
        return Err(TermsError::Conflict("the disclosure request was approved or refused meanwhile".into()));
    }
    terms.store.flush().await?;
    Ok(DisclosureRequestView::of(&r, &opened(terms, &r)?))
}

#[allow(clippy::too_many_arguments)]
fn build_package(
    terms: &Terms,
    me: StateCode,
    originator: StateCode,
    x: &ExchangeRecord,
    req: &Disclose,
    items: &[ItemRef],
    sources: &[(&Opened, &Response)],
    consent: Option<SignedConsent>,
    at: i64,
) -> Result<Package, TermsError> {
    let damaged = |what: &str, e: String| TermsError::Conflict(format!("the stored {what} is damaged: {e}"));
    let mut envelopes = Vec::new();
    let mut statements = Vec::new();
    let mut shown = Vec::new();
    let mut sender_key = None;
    for (m, response) in sources {
        let envelope: Envelope = codec::decode::<_, MAX_FRAME>("envelope", &m.record.envelope)
            .map_err(|e| damaged("envelope", e.to_string()))?;
        if sender_key.is_some_and(|k| k != envelope.header.sender_key) {
            return Err(TermsError::Conflict(format!(
                "{originator} changed keys between these responses; disclose the items of each response separately"
            )));
        }
        sender_key = Some(envelope.header.sender_key);
        let statement =
            response.signed_statement(envelope.header.context()).map_err(|e| damaged("response", e.to_string()))?;
        statements.push(hex::encode(
            codec::encode("item statement", &statement).map_err(|e| damaged("response", e.to_string()))?,
        ));
        envelopes.push(hex::encode(&m.record.envelope));
        shown.push(DisclosedMessage {
            message_id: m.record.message_id,
            sent_at: m.record.created_at,
            handling: response.handling.clone(),
        });
    }
    let mut disclosed = Vec::new();
    for r in items {
        let Some((_, response)) = sources.iter().find(|(m, _)| m.record.message_id == r.message_id) else { continue };
        let i = usize::from(r.index);
        let (Some(item), Some(salt)) = (response.items.get(i), response.salts.get(i)) else {
            return Err(damaged("response", format!("item {r} is missing")));
        };
        disclosed.push(DisclosedItem { item_ref: *r, item: item.clone(), salt: *salt });
    }
    let key = sender_key.ok_or_else(|| invalid("items", "is missing"))?;
    let (secretariat_key, directory) = directory_proof(terms, originator, &key)?;
    let (purpose, case_reference) = match &consent {
        Some(c) => (c.record.purpose.clone(), c.record.case_reference.clone()),
        None => (req.purpose.clone().unwrap_or_default(), req.case_reference.clone().unwrap_or_default()),
    };
    let summary = consent.as_ref().map(|c| ConsentSummary {
        consent_request: c.record.consent_request,
        decided_at: c.record.decided_at,
        conditions: match &c.record.decision {
            Decision::Granted { conditions, .. } => conditions.clone(),
            Decision::Refused { .. } => Vec::new(),
        },
        expires_at: c.record.expires_at(),
    });
    let consent_hex = consent
        .as_ref()
        .map(|c| codec::encode("consent", c).map(hex::encode))
        .transpose()
        .map_err(|e| damaged("consent", e.to_string()))?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let mut package = Package {
        format: disclosure::FORMAT.into(),
        disclosure_id: DisclosureId::random(&mut rng),
        created_at: at,
        discloser: me,
        originator,
        exchange_id: x.exchange_id,
        authority: req.authority.clone(),
        purpose,
        case_reference,
        messages: shown,
        items: disclosed,
        consent: summary,
        proofs: Proofs {
            secretariat_key: secretariat_key.to_string(),
            directory,
            envelopes,
            statements,
            consent: consent_hex,
        },
        signature: String::new(),
    };
    package.sign(&terms.keys.identity).map_err(|e| damaged("package", e.to_string()))?;
    Ok(package)
}

/// The newest directory version this node holds that lists `state` with
/// `key`, with the Secretariat key that verifies it.
fn directory_proof(
    terms: &Terms,
    state: StateCode,
    key: &PublicIdentity,
) -> Result<(PublicIdentity, String), TermsError> {
    let mut signers: Vec<PublicIdentity> = terms.directory.secretariat_key().into_iter().collect();
    if let Some(k) = terms.directory.pinned_key()
        && !signers.contains(&k)
    {
        signers.push(k);
    }
    let head = terms.directory.view().version();
    for v in (1..=head).rev() {
        let Some(version) = terms.store.directory_version(v)? else { continue };
        if version.body.entry(state).is_none_or(|e| e.identity_key() != *key)
            || terms.state.is_some_and(|me| version.body.entry(me).is_none())
        {
            continue;
        }
        if let Some(signer) = signers.iter().find(|s| version.verify(s).is_ok()) {
            let bytes = codec::encode("directory version", &version)
                .map_err(|e| TermsError::Conflict(format!("cannot encode directory version {v}: {e}")))?;
            return Ok((*signer, hex::encode(bytes)));
        }
    }
    Err(TermsError::Conflict(format!(
        "no directory version held here lists {state} with the key that signed these items; the package could not be verified"
    )))
}

async fn record_disclosure(
    terms: &Terms,
    package: &Package,
    items: &[ItemRef],
    request: Option<([u8; 16], AccountName)>,
) -> Result<(), TermsError> {
    let json = serde_json::to_vec_pretty(package)
        .map_err(|e| TermsError::Conflict(format!("cannot write the package: {e}")))?;
    let record = DisclosureRecord {
        summary: DisclosureSummary {
            disclosure_id: package.disclosure_id,
            created_at: package.created_at,
            originator: package.originator,
            exchange_id: package.exchange_id,
            items: items.to_vec(),
            authority_kind: package.authority.kind,
            consent: package.consent.as_ref().map(|c| c.consent_request),
            package_hash: Bytes32(package_hash(&json)),
        },
        package: terms.vault.seal("disclosure package", &package.disclosure_id.0, &json)?,
    };
    let mut event = Event::new(package.created_at, Actor::Operator, Action::DisclosureExported);
    event.state = Some(package.originator);
    event.exchange = Some(package.exchange_id);
    event.object = Some(format!("disclosure {}", package.disclosure_id));
    event.hash = Some(record.summary.package_hash);
    event.detail = format!(
        "{} item(s) to a {} of {}{}",
        items.len(),
        package.authority.kind,
        package.authority.state,
        package.consent.as_ref().map(|c| format!(" on consent {}", c.consent_request)).unwrap_or_default()
    );
    if let Some((_, asked_by)) = request {
        event.detail.push_str(&format!(", asked by {asked_by}"));
    }
    terms.store.put_disclosure(&record, &event, request.map(|(id, _)| id))?;
    terms.store.flush().await?;
    Ok(())
}

/// Plain SHA-256 of the package's JSON, as `veim disclosure list` shows it
/// (what `sha256sum` prints for the file `veim disclose` writes).
pub fn package_hash(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
