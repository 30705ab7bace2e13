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
    pub const CSP_REPORT_DRAFT: &str = "veim/1 csp report draft";
    pub const CSP_REPORT_APPROVAL: &str = "veim/1 csp report approval";
    pub const CSP_REPORT_REGISTRATION: &str = "veim/1 csp report registration";
    pub const REPORT_SIGNATURE: &str = "veim/1 measures report";
    pub const REPORT_HASH: &str = "veim/1 measures report hash";
    pub const PUBLICATION_SIGNATURE: &str = "veim/1 publication";
    pub const PUBLICATION_HASH: &str = "veim/1 publication hash";
    pub const PUBLICATION_CONTENT: &str = "veim/1 publication content";
    pub const MEETING_REGISTRATION: &str = "veim/1 meeting registration";
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
    /// Strict (SPEC section 5): the key must be a canonical encoding of a
    /// point not of small order (`key_of`); `verify_strict` then refuses
    /// an `S` not below the group order, an `R` of small order, and an `R`
    /// other than the canonical encoding it recomputes.
    pub fn verify(&self, domain: &str, payload: &[u8], signature: &[u8; 64]) -> Result<(), KeyError> {
        let key = key_of(&self.0).ok_or_else(|| KeyError::BadIdentityKey(self.to_string()))?;
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
        key_of(&bytes).ok_or_else(|| KeyError::BadIdentityKey(s.to_string()))?;
        Ok(Self(bytes))
    }
}

/// The key `bytes` encode, if it is one a signature can verify under:
/// RFC 8032's decoding (section 5.1.3) — `y` below the field prime
/// `p = 2^255 − 19`, and no sign bit on `x = 0` — and not of small order.
/// The decoding of ed25519-dalek is laxer (it reduces a `y` at or above `p`,
/// and negates `x = 0`), and its `verify_strict` refuses only the keys of
/// small order among what it decodes: the twenty points of large order whose
/// `y` is 3, 4, 5, 6, 9, 10, 14, 15, 16 or 18 also decode from `y + p`, and
/// that second encoding is refused here.
fn key_of(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    let sign = bytes[31] & 0x80 != 0;
    let mut y = *bytes;
    y[31] &= 0x7f;
    // y ≥ p: 0xed or more, then thirty 0xff, then 0x7f (little-endian).
    let y_at_least_p = y[0] >= 0xed && y[1..31].iter().all(|&b| b == 0xff) && y[31] == 0x7f;
    // x = 0 exactly when y = 1 or y = p − 1.
    let one = y[0] == 1 && y[1..].iter().all(|&b| b == 0);
    let minus_one = y[0] == 0xec && y[1..31].iter().all(|&b| b == 0xff) && y[31] == 0x7f;
    if y_at_least_p || (sign && (one || minus_one)) {
        return None;
    }
    VerifyingKey::from_bytes(bytes).ok().filter(|key| !key.is_weak())
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

#[cfg(test)]
mod encodings {
    use super::*;

    /// Every 32-byte string that ed25519-dalek decodes although it is not
    /// the canonical encoding of a point: `y = p + d` (`d` 0 to 18, either
    /// sign bit), and `x = 0` with the sign bit set (`y` = 1 or `p − 1`).
    fn non_canonical() -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        for d in 0u8..19 {
            let mut y = [0xffu8; 32];
            y[0] = 0xed + d;
            y[31] = 0x7f;
            let mut signed = y;
            signed[31] |= 0x80;
            out.extend([y, signed]);
        }
        let mut one = [0u8; 32];
        one[0] = 1;
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        for mut y in [one, minus_one] {
            y[31] |= 0x80;
            out.push(y);
        }
        out.retain(|b| VerifyingKey::from_bytes(b).is_ok());
        out
    }

    #[test]
    fn no_non_canonical_key_is_accepted_though_twenty_are_not_of_small_order() {
        let decoding = non_canonical();
        assert_eq!(decoding.len(), 26);
        let large = decoding.iter().filter(|b| !VerifyingKey::from_bytes(b).expect("decodes").is_weak()).count();
        assert_eq!(large, 20, "verify_strict alone would take these");
        for b in &decoding {
            assert!(key_of(b).is_none(), "{}", hex::encode(b));
            assert!(PublicIdentity::from_hex(&hex::encode(b)).is_err());
            assert!(matches!(
                PublicIdentity(*b).verify(domain::RECEIPT, b"", &[0; 64]),
                Err(KeyError::BadIdentityKey(_))
            ));
        }
    }

    #[test]
    fn keys_of_small_order_are_refused_and_real_keys_accepted() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        for b in [identity, minus_one, [0; 32]] {
            assert!(VerifyingKey::from_bytes(&b).expect("decodes").is_weak());
            assert!(key_of(&b).is_none(), "{}", hex::encode(b));
        }
        for seed in 0u8..32 {
            let public = IdentityKeypair::from_secret_bytes(&[seed; 32]).public();
            assert!(key_of(&public.0).is_some());
            assert_eq!(PublicIdentity::from_hex(&public.to_string()), Ok(public));
        }
    }
}
