//! Each service's errors, mapped once to the refusal a peer is sent. The
//! code tells the peer what it can do: try again later (`StorageFailure`,
//! `Busy`), or not (everything else).

use crate::attachments::AttachmentError;
use crate::audit::witness::WitnessError;
use crate::directory::publisher::{RegisterError, rotation_store_failure};
use crate::directory::registry::{ContactsError, PublishError, RegistrationError};
use crate::exchange::ReconcileError;
use crate::publications::{RegistrationRefused, ReportError};
use crate::reports::PeerReportError;
use crate::storage::StoreError;
use veim_protocol::wire::{Refusal, RefusalCode};

/// A refusal with its detail.
pub fn refusal(code: RefusalCode, detail: impl Into<String>) -> Refusal {
    Refusal { code, detail: detail.into() }
}

/// The store could not do its part: the peer may try again.
impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Refusal {
        refusal(RefusalCode::StorageFailure, e.to_string())
    }
}

impl From<RegisterError> for Refusal {
    fn from(e: RegisterError) -> Refusal {
        match e {
            RegisterError::Registration(RegistrationError::Store(e)) => e.into(),
            RegisterError::Registration(e) => refusal(RefusalCode::BadRegistration, e.to_string()),
            RegisterError::Publish(e) => e.into(),
        }
    }
}

/// A rotation or a listing change that could not be published.
impl From<PublishError> for Refusal {
    fn from(e: PublishError) -> Refusal {
        let code = if rotation_store_failure(&e) { RefusalCode::StorageFailure } else { RefusalCode::BadRegistration };
        refusal(code, e.to_string())
    }
}

impl From<ContactsError> for Refusal {
    fn from(e: ContactsError) -> Refusal {
        match e {
            ContactsError::NotListed => refusal(RefusalCode::NotInDirectory, e.to_string()),
            ContactsError::Store(e) => e.into(),
            e => refusal(RefusalCode::InvalidBody, e.to_string()),
        }
    }
}

impl From<PeerReportError> for Refusal {
    fn from(e: PeerReportError) -> Refusal {
        match e {
            PeerReportError::Store(e) => e.into(),
            e => refusal(RefusalCode::BadReport, e.to_string()),
        }
    }
}

impl From<WitnessError> for Refusal {
    fn from(e: WitnessError) -> Refusal {
        match e {
            WitnessError::Unsigned(why) => refusal(RefusalCode::BadSignature, why),
            WitnessError::Malformed(why) => refusal(RefusalCode::Malformed, why),
            WitnessError::Store(e) => e.into(),
        }
    }
}

impl From<ReconcileError> for Refusal {
    fn from(e: ReconcileError) -> Refusal {
        let code = match &e {
            ReconcileError::NotActive(_) => RefusalCode::NotInDirectory,
            ReconcileError::Malformed => RefusalCode::Malformed,
            ReconcileError::TooSoon => RefusalCode::Busy,
            ReconcileError::Store(_) => RefusalCode::StorageFailure,
        };
        refusal(code, e.to_string())
    }
}

impl From<AttachmentError> for Refusal {
    fn from(e: AttachmentError) -> Refusal {
        let code = match &e {
            AttachmentError::Refused(_) => RefusalCode::NotARecipient,
            AttachmentError::NotActive => RefusalCode::NotInDirectory,
            AttachmentError::NotNational => RefusalCode::WrongRole,
            _ => RefusalCode::StorageFailure,
        };
        refusal(code, e.to_string())
    }
}

impl From<ReportError> for Refusal {
    fn from(e: ReportError) -> Refusal {
        match e {
            ReportError::NotActive => refusal(RefusalCode::NotInDirectory, e.to_string()),
            ReportError::Store(e) => e.into(),
            e => refusal(RefusalCode::InvalidBody, e.to_string()),
        }
    }
}

impl From<RegistrationRefused> for Refusal {
    fn from(e: RegistrationRefused) -> Refusal {
        match e {
            RegistrationRefused::NotActive(_) => refusal(RefusalCode::NotInDirectory, e.to_string()),
            RegistrationRefused::BadSignature => refusal(RefusalCode::BadSignature, e.to_string()),
            RegistrationRefused::Store(e) => e.into(),
            e => refusal(RefusalCode::InvalidBody, e.to_string()),
        }
    }
}
