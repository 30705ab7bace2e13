//! Node keys: the Ed25519 identity key (signatures, and the libp2p PeerId derives
//! from it) and the X25519 encryption key (HPKE recipient key).
//!
//! Every signature in veim is made over a domain-separated message
//! (`domain || 0x00 || payload`), so that a signature made for one purpose (a
//! receipt, say) can never be presented as another (a directory version).

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Domain-separation strings, one per use. SPEC.md lists them with their bytes.
pub mod domain {
    pub const ENVELOPE_SIGNATURE: &str = "veim/1 envelope signature";
    pub const ENVELOPE_BODY: &str = "veim/1 envelope body";
    pub const CONTENT_KEY: &str = "veim/1 content key";
    pub const CONTENT_KEY_COMMITMENT: &str = "veim/1 content key commitment";
    pub const ENVELOPE_HASH: &str = "veim/1 envelope hash";
    pub const RECEIPT: &str = "veim/1 receipt";
    pub const REGISTRATION: &str = "veim/1 registration";
    pub const DIRECTORY_SIGNATURE: &str = "veim/1 directory signature";
    pub const DIRECTORY_HASH: &str = "veim/1 directory hash";
    pub const KEY_FINGERPRINT: &str = "veim/1 key fingerprint";
    pub const EXCHANGE_ID: &str = "veim/1 exchange id";
    pub const CONTACTS_SIGNATURE: &str = "veim/1 contacts signature";
    pub const CONTACTS_HASH: &str = "veim/1 contacts hash";
    pub const KEY_ROTATION: &str = "veim/1 key rotation";
    pub const SECRETARIAT_HANDOVER: &str = "veim/1 secretariat handover";
    pub const ITEM_COMMITMENT: &str = "veim/1 item commitment";
    pub const ITEM_STATEMENT: &str = "veim/1 item statement";
    pub const CONSENT: &str = "veim/1 consent";
    pub const DISCLOSURE: &str = "veim/1 disclosure package";
    pub const AUDIT_ENTRY: &str = "veim/1 audit entry";
    pub const AUDIT_CHECKPOINT: &str = "veim/1 audit checkpoint";
    pub const AUDIT_TREE_HEAD: &str = "veim/1 audit tree head";
}

/// `domain || 0x00 || payload`: the bytes every signature and hash covers.
pub fn domain_separated(domain: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + 1 + payload.len());
    out.extend_from_slice(domain.as_bytes());
    out.push(0);
    out.extend_from_slice(payload);
    out
}

/// SHA-256 over a domain-separated payload.
pub fn hash(domain: &str, payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    h.update([0u8]);
    h.update(payload);
    h.finalize().into()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("{0} is not a valid Ed25519 public key")]
    BadIdentityKey(String),
    #[error("the signature does not verify under key {0}")]
    BadSignature(String),
}

/// A node's Ed25519 identity: signs envelopes, receipts, registrations and (for
/// the Secretariat) directory versions.
pub struct IdentityKeypair(SigningKey);

impl fmt::Debug for IdentityKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKeypair({})", self.public())
    }
}

impl IdentityKeypair {
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(SigningKey::generate(rng))
    }

    pub fn from_secret_bytes(bytes: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(bytes))
    }

    /// The 32-byte secret seed. Handle with care: write it only to a file
    /// readable by the operator.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> PublicIdentity {
        PublicIdentity(self.0.verifying_key().to_bytes())
    }

    /// Signs `domain || 0x00 || payload`.
    pub fn sign(&self, domain: &str, payload: &[u8]) -> [u8; 64] {
        self.0.sign(&domain_separated(domain, payload)).to_bytes()
    }
}

/// An Ed25519 public key, as it appears in the directory and in envelopes.
/// Bare 32 bytes on the wire; hexadecimal in JSON.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicIdentity(#[serde(with = "crate::fixed")] pub [u8; 32]);

impl PublicIdentity {
    /// Verifies a signature made by [`IdentityKeypair::sign`] with the same domain.
    /// Uses strict verification: no malleable or small-order signatures.
    pub fn verify(&self, domain: &str, payload: &[u8], signature: &[u8; 64]) -> Result<(), KeyError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::BadIdentityKey(self.to_string()))?;
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(&domain_separated(domain, payload), &sig)
            .map_err(|_| KeyError::BadSignature(self.fingerprint()))
    }

    /// The fingerprint an operator reads out to the Secretariat: the first 20
    /// bytes of SHA-256(domain || 0x00 || key), in groups of four hex digits.
    pub fn fingerprint(&self) -> String {
        let digest = hash(domain::KEY_FINGERPRINT, &self.0);
        digest[..20].chunks(2).map(hex::encode).collect::<Vec<_>>().join(" ")
    }

    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(s.trim()).map_err(|_| KeyError::BadIdentityKey(s.to_string()))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::BadIdentityKey(s.to_string()))?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::BadIdentityKey(s.to_string()))?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicIdentity({})", hex::encode(&self.0[..8]))
    }
}

/// A node's X25519 static key: other nodes wrap content keys to its public half.
pub struct EncryptionKeypair {
    secret: [u8; 32],
    public: [u8; 32],
}

impl fmt::Debug for EncryptionKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionKeypair({})", hex::encode(self.public))
    }
}

impl Drop for EncryptionKeypair {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl EncryptionKeypair {
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let secret = x25519_dalek::StaticSecret::random_from_rng(rng);
        Self::from_secret_bytes(&secret.to_bytes())
    }

    pub fn from_secret_bytes(bytes: &[u8; 32]) -> Self {
        let secret = x25519_dalek::StaticSecret::from(*bytes);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        Self { secret: *bytes, public }
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret
    }

    pub fn public(&self) -> [u8; 32] {
        self.public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_for_one_domain_does_not_verify_for_another() {
        let key = IdentityKeypair::from_secret_bytes(&[7u8; 32]);
        let sig = key.sign(domain::RECEIPT, b"payload");
        assert!(key.public().verify(domain::RECEIPT, b"payload", &sig).is_ok());
        assert!(key.public().verify(domain::DIRECTORY_SIGNATURE, b"payload", &sig).is_err());
        assert!(key.public().verify(domain::RECEIPT, b"payloaD", &sig).is_err());
    }

    #[test]
    fn fingerprint_is_ten_groups_of_four_hex_digits() {
        let fp = IdentityKeypair::from_secret_bytes(&[1u8; 32]).public().fingerprint();
        assert_eq!(fp.split(' ').count(), 10);
        assert!(fp.split(' ').all(|g| g.len() == 4));
    }
}
