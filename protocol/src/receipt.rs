//! Delivery receipts: the recipient's signed statement that it holds an
//! envelope durably. The sender marks a message delivered only on a receipt
//! whose signature verifies under the recipient's directory key.

use crate::codec::{self, CodecError};
use crate::ids::MessageId;
use crate::keys::{IdentityKeypair, KeyError, PublicIdentity, domain};
use crate::state::StateCode;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub message_id: MessageId,
    /// `Envelope::hash` of the envelope as the recipient stored it.
    pub envelope_hash: [u8; 32],
    pub recipient: StateCode,
    /// Unix seconds, the recipient's clock, after the envelope was flushed.
    pub stored_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReceipt {
    pub receipt: Receipt,
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

impl SignedReceipt {
    pub fn sign(receipt: Receipt, key: &IdentityKeypair) -> Result<Self, CodecError> {
        let bytes = codec::encode("receipt", &receipt)?;
        Ok(SignedReceipt { signature: key.sign(domain::RECEIPT, &bytes), receipt })
    }

    pub fn verify(&self, key: &PublicIdentity) -> Result<(), KeyError> {
        let bytes = codec::encode("receipt", &self.receipt).map_err(|_| KeyError::BadSignature(key.fingerprint()))?;
        key.verify(domain::RECEIPT, &bytes, &self.signature)
    }
}
