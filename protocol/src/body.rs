//! What an envelope carries once decrypted, and the kinds of message.

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
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageKind::Request => "request",
            MessageKind::Response => "response",
            MessageKind::Note => "note",
            MessageKind::Close => "close",
        })
    }
}

/// Free text inside an exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub text: String,
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
}

impl Body {
    pub fn kind(&self) -> MessageKind {
        match self {
            Body::Request(_) => MessageKind::Request,
            Body::Response(_) => MessageKind::Response,
            Body::Note(_) => MessageKind::Note,
            Body::Close(_) => MessageKind::Close,
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
                errors.into_result(|| ())
            }
            Body::Close(c) => {
                let mut errors = ValidationErrors::default();
                check_text("reason", &c.reason, MAX_TEXT, false, &mut errors);
                errors.into_result(|| ())
            }
        }
    }
}
