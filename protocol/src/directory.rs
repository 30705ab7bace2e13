//! The signed, hash-chained directory of national nodes.
//!
//! The Secretariat publishes a sequence of versions; version n carries the hash
//! of version n-1 and is signed by the Secretariat's key, which every national
//! node pins in its configuration. A node accepts a version only if it extends
//! the chain it already holds: never a lower one (rollback), never a second
//! version with the same number or a different predecessor (fork). Each entry
//! carries the State's own signed registration, so the Secretariat can list a
//! node's keys but cannot invent them.

use crate::codec::{self, CodecError};
use crate::keys::{IdentityKeypair, KeyError, PublicIdentity, domain, hash};
use crate::state::StateCode;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a national node submits to be listed: its keys and addresses, signed
/// by its own identity key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub state: StateCode,
    pub identity_key: PublicIdentity,
    /// X25519 public key other nodes wrap content keys to.
    pub encryption_key: [u8; 32],
    /// libp2p multiaddrs the node listens on, e.g. `/ip4/192.0.2.7/tcp/7040`.
    pub addresses: Vec<String>,
    /// Which authority runs the node, as the operator wrote it.
    pub operator: String,
    /// Unix seconds.
    pub signed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRegistration {
    pub registration: Registration,
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

/// Longest `operator` text in a registration.
pub const MAX_OPERATOR: usize = 200;
/// Most addresses a registration may list.
pub const MAX_ADDRESSES: usize = 8;
/// Longest address.
pub const MAX_ADDRESS: usize = 256;

impl Registration {
    /// The rules a Secretariat applies before keeping a registration: bounded
    /// sizes, no control characters, and a signing time near its own clock
    /// (a registration dated in the future must not outrank later ones).
    pub fn validate(&self, now: i64, window_secs: i64) -> Result<(), crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::default();
        crate::request::check_text("operator", &self.operator, MAX_OPERATOR, false, &mut errors);
        if self.addresses.is_empty() || self.addresses.len() > MAX_ADDRESSES {
            errors.push("addresses", format!("must list between 1 and {MAX_ADDRESSES} addresses"));
        }
        for (i, a) in self.addresses.iter().enumerate() {
            if a.len() > MAX_ADDRESS || !a.starts_with('/') || a.chars().any(|c| c.is_control() || c.is_whitespace()) {
                errors.push(format!("addresses[{i}]"), format!("{a:?} is not a multiaddr"));
            }
        }
        if self.signed_at < now.saturating_sub(window_secs) || self.signed_at > now.saturating_add(window_secs) {
            errors.push(
                "signed_at",
                format!(
                    "{} is more than {window_secs} s from the Secretariat's clock ({now}); check the node's clock",
                    self.signed_at
                ),
            );
        }
        errors.into_result(|| ())
    }
}

impl SignedRegistration {
    pub fn sign(registration: Registration, key: &IdentityKeypair) -> Result<Self, CodecError> {
        let bytes = codec::encode("registration", &registration)?;
        Ok(Self { signature: key.sign(domain::REGISTRATION, &bytes), registration })
    }

    /// Checks the registration is signed by the identity key it names.
    pub fn verify(&self) -> Result<(), KeyError> {
        let bytes = codec::encode("registration", &self.registration)
            .map_err(|_| KeyError::BadSignature(self.registration.identity_key.fingerprint()))?;
        self.registration.identity_key.verify(domain::REGISTRATION, &bytes, &self.signature)
    }
}

/// A State's change of keys: its new registration (new identity and
/// encryption keys, signed by the new identity key), signed in turn with the
/// identity key it replaces. Nobody but the holder of the old key can move a
/// State to a new key, and the Secretariat cannot do it on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotation {
    pub previous_key: PublicIdentity,
    pub registration: SignedRegistration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedKeyRotation {
    pub rotation: KeyRotation,
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

impl SignedKeyRotation {
    pub fn sign(rotation: KeyRotation, previous: &IdentityKeypair) -> Result<Self, CodecError> {
        let bytes = codec::encode("key rotation", &rotation)?;
        Ok(Self { signature: previous.sign(domain::KEY_ROTATION, &bytes), rotation })
    }

    /// Checks both signatures: the old key's over the rotation, the new key's
    /// over the new registration; and that the key really changes.
    pub fn verify(&self) -> Result<(), KeyError> {
        let r = &self.rotation;
        let bytes =
            codec::encode("key rotation", r).map_err(|_| KeyError::BadSignature(r.previous_key.fingerprint()))?;
        r.previous_key.verify(domain::KEY_ROTATION, &bytes, &self.signature)?;
        r.registration.verify()?;
        if r.registration.registration.identity_key == r.previous_key {
            return Err(KeyError::BadSignature(r.previous_key.fingerprint()));
        }
        Ok(())
    }
}

/// The life of a State's entry. Only `Active` entries may exchange messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryStatus {
    Active,
    Suspended,
    Withdrawn,
}

impl fmt::Display for EntryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryStatus::Active => "active",
            EntryStatus::Suspended => "suspended",
            EntryStatus::Withdrawn => "withdrawn",
        })
    }
}

/// What the Secretariat can do to a listed State.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryAction {
    /// Messages from and to the State are refused until it is reinstated.
    Suspend,
    Reinstate,
    /// The State leaves the mechanism; its entry stays, withdrawn, so that
    /// no version can drop a State silently. Coming back takes a new admission.
    Withdraw,
}

impl fmt::Display for EntryAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryAction::Suspend => "suspended",
            EntryAction::Reinstate => "reinstated",
            EntryAction::Withdraw => "withdrew",
        })
    }
}

impl EntryStatus {
    /// The status after `action`, or why the action does not apply.
    pub fn after(self, action: EntryAction) -> Result<EntryStatus, String> {
        use EntryAction::*;
        use EntryStatus::*;
        match (self, action) {
            (Active, Suspend) => Ok(Suspended),
            (Suspended, Reinstate) => Ok(Active),
            (Active | Suspended, Withdraw) => Ok(Withdrawn),
            (Suspended, Suspend) => Err("is already suspended".into()),
            (Active, Reinstate) => Err("is active; only a suspended State is reinstated".into()),
            (Withdrawn, _) => Err("has withdrawn; it comes back only by a new registration and admission".into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    pub registration: SignedRegistration,
    pub status: EntryStatus,
    /// Unix seconds at which the Secretariat admitted the State.
    pub admitted_at: i64,
    /// The State's points of contact, as the State signed them and the
    /// Secretariat accepted them.
    pub contacts: Option<crate::contacts::SignedContactSet>,
    /// When the State moved to its current keys by a rotation: the rotation,
    /// signed by the key it replaced. Absent since admission otherwise.
    pub rotated_from: Option<SignedKeyRotation>,
}

impl DirectoryEntry {
    pub fn state(&self) -> StateCode {
        self.registration.registration.state
    }

    pub fn identity_key(&self) -> PublicIdentity {
        self.registration.registration.identity_key
    }

    pub fn encryption_key(&self) -> [u8; 32] {
        self.registration.registration.encryption_key
    }

    pub fn addresses(&self) -> &[String] {
        &self.registration.registration.addresses
    }

    pub fn is_active(&self) -> bool {
        self.status == EntryStatus::Active
    }

    /// Whether the entry appears in the public section; restricted until the
    /// State says otherwise in its contacts.
    pub fn visibility(&self) -> crate::contacts::Visibility {
        self.contacts.as_ref().map(|c| c.set.entry_visibility).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryVersion {
    /// 1 for the first version, then +1 for each change.
    pub version: u64,
    /// `SignedDirectoryVersion::hash` of the previous version; zeros for version 1.
    pub previous_hash: [u8; 32],
    /// Unix seconds.
    pub issued_at: i64,
    /// What changed, in words, for the history.
    pub change: String,
    /// One entry per State, sorted by State code.
    pub entries: Vec<DirectoryEntry>,
    /// Set in the last version the Secretariat's current key signs: every
    /// later version is signed by `next_key`. This is how national nodes
    /// follow a rotation of the trust anchor without being re-configured.
    pub handover: Option<SecretariatHandover>,
}

/// The Secretariat's move to a new key. The version carrying it is signed by
/// the old key; the new key proves itself by signing both keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretariatHandover {
    pub next_key: PublicIdentity,
    /// Signature by `next_key` over `previous key || next key`.
    #[serde(with = "crate::fixed")]
    pub next_key_signature: [u8; 64],
}

impl SecretariatHandover {
    pub fn new(previous: &PublicIdentity, next: &IdentityKeypair) -> SecretariatHandover {
        let payload = [previous.0, next.public().0].concat();
        SecretariatHandover {
            next_key: next.public(),
            next_key_signature: next.sign(domain::SECRETARIAT_HANDOVER, &payload),
        }
    }

    pub fn verify(&self, previous: &PublicIdentity) -> Result<(), KeyError> {
        let payload = [previous.0, self.next_key.0].concat();
        self.next_key.verify(domain::SECRETARIAT_HANDOVER, &payload, &self.next_key_signature)?;
        if self.next_key == *previous {
            return Err(KeyError::BadSignature(previous.fingerprint()));
        }
        Ok(())
    }
}

impl DirectoryVersion {
    pub fn entry(&self, state: StateCode) -> Option<&DirectoryEntry> {
        self.entries.binary_search_by(|e| e.state().cmp(&state)).ok().map(|i| &self.entries[i])
    }

    /// The active entry for a State, if it has one.
    pub fn active(&self, state: StateCode) -> Option<&DirectoryEntry> {
        self.entry(state).filter(|e| e.is_active())
    }

    /// The entry whose node holds this identity key.
    pub fn entry_by_key(&self, key: &PublicIdentity) -> Option<&DirectoryEntry> {
        self.entries.iter().find(|e| e.identity_key() == *key)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDirectoryVersion {
    pub body: DirectoryVersion,
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

/// What a node remembers of the newest version it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryHead {
    pub version: u64,
    pub hash: [u8; 32],
    pub issued_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    #[error("directory version {version} is not signed by the pinned Secretariat key {expected}")]
    WrongSigner { version: u64, expected: String },
    #[error("directory version {got} is older than version {have} already accepted: refusing a rollback")]
    Rollback { have: u64, got: u64 },
    #[error("directory version {version} differs from the version {version} already accepted: refusing a fork")]
    Fork { version: u64 },
    #[error("directory version {got} does not follow version {have}: fetch the versions in between")]
    Gap { have: u64, got: u64 },
    #[error("directory version {version} does not carry the hash of version {previous}: refusing a fork")]
    BrokenChain { version: u64, previous: u64 },
    #[error("directory version {version} is dated before its predecessor")]
    TimeWentBackwards { version: u64 },
    #[error("directory version {version}: entries must be sorted by State code with one entry per State")]
    UnsortedEntries { version: u64 },
    #[error("directory version {version}: the registration of {state} is not signed by its own key")]
    BadRegistration { version: u64, state: StateCode },
    #[error("directory version {version}: two entries share one identity key ({first} and {second})")]
    SharedKey { version: u64, first: StateCode, second: StateCode },
    #[error(
        "directory version {version}: the key rotation of {state} is not signed by its previous key or does not match its entry"
    )]
    BadRotation { version: u64, state: StateCode },
    #[error(
        "directory version {version} changes the key of {state} without a rotation signed by its previous key: refusing it"
    )]
    KeyChangedWithoutRotation { version: u64, state: StateCode },
    #[error("directory version {version}: the contacts of {state} are not signed by its own key")]
    BadContacts { version: u64, state: StateCode },
    #[error("directory version {version} hands the Secretariat over to a key that does not prove itself")]
    BadHandover { version: u64 },
    #[error("directory version {version} drops {state} without a signed withdrawal: refusing it")]
    EntryDropped { version: u64, state: StateCode },
    #[error("directory version encoding failed: {0}")]
    Codec(#[from] CodecError),
}

/// What `check_successor` concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Succession {
    /// The candidate extends the chain: store it and make it current.
    Next,
    /// The candidate is the version already held.
    AlreadyHeld,
}

impl SignedDirectoryVersion {
    pub fn sign(body: DirectoryVersion, key: &IdentityKeypair) -> Result<Self, CodecError> {
        let bytes = codec::encode("directory version", &body)?;
        Ok(Self { signature: key.sign(domain::DIRECTORY_SIGNATURE, &bytes), body })
    }

    /// SHA-256 over the encoded version body: the link the next version carries.
    pub fn hash(&self) -> Result<[u8; 32], CodecError> {
        Ok(hash(domain::DIRECTORY_HASH, &codec::encode("directory version", &self.body)?))
    }

    pub fn head(&self) -> Result<DirectoryHead, CodecError> {
        Ok(DirectoryHead { version: self.body.version, hash: self.hash()?, issued_at: self.body.issued_at })
    }

    /// Checks the signature under the pinned Secretariat key and the version's
    /// own consistency (sorted, self-signed registrations, distinct keys,
    /// contacts signed by the State they list).
    pub fn verify(&self, secretariat: &PublicIdentity) -> Result<(), DirectoryError> {
        self.verify_since(secretariat, None)
    }

    /// `verify`, knowing that `held` (a version the node accepted, hence
    /// verified) holds entries: an entry equal to the one `held` lists for
    /// its State is not checked again (its signatures do not involve the
    /// Secretariat's key). With 200 States, a version that admits one more
    /// then costs one registration check, not 200.
    pub fn verify_since(
        &self,
        secretariat: &PublicIdentity,
        held: Option<&DirectoryVersion>,
    ) -> Result<(), DirectoryError> {
        let v = self.body.version;
        let bytes = codec::encode("directory version", &self.body)?;
        secretariat
            .verify(domain::DIRECTORY_SIGNATURE, &bytes, &self.signature)
            .map_err(|_| DirectoryError::WrongSigner { version: v, expected: secretariat.fingerprint() })?;
        if let Some(h) = &self.body.handover
            && h.verify(secretariat).is_err()
        {
            return Err(DirectoryError::BadHandover { version: v });
        }
        if self.body.entries.windows(2).any(|w| w[0].state() >= w[1].state()) {
            return Err(DirectoryError::UnsortedEntries { version: v });
        }
        let mut keys = std::collections::HashMap::with_capacity(self.body.entries.len());
        for e in &self.body.entries {
            let known = held.and_then(|h| h.entry(e.state())).is_some_and(|known| known == e);
            if !known {
                e.registration
                    .verify()
                    .map_err(|_| DirectoryError::BadRegistration { version: v, state: e.state() })?;
            }
            if let Some(first) = keys.insert(e.identity_key(), e.state()) {
                return Err(DirectoryError::SharedKey { version: v, first, second: e.state() });
            }
            if known {
                continue;
            }
            if let Some(r) = &e.rotated_from
                && (r.verify().is_err() || r.rotation.registration != e.registration)
            {
                return Err(DirectoryError::BadRotation { version: v, state: e.state() });
            }
            if let Some(contacts) = &e.contacts
                && (contacts.set.state != e.state() || contacts.verify(&e.identity_key()).is_err())
            {
                return Err(DirectoryError::BadContacts { version: v, state: e.state() });
            }
        }
        Ok(())
    }

    /// Checks that every State listed in `previous` is still listed: a State
    /// leaves the directory only by a withdrawal the Secretariat signs, never
    /// by disappearing from a version.
    /// Also checks that a State's identity key changes only by a rotation
    /// signed with the key it had (or by a new admission after a withdrawal).
    pub fn check_entries_kept(&self, previous: &DirectoryVersion) -> Result<(), DirectoryError> {
        let version = self.body.version;
        for before in &previous.entries {
            let state = before.state();
            let Some(after) = self.body.entry(state) else {
                return Err(DirectoryError::EntryDropped { version, state });
            };
            let rotated_properly =
                after.rotated_from.as_ref().is_some_and(|r| r.rotation.previous_key == before.identity_key());
            if after.identity_key() != before.identity_key()
                && before.status != EntryStatus::Withdrawn
                && !rotated_properly
            {
                return Err(DirectoryError::KeyChangedWithoutRotation { version, state });
            }
        }
        Ok(())
    }

    /// Decides whether this version may follow `current` (the newest version
    /// held, or `None` before the first). `held_hash_at` answers the hash of an
    /// older version the node holds, to tell a rollback from a fork.
    pub fn check_successor(
        &self,
        current: Option<&DirectoryHead>,
        secretariat: &PublicIdentity,
        held_hash_at: impl Fn(u64) -> Option<[u8; 32]>,
    ) -> Result<Succession, DirectoryError> {
        self.check_successor_since(current, None, secretariat, held_hash_at)
    }

    /// `check_successor`, with `held` the version at `current` (see
    /// `verify_since`).
    pub fn check_successor_since(
        &self,
        current: Option<&DirectoryHead>,
        held: Option<&DirectoryVersion>,
        secretariat: &PublicIdentity,
        held_hash_at: impl Fn(u64) -> Option<[u8; 32]>,
    ) -> Result<Succession, DirectoryError> {
        self.verify_since(secretariat, held)?;
        let v = self.body.version;
        let hash = self.hash()?;
        let Some(cur) = current else {
            if v != 1 {
                return Err(DirectoryError::Gap { have: 0, got: v });
            }
            if self.body.previous_hash != [0; 32] {
                return Err(DirectoryError::BrokenChain { version: v, previous: 0 });
            }
            return Ok(Succession::Next);
        };
        if v == cur.version {
            return if hash == cur.hash {
                Ok(Succession::AlreadyHeld)
            } else {
                Err(DirectoryError::Fork { version: v })
            };
        }
        if v < cur.version {
            return match held_hash_at(v) {
                Some(h) if h != hash => Err(DirectoryError::Fork { version: v }),
                _ => Err(DirectoryError::Rollback { have: cur.version, got: v }),
            };
        }
        if v != cur.version + 1 {
            return Err(DirectoryError::Gap { have: cur.version, got: v });
        }
        if self.body.previous_hash != cur.hash {
            return Err(DirectoryError::BrokenChain { version: v, previous: cur.version });
        }
        if self.body.issued_at < cur.issued_at {
            return Err(DirectoryError::TimeWentBackwards { version: v });
        }
        Ok(Succession::Next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(state: &str, seed: u8) -> (SignedRegistration, IdentityKeypair) {
        let key = IdentityKeypair::from_secret_bytes(&[seed; 32]);
        let reg = Registration {
            state: state.parse().expect("state"),
            identity_key: key.public(),
            encryption_key: [seed; 32],
            addresses: vec!["/ip4/127.0.0.1/tcp/1".into()],
            operator: "test".into(),
            signed_at: 10,
        };
        (SignedRegistration::sign(reg, &key).expect("sign"), key)
    }

    fn version(n: u64, prev: [u8; 32], entries: Vec<DirectoryEntry>, key: &IdentityKeypair) -> SignedDirectoryVersion {
        let body = DirectoryVersion {
            version: n,
            previous_hash: prev,
            issued_at: 100 + n as i64,
            change: format!("v{n}"),
            entries,
            handover: None,
        };
        SignedDirectoryVersion::sign(body, key).expect("sign")
    }

    fn entry(state: &str, seed: u8) -> DirectoryEntry {
        DirectoryEntry {
            registration: registration(state, seed).0,
            status: EntryStatus::Active,
            admitted_at: 50,
            contacts: None,
            rotated_from: None,
        }
    }

    #[test]
    fn only_entries_that_changed_since_the_held_version_are_checked_again() {
        let sec = IdentityKeypair::from_secret_bytes(&[99; 32]);
        let v1 = version(1, [0; 32], vec![entry("MEX", 1)], &sec);
        let h1 = v1.head().expect("head");
        // SWE's registration with a broken signature: refused whether or
        // not the node holds v1, which does not list it.
        let mut broken = entry("SWE", 2);
        broken.registration.signature[0] ^= 1;
        let v2 = version(2, h1.hash, vec![entry("MEX", 1), broken.clone()], &sec);
        let refused = DirectoryError::BadRegistration { version: 2, state: "SWE".parse().expect("SWE") };
        assert_eq!(v2.verify(&sec.public()), Err(refused.clone()));
        assert_eq!(v2.check_successor_since(Some(&h1), Some(&v1.body), &sec.public(), |_| None), Err(refused));
        // An entry equal to the held one is not checked again; a changed one is.
        let held = version(1, [0; 32], vec![entry("MEX", 1), broken.clone()], &sec);
        assert_eq!(v2.verify_since(&sec.public(), Some(&held.body)), Ok(()));
        let mut changed = broken;
        changed.admitted_at += 1;
        let v3 = version(3, [0; 32], vec![entry("MEX", 1), changed], &sec);
        assert!(v3.verify_since(&sec.public(), Some(&held.body)).is_err());
        // Two States under one key are refused even when both were held.
        let mut twin = entry("SWE", 1);
        twin.registration = registration("SWE", 1).0;
        let shared = version(4, [0; 32], vec![entry("MEX", 1), twin], &sec);
        assert!(matches!(
            shared.verify_since(&sec.public(), Some(&shared.body)),
            Err(DirectoryError::SharedKey { .. })
        ));
    }

    #[test]
    fn chain_rules() {
        let sec = IdentityKeypair::from_secret_bytes(&[99; 32]);
        let pinned = sec.public();
        let v1 = version(1, [0; 32], vec![entry("MEX", 1)], &sec);
        let h1 = v1.head().expect("head");
        assert_eq!(v1.check_successor(None, &pinned, |_| None), Ok(Succession::Next));
        let v2 = version(2, h1.hash, vec![entry("MEX", 1), entry("SWE", 2)], &sec);
        assert_eq!(v2.check_successor(Some(&h1), &pinned, |_| None), Ok(Succession::Next));
        let h2 = v2.head().expect("head");
        assert_eq!(v2.check_successor(Some(&h2), &pinned, |_| None), Ok(Succession::AlreadyHeld));
        // Rollback: v1 again after v2.
        assert_eq!(
            v1.check_successor(Some(&h2), &pinned, |_| Some(h1.hash)),
            Err(DirectoryError::Rollback { have: 2, got: 1 })
        );
        // Fork: another v2.
        let v2b = version(2, h1.hash, vec![entry("MEX", 1)], &sec);
        assert_eq!(v2b.check_successor(Some(&h2), &pinned, |_| None), Err(DirectoryError::Fork { version: 2 }));
        // Fork: v3 that does not carry v2's hash.
        let v3 = version(3, h1.hash, vec![entry("MEX", 1)], &sec);
        assert_eq!(
            v3.check_successor(Some(&h2), &pinned, |_| None),
            Err(DirectoryError::BrokenChain { version: 3, previous: 2 })
        );
        // Gap.
        let v4 = version(4, h2.hash, vec![], &sec);
        assert_eq!(v4.check_successor(Some(&h2), &pinned, |_| None), Err(DirectoryError::Gap { have: 2, got: 4 }));
        // Another signer.
        let other = IdentityKeypair::from_secret_bytes(&[98; 32]);
        let forged = version(3, h2.hash, vec![], &other);
        assert!(matches!(
            forged.check_successor(Some(&h2), &pinned, |_| None),
            Err(DirectoryError::WrongSigner { .. })
        ));
    }

    #[test]
    fn registration_rules() {
        let (signed, _) = registration("MEX", 1);
        let ok = signed.registration;
        let now = 1_000_000;
        let window = 300;
        let at = |signed_at: i64| Registration { signed_at, ..ok.clone() };
        for signed_at in [now - window, now, now + window] {
            assert!(at(signed_at).validate(now, window).is_ok(), "{signed_at}");
        }
        // Far from the clock, up to the ends of i64 (no overflow).
        for signed_at in [now - window - 1, now + window + 1, i64::MIN, i64::MIN + now, i64::MAX] {
            assert!(at(signed_at).validate(now, window).is_err(), "{signed_at}");
        }
        let with = |f: &dyn Fn(&mut Registration)| {
            let mut r = at(now);
            f(&mut r);
            r.validate(now, window)
        };
        assert!(with(&|r| r.operator = String::new()).is_ok());
        assert!(with(&|r| r.operator = "é".repeat(100)).is_ok());
        assert!(with(&|r| r.operator = "é".repeat(100) + "x").is_err());
        assert!(with(&|r| r.operator = "Line\u{1b}[2J".into()).is_err());
        assert!(with(&|r| r.addresses = vec![]).is_err());
        assert!(with(&|r| r.addresses = vec!["/ip4/192.0.2.7/tcp/7040".into(); 8]).is_ok());
        assert!(with(&|r| r.addresses = vec!["/ip4/192.0.2.7/tcp/7040".into(); 9]).is_err());
        assert!(with(&|r| r.addresses = vec![format!("/{}", "a".repeat(255))]).is_ok());
        assert!(with(&|r| r.addresses = vec![format!("/{}", "a".repeat(256))]).is_err());
        for bad in ["ip4/192.0.2.7/tcp/7040", "/ip4/192.0.2.7 /tcp/7040", "/ip4/192.0.2.7/tcp/7040\n", "/dns/a\u{85}b"]
        {
            assert!(with(&|r| r.addresses = vec![bad.into()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn entry_status_transitions() {
        use EntryAction::*;
        use EntryStatus::*;
        assert_eq!(Active.after(Suspend), Ok(Suspended));
        assert_eq!(Suspended.after(Reinstate), Ok(Active));
        assert_eq!(Active.after(Withdraw), Ok(Withdrawn));
        assert_eq!(Suspended.after(Withdraw), Ok(Withdrawn));
        for (from, action) in [
            (Suspended, Suspend),
            (Active, Reinstate),
            (Withdrawn, Suspend),
            (Withdrawn, Reinstate),
            (Withdrawn, Withdraw),
        ] {
            assert!(from.after(action).is_err(), "{from:?} then {action:?} was allowed");
        }
    }

    #[test]
    fn a_state_cannot_disappear_from_the_directory() {
        let sec = IdentityKeypair::from_secret_bytes(&[99; 32]);
        let v1 = version(1, [0; 32], vec![entry("MEX", 1), entry("SWE", 2)], &sec);
        let v2 = version(2, v1.hash().expect("hash"), vec![entry("MEX", 1)], &sec);
        assert_eq!(
            v2.check_entries_kept(&v1.body),
            Err(DirectoryError::EntryDropped { version: 2, state: "SWE".parse().expect("SWE") })
        );
        let mut withdrawn = entry("SWE", 2);
        withdrawn.status = EntryStatus::Withdrawn;
        let v2 = version(2, v1.hash().expect("hash"), vec![entry("MEX", 1), withdrawn], &sec);
        assert_eq!(v2.check_entries_kept(&v1.body), Ok(()));
    }

    #[test]
    fn a_key_changes_only_by_a_rotation_signed_with_the_old_key() {
        let sec = IdentityKeypair::from_secret_bytes(&[99; 32]);
        let v1 = version(1, [0; 32], vec![entry("MEX", 1)], &sec);
        let (new_reg, _) = registration("MEX", 7);
        let old_key = IdentityKeypair::from_secret_bytes(&[1; 32]);
        let swapped = DirectoryEntry { registration: new_reg.clone(), ..entry("MEX", 1) };
        let v2 = version(2, v1.hash().expect("hash"), vec![swapped.clone()], &sec);
        assert!(matches!(v2.check_entries_kept(&v1.body), Err(DirectoryError::KeyChangedWithoutRotation { .. })));

        let rotation = KeyRotation { previous_key: old_key.public(), registration: new_reg.clone() };
        let signed = SignedKeyRotation::sign(rotation.clone(), &old_key).expect("sign");
        let rotated = DirectoryEntry { rotated_from: Some(signed), ..swapped.clone() };
        let v2 = version(2, v1.hash().expect("hash"), vec![rotated], &sec);
        assert_eq!(v2.verify(&sec.public()), Ok(()));
        assert_eq!(v2.check_entries_kept(&v1.body), Ok(()));

        // A rotation signed by any other key is refused.
        let forged = SignedKeyRotation::sign(rotation, &IdentityKeypair::from_secret_bytes(&[8; 32])).expect("sign");
        let bad = DirectoryEntry { rotated_from: Some(forged), ..swapped };
        let v2 = version(2, v1.hash().expect("hash"), vec![bad], &sec);
        assert!(matches!(v2.verify(&sec.public()), Err(DirectoryError::BadRotation { .. })));
    }

    #[test]
    fn a_handover_moves_the_trust_anchor_to_a_key_that_proves_itself() {
        let old = IdentityKeypair::from_secret_bytes(&[99; 32]);
        let new = IdentityKeypair::from_secret_bytes(&[98; 32]);
        let mut v1 = version(1, [0; 32], vec![entry("MEX", 1)], &old).body;
        v1.handover = Some(SecretariatHandover::new(&old.public(), &new));
        let v1 = SignedDirectoryVersion::sign(v1, &old).expect("sign");
        assert_eq!(v1.verify(&old.public()), Ok(()));
        // The next version verifies under the new key, not the old one.
        let v2 = version(2, v1.hash().expect("hash"), vec![entry("MEX", 1)], &new);
        assert_eq!(v2.check_successor(Some(&v1.head().expect("head")), &new.public(), |_| None), Ok(Succession::Next));
        assert!(matches!(v2.verify(&old.public()), Err(DirectoryError::WrongSigner { .. })));
        // A handover whose new key did not sign is refused.
        let mut forged = v1.body.clone();
        forged.handover = Some(SecretariatHandover { next_key: new.public(), next_key_signature: [1; 64] });
        let forged = SignedDirectoryVersion::sign(forged, &old).expect("sign");
        assert_eq!(forged.verify(&old.public()), Err(DirectoryError::BadHandover { version: 1 }));
    }

    #[test]
    fn entries_must_be_sorted_and_self_signed() {
        let sec = IdentityKeypair::from_secret_bytes(&[99; 32]);
        let unsorted = version(1, [0; 32], vec![entry("SWE", 2), entry("MEX", 1)], &sec);
        assert_eq!(unsorted.verify(&sec.public()), Err(DirectoryError::UnsortedEntries { version: 1 }));
        let mut tampered = entry("MEX", 1);
        tampered.registration.registration.encryption_key = [0xee; 32];
        let v = version(1, [0; 32], vec![tampered], &sec);
        assert!(matches!(v.verify(&sec.public()), Err(DirectoryError::BadRegistration { .. })));
    }
}
