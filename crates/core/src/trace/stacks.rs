//! Unique stacks as a trie of (parent, return address) nodes, outermost frame at the root,
//! so stacks that share their outer frames (all of a program's stacks share `main` and what
//! calls it) store them once. A stack's id is the id of its innermost node, stable for the
//! life of the process; a stack cut at the depth limit ends in a node whose address is 0.
//!
//! Nodes live in chunks of the pool, found through a directory of chunk offsets; the index
//! from (parent, address) to node is a `Levels` hash table. Writers only compare-and-swap:
//! two threads adding the same node at once may both add it (a stack then has two ids,
//! which readers merge by their frames).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::backing::{Backing, Bytes};
use super::levels::{probes, Levels};
use super::pool::{Pool, CHUNK};

/// One node: a frame, the stack it extends, and the traced allocations of the stack that
/// ends here.
#[repr(C)]
struct Node {
    /// Return address (0: the stack was cut here at the depth limit).
    ret: AtomicU64,
    /// The node of the next frame out (0: the root, the empty stack).
    parent: AtomicU32,
    /// Frames from the root, written last with Release: 0 while the node is not written.
    depth: AtomicU32,
    /// Traced allocations with exactly this stack.
    allocs: AtomicU64,
    /// Their bytes.
    bytes: AtomicU64,
}

const NODE_BYTES: u64 = core::mem::size_of::<Node>() as u64;

/// What readers rely on here, for `tables::TRACE_LAYOUT`: the node's and the header's
/// sizes and fields.
pub(super) const LAYOUT: [usize; 12] = {
    use core::mem::{offset_of, size_of};
    [
        size_of::<Node>(),
        offset_of!(Node, ret),
        offset_of!(Node, parent),
        offset_of!(Node, depth),
        offset_of!(Node, allocs),
        offset_of!(Node, bytes),
        size_of::<StackTrie>(),
        offset_of!(StackTrie, nodes),
        offset_of!(StackTrie, chunks),
        offset_of!(StackTrie, index),
        offset_of!(StackTrie, dropped),
        FIRST_SLOTS as usize,
    ]
};
const NODES_PER_CHUNK: u64 = CHUNK / NODE_BYTES;
/// Chunks of nodes at most: 2^26 nodes (2 GiB), past any budget.
const NODE_CHUNKS: usize = 1 << 15;
/// Index slots in the first level (64 KiB).
const FIRST_SLOTS: u64 = CHUNK / 8;

/// The address that marks a stack cut at the depth limit.
const CUT: u64 = 0;

/// Frames a path remembers: the deepest stack and its cut mark.
const PATH_FRAMES: usize = super::control::MAX_DEPTH + 1;

/// The path through the trie of the stack a thread interned last, outermost frame first:
/// the next stack mostly shares its outer frames (the program's `main`, its loop, the
/// library's entry), and those nodes are taken from here rather than looked up in the index
/// again (each lookup a probe of tables far larger than the caches: on tsc, a sixth of a
/// traced run). A node's id never changes, so a remembered path stays right.
/// All zeros is the empty path.
pub struct TriePath {
    /// Frames remembered.
    len: usize,
    rets: [u64; PATH_FRAMES],
    nodes: [u32; PATH_FRAMES],
}

impl TriePath {
    /// A path that remembers nothing.
    pub const fn new() -> Self {
        TriePath {
            len: 0,
            rets: [0; PATH_FRAMES],
            nodes: [0; PATH_FRAMES],
        }
    }
}

impl Default for TriePath {
    fn default() -> Self {
        Self::new()
    }
}

/// The stack trie's part of the tables header.
#[repr(C)]
pub struct StackTrie {
    /// Nodes handed out, the root (id 0) included.
    nodes: AtomicU32,
    _pad: u32,
    /// Offset of each chunk of nodes; 0 until taken.
    chunks: [AtomicU64; NODE_CHUNKS],
    /// (parent, address) → node, as `tag << 32 | id` (0: empty).
    index: Levels,
    /// Stacks not recorded for want of memory.
    pub dropped: AtomicU64,
}

/// A node as a reader sees it (see `StackTrie::nodes_in_order`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrieNode {
    /// The node of the next frame out (0: the root). Always below the node's own id: a
    /// node is added only once its parent is.
    pub parent: u32,
    /// Return address.
    pub ret: u64,
    /// Frames from the root (1 for a child of the root).
    pub depth: u32,
}

impl TrieNode {
    /// Whether this node, as a stack's innermost one, marks the stack cut at the depth limit
    /// rather than a frame.
    pub fn is_cut_mark(&self) -> bool {
        self.ret == CUT
    }
}

/// A stack as a reader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    /// Return addresses, innermost first.
    pub frames: Vec<u64>,
    /// Whether it was cut at the depth limit (it went on further out).
    pub truncated: bool,
}

fn key_hash(parent: u32, ret: u64) -> u64 {
    let mixed =
        (ret ^ (u64::from(parent) << 40) ^ u64::from(parent)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    mixed ^ (mixed >> 29)
}

/// The tag an index slot keeps beside the id, so most mismatches are told without reading
/// the node (never 0, so a used slot is never 0).
fn tag(hash: u64) -> u64 {
    (hash >> 32) | 1
}

impl StackTrie {
    fn node<'a>(&self, bytes: &'a Bytes, id: u32) -> Option<&'a Node> {
        let chunk = (u64::from(id) / NODES_PER_CHUNK) as usize;
        let offset = self.chunks.get(chunk)?.load(Ordering::Acquire);
        if offset == 0 {
            return None;
        }
        bytes.get(offset + (u64::from(id) % NODES_PER_CHUNK) * NODE_BYTES)
    }

    /// A fresh node's id with its chunk taken; `None` without memory.
    fn new_node(&self, pool: &Pool, backing: &impl Backing) -> Option<u32> {
        let id = self.nodes.fetch_add(1, Ordering::Relaxed);
        self.ensure_chunk(id, pool, backing).then_some(id)
    }

    /// Takes the chunk node `id` lives in unless it is there. Two threads may both take
    /// one; the loser's stays unused (64 KiB, once in a while at worst).
    fn ensure_chunk(&self, id: u32, pool: &Pool, backing: &impl Backing) -> bool {
        let Some(slot) = self.chunks.get((u64::from(id) / NODES_PER_CHUNK) as usize) else {
            return false;
        };
        if slot.load(Ordering::Acquire) != 0 {
            return true;
        }
        let Some(offset) = pool.take(backing, CHUNK) else {
            return false;
        };
        let _ = slot.compare_exchange(0, offset, Ordering::Release, Ordering::Acquire);
        true
    }

    /// The id of the stack `frames` (innermost first; `truncated` when cut at the depth
    /// limit), added if new; `None` without memory (counted in `dropped`). The outer frames
    /// it shares with `path` are not looked up; `path` becomes this stack's.
    pub fn intern(
        &self,
        frames: &[u64],
        truncated: bool,
        pool: &Pool,
        backing: &impl Backing,
        path: &mut TriePath,
    ) -> Option<u32> {
        // The root exists once anything is interned: its chunk holds the first nodes.
        if self.nodes.load(Ordering::Relaxed) == 0 {
            let _ = self
                .nodes
                .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed);
        }
        if !self.ensure_chunk(0, pool, backing) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut node = 0u32;
        // Once a node is new, its children are too: no one else can have looked it up.
        let mut fresh = false;
        // While the frames so far are the remembered path's, its nodes are theirs.
        let mut known = path.len.min(PATH_FRAMES);
        let cut = truncated.then_some(CUT);
        for (depth, &ret) in frames.iter().rev().chain(cut.iter()).enumerate() {
            if depth < known && path.rets[depth] == ret {
                node = path.nodes[depth];
                continue;
            }
            known = 0;
            let found = if fresh {
                None
            } else {
                self.find(&Bytes::of(backing), node, ret)
            };
            node = match found {
                Some(id) => id,
                None => {
                    fresh = true;
                    let Some(id) = self.add(node, ret, depth as u32 + 1, pool, backing) else {
                        path.len = depth.min(PATH_FRAMES);
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        return None;
                    };
                    id
                }
            };
            if depth < PATH_FRAMES {
                path.rets[depth] = ret;
                path.nodes[depth] = node;
            }
        }
        path.len = (frames.len() + cut.iter().len()).min(PATH_FRAMES);
        Some(node)
    }

    /// The node (parent, ret), searched newest level first: each level is twice the last,
    /// so the newest holds about half the nodes, and the nodes most looked up, the outer
    /// frames every stack shares, mostly come from the caller's `TriePath` without a lookup.
    fn find(&self, bytes: &Bytes, parent: u32, ret: u64) -> Option<u32> {
        let hash = key_hash(parent, ret);
        for level in (0..self.index.count()).rev() {
            let (offset, slots) = self.index.level(level, FIRST_SLOTS)?;
            for index in probes(hash, slots) {
                let slot = Levels::slot::<AtomicU64>(bytes, offset, index)?;
                let seen = slot.load(Ordering::Acquire);
                if seen == 0 {
                    break;
                }
                if seen >> 32 == tag(hash) {
                    let id = seen as u32;
                    let node = self.node(bytes, id)?;
                    if node.parent.load(Ordering::Relaxed) == parent
                        && node.ret.load(Ordering::Relaxed) == ret
                    {
                        return Some(id);
                    }
                }
            }
        }
        None
    }

    /// Writes a new node and indexes it; its id, or `None` without memory for the node. A
    /// node the index has no room for is still a valid stack, only not found again.
    fn add(
        &self,
        parent: u32,
        ret: u64,
        depth: u32,
        pool: &Pool,
        backing: &impl Backing,
    ) -> Option<u32> {
        let id = self.new_node(pool, backing)?;
        let bytes = Bytes::of(backing);
        let node = self.node(&bytes, id)?;
        node.ret.store(ret, Ordering::Relaxed);
        node.parent.store(parent, Ordering::Relaxed);
        node.depth.store(depth, Ordering::Release);
        let hash = key_hash(parent, ret);
        let entry = tag(hash) << 32 | u64::from(id);
        if self.index.count() == 0 {
            self.index.add(0, FIRST_SLOTS, 8, pool, backing);
        }
        let newest = self.index.count();
        // The newest level; when it has no room near the key, the empty slots of older ones
        // (a lookup searches them all); and only then a next level.
        if newest == 0 {
            return Some(id);
        }
        let levels = (0..newest).rev().chain(core::iter::once(newest));
        for level in levels {
            if level == newest && !self.index.add(level, FIRST_SLOTS, 8, pool, backing) {
                break;
            }
            // Read again each time: a level added since lies past an older view.
            let bytes = Bytes::of(backing);
            let Some((offset, slots)) = self.index.level(level, FIRST_SLOTS) else {
                break;
            };
            for index in probes(hash, slots) {
                let Some(slot) = Levels::slot::<AtomicU64>(&bytes, offset, index) else {
                    break;
                };
                if slot
                    .compare_exchange(0, entry, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
                {
                    if self.index.claimed(level, FIRST_SLOTS) {
                        self.index.add(level + 1, FIRST_SLOTS, 8, pool, backing);
                    }
                    return Some(id);
                }
            }
        }
        Some(id)
    }

    /// Counts `allocs` traced allocations of `size` bytes in all with stack `id`.
    pub fn count(&self, bytes: &Bytes, id: u32, allocs: u64, size: u64) {
        if let Some(node) = self.node(bytes, id) {
            node.allocs.fetch_add(allocs, Ordering::Relaxed);
            node.bytes.fetch_add(size, Ordering::Relaxed);
        }
    }

    /// Node ids handed out so far, the root included (some may not be written yet).
    pub fn nodes(&self) -> u32 {
        self.nodes.load(Ordering::Acquire)
    }

    /// The stack with id `id`; `None` when there is none (or it is being written).
    pub fn stack(&self, bytes: &Bytes, id: u32) -> Option<Stack> {
        let mut frames = Vec::new();
        let mut truncated = false;
        let mut node = id;
        while node != 0 {
            let entry = self.node(bytes, node)?;
            let depth = entry.depth.load(Ordering::Acquire);
            // Depths fall by one towards the root: anything else is a corrupt segment, and a
            // cycle cannot be followed for ever.
            if depth == 0 {
                return None;
            }
            let ret = entry.ret.load(Ordering::Relaxed);
            if ret == CUT && frames.is_empty() {
                truncated = true;
            } else {
                frames.push(ret);
            }
            let parent = entry.parent.load(Ordering::Relaxed);
            if parent != 0 && self.node(bytes, parent)?.depth.load(Ordering::Acquire) + 1 != depth {
                return None;
            }
            node = parent;
        }
        Some(Stack { frames, truncated })
    }

    /// Nodes `0..end` (at most the nodes handed out so far) in id order: `None` for the root
    /// and for a node not written yet or past the memory backed. A parent's id is below its
    /// child's, so a reader can resolve the stacks it wants from these in one pass that reads
    /// each node once, rather than walk every stack from its innermost node to the root
    /// (100,000 stacks of 22 frames: 2.2 million scattered node reads).
    pub fn nodes_in_order(
        &self,
        bytes: &Bytes,
        end: u32,
    ) -> impl Iterator<Item = Option<TrieNode>> + '_ {
        let bytes = *bytes;
        let end = end
            .min(self.nodes())
            .min((NODE_CHUNKS as u64 * NODES_PER_CHUNK) as u32);
        (0..end).map(move |id| {
            let node = self.node(&bytes, id)?;
            let depth = node.depth.load(Ordering::Acquire);
            (id != 0 && depth != 0).then(|| TrieNode {
                parent: node.parent.load(Ordering::Relaxed),
                ret: node.ret.load(Ordering::Relaxed),
                depth,
            })
        })
    }

    /// Traced allocations with stack `id`, and their bytes.
    pub fn totals(&self, bytes: &Bytes, id: u32) -> (u64, u64) {
        self.node(bytes, id).map_or((0, 0), |node| {
            (
                node.allocs.load(Ordering::Relaxed),
                node.bytes.load(Ordering::Relaxed),
            )
        })
    }

    /// Ids of the stacks something was counted against, in id order.
    pub fn counted(&self, bytes: &Bytes) -> impl Iterator<Item = u32> + '_ {
        let bytes = *bytes;
        let nodes = self
            .nodes()
            .min((NODE_CHUNKS as u64 * NODES_PER_CHUNK) as u32);
        (0..nodes).filter(move |&id| self.totals(&bytes, id).0 > 0)
    }

    /// Bytes of the index levels (the rest of the trie's memory is node chunks).
    pub fn index_bytes(&self) -> u64 {
        (0..self.index.count())
            .filter_map(|level| self.index.level(level, FIRST_SLOTS))
            .map(|(_, slots)| slots * 8)
            .sum()
    }

    /// Bytes of node chunks taken.
    pub fn node_bytes(&self) -> u64 {
        let chunks = u64::from(self.nodes()).div_ceil(NODES_PER_CHUNK);
        chunks.min(NODE_CHUNKS as u64) * CHUNK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::backing::anon::{zeroed, AnonBacking};

    fn setup(budget: u64) -> (AnonBacking, Box<Pool>, Box<StackTrie>) {
        let pool = zeroed::<Pool>();
        pool.configure(0, budget);
        (AnonBacking::new(1 << 30), pool, zeroed())
    }

    #[test]
    fn shared_outer_frames_are_stored_once_and_ids_are_stable() {
        let (backing, pool, trie) = setup(1 << 30);
        let bytes = || Bytes::of(&backing);
        // One path through all of them, as a thread interns: the ids are the same as
        // without it (the stack [2, 1] below with a fresh path, [3, 2, 1] again with a path
        // two frames of which are its own).
        let mut path = TriePath::new();
        let a = trie
            .intern(&[3, 2, 1], false, &pool, &backing, &mut path)
            .unwrap();
        let b = trie
            .intern(&[4, 2, 1], false, &pool, &backing, &mut path)
            .unwrap();
        assert_eq!(
            trie.intern(&[3, 2, 1], false, &pool, &backing, &mut path),
            Some(a)
        );
        // The root, then 1, 2, 3 and 4: the outer frames 1 and 2 are shared.
        assert_eq!(trie.nodes(), 5);
        let prefix = trie
            .intern(&[2, 1], false, &pool, &backing, &mut TriePath::new())
            .unwrap();
        assert_eq!(
            trie.nodes(),
            5,
            "a stack that is a prefix of another is a node of it"
        );
        assert_eq!(trie.stack(&bytes(), a).unwrap().frames, vec![3, 2, 1]);
        assert_eq!(trie.stack(&bytes(), b).unwrap().frames, vec![4, 2, 1]);
        assert_eq!(trie.stack(&bytes(), prefix).unwrap().frames, vec![2, 1]);
        let empty = trie
            .intern(&[], false, &pool, &backing, &mut TriePath::new())
            .unwrap();
        assert_eq!(empty, 0);
        assert_eq!(
            trie.stack(&bytes(), empty),
            Some(Stack {
                frames: vec![],
                truncated: false
            })
        );
        assert_eq!(trie.stack(&bytes(), 99), None, "no such stack");
    }

    #[test]
    fn nodes_come_in_id_order_each_after_its_parent() {
        let (backing, pool, trie) = setup(1 << 30);
        let mut path = TriePath::new();
        let a = trie
            .intern(&[3, 2, 1], false, &pool, &backing, &mut path)
            .unwrap();
        let cut = trie
            .intern(&[4, 2, 1], true, &pool, &backing, &mut path)
            .unwrap();
        let bytes = Bytes::of(&backing);
        let node = |parent, ret, depth| Some(TrieNode { parent, ret, depth });
        // The root, then 1, 2 and 3 for the first stack; 4 and the cut mark below it for the
        // second, which shares 1 and 2.
        let nodes: Vec<_> = trie.nodes_in_order(&bytes, u32::MAX).collect();
        assert_eq!(
            nodes,
            vec![
                None,
                node(0, 1, 1),
                node(1, 2, 2),
                node(2, 3, 3),
                node(2, 4, 3),
                node(4, CUT, 4)
            ]
        );
        assert_eq!((a, cut), (3, 5));
        assert!(nodes[5].unwrap().is_cut_mark());
        assert_eq!(
            trie.nodes_in_order(&bytes, 3).count(),
            3,
            "only the nodes asked for"
        );
    }

    #[test]
    fn a_cut_stack_is_not_the_stack_that_ends_there() {
        let (backing, pool, trie) = setup(1 << 30);
        let whole = trie
            .intern(&[2, 1], false, &pool, &backing, &mut TriePath::new())
            .unwrap();
        let cut = trie
            .intern(&[2, 1], true, &pool, &backing, &mut TriePath::new())
            .unwrap();
        assert_ne!(whole, cut);
        let bytes = Bytes::of(&backing);
        assert_eq!(
            trie.stack(&bytes, cut),
            Some(Stack {
                frames: vec![2, 1],
                truncated: true
            })
        );
        assert!(!trie.stack(&bytes, whole).unwrap().truncated);
        trie.count(&bytes, cut, 1, 10);
        trie.count(&bytes, cut, 1, 5);
        assert_eq!(trie.totals(&bytes, cut), (2, 15));
        assert_eq!(trie.counted(&bytes).collect::<Vec<_>>(), vec![cut]);
    }

    #[test]
    fn two_hundred_thousand_stacks_are_all_kept_and_found_again() {
        let (backing, pool, trie) = setup(1 << 30);
        // 200,000 stacks of depth 8: 1000 outer paths of 6 frames, each with 200 inner pairs.
        let stack = |i: u64| -> [u64; 8] {
            let outer = i / 200;
            [
                0x90000 + i,
                0x8000 + i % 7,
                0x600 + outer,
                0x500,
                0x400,
                0x300,
                0x200,
                0x100,
            ]
        };
        let ids: Vec<u32> = (0..200_000)
            .map(|i| {
                trie.intern(&stack(i), false, &pool, &backing, &mut TriePath::new())
                    .unwrap()
            })
            .collect();
        assert_eq!(trie.dropped.load(Ordering::Relaxed), 0);
        let bytes = Bytes::of(&backing);
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(
                trie.intern(
                    &stack(i as u64),
                    false,
                    &pool,
                    &backing,
                    &mut TriePath::new()
                ),
                Some(id)
            );
            assert_eq!(trie.stack(&bytes, id).unwrap().frames, stack(i as u64));
        }
        // Root, 5 shared frames, 1000 outer frames, then per outer path 7 middles at most
        // (200 stacks use i % 7 for all 7) and 200 innermost frames.
        assert_eq!(trie.nodes(), 1 + 5 + 1000 + 1000 * 7 + 200_000);
    }

    #[test]
    fn past_the_budget_stacks_are_dropped_and_counted() {
        let (backing, pool, trie) = setup(4 * CHUNK);
        let mut kept = 0;
        for i in 0..10_000u64 {
            kept += u64::from(
                trie.intern(&[i + 16, 1], false, &pool, &backing, &mut TriePath::new())
                    .is_some(),
            );
        }
        assert!(kept > 0 && kept < 10_000);
        assert_eq!(kept + trie.dropped.load(Ordering::Relaxed), 10_000);
        assert_eq!(pool.used(), 4 * CHUNK, "never past the budget");
    }
}
