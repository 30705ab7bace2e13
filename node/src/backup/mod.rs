//! Backups of a running node and restores from them (`veim backup`,
//! `veim restore`).
//!
//! A backup is the whole home folder as it was at one moment: the store
//! (copied while its writes are paused, see `storage::Store::snapshot`), and
//! the files kept beside it (configuration, keys, storage key, admin token,
//! attachment files), copied during that same pause. The audit files are
//! not copied: they are a plain copy of the log in the store, which the
//! restored node writes anew at its first start. The whole is encrypted
//! with age's passphrase recipient (scrypt; <https://age-encryption.org/v1>),
//! so that `age -d` also opens it; inside is a sequence of bincode records
//! (`Item`), ending with `End`, which names the backup and where the log
//! stood. A restore writes a new home folder and leaves `restored.json` in
//! it: at its next start the node records the restore in its audit log
//! (signed with its checkpoints), so that its peers, who witnessed more of
//! the log than the backup holds, see a declared restore and not a log cut.

use crate::audit::{AUDIT_DIR, CHECKPOINTS_FILE, ENTRIES_FILE, HEAD_FILE, WITNESSED_FILE};
use crate::clock::now;
use crate::home::{RUNTIME_FILE, STORE_DIR, write_file};
use crate::storage::{SnapshotError, SnapshotSink, Store, StoreError};
use age::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::io::{BufReader, BufWriter, Read};
use std::path::{Component, Path, PathBuf};
use veim_protocol::StateCode;

/// Left in a restored home folder until the node has recorded the restore.
pub const RESTORED_FILE: &str = "restored.json";
const MAGIC: &str = "veim backup";
const FORMAT: u32 = 1;
/// The shortest passphrase accepted for a backup.
pub const MIN_PASSPHRASE: usize = 12;
/// The largest record read back: a file or a stored value.
const MAX_ITEM: usize = 1 << 30;

/// What a backup is of, and where the node's audit log stood in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// Random, hex: names this backup in the restore's audit entry.
    pub backup_id: String,
    pub made_at: i64,
    /// The node's State (none: the Secretariat's node).
    pub state: Option<StateCode>,
    pub peer_id: String,
    /// Entries in the audit log when the copy was made.
    pub audit_count: u64,
    /// Hash of the last of them, hex.
    pub audit_head: String,
    pub files: u64,
    pub records: u64,
}

/// A restored home folder's note to the node, until recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Restored {
    pub backup: BackupInfo,
    pub restored_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
enum Item {
    Header { magic: String, format: u32 },
    File { path: String, bytes: serde_bytes::ByteBuf },
    Tree { name: serde_bytes::ByteBuf },
    Pair { key: serde_bytes::ByteBuf, value: serde_bytes::ByteBuf },
    End(BackupInfo),
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error(
        "the backup passphrase is too short ({0} characters): use at least {MIN_PASSPHRASE}, and keep it apart from the backup"
    )]
    WeakPassphrase(usize),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("cannot write the backup to {path}: {reason}. Check free disk space in the node's folder")]
    Write { path: String, reason: String },
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    #[error("{0} is not empty: restore into a new folder (a running node's home is never overwritten)")]
    NotEmpty(String),
    #[error("cannot read the backup {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the passphrase is wrong for the backup {0} (or the file's header is damaged): nothing was restored")]
    WrongPassphrase(String),
    #[error("the backup {path} is damaged or not a veim backup ({reason}): nothing was restored; use another copy")]
    Corrupt { path: String, reason: String },
    #[error("cannot write the restored node to {path}: {reason}; nothing was restored")]
    Write { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] SnapshotError),
}

/// Writes an encrypted backup of the node whose store is `store` and home
/// folder `home` to `out` (a new file), while the node runs.
pub fn make(
    store: &Store,
    home: &Path,
    state: Option<StateCode>,
    peer_id: &str,
    passphrase: &str,
    out: &Path,
) -> Result<BackupInfo, BackupError> {
    let length = passphrase.chars().count();
    if length < MIN_PASSPHRASE {
        return Err(BackupError::WeakPassphrase(length));
    }
    let write_err = |e: std::io::Error| BackupError::Write { path: out.display().to_string(), reason: e.to_string() };
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(out).map_err(write_err)?;
    let encryptor = age::Encryptor::with_user_passphrase(SecretString::from(passphrase.to_owned()));
    let writer = encryptor.wrap_output(BufWriter::new(file)).map_err(write_err)?;
    let mut sink = Sink {
        writer,
        home: home.to_path_buf(),
        store: store.clone(),
        info: BackupInfo {
            backup_id: hex::encode(
                rand_core::Rng::next_u64(&mut rand_core::UnwrapErr(getrandom::SysRng)).to_be_bytes(),
            ),
            made_at: now(),
            state,
            peer_id: peer_id.to_owned(),
            audit_count: 0,
            audit_head: String::new(),
            files: 0,
            records: 0,
        },
    };
    sink.item(&Item::Header { magic: MAGIC.into(), format: FORMAT }).map_err(write_err)?;
    store.snapshot(&mut sink)?;
    let info = sink.info.clone();
    sink.item(&Item::End(info.clone())).map_err(write_err)?;
    let buffered = sink.writer.finish().map_err(write_err)?;
    let file = buffered.into_inner().map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    Ok(info)
}

struct Sink {
    writer: age::stream::StreamWriter<BufWriter<std::fs::File>>,
    home: PathBuf,
    store: Store,
    info: BackupInfo,
}

impl Sink {
    fn item(&mut self, item: &Item) -> std::io::Result<()> {
        bincode::serde::encode_into_std_write(item, &mut self.writer, config())
            .map(|_| ())
            .map_err(std::io::Error::other)
    }
}

impl SnapshotSink for Sink {
    fn tree(&mut self, name: &[u8]) -> std::io::Result<()> {
        self.item(&Item::Tree { name: name.to_vec().into() })
    }

    fn pair(&mut self, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        self.info.records += 1;
        self.item(&Item::Pair { key: key.to_vec().into(), value: value.to_vec().into() })
    }

    fn paused(&mut self) -> std::io::Result<()> {
        let (count, head) = self.store.audit_head().map_err(std::io::Error::other)?;
        self.info.audit_count = count;
        self.info.audit_head = hex::encode(head.0);
        let mut files = Vec::new();
        home_files(&self.home, Path::new(""), &mut files)?;
        for relative in files {
            let bytes = std::fs::read(self.home.join(&relative))?;
            let path = relative.to_string_lossy().into_owned();
            self.info.files += 1;
            self.item(&Item::File { path, bytes: bytes.into() })?;
        }
        Ok(())
    }
}

/// The files of a home folder a backup holds, relative to it: all but the
/// store (copied as records), what a running node writes about itself, the
/// plain-file copy of the audit log (written anew from the store), links,
/// and temporaries (names starting with a dot).
fn home_files(home: &Path, under: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(home.join(under))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let relative = under.join(&name);
        let kind = entry.file_type()?;
        let skipped = name.to_string_lossy().starts_with('.')
            || relative == Path::new(STORE_DIR)
            || relative == Path::new(RUNTIME_FILE)
            || relative == Path::new(RESTORED_FILE)
            || [ENTRIES_FILE, CHECKPOINTS_FILE, WITNESSED_FILE, HEAD_FILE]
                .iter()
                .any(|f| relative == Path::new(AUDIT_DIR).join(f));
        if skipped || kind.is_symlink() {
            continue;
        }
        if kind.is_dir() {
            home_files(home, &relative, out)?;
        } else if kind.is_file() {
            out.push(relative);
        }
    }
    Ok(())
}

/// Restores the backup `file` into the new home folder `home` (absent or
/// empty). Nothing is left in `home` when it fails.
pub fn restore(file: &Path, passphrase: &str, home: &Path) -> Result<BackupInfo, RestoreError> {
    let shown = || file.display().to_string();
    if home.exists() {
        let empty = home.read_dir().map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            return Err(RestoreError::NotEmpty(home.display().to_string()));
        }
    }
    let input = std::fs::File::open(file).map_err(|e| RestoreError::Read { path: shown(), reason: e.to_string() })?;
    let corrupt = |reason: String| RestoreError::Corrupt { path: shown(), reason };
    let decryptor = age::Decryptor::new_buffered(BufReader::new(input)).map_err(|e| match e {
        age::DecryptError::Io(e) => RestoreError::Read { path: shown(), reason: e.to_string() },
        other => corrupt(other.to_string()),
    })?;
    if !decryptor.is_scrypt() {
        return Err(corrupt("it is not encrypted with a passphrase".into()));
    }
    let identity = age::scrypt::Identity::new(SecretString::from(passphrase.to_owned()));
    let reader = decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|e| match e {
        age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
            RestoreError::WrongPassphrase(shown())
        }
        other => corrupt(other.to_string()),
    })?;
    let existed = home.exists();
    let result = write_home(BufReader::new(reader), home, &corrupt);
    if result.is_err() {
        // Leave the folder as it was found: absent, or empty.
        if existed {
            if let Ok(entries) = std::fs::read_dir(home) {
                for e in entries.flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(home);
        }
    }
    result
}

fn write_home(
    mut reader: impl Read,
    home: &Path,
    corrupt: &dyn Fn(String) -> RestoreError,
) -> Result<BackupInfo, RestoreError> {
    let write_err = |path: &Path, e: &dyn std::fmt::Display| RestoreError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let limited = config().with_limit::<MAX_ITEM>();
    let mut next = || -> Result<Item, RestoreError> {
        bincode::serde::decode_from_std_read::<Item, _, _>(&mut reader, limited).map_err(|e| corrupt(e.to_string()))
    };
    match next()? {
        Item::Header { magic, format } if magic == MAGIC && format == FORMAT => {}
        Item::Header { magic, format } if magic == MAGIC => {
            return Err(corrupt(format!(
                "it is in backup format {format}, which this version of veim (format {FORMAT}) does not know: restore it with the veim release that made it, or a newer one"
            )));
        }
        _ => return Err(corrupt("it does not start as a veim backup does".into())),
    }
    std::fs::create_dir_all(home).map_err(|e| write_err(home, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700)).map_err(|e| write_err(home, &e))?;
    }
    let mut store = Store::restoring(&home.join(STORE_DIR))?;
    let (mut files, mut records) = (0u64, 0u64);
    let info = loop {
        match next()? {
            Item::Header { .. } => return Err(corrupt("a second header".into())),
            Item::File { path, bytes } => {
                let relative = Path::new(&path);
                let plain = relative.components().all(|c| matches!(c, Component::Normal(_)));
                if !plain || relative.as_os_str().is_empty() {
                    return Err(corrupt(format!("it names a file outside the home folder: {path}")));
                }
                let target = home.join(relative);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| write_err(parent, &e))?;
                }
                write_file(&target, &bytes, true).map_err(|e| write_err(&target, &e))?;
                files += 1;
            }
            Item::Tree { name } => store.tree(&name).map_err(|e| store_err(home, e))?,
            Item::Pair { key, value } => {
                store.pair(&key, &value).map_err(|e| store_err(home, e))?;
                records += 1;
            }
            Item::End(info) => break info,
        }
    };
    if info.files != files || info.records != records {
        return Err(corrupt(format!(
            "it announces {} files and {} records, and holds {files} and {records}",
            info.files, info.records
        )));
    }
    store.finish().map_err(|e| store_err(home, e))?;
    let note = Restored { backup: info.clone(), restored_at: now() };
    let text = serde_json::to_vec_pretty(&note).map_err(|e| write_err(home, &e))?;
    write_file(&home.join(RESTORED_FILE), &text, false).map_err(|e| write_err(&home.join(RESTORED_FILE), &e))?;
    Ok(info)
}

fn store_err(home: &Path, e: StoreError) -> RestoreError {
    RestoreError::Write { path: home.join(STORE_DIR).display().to_string(), reason: e.to_string() }
}

/// The restore note a restored home folder holds, if its node has not yet
/// recorded the restore.
pub fn restored(home: &Path) -> Result<Option<Restored>, StoreError> {
    let path = home.join(RESTORED_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt { what: "restore note", reason: format!("{}: {e}", path.display()) }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::File { path: path.display().to_string(), reason: e.to_string() }),
    }
}
