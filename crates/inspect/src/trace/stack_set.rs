//! The recorded stacks of one report, read once: every distinct return address gets a small
//! id, and the stacks are lists of those ids back to back in one array. A report of 100,000
//! stacks of 22 frames then makes a few allocations rather than 100,000, symbolizes each
//! distinct address once, and looks frames up by index rather than by hashing addresses.

use rustc_hash::FxHashMap;
use skull_mem_core::trace::tables::{TraceTables, TrieNode};

use super::progress::{thousands, Progress};

/// Stacks read between two looks at the clock for the progress line.
const STACKS_PER_BATCH: usize = 50_000;
/// Trie nodes one pass reads at most per stack wanted: past this (a long run's trie of
/// millions of nodes, few of its stacks still live), walking each stack from its innermost
/// node reads less.
const NODES_PER_STACK: usize = 64;
/// A node's address not yet given an id.
const UNRESOLVED: u32 = u32::MAX;

/// A trie node as the report keeps it while it reads the stacks.
#[derive(Clone, Copy)]
struct Node {
    ret: u64,
    parent: u32,
    /// The id of `ret` in the set once a stack through this node was read; `UNRESOLVED`
    /// before, so that only addresses of stacks read get ids.
    address: u32,
    /// Frames from the root; 0 for no stack (see `read_nodes`).
    depth: u32,
    /// Whether `ret` marks a cut stack when this node is the innermost.
    cut_mark: bool,
}

impl Node {
    const NONE: Node = Node {
        ret: 0,
        parent: 0,
        address: UNRESOLVED,
        depth: 0,
        cut_mark: false,
    };
}

/// The trie's nodes `0..end`, in one pass in id order. A node whose depth is not its
/// parent's plus one, or whose parent is not an earlier node with a stack (a corrupt
/// segment), has no stack: it reads as empty, as `TraceTables::stack` reads it. So a node
/// kept has a whole chain of kept nodes to the root.
fn read_nodes(tables: &TraceTables, end: u32) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::with_capacity(end as usize);
    for (id, node) in tables.stack_nodes(end).enumerate() {
        let whole = |n: &TrieNode| {
            let parent = n.parent as usize;
            if parent == 0 {
                n.depth == 1
            } else {
                parent < id && nodes[parent].depth != 0 && nodes[parent].depth + 1 == n.depth
            }
        };
        nodes.push(node.filter(whole).map_or(Node::NONE, |n| Node {
            ret: n.ret,
            parent: n.parent,
            address: UNRESOLVED,
            depth: n.depth,
            cut_mark: n.is_cut_mark(),
        }));
    }
    nodes
}

/// Stacks as address ids, and the distinct addresses.
#[derive(Default)]
pub struct StackSet {
    addresses: Vec<u64>,
    ids: FxHashMap<u64, u32>,
    frames: Vec<u32>,
    spans: Vec<(usize, usize)>,
}

impl StackSet {
    /// An empty set.
    pub fn new() -> StackSet {
        StackSet::default()
    }

    /// The stacks with ids `ids` of `tables`, in that order; with `progress` a terminal is
    /// told how far reading them is. The trie's nodes are read once, in one pass in id
    /// order, into a local array, each node's address given its id once; the stacks are
    /// then followed through that array. Only when the trie is far larger than the stacks
    /// wanted is each stack walked in the trie instead.
    pub fn read(tables: &TraceTables, ids: &[u32], progress: bool) -> StackSet {
        let what = format!("skull-trace: reading {} stacks", thousands(ids.len()));
        let mut progress = Progress::new(progress, what, ids.len());
        let mut set = StackSet::new();
        set.spans.reserve(ids.len());
        let end = ids.iter().max().map_or(0, |&id| id as usize + 1);
        if end > ids.len().saturating_mul(NODES_PER_STACK) {
            for (batch, part) in ids.chunks(STACKS_PER_BATCH).enumerate() {
                for &id in part {
                    set.push(&tables.stack(id).frames);
                }
                progress.update(batch * STACKS_PER_BATCH + part.len());
            }
            return set;
        }
        let mut nodes = read_nodes(tables, end as u32);
        for (batch, part) in ids.chunks(STACKS_PER_BATCH).enumerate() {
            for &id in part {
                set.push_node(&mut nodes, id);
            }
            progress.update(batch * STACKS_PER_BATCH + part.len());
        }
        set
    }

    /// The id of `address`, given it if new.
    fn address_id(&mut self, address: u64) -> u32 {
        let next = self.addresses.len() as u32;
        let id = *self.ids.entry(address).or_insert(next);
        if id == next {
            self.addresses.push(address);
        }
        id
    }

    /// Adds a stack of return addresses (innermost first); its index in the set.
    pub fn push(&mut self, stack: &[u64]) -> usize {
        let start = self.frames.len();
        for &address in stack {
            let id = self.address_id(address);
            self.frames.push(id);
        }
        self.spans.push((start, stack.len()));
        self.spans.len() - 1
    }

    /// Adds the stack that ends in node `id` of `nodes` (see `read_nodes`: a node kept has
    /// kept nodes all the way to the root, so only the innermost is checked).
    fn push_node(&mut self, nodes: &mut [Node], id: u32) {
        let start = self.frames.len();
        let mut node = id as usize;
        if nodes.get(node).is_some_and(|n| n.cut_mark) {
            node = nodes[node].parent as usize;
        }
        while node != 0 && nodes.get(node).is_some_and(|n| n.depth != 0) {
            let entry = &mut nodes[node];
            if entry.address == UNRESOLVED {
                let ret = entry.ret;
                entry.address = self.address_id(ret);
            }
            let entry = nodes[node];
            self.frames.push(entry.address);
            node = entry.parent as usize;
        }
        self.spans.push((start, self.frames.len() - start));
    }

    /// How many stacks.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The address ids of stack `index`, innermost first.
    pub fn ids(&self, index: usize) -> &[u32] {
        let (start, len) = self.spans[index];
        &self.frames[start..start + len]
    }

    /// The address with id `id`.
    pub fn address(&self, id: u32) -> u64 {
        self.addresses[id as usize]
    }

    /// How many distinct addresses (ids run from 0 to this).
    pub fn distinct(&self) -> usize {
        self.addresses.len()
    }

    /// The return addresses of stack `index`, innermost first.
    pub fn addresses(&self, index: usize) -> Vec<u64> {
        self.ids(index).iter().map(|&id| self.address(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::StackSet;
    use skull_mem_core::trace::tables::{TraceTables, TriePath};

    /// Tables in their own memory, as the core's tests make them (a segment's trace area
    /// holds the same bytes).
    fn tables() -> Box<TraceTables> {
        let layout = std::alloc::Layout::new::<TraceTables>();
        // SAFETY: the tables are made of atomics and integers, for which all zeros is valid
        // (a segment's trace area starts zeroed too); allocated with their layout, as `Box`
        // frees them. The gigabyte of space is only address space until written.
        let tables = unsafe { Box::from_raw(std::alloc::alloc_zeroed(layout) as *mut TraceTables) };
        tables.set_budget(64 << 20);
        tables
    }

    #[test]
    fn one_pass_over_the_nodes_reads_what_walking_each_stack_reads() {
        let t = tables();
        let mut path = TriePath::new();
        let mut intern = |frames: &[u64], cut| t.intern(&*t, frames, cut, &mut path).unwrap();
        // Nodes: the root, 0x10, 0x20 (the stack `c`), 0x30 (`a`), 0x40 and the cut mark
        // under it (`b`): ids 0 to 5.
        let a = intern(&[0x30, 0x20, 0x10], false);
        let b = intern(&[0x40, 0x20, 0x10], true);
        let c = intern(&[0x20, 0x10], false);
        assert_eq!((a, b, c), (3, 5, 2));
        // Up to node 5 for 4 stacks: one pass. With 999 (no such stack) among 5 stacks, past
        // 64 nodes a stack: each stack is walked alone. Both read the same.
        let passed = StackSet::read(&t, &[b, a, c, 0], false);
        let walked = StackSet::read(&t, &[b, a, c, 0, 999], false);
        let expected: [&[u64]; 4] = [&[0x40, 0x20, 0x10], &[0x30, 0x20, 0x10], &[0x20, 0x10], &[]];
        for (index, frames) in expected.iter().enumerate() {
            assert_eq!(passed.addresses(index), *frames, "one pass, stack {index}");
            assert_eq!(walked.addresses(index), *frames, "walked, stack {index}");
        }
        assert!(walked.ids(4).is_empty(), "no such stack reads as empty");
        assert_eq!(passed.len(), 4);
        // 0x40, 0x20, 0x10 and 0x30, each once; the cut mark is no frame.
        assert_eq!(passed.distinct(), 4);
        assert_eq!(passed.ids(1), &[3, 1, 2]);
    }

    #[test]
    fn shared_addresses_get_one_id() {
        let mut set = StackSet::new();
        assert_eq!(set.push(&[0x30, 0x20, 0x10]), 0);
        assert_eq!(set.push(&[0x40, 0x20, 0x10]), 1);
        assert_eq!(set.push(&[]), 2);
        assert_eq!(set.len(), 3);
        assert_eq!(set.distinct(), 4);
        assert_eq!(set.ids(0), &[0, 1, 2]);
        assert_eq!(set.ids(1), &[3, 1, 2]);
        assert_eq!(set.addresses(1), vec![0x40, 0x20, 0x10]);
        assert!(set.ids(2).is_empty());
    }
}
