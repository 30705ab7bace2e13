//! The Merkle tree of an audit log, as RFC 9162 (Certificate Transparency
//! 2.0, section 2.1) defines it, over the hashes of the log's entries: a
//! signed tree head commits to a log's first `n` entries, and a consistency
//! proof of a few hashes shows that the log at `n` extends the log at `m`
//! without revealing any entry. That is what lets a node that holds a peer's
//! tree head check, on arrival, that a newer one does not rewrite what the
//! older one covered.
//!
//! Leaf hash: `SHA-256(0x00 || entry hash)`; interior node:
//! `SHA-256(0x01 || left || right)`; the tree of no leaves: `SHA-256("")`.

use crate::Bytes32;
use sha2::{Digest, Sha256};

/// Most hashes a consistency proof is allowed to hold: about 2·log2(n) for a
/// tree of `n` entries, so well above what any log reaches.
pub const MAX_PROOF: usize = 128;

/// The leaf hash of an entry whose hash is `entry`.
pub fn leaf(entry: &Bytes32) -> Bytes32 {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry.0);
    Bytes32(h.finalize().into())
}

fn node(left: &Bytes32, right: &Bytes32) -> Bytes32 {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Bytes32(h.finalize().into())
}

/// The largest power of two below `n` (`n` at least 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// An append-only tree, held in memory: every complete subtree's hash, level
/// by level (64 bytes per entry in all), so that any root and any
/// consistency proof takes a few lookups. A [`PrunedTree`] that forgets
/// nothing.
#[derive(Debug, Clone)]
pub struct Tree(PrunedTree);

impl Default for Tree {
    fn default() -> Tree {
        Tree(PrunedTree::new(0))
    }
}

/// The reader of a tree that forgets nothing: never asked.
fn nothing_forgotten(_: u64, _: &mut [Bytes32]) -> Result<(), std::convert::Infallible> {
    Ok(())
}

impl Tree {
    /// The tree of the entries whose hashes are `entries`, in order.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a Bytes32>) -> Tree {
        let mut tree = Tree::default();
        for e in entries {
            tree.push(e);
        }
        tree
    }

    /// Entries in the tree.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends the entry whose hash is `entry`.
    pub fn push(&mut self, entry: &Bytes32) {
        self.0.push(entry);
    }

    /// The root of the tree of the first `size` entries (at most `len()`).
    pub fn root(&self, size: u64) -> Option<Bytes32> {
        let Ok(root) = self.0.root(size, nothing_forgotten);
        root
    }

    /// The proof that the tree of the first `new` entries extends the tree of
    /// the first `old` (RFC 9162 2.1.4.1). `None` unless
    /// `0 < old <= new <= len()`.
    pub fn consistency(&self, old: u64, new: u64) -> Option<Vec<Bytes32>> {
        let Ok(proof) = self.0.consistency(old, new, nothing_forgotten);
        proof
    }
}

/// The hash of leaves `start .. start + n`, where the range lies within the
/// tree and `start` is a multiple of the largest power of two not above `n`
/// (as every range RFC 9162's algorithms ask for is); `subtree(start, k)`
/// gives the hash of the complete subtree of `2^k` leaves from `start`.
fn range_of<E>(start: u64, n: u64, subtree: &mut impl FnMut(u64, u32) -> Result<Bytes32, E>) -> Result<Bytes32, E> {
    if n.is_power_of_two() {
        return subtree(start, n.trailing_zeros());
    }
    let k = split(n);
    Ok(node(&range_of(start, k, subtree)?, &range_of(start + k, n - k, subtree)?))
}

/// RFC 9162's SUBPROOF(m, D[start:start + n], whole), appended to `proof`.
fn subproof<E>(
    m: u64,
    start: u64,
    n: u64,
    whole: bool,
    proof: &mut Vec<Bytes32>,
    subtree: &mut impl FnMut(u64, u32) -> Result<Bytes32, E>,
) -> Result<(), E> {
    if m == n {
        if !whole {
            proof.push(range_of(start, n, subtree)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(m, start, k, whole, proof, subtree)?;
        proof.push(range_of(start + k, n - k, subtree)?);
    } else {
        subproof(m - k, start + k, n - k, false, proof, subtree)?;
        proof.push(range_of(start, k, subtree)?);
    }
    Ok(())
}

/// An append-only tree that holds only a small part of itself in memory: the
/// hashes of its complete subtrees of `2^floor` leaves and more (two
/// hashes per `2^floor` entries), and every hash of the leaves after the
/// last of those subtrees. A root or a proof that needs a smaller subtree
/// of the earlier entries reads that subtree's entries again, through the
/// caller's `entries(start, out)`, which fills `out` with the hashes of the
/// entries from `start` on: at most `2^floor` entries per subtree, and at
/// most two such subtrees per level below `floor` for a proof. A root of
/// the whole tree reads none.
#[derive(Debug, Clone)]
pub struct PrunedTree {
    floor: u32,
    len: u64,
    /// The leaves before `base` are covered by the subtrees of level
    /// `floor` and above; the levels below it hold the rest only.
    base: u64,
    /// `levels[k][i]`: the hash of leaves `i·2^k .. (i+1)·2^k`, for `k` at
    /// least `floor`; below, of leaves `base + i·2^k ..`.
    levels: Vec<Vec<Bytes32>>,
}

impl PrunedTree {
    /// An empty tree that forgets its subtrees below `2^floor` leaves once
    /// they are complete (`floor` at most 16).
    pub fn new(floor: u32) -> PrunedTree {
        PrunedTree { floor: floor.min(16), len: 0, base: 0, levels: Vec::new() }
    }

    /// Entries in the tree.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hashes held in memory.
    pub fn held(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Appends the entry whose hash is `entry`.
    pub fn push(&mut self, entry: &Bytes32) {
        self.push_leaf(leaf(entry));
    }

    /// Appends a leaf whose hash is already made: RFC 9162's leaves may be
    /// of any length, and the published test data are hashed so. Each pair
    /// of subtrees it completes is joined one level up; below `floor` a row
    /// starts at `base`, a multiple of `2^floor`, so its parity is the
    /// absolute one.
    fn push_leaf(&mut self, mut hash: Bytes32) {
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
            let row = &self.levels[level];
            if row.len() % 2 == 1 {
                break;
            }
            hash = node(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
        self.len += 1;
        let floor = self.floor as usize;
        if floor > 0 && level >= floor {
            // A subtree of `2^floor` leaves is complete: what it covers
            // below its level is no longer held.
            for row in &mut self.levels[..floor] {
                row.clear();
            }
            self.base = self.len;
        }
    }

    /// The hash of the complete subtree of `2^level` leaves from `start`.
    fn subtree<E>(
        &self,
        start: u64,
        level: u32,
        entries: &mut impl FnMut(u64, &mut [Bytes32]) -> Result<(), E>,
    ) -> Result<Bytes32, E> {
        if level >= self.floor {
            return Ok(self.levels[level as usize][(start >> level) as usize]);
        }
        if start >= self.base {
            return Ok(self.levels[level as usize][((start - self.base) >> level) as usize]);
        }
        let mut row = vec![Bytes32([0; 32]); 1 << level];
        entries(start, &mut row)?;
        for hash in &mut row {
            *hash = leaf(hash);
        }
        while row.len() > 1 {
            row = row.chunks(2).map(|pair| node(&pair[0], &pair[1])).collect();
        }
        Ok(row[0])
    }

    /// The root of the tree of the first `size` entries (at most `len()`);
    /// `entries` reads the entries of a forgotten subtree.
    pub fn root<E>(
        &self,
        size: u64,
        mut entries: impl FnMut(u64, &mut [Bytes32]) -> Result<(), E>,
    ) -> Result<Option<Bytes32>, E> {
        match size {
            0 => Ok(Some(Bytes32(Sha256::digest([]).into()))),
            n if n <= self.len => {
                Ok(Some(range_of(0, n, &mut |start, level| self.subtree(start, level, &mut entries))?))
            }
            _ => Ok(None),
        }
    }

    /// The proof that the tree of the first `new` entries extends the tree
    /// of the first `old` ([`Tree::consistency`]); `entries` reads the
    /// entries of a forgotten subtree.
    pub fn consistency<E>(
        &self,
        old: u64,
        new: u64,
        mut entries: impl FnMut(u64, &mut [Bytes32]) -> Result<(), E>,
    ) -> Result<Option<Vec<Bytes32>>, E> {
        if old == 0 || old > new || new > self.len {
            return Ok(None);
        }
        let mut proof = Vec::new();
        subproof(old, 0, new, true, &mut proof, &mut |start, level| self.subtree(start, level, &mut entries))?;
        Ok(Some(proof))
    }
}

/// Checks a consistency proof (RFC 9162 2.1.4.2): that the tree of `new`
/// entries with root `new_root` extends the tree of `old` entries with root
/// `old_root`.
pub fn verify_consistency(old: u64, new: u64, old_root: &Bytes32, new_root: &Bytes32, proof: &[Bytes32]) -> bool {
    if old == 0 || old > new || proof.len() > MAX_PROOF {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    let mut path: Vec<Bytes32> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else { return false };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node(c, &fr);
            sr = node(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: u64) -> Vec<Bytes32> {
        (0..n).map(|i| Bytes32(Sha256::digest(i.to_be_bytes()).into())).collect()
    }

    /// RFC 9162's MTH, written as the RFC states it, to check the tree against.
    fn mth(leaves: &[Bytes32]) -> Bytes32 {
        match leaves.len() {
            0 => Bytes32(Sha256::digest([]).into()),
            1 => leaf(&leaves[0]),
            n => {
                let k = split(n as u64) as usize;
                node(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_are_rfc_9162_tree_hashes() {
        let all = entries(70);
        let tree = Tree::from_entries(&all);
        for n in 0..=70 {
            assert_eq!(tree.root(n), Some(mth(&all[..n as usize])), "size {n}");
        }
        assert_eq!(tree.root(71), None);
        // The empty tree is SHA-256 of nothing.
        assert_eq!(
            hex::encode(tree.root(0).expect("empty").0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// RFC 6962's leaf hash of any data: `SHA-256(0x00 || data)`.
    fn rfc6962_leaf(data: &[u8]) -> Bytes32 {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(data);
        Bytes32(h.finalize().into())
    }

    fn hash(hex: &str) -> Bytes32 {
        Bytes32(hex::decode(hex).expect("hex").try_into().expect("32 bytes"))
    }

    /// The known answers of the Certificate Transparency reference
    /// implementation: google/certificate-transparency (commit 0e901cac),
    /// `cpp/merkletree/merkle_tree_test.cc` (`kInputs`, `kSHA256Roots`,
    /// `kSHA256Proofs`, `kSHA256EmptyTreeHash`), copied as published.
    #[test]
    fn roots_and_proofs_match_the_certificate_transparency_test_data() {
        const INPUTS: [&str; 8] =
            ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
        // The root of the tree of the first 1, 2, … 8 inputs.
        const ROOTS: [&str; 8] = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        // (old size, new size, proof)
        const PROOFS: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

        // The crate's leaf is RFC 6962's, over the 32 bytes of an entry hash.
        let entry = Bytes32(Sha256::digest(b"entry").into());
        assert_eq!(leaf(&entry), rfc6962_leaf(&entry.0));

        let mut tree = Tree::default();
        assert_eq!(tree.root(0), Some(hash(EMPTY)));
        for (input, root) in INPUTS.iter().zip(ROOTS) {
            tree.0.push_leaf(rfc6962_leaf(&hex::decode(input).expect("hex")));
            assert_eq!(tree.root(tree.len()), Some(hash(root)), "size {}", tree.len());
        }
        for (n, root) in (1..=8).zip(ROOTS) {
            assert_eq!(tree.root(n), Some(hash(root)), "size {n} of the tree of 8");
        }
        for (old, new, published) in PROOFS {
            let published: Vec<Bytes32> = published.iter().map(|h| hash(h)).collect();
            assert_eq!(tree.consistency(old, new), Some(published.clone()), "{old}->{new}");
            let (old_root, new_root) = (hash(ROOTS[old as usize - 1]), hash(ROOTS[new as usize - 1]));
            assert!(verify_consistency(old, new, &old_root, &new_root, &published), "{old}->{new}");
            for i in 0..published.len() {
                let mut bad = published.clone();
                bad[i].0[31] ^= 0x80;
                assert!(!verify_consistency(old, new, &old_root, &new_root, &bad), "{old}->{new} #{i}");
            }
            if old < new {
                assert!(!verify_consistency(old, new, &new_root, &old_root, &published), "{old}->{new} swapped");
            }
        }
    }

    #[test]
    fn a_pruned_tree_gives_the_whole_trees_roots_and_proofs_holding_a_small_part_of_it() {
        let all = entries(300);
        for floor in [0u32, 1, 3, 5] {
            let block = 1u64 << floor;
            // The reader of the entries of a forgotten subtree: one subtree
            // below the floor at a time, and never for a tree that forgets none.
            let read = |start: u64, out: &mut [Bytes32]| -> Result<(), &'static str> {
                assert!(floor > 0 && out.len() as u64 <= block / 2, "floor {floor}: {} entries read", out.len());
                let from = start as usize;
                let Some(those) = all.get(from..from + out.len()) else { return Err("past the log") };
                out.copy_from_slice(those);
                Ok(())
            };
            let refuse = |_: u64, _: &mut [Bytes32]| -> Result<(), &'static str> { Err("read") };
            let mut pruned = PrunedTree::new(floor);
            for (i, e) in all.iter().enumerate() {
                pruned.push(e);
                let len = i as u64 + 1;
                assert_eq!(pruned.len(), len);
                let most = 2 * len / block + 2 * block + 2 * 9;
                assert!(pruned.held() as u64 <= most, "floor {floor}, {len} entries: {} hashes held", pruned.held());
                // At lengths on, just before and just after a multiple of
                // the subtrees forgotten, and a few others: every root and
                // a spread of proofs, as the whole tree gives them.
                if ![1, 2, 31, 32, 33, 255, 256, 257, 287, 288, 289, 300].contains(&len) && !len.is_multiple_of(37) {
                    continue;
                }
                let full = Tree::from_entries(&all[..i + 1]);
                // The root of the whole tree, what each checkpoint asks for, reads no entry.
                assert_eq!(pruned.root(len, refuse), Ok(full.root(len)), "floor {floor}, root of all {len}");
                for size in 0..=len {
                    assert_eq!(pruned.root(size, read), Ok(full.root(size)), "floor {floor}, {len}: root of {size}");
                }
                for new in (1..=len).rev().step_by(13).chain([len / 2 + 1]) {
                    for old in (1..=new).step_by(7).chain([new - 1, new].into_iter().filter(|&o| o > 0)) {
                        assert_eq!(
                            pruned.consistency(old, new, read),
                            Ok(full.consistency(old, new)),
                            "floor {floor}, {len}: {old}->{new}"
                        );
                    }
                }
                assert_eq!(pruned.root(len + 1, read), Ok(None));
                assert_eq!(pruned.consistency(1, len + 1, read), Ok(None));
            }
            // A reader's failure is the caller's.
            if floor > 1 {
                assert_eq!(pruned.consistency(3, 300, refuse), Err("read"));
            }
        }
    }

    #[test]
    fn every_extension_is_proven_and_no_rewrite_is() {
        let all = entries(40);
        let tree = Tree::from_entries(&all);
        for new in 1..=40u64 {
            let new_root = tree.root(new).expect("root");
            for old in 1..=new {
                let old_root = tree.root(old).expect("root");
                let proof = tree.consistency(old, new).expect("proof");
                assert!(proof.len() <= 2 * 6, "{old}->{new}: {} hashes", proof.len());
                assert!(verify_consistency(old, new, &old_root, &new_root, &proof), "{old}->{new}");
                // Any hash of the proof changed: refused.
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i].0[0] ^= 1;
                    assert!(!verify_consistency(old, new, &old_root, &new_root, &bad), "{old}->{new} #{i}");
                }
                // A log rewritten within the first `old` entries: refused.
                let mut rewritten = all[..new as usize].to_vec();
                rewritten[(old - 1) as usize].0[5] ^= 1;
                let other = Tree::from_entries(&rewritten);
                let other_root = other.root(new).expect("root");
                let other_proof = other.consistency(old, new).expect("proof");
                assert!(!verify_consistency(old, new, &old_root, &other_root, &other_proof), "{old}->{new}");
                // The old root of another size: refused.
                if old < new {
                    let wrong = tree.root(old + 1).expect("root");
                    assert!(!verify_consistency(old, new, &wrong, &new_root, &proof), "{old}->{new}");
                }
            }
        }
        assert_eq!(tree.consistency(0, 3), None);
        assert_eq!(tree.consistency(4, 3), None);
        assert_eq!(tree.consistency(3, 41), None);
    }
}
