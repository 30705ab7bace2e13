//! Directory versions, registrations and points of contact, and the few
//! values the node keeps of its own (the Secretariat key handed over to, a
//! pending key rotation, the storage key check).

use super::*;
use sled::Transactional;
use veim_protocol::audit::Event;
use veim_protocol::codec::{self, MAX_DIRECTORY};
use veim_protocol::contacts::SignedContactSet;
use veim_protocol::directory::DirectoryHead;
use veim_protocol::keys::PublicIdentity;
use veim_protocol::{SignedDirectoryVersion, SignedRegistration, StateCode};

impl Store {
    // --- directory -------------------------------------------------------

    pub fn directory_head(&self) -> Result<Option<DirectoryHead>, StoreError> {
        self.meta.get(HEAD_KEY)?.map(|b| dec("directory head", &b)).transpose()
    }

    pub fn directory_version(&self, version: u64) -> Result<Option<SignedDirectoryVersion>, StoreError> {
        self.directory
            .get(version.to_be_bytes())?
            .map(|b| {
                codec::decode::<_, MAX_DIRECTORY>("directory version", &b)
                    .map_err(|e| StoreError::Corrupt { what: "directory version", reason: e.to_string() })
            })
            .transpose()
    }

    pub fn current_directory(&self) -> Result<Option<SignedDirectoryVersion>, StoreError> {
        match self.directory_head()? {
            Some(head) => self.directory_version(head.version),
            None => Ok(None),
        }
    }

    pub fn directory_versions_after(&self, after: u64, max: usize) -> Result<Vec<SignedDirectoryVersion>, StoreError> {
        let start = after.saturating_add(1).to_be_bytes();
        self.directory
            .range(start..)
            .take(max)
            .map(|kv| {
                let (_, v) = kv?;
                dec("directory version", &v)
            })
            .collect()
    }

    /// Stores an accepted version and makes it the head, in one step.
    pub fn put_directory_version(
        &self,
        version: &SignedDirectoryVersion,
        event: &Event,
    ) -> Result<DirectoryHead, StoreError> {
        let anchor = version.body.handover.as_ref().map(|h| h.next_key);
        self.put_directory_head(version, anchor, event)
    }

    /// Stores a version as the head with `anchor`, the Secretariat key that
    /// signs the next version (`None`: the key held so far), in one step. A
    /// snapshot's last version (SPEC 8.2) is stored so, with the key its
    /// handovers lead to; the versions before it are not held.
    pub fn put_directory_head(
        &self,
        version: &SignedDirectoryVersion,
        anchor: Option<PublicIdentity>,
        event: &Event,
    ) -> Result<DirectoryHead, StoreError> {
        let _writing = self.writing()?;
        let head =
            version.head().map_err(|e| StoreError::Corrupt { what: "directory version", reason: e.to_string() })?;
        let bytes = enc("directory version", version)?;
        let head_bytes = enc("directory head", &head)?;
        let anchor = anchor.map(|k| k.0.to_vec());
        let key = head.version.to_be_bytes();
        (&self.directory, &self.meta, &self.audit)
            .transaction(|(dir, meta, audit)| {
                dir.insert(&key, bytes.as_slice())?;
                meta.insert(HEAD_KEY, head_bytes.as_slice())?;
                if let Some(anchor) = &anchor {
                    meta.insert(SECRETARIAT_KEY, anchor.as_slice())?;
                }
                append(audit, meta, event)?;
                Ok(())
            })
            .map_err(tx_err)?;
        Ok(head)
    }

    /// Secretariat: when a State's last move (new addresses) was published.
    pub fn last_move(&self, state: StateCode) -> Result<Option<i64>, StoreError> {
        let key = [b"moved:".as_slice(), state.as_bytes()].concat();
        Ok(self.meta.get(key)?.and_then(|b| b.as_ref().try_into().ok().map(i64::from_be_bytes)))
    }

    pub fn set_last_move(&self, state: StateCode, at: i64) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let key = [b"moved:".as_slice(), state.as_bytes()].concat();
        self.meta.insert(key, &at.to_be_bytes())?;
        let day = at.div_euclid(86_400);
        let moves = self.moves_on(state, day)? + 1;
        self.meta.insert(Self::moves_key(state), [day.to_be_bytes(), i64::from(moves).to_be_bytes()].concat())?;
        Ok(())
    }

    /// How many moves of `state` were published on `day` (days since 1970).
    pub fn moves_on(&self, state: StateCode, day: i64) -> Result<u32, StoreError> {
        let held = self.meta.get(Self::moves_key(state))?;
        Ok(match held.as_deref().and_then(|b| <[u8; 16]>::try_from(b).ok()) {
            Some(b) if i64::from_be_bytes(b[..8].try_into().unwrap_or_default()) == day => {
                i64::from_be_bytes(b[8..].try_into().unwrap_or_default()).clamp(0, i64::from(u32::MAX)) as u32
            }
            _ => 0,
        })
    }

    fn moves_key(state: StateCode) -> Vec<u8> {
        [b"moves-today:".as_slice(), state.as_bytes()].concat()
    }

    /// National node: the key rotation it sent and re-sends, byte for byte,
    /// until the directory carries it.
    pub fn put_pending_rotation(&self, rotation: &veim_protocol::SignedKeyRotation) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.meta.insert(PENDING_ROTATION, enc("key rotation", rotation)?)?;
        Ok(())
    }

    pub fn pending_rotation(&self) -> Result<Option<veim_protocol::SignedKeyRotation>, StoreError> {
        self.meta.get(PENDING_ROTATION)?.map(|b| dec("key rotation", &b)).transpose()
    }

    pub fn clear_pending_rotation(&self) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.meta.remove(PENDING_ROTATION)?;
        Ok(())
    }

    /// The Secretariat key the directory last handed over to, if it ever did
    /// (otherwise the key pinned in the configuration holds).
    pub fn secretariat_key(&self) -> Result<Option<PublicIdentity>, StoreError> {
        let Some(bytes) = self.meta.get(SECRETARIAT_KEY)? else { return Ok(None) };
        let bytes: [u8; 32] = bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            what: "Secretariat key",
            reason: format!("{} bytes instead of 32", bytes.len()),
        })?;
        Ok(Some(PublicIdentity(bytes)))
    }

    /// The value proving which storage key this store's content is sealed with.
    pub fn storage_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(STORAGE_CHECK)?.map(|v| v.to_vec()))
    }

    /// Whether any message or disclosure is stored.
    pub fn has_content(&self) -> Result<bool, StoreError> {
        Ok(!self.messages.is_empty() || !self.disclosures.is_empty())
    }

    pub fn set_storage_check(&self, check: &[u8]) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.meta.insert(STORAGE_CHECK, check)?;
        Ok(())
    }

    // --- registrations (Secretariat) ------------------------------------

    fn registration_key(registration: &SignedRegistration) -> Vec<u8> {
        let r = &registration.registration;
        let mut key = r.state.as_bytes().to_vec();
        key.extend_from_slice(&r.identity_key.0);
        key
    }

    /// Keeps a registration, one per State and identity key: a registration
    /// sent with another key never replaces the one an operator is checking.
    pub fn put_registration(&self, registration: &SignedRegistration) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.registrations.insert(Self::registration_key(registration), enc("registration", registration)?)?;
        Ok(())
    }

    /// The registration stored for this State and key, if any.
    pub fn registration(&self, registration: &SignedRegistration) -> Result<Option<SignedRegistration>, StoreError> {
        self.registrations.get(Self::registration_key(registration))?.map(|b| dec("registration", &b)).transpose()
    }

    /// Forgets a registration (one that waited too long for review).
    pub fn remove_registration(&self, registration: &SignedRegistration) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.registrations.remove(Self::registration_key(registration))?;
        Ok(())
    }

    /// How many registrations are held, of every State.
    pub fn registration_count(&self) -> Result<usize, StoreError> {
        Ok(self.registrations.len())
    }

    /// Every registration received from a State, one per key.
    pub fn registrations_of(&self, state: StateCode) -> Result<Vec<SignedRegistration>, StoreError> {
        self.registrations.scan_prefix(state.as_bytes()).map(|kv| dec("registration", &kv?.1)).collect()
    }

    /// Records that the operator refused this State's key, and why.
    pub fn put_rejection(&self, registration: &SignedRegistration, reason: &str) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.rejections.insert(Self::registration_key(registration), reason.as_bytes())?;
        Ok(())
    }

    /// Why this State's key was refused, if it was.
    pub fn rejection(&self, registration: &SignedRegistration) -> Result<Option<String>, StoreError> {
        Ok(self.rejections.get(Self::registration_key(registration))?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    // --- points of contact ------------------------------------------------

    /// Secretariat: the submission waiting for review from a State (one per
    /// State, the latest). National node: its own latest submission, under
    /// its own State code.
    pub fn put_contacts(&self, set: &SignedContactSet) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.contacts.insert(set.set.state.as_bytes(), enc("contacts", set)?)?;
        Ok(())
    }

    pub fn contacts(&self, state: StateCode) -> Result<Option<SignedContactSet>, StoreError> {
        self.contacts.get(state.as_bytes())?.map(|b| dec("contacts", &b)).transpose()
    }

    pub fn all_contacts(&self) -> Result<Vec<SignedContactSet>, StoreError> {
        self.contacts.iter().map(|kv| dec("contacts", &kv?.1)).collect()
    }

    pub fn remove_contacts(&self, state: StateCode) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.contacts.remove(state.as_bytes())?;
        Ok(())
    }

    /// Secretariat: a submission refused, by its hash, and why.
    pub fn put_contacts_rejection(&self, hash: [u8; 32], reason: &str) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let mut key = b"contacts:".to_vec();
        key.extend_from_slice(&hash);
        self.rejections.insert(key, reason.as_bytes())?;
        Ok(())
    }

    pub fn contacts_rejection(&self, hash: [u8; 32]) -> Result<Option<String>, StoreError> {
        let mut key = b"contacts:".to_vec();
        key.extend_from_slice(&hash);
        Ok(self.rejections.get(key)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    pub fn registrations(&self) -> Result<Vec<SignedRegistration>, StoreError> {
        self.registrations.iter().map(|kv| dec("registration", &kv?.1)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_are_counted_per_state_and_day() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("open");
        let (mex, swe): (StateCode, StateCode) = ("MEX".parse().expect("MEX"), "SWE".parse().expect("SWE"));
        let day = 20_000;
        for i in 0..3 {
            store.set_last_move(mex, day * 86_400 + i * 100).expect("move");
        }
        assert_eq!(store.moves_on(mex, day).expect("count"), 3);
        assert_eq!(store.moves_on(swe, day).expect("count"), 0);
        store.set_last_move(mex, (day + 1) * 86_400).expect("next day");
        assert_eq!(store.moves_on(mex, day + 1).expect("count"), 1, "a new day starts a new count");
        assert_eq!(store.moves_on(mex, day).expect("count"), 0);
    }
}
