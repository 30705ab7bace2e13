//! The auditor's side of the audit log: reading a node's audit files (or an
//! export) with no node running, verifying, filtering and exporting them.
//! The verification and the filters are the node's own
//! (`veim_node::audit::verify`), which its admin API uses too.

use std::path::Path;
pub use veim_node::audit::verify::{
    CLOCK_SLACK_SECS, ClockWentBack, Filter, HeldCheckpoints, LogError, Verified, Witnessed, check_covered,
    clock_went_back, uncovered, verify,
};
use veim_node::audit::{LogFiles, ReadError};
use veim_protocol::StateCode;
use veim_protocol::audit::SignedCheckpoint;

/// The checkpoints of `node`'s log that the node at `home` holds, oldest first.
pub fn witness(home: &Path, holder: Option<StateCode>, node: Option<StateCode>) -> Result<HeldCheckpoints, LogError> {
    let log = LogFiles::read_home(home)?;
    let mut checkpoints: Vec<SignedCheckpoint> =
        log.witnessed.into_iter().filter(|c| c.checkpoint.node == node).collect();
    checkpoints.sort_by_key(|c| c.checkpoint.count);
    let tree_head = log.witnessed_trees.into_iter().find(|t| t.head.node == node);
    Ok(HeldCheckpoints { holder, checkpoints, tree_head })
}

/// Reads the log of the node at `home`, or of an export.
pub fn read(home: &Path, export: Option<&Path>) -> Result<LogFiles, LogError> {
    match export {
        Some(file) => {
            let mut log = LogFiles::default();
            log.read_file(file)?;
            if log.entries.is_empty() && log.header.is_none() {
                return Err(ReadError::Empty(file.display().to_string()).into());
            }
            Ok(log)
        }
        None => Ok(LogFiles::read_home(home)?),
    }
}
