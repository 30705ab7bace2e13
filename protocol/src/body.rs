//! What an envelope carries once decrypted, and the kinds of message.

use crate::consent::{ConsentRequest, Revocation, SignedConsent};
use crate::envelope::Header;
use crate::handling::Handling;
use crate::progress::{Closing, Measure, ProgressError, RespondBy, StageMove};
use crate::request::{MAX_TEXT, Request, check_text};
use crate::response::Response;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of an envelope, in clear in its header so that a node can route
/// and account for it before (and without) decrypting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageKind {
    Request,
    Response,
    Note,
    Close,
    ConsentRequest,
    ConsentDecision,
    ConsentRevocation,
    Attachments,
    Measure,
    StageMove,
    RespondBy,
    Closing,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Request => "request",
            MessageKind::Response => "response",
            MessageKind::Note => "note",
            MessageKind::Close => "close",
            MessageKind::ConsentRequest => "consent-request",
            MessageKind::ConsentDecision => "consent-decision",
            MessageKind::ConsentRevocation => "consent-revocation",
            MessageKind::Attachments => "attachments",
            MessageKind::Measure => "measure",
            MessageKind::StageMove => "stage-move",
            MessageKind::RespondBy => "respond-by",
            MessageKind::Closing => "closing",
        }
    }

    /// Consent messages: they may follow an exchange after it is closed,
    /// since a case may reach a court years later.
    pub fn is_consent(self) -> bool {
        matches!(self, MessageKind::ConsentRequest | MessageKind::ConsentDecision | MessageKind::ConsentRevocation)
    }

    /// The kinds that close an exchange: `Close`, and `Closing`, which
    /// also records the outcome.
    pub fn closes(self) -> bool {
        matches!(self, MessageKind::Close | MessageKind::Closing)
    }

    /// The progress records (section 7.2 of the SPEC): sent by any party
    /// to every other party of the exchange.
    pub fn is_progress(self) -> bool {
        matches!(self, MessageKind::Measure | MessageKind::StageMove | MessageKind::RespondBy)
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Free text inside an exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub text: String,
    pub handling: Handling,
}

/// Ends an exchange, with the reason recorded for both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Close {
    pub reason: String,
}

/// The decrypted content of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Body {
    Request(Request),
    Response(Response),
    Note(Note),
    Close(Close),
    ConsentRequest(ConsentRequest),
    ConsentDecision(SignedConsent),
    ConsentRevocation(Revocation),
    Attachments(crate::attachment::Attachments),
    Measure(Measure),
    StageMove(StageMove),
    RespondBy(RespondBy),
    Closing(Closing),
}

impl Body {
    pub fn kind(&self) -> MessageKind {
        match self {
            Body::Request(_) => MessageKind::Request,
            Body::Response(_) => MessageKind::Response,
            Body::Note(_) => MessageKind::Note,
            Body::Close(_) => MessageKind::Close,
            Body::ConsentRequest(_) => MessageKind::ConsentRequest,
            Body::ConsentDecision(_) => MessageKind::ConsentDecision,
            Body::ConsentRevocation(_) => MessageKind::ConsentRevocation,
            Body::Attachments(_) => MessageKind::Attachments,
            Body::Measure(_) => MessageKind::Measure,
            Body::StageMove(_) => MessageKind::StageMove,
            Body::RespondBy(_) => MessageKind::RespondBy,
            Body::Closing(_) => MessageKind::Closing,
        }
    }

    /// The sender's handling restrictions, for the bodies that carry information.
    pub fn handling(&self) -> Option<&Handling> {
        match self {
            Body::Request(r) => Some(&r.handling),
            Body::Response(r) => Some(&r.handling),
            Body::Note(n) => Some(&n.handling),
            Body::Attachments(a) => Some(&a.handling),
            Body::Measure(m) => Some(&m.handling),
            _ => None,
        }
    }

    /// Applies the template's rules, whoever built the body.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        match self {
            Body::Request(r) => r.validate(),
            Body::Response(r) => r.validate(),
            Body::Note(n) => {
                let mut errors = ValidationErrors::default();
                check_text("text", &n.text, MAX_TEXT, true, &mut errors);
                n.handling.check("handling", &mut errors);
                errors.into_result(|| ())
            }
            Body::Close(c) => {
                let mut errors = ValidationErrors::default();
                check_text("reason", &c.reason, MAX_TEXT, false, &mut errors);
                errors.into_result(|| ())
            }
            Body::ConsentRequest(c) => c.validate(),
            Body::ConsentDecision(c) => c.record.validate(),
            Body::ConsentRevocation(r) => r.validate(),
            Body::Attachments(a) => a.validate(),
            Body::Measure(m) => m.validate(),
            Body::StageMove(s) => s.validate(),
            Body::RespondBy(r) => r.validate(),
            Body::Closing(c) => c.validate(),
        }
    }

    /// The rules that need the envelope's time (`created_at`): a measure
    /// is not dated after the UTC day it is sent (SPEC section 7.2).
    pub fn check_dated(&self, created_at: i64) -> Result<(), ProgressError> {
        match self {
            Body::Measure(m) => m.check_dated(created_at),
            _ => Ok(()),
        }
    }

    /// Checks what the body signs on its own, against the header of the
    /// envelope it came in (whose signature was verified first): a
    /// response's item statement, a consent decision's signature and parties,
    /// and that the files a message sends are the sender's own (their ids
    /// begin with its code, so no co-recipient can send a file under an id
    /// another State used).
    pub fn check_signed_parts(&self, header: &Header) -> Result<(), String> {
        match self {
            Body::Attachments(a) => match a.files.iter().find(|f| !f.id.is_issued_by(header.sender)) {
                Some(f) => Err(format!(
                    "attachment {} ({:?}) does not begin with the code of its sender {}: a State may only send files under ids it made",
                    f.id, f.name, header.sender
                )),
                None => Ok(()),
            },
            Body::Response(r) => r.check_attestation(header.context(), &header.sender_key),
            Body::ConsentDecision(c) => {
                let r = &c.record;
                if r.grantor != header.sender {
                    return Err(format!(
                        "the consent decision names {} as grantor but comes from {}",
                        r.grantor, header.sender
                    ));
                }
                if header.recipients != [r.grantee] {
                    return Err(format!("the consent decision for {} is not addressed to it alone", r.grantee));
                }
                if r.exchange_id != header.exchange_id {
                    return Err("the consent decision belongs to another exchange".into());
                }
                c.verify(&header.sender_key)
                    .map_err(|_| format!("the consent decision is not signed by the originator {}", header.sender))
            }
            _ => Ok(()),
        }
    }
}
