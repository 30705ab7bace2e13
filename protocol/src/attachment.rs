//! Attachments: files (an end-use certificate scan, a shipping manifest) sent
//! with a message in chunks, each encrypted and authenticated on its own.
//!
//! The sender encrypts the file once, chunk by chunk, under a fresh key that
//! travels only inside the message's sealed body, with the file's size,
//! SHA-256 and chunk size. The recipient then fetches the chunks from the
//! sender one at a time (`FetchChunk`), checks each with its tag as it comes,
//! and can stop and resume at any chunk: no side ever holds the whole file in
//! memory, and an interrupted transfer goes on from the last chunk it kept.

use crate::fixed::Bytes32;
use crate::handling::Handling;
use crate::ids::AttachmentId;
use crate::request::{MAX_SUMMARY, MAX_TEXT, check_text};
use crate::validation::ValidationErrors;
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use serde::{Deserialize, Serialize};

/// Largest attachment.
pub const MAX_ATTACHMENT: u64 = 1024 * 1024 * 1024;
/// Largest chunk (of plaintext); a sealed chunk is 16 bytes more.
pub const MAX_CHUNK: u32 = 4 * 1024 * 1024;
/// Most attachments in one message.
pub const MAX_FILES: usize = 16;
/// The authentication tag of each sealed chunk.
pub const TAG: u64 = 16;

/// One file, as the message that carries it describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub id: AttachmentId,
    /// The file's name, as the sender gave it (shown, never used as a path).
    pub name: String,
    pub size: u64,
    /// SHA-256 of the whole file.
    pub sha256: Bytes32,
    /// Plaintext bytes per chunk (the last chunk may be shorter).
    pub chunk_size: u32,
    /// The ChaCha20-Poly1305 key of the chunks.
    pub key: Bytes32,
}

impl AttachmentRef {
    /// Number of chunks (at least one, for an empty file).
    pub fn chunks(&self) -> u64 {
        self.size.div_ceil(u64::from(self.chunk_size.max(1))).max(1)
    }

    /// Plaintext length of chunk `index`.
    pub fn chunk_len(&self, index: u64) -> u64 {
        let start = index * u64::from(self.chunk_size);
        self.size.saturating_sub(start).min(u64::from(self.chunk_size))
    }

    /// Where sealed chunk `index` starts in the file of sealed chunks.
    pub fn sealed_offset(&self, index: u64) -> u64 {
        index * (u64::from(self.chunk_size) + TAG)
    }

    pub fn check(&self, path: &str, errors: &mut ValidationErrors) {
        check_text(&format!("{path}.name"), &self.name, MAX_SUMMARY, true, errors);
        if self.name.contains(['/', '\\']) {
            errors.push(format!("{path}.name"), "must be a file name, not a path");
        }
        if self.size > MAX_ATTACHMENT {
            errors.push(format!("{path}.size"), format!("{} bytes; at most {MAX_ATTACHMENT}", self.size));
        }
        if self.chunk_size == 0 || self.chunk_size > MAX_CHUNK {
            errors.push(format!("{path}.chunk_size"), format!("must be 1 to {MAX_CHUNK}"));
        }
    }
}

fn nonce(index: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    n
}

fn aad(r: &AttachmentRef, index: u64) -> Vec<u8> {
    let mut a = b"veim/1 attachment chunk\0".to_vec();
    a.extend_from_slice(&r.id.0);
    a.extend_from_slice(&index.to_be_bytes());
    a.extend_from_slice(&r.chunks().to_be_bytes());
    a
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    #[error("chunk {index} is not one of the {chunks} chunks of attachment {id}")]
    OutOfRange { id: AttachmentId, index: u64, chunks: u64 },
    #[error("chunk {index} of attachment {id} is {found} bytes where {expected} are expected")]
    Length { id: AttachmentId, index: u64, found: usize, expected: u64 },
    #[error("chunk {index} of attachment {id} does not decrypt: it was altered, or belongs elsewhere")]
    Tag { id: AttachmentId, index: u64 },
}

/// Encrypts chunk `index` (its plaintext, of `chunk_len(index)` bytes).
pub fn seal_chunk(r: &AttachmentRef, index: u64, plaintext: &[u8]) -> Result<Vec<u8>, ChunkError> {
    check_chunk(r, index, plaintext.len(), r.chunk_len(index))?;
    ChaCha20Poly1305::new(&r.key.0.into())
        .encrypt(&nonce(index).into(), Payload { msg: plaintext, aad: &aad(r, index) })
        .map_err(|_| ChunkError::Tag { id: r.id, index })
}

/// Checks and decrypts sealed chunk `index`.
pub fn open_chunk(r: &AttachmentRef, index: u64, sealed: &[u8]) -> Result<Vec<u8>, ChunkError> {
    check_chunk(r, index, sealed.len(), r.chunk_len(index) + TAG)?;
    ChaCha20Poly1305::new(&r.key.0.into())
        .decrypt(&nonce(index).into(), Payload { msg: sealed, aad: &aad(r, index) })
        .map_err(|_| ChunkError::Tag { id: r.id, index })
}

fn check_chunk(r: &AttachmentRef, index: u64, found: usize, expected: u64) -> Result<(), ChunkError> {
    if index >= r.chunks() {
        return Err(ChunkError::OutOfRange { id: r.id, index, chunks: r.chunks() });
    }
    if found as u64 != expected {
        return Err(ChunkError::Length { id: r.id, index, found, expected });
    }
    Ok(())
}

/// A message whose point is its files: a covering text, the files, and the
/// handling restrictions on all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachments {
    pub text: String,
    pub files: Vec<AttachmentRef>,
    pub handling: Handling,
}

impl Attachments {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_text("text", &self.text, MAX_TEXT, false, &mut errors);
        if self.files.is_empty() || self.files.len() > MAX_FILES {
            errors.push("files", format!("must list 1 to {MAX_FILES} files"));
        }
        for (i, f) in self.files.iter().enumerate() {
            f.check(&format!("files[{i}]"), &mut errors);
            if self.files[..i].iter().any(|o| o.id == f.id) {
                errors.push(format!("files[{i}].id"), "is listed twice");
            }
        }
        self.handling.check("handling", &mut errors);
        errors.into_result(|| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(size: u64, chunk_size: u32) -> AttachmentRef {
        AttachmentRef {
            id: AttachmentId([9; 16]),
            name: "manifest.pdf".into(),
            size,
            sha256: Bytes32([0; 32]),
            chunk_size,
            key: Bytes32([7; 32]),
        }
    }

    #[test]
    fn chunks_seal_and_open_only_in_their_place() {
        let r = reference(10, 4);
        assert_eq!((r.chunks(), r.chunk_len(0), r.chunk_len(2)), (3, 4, 2));
        let sealed = seal_chunk(&r, 1, b"abcd").expect("seal");
        assert_eq!(open_chunk(&r, 1, &sealed).expect("open"), b"abcd");
        assert!(matches!(open_chunk(&r, 0, &sealed), Err(ChunkError::Tag { .. })), "moved to another index");
        let mut other = r.clone();
        other.id = AttachmentId([8; 16]);
        assert!(open_chunk(&other, 1, &sealed).is_err(), "moved to another attachment");
        let mut flipped = sealed.clone();
        flipped[0] ^= 1;
        assert!(open_chunk(&r, 1, &flipped).is_err());
        assert!(matches!(open_chunk(&r, 2, &sealed), Err(ChunkError::Length { .. })));
        assert!(matches!(open_chunk(&r, 3, &sealed), Err(ChunkError::OutOfRange { .. })));
        assert_eq!(reference(0, 4).chunks(), 1, "an empty file is one empty chunk");
    }
}
