//! The node's key files: creation with owner-only permissions, loading with a
//! check that nobody else can read them, and the libp2p identity derived from
//! the same Ed25519 key (so a transport peer and an application sender are one
//! identity).

use crate::home::{ENCRYPTION_KEY_FILE, FIRST_TOKEN_FILE, IDENTITY_KEY_FILE, KEYS_DIR, NEXT_KEYS_FILE, write_file};
use libp2p::PeerId;
use libp2p::identity::Keypair;
use std::fs;
use std::path::{Path, PathBuf};
use veim_protocol::keys::PublicIdentity;
use veim_protocol::{EncryptionKeypair, IdentityKeypair};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    #[error(
        "key file {path} is missing: {source}. Without it this node cannot sign or decrypt; restore it from your backup, or create a new node with `veim init` and have the Secretariat approve it again"
    )]
    Missing { path: PathBuf, source: std::io::Error },
    #[error("key file {path} is damaged: {reason}. Restore it from your backup")]
    Damaged { path: PathBuf, reason: String },
    #[error("key file {path} can be read by other users (mode {mode:o}); run `chmod 600 {path}` and start again")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path} already exists: this folder already holds keys; choose another --home")]
    Exists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// A node's keys, loaded.
#[derive(Debug)]
pub struct NodeKeys {
    pub identity: IdentityKeypair,
    pub encryption: EncryptionKeypair,
}

impl NodeKeys {
    /// Creates and writes fresh keys, and the first account's token, under `home`.
    pub fn create(home: &Path) -> Result<NodeKeys, KeyFileError> {
        let dir = home.join(KEYS_DIR);
        let id_path = home.join(IDENTITY_KEY_FILE);
        if id_path.exists() {
            return Err(KeyFileError::Exists { path: id_path });
        }
        fs::create_dir_all(&dir).map_err(|source| KeyFileError::Write { path: dir.clone(), source })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|source| KeyFileError::Write { path: dir.clone(), source })?;
        }
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let identity = IdentityKeypair::generate(&mut rng);
        let encryption = EncryptionKeypair::generate(&mut rng);
        write_secret(&id_path, &identity.secret_bytes())?;
        write_secret(&home.join(ENCRYPTION_KEY_FILE), &encryption.secret_bytes())?;
        let mut token = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut rng, &mut token);
        let path = home.join(FIRST_TOKEN_FILE);
        crate::home::write_token(&path, &hex::encode(token)).map_err(|source| KeyFileError::Write { path, source })?;
        Ok(NodeKeys { identity, encryption })
    }

    pub fn load(home: &Path) -> Result<NodeKeys, KeyFileError> {
        let identity = IdentityKeypair::from_secret_bytes(&read_secret(&home.join(IDENTITY_KEY_FILE))?);
        // A promotion cut short after the identity file was replaced is
        // finished first, so the two keys always belong together.
        if let Some(next) = Self::load_next(home)?
            && next.identity.public() == identity.public()
        {
            Self::promote_next(home)?;
        }
        let encryption = EncryptionKeypair::from_secret_bytes(&read_secret(&home.join(ENCRYPTION_KEY_FILE))?);
        Ok(NodeKeys { identity, encryption })
    }

    /// The keys a rotation will move to, if one was started.
    pub fn load_next(home: &Path) -> Result<Option<NodeKeys>, KeyFileError> {
        let path = home.join(NEXT_KEYS_FILE);
        if !path.exists() {
            return Ok(None);
        }
        check_private(&path)?;
        let text = fs::read_to_string(&path).map_err(|source| KeyFileError::Missing { path: path.clone(), source })?;
        let mut lines = text.lines().map(|l| parse_secret(&path, l));
        match (lines.next(), lines.next()) {
            (Some(identity), Some(encryption)) => Ok(Some(NodeKeys {
                identity: IdentityKeypair::from_secret_bytes(&identity?),
                encryption: EncryptionKeypair::from_secret_bytes(&encryption?),
            })),
            _ => Err(KeyFileError::Damaged { path, reason: "two keys expected, one per line".into() }),
        }
    }

    /// Makes (or returns, if a rotation is already under way) the next keys.
    pub fn create_next(home: &Path) -> Result<NodeKeys, KeyFileError> {
        if let Some(next) = Self::load_next(home)? {
            return Ok(next);
        }
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let identity = IdentityKeypair::generate(&mut rng);
        let encryption = EncryptionKeypair::generate(&mut rng);
        let path = home.join(NEXT_KEYS_FILE);
        let text = format!("{}\n{}\n", hex::encode(identity.secret_bytes()), hex::encode(encryption.secret_bytes()));
        write_file(&path, text.as_bytes(), true).map_err(|source| KeyFileError::Write { path, source })?;
        Ok(NodeKeys { identity, encryption })
    }

    /// Makes the next keys the node's keys: identity first, then encryption,
    /// each replaced atomically, then the next-keys file removed. A crash in
    /// between is finished by `load`.
    pub fn promote_next(home: &Path) -> Result<(), KeyFileError> {
        let Some(next) = Self::load_next(home)? else { return Ok(()) };
        write_secret(&home.join(IDENTITY_KEY_FILE), &next.identity.secret_bytes())?;
        write_secret(&home.join(ENCRYPTION_KEY_FILE), &next.encryption.secret_bytes())?;
        let path = home.join(NEXT_KEYS_FILE);
        fs::remove_file(&path).map_err(|source| KeyFileError::Write { path, source })?;
        if let Ok(dir) = fs::File::open(home.join(KEYS_DIR)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Abandons a rotation that cannot complete.
    pub fn drop_next(home: &Path) -> Result<(), KeyFileError> {
        let path = home.join(NEXT_KEYS_FILE);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(KeyFileError::Write { path, source }),
        }
    }

    /// The libp2p keypair: the same Ed25519 secret as the identity key.
    pub fn libp2p_keypair(&self) -> Keypair {
        // Cannot fail: any 32 bytes are a valid Ed25519 secret.
        Keypair::ed25519_from_bytes(self.identity.secret_bytes()).expect("32-byte Ed25519 secret")
    }

    pub fn peer_id(&self) -> PeerId {
        self.libp2p_keypair().public().to_peer_id()
    }
}

/// The PeerId of the node holding this identity key.
pub fn peer_id_of(key: &PublicIdentity) -> Option<PeerId> {
    let public = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0).ok()?;
    Some(libp2p::identity::PublicKey::from(public).to_peer_id())
}

/// The identity key a PeerId carries: a PeerId of an Ed25519 key holds the
/// key itself (an identity multihash), so a node that answers with another
/// key than expected can be named by its fingerprint.
pub fn identity_of(peer: &PeerId) -> Option<PublicIdentity> {
    let hash: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if hash.code() != 0 {
        return None;
    }
    let key = libp2p::identity::PublicKey::try_decode_protobuf(hash.digest()).ok()?;
    Some(PublicIdentity(key.try_into_ed25519().ok()?.to_bytes()))
}

/// How an operator reads the key behind `peer`: its fingerprint, or the
/// PeerId itself when it holds no Ed25519 key (no veim node's).
pub fn fingerprint_of(peer: &PeerId) -> String {
    match identity_of(peer) {
        Some(key) => key.fingerprint(),
        None => format!("(not a veim key: peer id {peer})"),
    }
}

fn write_secret(path: &Path, bytes: &[u8; 32]) -> Result<(), KeyFileError> {
    write_file(path, format!("{}\n", hex::encode(bytes)).as_bytes(), true)
        .map_err(|source| KeyFileError::Write { path: path.to_path_buf(), source })
}

pub(crate) fn check_private(path: &Path) -> Result<(), KeyFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .map_err(|source| KeyFileError::Missing { path: path.to_path_buf(), source })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::TooOpen { path: path.to_path_buf(), mode });
        }
    }
    Ok(())
}

fn parse_secret(path: &Path, text: &str) -> Result<[u8; 32], KeyFileError> {
    let bytes = hex::decode(text.trim())
        .map_err(|_| KeyFileError::Damaged { path: path.to_path_buf(), reason: "not hexadecimal".into() })?;
    bytes.try_into().map_err(|_| KeyFileError::Damaged { path: path.to_path_buf(), reason: "not 32 bytes".into() })
}

fn read_secret(path: &Path) -> Result<[u8; 32], KeyFileError> {
    let text = fs::read_to_string(path).map_err(|source| KeyFileError::Missing { path: path.to_path_buf(), source })?;
    check_private(path)?;
    parse_secret(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_id_names_the_key_it_was_made_from() {
        let key = IdentityKeypair::generate(&mut rand_core::UnwrapErr(getrandom::SysRng)).public();
        let peer = peer_id_of(&key).expect("a peer id");
        assert_eq!(identity_of(&peer), Some(key));
        assert_eq!(fingerprint_of(&peer), key.fingerprint());
        let other = Keypair::generate_ed25519().public().to_peer_id();
        assert_ne!(fingerprint_of(&other), key.fingerprint());
        assert!(fingerprint_of(&PeerId::random()).contains("not a veim key"));
    }

    #[test]
    fn a_promotion_cut_short_is_finished_with_both_keys_together() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path();
        let old = NodeKeys::create(home).expect("keys");
        let next = NodeKeys::create_next(home).expect("next keys");
        assert_eq!(
            NodeKeys::create_next(home).expect("again").identity.public(),
            next.identity.public(),
            "one rotation at a time"
        );
        // A crash after the identity file was replaced, before the encryption file.
        write_secret(&home.join(IDENTITY_KEY_FILE), &next.identity.secret_bytes()).expect("write");
        let loaded = NodeKeys::load(home).expect("load");
        assert_eq!(loaded.identity.public(), next.identity.public());
        assert_eq!(loaded.encryption.public(), next.encryption.public(), "the encryption key follows its identity");
        assert!(NodeKeys::load_next(home).expect("read").is_none(), "the rotation is complete");
        assert_ne!(loaded.identity.public(), old.identity.public());
    }

    #[test]
    fn a_pending_rotation_leaves_the_current_keys_in_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path();
        let old = NodeKeys::create(home).expect("keys");
        NodeKeys::create_next(home).expect("next keys");
        let loaded = NodeKeys::load(home).expect("load");
        assert_eq!(loaded.identity.public(), old.identity.public());
        assert_eq!(loaded.encryption.public(), old.encryption.public());
        NodeKeys::drop_next(home).expect("drop");
        assert!(NodeKeys::load_next(home).expect("read").is_none());
    }

    #[test]
    #[cfg(unix)]
    fn a_key_file_others_can_read_is_refused_naming_the_file_and_the_mend() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path();
        NodeKeys::create(home).expect("keys");
        for file in [IDENTITY_KEY_FILE, ENCRYPTION_KEY_FILE] {
            let path = home.join(file);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).expect("chmod");
            let refused = NodeKeys::load(home).expect_err("a key others can read");
            assert!(matches!(refused, KeyFileError::TooOpen { mode: 0o604, .. }), "{refused:?}");
            let said = refused.to_string();
            assert!(said.contains(&path.display().to_string()) && said.contains("chmod 600"), "{said}");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        NodeKeys::load(home).expect("owner-only again");
    }
}
