//! The whole store copied out while the node runs, and a new store made from
//! such a copy (`veim backup` and `veim restore`).
//!
//! A snapshot pauses the store's writes (each write method holds the gate
//! shared; the snapshot holds it alone), makes what was written durable,
//! and reads every tree: it holds all of each change or none of it, an
//! audit entry always with what it records. The pause lasts as long as the
//! copy takes to write; reads go on meanwhile.

use super::{Store, StoreError};
use std::collections::HashMap;
use std::path::Path;

/// Where a snapshot goes, one tree after the other.
pub trait SnapshotSink {
    /// A tree begins; its pairs follow.
    fn tree(&mut self, name: &[u8]) -> std::io::Result<()>;
    fn pair(&mut self, key: &[u8], value: &[u8]) -> std::io::Result<()>;
    /// Called once, while writes are still paused and after every tree:
    /// files kept beside the store are copied here so that they agree
    /// with it.
    fn paused(&mut self) -> std::io::Result<()>;
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The copy could not be written where it goes.
    #[error("cannot write the copy of the store: {0}")]
    Write(std::io::Error),
    #[error("{path} already holds a store: a store is restored only into a new folder")]
    Exists { path: String },
}

impl Store {
    /// Copies every tree into `sink` while no write runs, after making
    /// every write so far durable.
    pub fn snapshot(&self, sink: &mut impl SnapshotSink) -> Result<(), SnapshotError> {
        let _alone =
            self.gate.write().map_err(|_| StoreError::Internal("the store's write gate is poisoned".into()))?;
        self.flush_log().map_err(StoreError::from)?;
        let mut names = self.db.tree_names();
        names.sort();
        for name in names {
            let tree = self.db.open_tree(&name).map_err(StoreError::from)?;
            sink.tree(&name).map_err(SnapshotError::Write)?;
            for pair in tree.iter() {
                let (k, v) = pair.map_err(StoreError::from)?;
                sink.pair(&k, &v).map_err(SnapshotError::Write)?;
            }
        }
        sink.paused().map_err(SnapshotError::Write)
    }

    /// Starts a new store at `path` (which must not hold one) to be filled
    /// from a snapshot.
    pub fn restoring(path: &Path) -> Result<SnapshotReader, SnapshotError> {
        if path.exists() && path.read_dir().map(|mut d| d.next().is_some()).unwrap_or(true) {
            return Err(SnapshotError::Exists { path: path.display().to_string() });
        }
        let db = sled::Config::new()
            .path(path)
            .flush_every_ms(None)
            .open()
            .map_err(|e| StoreError::Open { path: path.display().to_string(), reason: e.to_string() })?;
        Ok(SnapshotReader { db, trees: HashMap::new(), current: None })
    }
}

/// A new store being filled from a snapshot, pair by pair.
#[derive(Debug)]
pub struct SnapshotReader {
    db: sled::Db,
    trees: HashMap<Vec<u8>, sled::Tree>,
    current: Option<sled::Tree>,
}

impl SnapshotReader {
    pub fn tree(&mut self, name: &[u8]) -> Result<(), StoreError> {
        let tree = match self.trees.get(name) {
            Some(t) => t.clone(),
            None => {
                let t = self.db.open_tree(name)?;
                self.trees.insert(name.to_vec(), t.clone());
                t
            }
        };
        self.current = Some(tree);
        Ok(())
    }

    pub fn pair(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let tree = self
            .current
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt { what: "store copy", reason: "a pair before any tree".into() })?;
        tree.insert(key, value)?;
        Ok(())
    }

    /// Makes the new store durable and closes it.
    pub fn finish(self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veim_protocol::audit::{Action, Actor, Event};

    #[derive(Default)]
    struct Pairs(Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>, Vec<u8>, bool);

    impl SnapshotSink for Pairs {
        fn tree(&mut self, name: &[u8]) -> std::io::Result<()> {
            self.1 = name.to_vec();
            Ok(())
        }
        fn pair(&mut self, key: &[u8], value: &[u8]) -> std::io::Result<()> {
            self.0.push((self.1.clone(), key.to_vec(), value.to_vec()));
            Ok(())
        }
        fn paused(&mut self) -> std::io::Result<()> {
            self.2 = true;
            Ok(())
        }
    }

    #[test]
    fn a_store_restored_from_its_snapshot_holds_what_it_held() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("a")).expect("open");
        for i in 0..5 {
            store.audit(&Event::new(i, Actor::Node, Action::NodeStarted)).expect("audit");
        }
        let mut copy = Pairs::default();
        store.snapshot(&mut copy).expect("snapshot");
        assert!(copy.2, "files are copied while writes are paused");
        // A write after the snapshot is not in it.
        store.audit(&Event::new(9, Actor::Node, Action::NodeStopped)).expect("audit");
        let mut restoring = Store::restoring(&dir.path().join("b")).expect("restoring");
        for (tree, k, v) in &copy.0 {
            restoring.tree(tree).expect("tree");
            restoring.pair(k, v).expect("pair");
        }
        restoring.finish().expect("finish");
        let restored = Store::open(&dir.path().join("b")).expect("reopen");
        assert_eq!(restored.audit_head().expect("head").0, 5);
        assert_eq!(restored.audit_entries(0).expect("entries"), store.audit_entries(0).expect("entries")[..5]);
        assert!(matches!(Store::restoring(&dir.path().join("b")), Err(SnapshotError::Exists { .. })));
    }

    #[test]
    fn a_snapshot_waits_for_a_write_in_progress_and_writes_wait_for_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("a")).expect("open");
        let held = store.writing().expect("gate");
        let (tx, rx) = std::sync::mpsc::channel();
        let other = store.clone();
        let snap = std::thread::spawn(move || {
            let mut copy = Pairs::default();
            other.snapshot(&mut copy).expect("snapshot");
            tx.send(()).expect("send");
        });
        assert!(rx.recv_timeout(std::time::Duration::from_millis(200)).is_err(), "the snapshot waits for the write");
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the snapshot runs once the write is done");
        snap.join().expect("join");
    }
}
