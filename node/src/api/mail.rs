//! `/v1/mail/…`: the mail queue, and a test mail through the SMTP server of
//! `[mail]` that says what failed.

use super::*;
use crate::mail::MailError;

impl From<MailError> for ApiError {
    fn from(e: MailError) -> ApiError {
        let (status, code) = match &e {
            MailError::NotConfigured => (StatusCode::CONFLICT, "mail-not-configured"),
            MailError::Address { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            MailError::Password { .. } => (StatusCode::BAD_GATEWAY, "mail-password"),
            MailError::Connect { .. } => (StatusCode::BAD_GATEWAY, "mail-connect"),
            MailError::Tls { .. } => (StatusCode::BAD_GATEWAY, "mail-tls"),
            MailError::Auth { .. } => (StatusCode::BAD_GATEWAY, "mail-auth"),
            MailError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "mail-timeout"),
            MailError::Refused { .. } => (StatusCode::BAD_GATEWAY, "mail-refused"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

#[utoipa::path(
    post,
    path = "/v1/mail/test",
    tag = "node",
    summary = "Sends a test mail now through the SMTP server of [mail], to the address given or to every recipient in its language; the error code says what failed (mail-connect, mail-tls, mail-auth, mail-refused, mail-timeout, mail-password, mail-not-configured).",
    request_body(content_type = "application/json", description = "{to?}"),
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn test(State(node): State<Shared>, Json(req): Json<MailTestRequest>) -> ApiResult<MailTestAnswer> {
    let server = node.config.mail.as_ref().map(|m| format!("{}:{}", m.host, m.port())).unwrap_or_default();
    let sent_to = node.mailer.test(req.to).await?;
    Ok(Json(MailTestAnswer { server, sent_to }))
}

#[utoipa::path(
    get,
    path = "/v1/mail/queue",
    tag = "node",
    summary = "The mails waiting for the SMTP server, oldest first, with their attempts and last error (no mail body).",
    responses((status = 200, description = "Done; the answer as JSON (text for /metrics)"), (status = "default", description = "An error, as JSON {error, message, problems}: the error code says which (wrong-role, invalid, not-found, no-consent, ...)"))
)]
pub(super) async fn queue(State(node): State<Shared>) -> ApiResult<Vec<QueuedMailView>> {
    let mails = node.mailer.queue()?;
    Ok(Json(
        mails
            .into_iter()
            .map(|m| QueuedMailView {
                id: m.id,
                event: m.event,
                exchange_id: m.exchange.map(|x| x.to_hex()),
                state: m.state,
                to: m.to,
                language: m.language,
                subject: m.subject,
                queued_at: m.queued_at,
                attempts: m.attempts,
                next_attempt_at: m.next_attempt_at,
                last_error: m.last_error,
            })
            .collect(),
    ))
}
