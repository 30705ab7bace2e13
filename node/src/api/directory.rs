//! The directory, points of contact, keys and status: what the operator of
//! either role asks of the node about its standing.

use super::*;
use crate::directory::public;
use axum::extract::Query;
use veim_protocol::contacts::ContactRole;

#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "directory",
    summary = "The node's identity, directory version, standing with the Secretariat, and readiness.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn status(State(node): State<Shared>) -> ApiResult<StatusView> {
    let view = node.directory.view();
    let sync = node.sync.as_ref().map(|s| s.status()).unwrap_or_default();
    Ok(Json(StatusView {
        role: node.config.role,
        state: node.config.state,
        peer_id: node.peer_id.to_string(),
        fingerprint: node.keys.identity.public().fingerprint(),
        identity_key: node.keys.identity.public().to_string(),
        listen: node.announce.clone(),
        directory_version: view.version(),
        directory_entries: view.entries().len(),
        secretariat_fingerprint: node.directory.secretariat_key().map(|k| k.fingerprint()),
        registration: sync.registration,
        registration_standing: sync.registration_standing,
        contacts: sync.contacts,
        contacts_standing: sync.contacts_standing,
        last_sync: sync.last_sync,
        last_error: sync.last_error,
        last_error_at: sync.last_error_at,
        store_failure: node.store.failure(),
        started_at: node.started_at,
        clock_offset_secs: node.exchanges.tallies().clock_offset(),
        readiness: health::readiness(&node),
        recovery: node.publisher.as_ref().and_then(|p| p.recovery()).map(|r| r.describe()),
        catching_up: node.publisher.as_ref().filter(|p| p.recovery().is_none()).map(|p| p.waiting()),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/directory",
    tag = "directory",
    summary = "The current directory version and its entries, those that pass the filters given (State, region, language, role), a page at a time if asked.",
    params(DirectoryQuery),
    responses((status = 200, description = "Done; the answer as JSON, the number of entries that pass the filters in x-total-count"), (status = "default", description = "An error, as JSON {error, message, problems}: bad-query"))
)]
pub(super) async fn directory(
    State(node): State<Shared>,
    Query(q): Query<DirectoryQuery>,
) -> Result<([(&'static str, String); 1], Json<DirectoryListing>), ApiError> {
    let page = Page::only(&PageQuery { limit: q.limit, page: q.page })?;
    let wanted = Wanted::of(&q)?;
    let view = node.directory.view();
    let entries: Vec<EntryView> = view
        .entries()
        .iter()
        .filter(|e| wanted.holds(e))
        .map(|e| {
            let (region, subregion) = public::region(e.state());
            EntryView {
                state: e.state(),
                name: e.state().name().to_string(),
                status: e.status,
                visibility: e.visibility(),
                contacts: e.contacts.as_ref().map(|c| c.set.contacts.clone()).unwrap_or_default(),
                fingerprint: e.identity_key().fingerprint(),
                operator: e.registration.registration.operator.clone(),
                addresses: e.addresses().to_vec(),
                admitted_at: e.admitted_at,
                region,
                subregion,
            }
        })
        .collect();
    let total = entries.len();
    Ok((
        [(TOTAL_HEADER, total.to_string())],
        Json(DirectoryListing {
            version: view.version(),
            issued_at: view.current.as_ref().map(|v| v.body.issued_at),
            hash: view.current.as_ref().and_then(|v| v.hash().ok()).map(hex::encode),
            entries: page.cut(entries),
        }),
    ))
}

/// The filters of a directory query, checked.
struct Wanted {
    state: Option<String>,
    region: Option<String>,
    language: Option<String>,
    role: Option<&'static str>,
}

impl Wanted {
    fn of(q: &DirectoryQuery) -> Result<Wanted, ApiError> {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let role = match given(&q.role).as_deref() {
            None => None,
            Some("national-poc") => Some("national-poc"),
            Some("alternate") => Some("alternate"),
            Some("focal-point") => Some("focal-point"),
            Some(other) => {
                return Err(bad_query(format!(
                    "role {other:?}: a contact's role is national-poc, alternate or focal-point"
                )));
            }
        };
        let language = given(&q.language).map(|l| l.to_ascii_lowercase());
        if let Some(l) = &language
            && !(l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()))
        {
            return Err(bad_query(format!("language {l:?}: write an ISO 639-1 code such as en, es, fr")));
        }
        Ok(Wanted { state: given(&q.state).map(|s| s.to_lowercase()), region: given(&q.region), language, role })
    }

    fn holds(&self, e: &veim_protocol::DirectoryEntry) -> bool {
        let contacts = e.contacts.as_ref().map(|c| c.set.contacts.as_slice()).unwrap_or(&[]);
        self.state.as_ref().is_none_or(|s| {
            e.state().as_str().eq_ignore_ascii_case(s) || e.state().name().to_lowercase().contains(s.as_str())
        }) && self.region.as_ref().is_none_or(|r| public::in_region(e.state(), r))
            && self.language.as_ref().is_none_or(|l| contacts.iter().any(|c| c.languages.contains(l)))
            && self.role.is_none_or(|r| {
                contacts.iter().any(|c| {
                    matches!(
                        (r, &c.role),
                        ("national-poc", ContactRole::NationalPoc)
                            | ("alternate", ContactRole::Alternate)
                            | ("focal-point", ContactRole::FocalPoint(_))
                    )
                })
            })
    }
}

#[utoipa::path(
    get,
    path = "/v1/directory/public",
    tag = "directory",
    summary = "The public section of the directory (active entries the State made public, public contacts without their restricted fields): as JSON, or as a static HTML page in English, French or Spanish to publish.",
    params(PublicQuery),
    responses((status = 200, description = "Done; the section as JSON, or the page as text/html"), (status = "default", description = "An error, as JSON {error, message, problems}: bad-query"))
)]
pub(super) async fn public_section(
    State(node): State<Shared>,
    Query(q): Query<PublicQuery>,
) -> Result<Response, ApiError> {
    let language = match q.language.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => veim_protocol::report::Language::En,
        Some(l) => veim_protocol::report::Language::parse(l)
            .ok_or_else(|| bad_query(format!("language {l:?}: the public page is written in en, fr or es")))?,
    };
    let section = public::public_section(&node.directory.view());
    match q.format.as_deref().map(str::trim).unwrap_or("json") {
        "json" | "" => Ok(Json(section).into_response()),
        "html" => {
            let page = console::public_page(&section, language)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
            Ok(([(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response())
        }
        other => Err(bad_query(format!("format {other:?}: the public section is written as json or html"))),
    }
}

#[utoipa::path(
    get,
    path = "/v1/directory/history",
    tag = "directory",
    summary = "Every directory version, with what changed.",
    params(PageQuery),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn history(State(node): State<Shared>, Query(q): Query<PageQuery>) -> Listing<VersionView> {
    let page = Page::only(&q)?;
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let batch = node.store.directory_versions_after(after, 256)?;
        if batch.is_empty() {
            break;
        }
        for v in &batch {
            after = v.body.version;
            out.push(v.into());
        }
    }
    let total = out.len();
    Ok(listing(total, page.cut(out)))
}

#[utoipa::path(
    get,
    path = "/v1/directory/pending",
    tag = "directory",
    summary = "Secretariat: registrations waiting for approval.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn pending(State(node): State<Shared>) -> ApiResult<Vec<PendingView>> {
    if node.publisher.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "wrong-role",
            "registrations wait at the ATT Secretariat's node, which admits States: `directory pending` is a \
             Secretariat command; this national node's own registration is shown by `veim status`",
        ));
    }
    let view = node.directory.view();
    let list = node
        .store
        .registrations()?
        .into_iter()
        .filter(|r| view.entry(r.registration.state).is_none_or(|e| e.registration != *r))
        .filter(|r| node.store.rejection(r).ok().flatten().is_none())
        .map(|r| {
            let r = r.registration;
            PendingView {
                state: r.state,
                name: r.state.name().to_string(),
                fingerprint: r.identity_key.fingerprint(),
                operator: r.operator,
                addresses: r.addresses,
                signed_at: r.signed_at,
            }
        })
        .collect();
    Ok(Json(list))
}

#[utoipa::path(
    post,
    path = "/v1/directory/approve",
    tag = "directory",
    summary = "Secretariat: admit a State, naming the fingerprint checked out of band.",
    request_body(content_type = "application/json", description = "{state, fingerprint}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn approve(State(node): State<Shared>, Json(req): Json<ApproveRequest>) -> ApiResult<VersionView> {
    let state = parse_state(&req.state)?;
    let v = publisher(&node)?.approve(state, &req.fingerprint).await.map_err(publish_error)?;
    Ok(Json((&v).into()))
}

#[utoipa::path(
    post,
    path = "/v1/directory/approve-many",
    tag = "directory",
    summary = "Secretariat: admit several States in one directory version (all or none).",
    request_body(content_type = "application/json", description = "{approvals: [{state, fingerprint}]}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn approve_many(
    State(node): State<Shared>,
    Json(req): Json<ApproveManyRequest>,
) -> ApiResult<VersionView> {
    let approvals = req
        .approvals
        .into_iter()
        .map(|a| Ok((parse_state(&a.state)?, a.fingerprint)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let v = publisher(&node)?.approve_many(approvals).await.map_err(publish_error)?;
    Ok(Json((&v).into()))
}

/// The Secretariat's publisher; a national node has none.
fn publisher(node: &Node) -> Result<&Publisher, ApiError> {
    node.publisher.as_deref().ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "only the Secretariat's node changes the directory")
    })
}

/// A national node's client of the Secretariat.
fn sync_client(node: &Node) -> Result<&SyncClient, ApiError> {
    national_only(node)?;
    node.sync.as_deref().ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "no Secretariat client"))
}

pub(super) fn publish_error(e: PublishError) -> ApiError {
    match e {
        PublishError::NoRegistration(_) | PublishError::NotListed(_) | PublishError::NoContacts(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not-found", e.to_string())
        }
        PublishError::FingerprintMismatch { .. } => {
            ApiError::new(StatusCode::CONFLICT, "fingerprint-mismatch", e.to_string())
        }
        PublishError::AlreadyActive(_)
        | PublishError::Transition { .. }
        | PublishError::KeyChange(_)
        | PublishError::Refused(_) => ApiError::new(StatusCode::CONFLICT, "refused", e.to_string()),
        PublishError::NotCaughtUp(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not-caught-up", e.to_string()),
        PublishError::NoReason | PublishError::NothingToApprove | PublishError::Twice(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
        }
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "publish", other.to_string()),
    }
}

#[utoipa::path(
    post,
    path = "/v1/directory/reject",
    tag = "directory",
    summary = "Secretariat: refuse a pending registration; the State learns it at its next poll.",
    request_body(content_type = "application/json", description = "{state, fingerprint, reason}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn reject(State(node): State<Shared>, Json(req): Json<RejectRequest>) -> ApiResult<Done> {
    let state = parse_state(&req.state)?;
    publisher(&node)?.reject(state, &req.fingerprint, &req.reason).await.map_err(publish_error)?;
    Ok(Json(Done {
        done: format!(
            "Rejected the registration of {state}; its node learns it, with the reason, at its next poll of the directory."
        ),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/directory/status",
    tag = "directory",
    summary = "Secretariat: suspend, reinstate or withdraw a State.",
    request_body(content_type = "application/json", description = "{state, action: suspend|reinstate|withdraw, reason}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn change_status(
    State(node): State<Shared>,
    Json(req): Json<StatusChangeRequest>,
) -> ApiResult<VersionView> {
    let state = parse_state(&req.state)?;
    let v = publisher(&node)?.change_status(state, req.action, &req.reason).await.map_err(publish_error)?;
    Ok(Json((&v).into()))
}

#[utoipa::path(
    post,
    path = "/v1/contacts",
    tag = "contacts",
    summary = "National node: sign and submit this State's points of contact.",
    request_body(content_type = "application/json", description = "{contacts: the contacts file as JSON}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn submit_contacts(
    State(node): State<Shared>,
    Json(req): Json<SubmitContactsRequest>,
) -> ApiResult<ContactsView> {
    match sync_client(&node)?.submit_contacts(&req.contacts).await {
        Ok(()) => {}
        Err(crate::directory::sync::SubmitError::Invalid(errors)) => return Err(ApiError::invalid(errors)),
        // Kept and signed: the next sync delivers it.
        Err(e) => tracing::warn!(%e, "contacts kept; not yet delivered"),
    }
    own_contacts(State(node)).await
}

#[utoipa::path(
    get,
    path = "/v1/contacts",
    tag = "contacts",
    summary = "National node: this State's latest points of contact and where they stand.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn own_contacts(State(node): State<Shared>) -> ApiResult<ContactsView> {
    national_only(&node)?;
    let state =
        node.config.state.ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "no State configured"))?;
    let own = node.store.contacts(state)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no-contacts",
            "no points of contact submitted yet; use `veim contacts submit --file contacts.toml`",
        )
    })?;
    let sync = node.sync.as_ref().map(|s| s.status()).unwrap_or_default();
    Ok(Json(ContactsView::new(&own.set, sync.contacts, sync.contacts_standing)))
}

#[utoipa::path(
    get,
    path = "/v1/contacts/pending",
    tag = "contacts",
    summary = "Secretariat: submissions waiting for review.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn pending_contacts(State(node): State<Shared>) -> ApiResult<Vec<ContactsView>> {
    publisher(&node)?;
    Ok(Json(node.store.all_contacts()?.iter().map(|c| ContactsView::new(&c.set, None, None)).collect()))
}

#[utoipa::path(
    post,
    path = "/v1/contacts/accept",
    tag = "contacts",
    summary = "Secretariat: accept a State's submission into the next directory version.",
    request_body(content_type = "application/json", description = "{state}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn accept_contacts(
    State(node): State<Shared>,
    Json(req): Json<ContactsDecision>,
) -> ApiResult<VersionView> {
    let state = parse_state(&req.state)?;
    let v = publisher(&node)?.accept_contacts(state).await.map_err(publish_error)?;
    Ok(Json((&v).into()))
}

#[utoipa::path(
    post,
    path = "/v1/contacts/reject",
    tag = "contacts",
    summary = "Secretariat: reject a State's submission; it learns it at its next poll.",
    request_body(content_type = "application/json", description = "{state, reason}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn reject_contacts(State(node): State<Shared>, Json(req): Json<ContactsDecision>) -> ApiResult<Done> {
    let state = parse_state(&req.state)?;
    publisher(&node)?.reject_contacts(state, &req.reason).await.map_err(publish_error)?;
    Ok(Json(Done {
        done: format!(
            "Rejected the points of contact of {state}; its node learns it, with the reason, at its next poll of the directory."
        ),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/keys/rotate",
    tag = "directory",
    summary = "Move this node to new keys (national) or hand the directory over to a new key (Secretariat).",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn rotate_keys(State(node): State<Shared>) -> ApiResult<RotationView> {
    let pending = |e: &dyn std::fmt::Display| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "rotation-pending",
            format!("{e}. The new keys are kept; the node retries at every sync"),
        )
    };
    // The Secretariat hands the directory over to its new key; a national
    // node sends its rotation to the Secretariat.
    let fingerprint = match (&node.publisher, &node.sync) {
        (Some(publisher), _) => publisher.hand_over().await.map_err(|e| pending(&e))?,
        (None, Some(sync)) => sync.rotate_keys().await.map_err(|e| pending(&e))?,
        (None, None) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "wrong-role", "no key rotation here")),
    };
    let registration = node.sync.as_ref().and_then(|s| s.status().registration);
    Ok(Json(RotationView { fingerprint, registration }))
}

#[utoipa::path(
    post,
    path = "/v1/directory/sync",
    tag = "directory",
    summary = "National node: ask the Secretariat for new directory versions now.",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn sync(State(node): State<Shared>) -> ApiResult<StatusView> {
    if let Err(e) = sync_client(&node)?.sync().await {
        return Err(ApiError::new(StatusCode::BAD_GATEWAY, "sync-failed", e.to_string()));
    }
    status(State(node)).await
}
