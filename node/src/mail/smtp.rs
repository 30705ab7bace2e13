//! One mail through the SMTP server of `[mail]`, with lettre (tokio,
//! rustls with the system's CA certificates), and what a failure means in
//! words an operator can act on.

use super::MailError;
use crate::home::config::{MailConfig, MailSecurity};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::path::Path;
use std::time::Duration;

/// How long one SMTP command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The server as the operator wrote it, for messages.
pub(super) fn server(config: &MailConfig) -> String {
    format!("{}:{}", config.host, config.port())
}

/// Builds the mail: `from` of the configuration, `to` every address, plain
/// UTF-8 text.
pub(super) fn message(config: &MailConfig, to: &[String], subject: &str, body: &str) -> Result<Message, MailError> {
    let from: Mailbox =
        config.from.parse().map_err(|e| MailError::Address { address: config.from.clone(), reason: format!("{e}") })?;
    let mut builder = Message::builder().from(from).subject(subject).header(ContentType::TEXT_PLAIN);
    for address in to {
        let mailbox: Mailbox =
            address.parse().map_err(|e| MailError::Address { address: address.clone(), reason: format!("{e}") })?;
        builder = builder.to(mailbox);
    }
    builder.body(body.to_string()).map_err(|e| MailError::Address { address: to.join(", "), reason: e.to_string() })
}

/// Sends one mail, connecting anew (a node sends few mails; a connection
/// kept open would only go stale between them).
pub(super) async fn send(config: &MailConfig, home: &Path, message: Message) -> Result<(), MailError> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
        .port(config.port())
        .timeout(Some(COMMAND_TIMEOUT));
    builder = match config.security {
        MailSecurity::None => builder.tls(Tls::None),
        MailSecurity::Starttls | MailSecurity::Tls => {
            let tls_error = |reason: String| MailError::Tls { server: server(config), reason };
            let mut parameters = TlsParameters::builder(config.host.clone());
            if let Some(file) = &config.ca_file {
                let path = home.join(file);
                let pem =
                    std::fs::read(&path).map_err(|e| tls_error(format!("cannot read {}: {e}", path.display())))?;
                let ca = Certificate::from_pem(&pem)
                    .map_err(|e| tls_error(format!("{} is not a PEM certificate: {e}", path.display())))?;
                parameters = parameters.add_root_certificate(ca);
            }
            let parameters = parameters.build().map_err(|e| tls_error(e.to_string()))?;
            builder.tls(if config.security == MailSecurity::Tls {
                Tls::Wrapper(parameters)
            } else {
                Tls::Required(parameters)
            })
        }
    };
    if let Some(user) = &config.username {
        let path = config.password_path(home);
        let password = std::fs::read_to_string(&path)
            .map_err(|e| MailError::Password { path: path.display().to_string(), reason: e.to_string() })?;
        let password = password.trim_end_matches(['\n', '\r']).to_string();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    let transport = builder.build();
    transport.send(message).await.map(|_| ()).map_err(|e| classify(config, &e))
}

/// What went wrong, by what the operator has to check.
fn classify(config: &MailConfig, e: &lettre::transport::smtp::Error) -> MailError {
    let server = server(config);
    let io = io_error(e);
    let reason = io.map(|io| io.to_string()).unwrap_or_else(|| e.to_string());
    // rustls's refusals (an unknown issuer, a name the certificate does not
    // hold) reach lettre as I/O errors of invalid data, which a plain TCP
    // connection never gives.
    let tls_refused = io.is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData);
    if e.is_tls() || tls_refused || reason.contains("STARTTLS") || reason.contains("not encrypted") {
        return MailError::Tls { server, reason };
    }
    if e.is_timeout() {
        return MailError::Timeout { server };
    }
    if let Some(code) = e.status() {
        let code = code.to_string();
        if ["530", "534", "535", "538"].contains(&code.as_str()) {
            return MailError::Auth { user: config.username.clone().unwrap_or_default(), server, reason };
        }
        return MailError::Refused { server, permanent: e.is_permanent(), reason };
    }
    if reason.contains("authentication mechanism") {
        return MailError::Auth { user: config.username.clone().unwrap_or_default(), server, reason };
    }
    MailError::Connect { server, reason }
}

/// The I/O error under `e`, if it comes from one (a refused connection, a
/// name that does not resolve).
fn io_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}
