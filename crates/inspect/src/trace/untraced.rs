//! What the leak reports cannot show: live blocks the program's scopes count but the live
//! traced table does not hold. Counting starts with the process's first `malloc`; tracing
//! records only once the library's constructor has read its settings and readied the
//! tables, or from the moment it is switched on. What was allocated before (libstdc++'s
//! 72,704-byte emergency pool, made by its own initializer before ours runs; everything a
//! program allocated before `skull-trace on`) is live in the scopes and in no table.
//! Sampled tracing leaves most blocks out by design; a full trace memory drops them.

use serde::Serialize;
use skull_mem_core::scopes::{SCOPE_INIT, SCOPE_SELF};
use skull_mem_core::trace::tables::LiveBlock;

use super::status::TraceStatus;
use crate::reader::Reading;

/// Live blocks of one cause that no table holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UntracedPart {
    /// `before_main` (scope `init`: allocated before `main`, most of it before tracing was
    /// ready), `before_tracing` (allocated before tracing was switched on, or dropped or
    /// outside the traced scopes as `why` says) or `not_sampled` (sampled tracing).
    pub reason: String,
    /// Their bytes.
    pub bytes: u64,
    /// How many blocks.
    pub blocks: u64,
    /// The reason in words.
    pub why: String,
}

/// Live blocks counted in the program's scopes (skull-mem's own left out) and not traced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Untraced {
    /// Their bytes.
    pub bytes: u64,
    /// How many blocks.
    pub blocks: u64,
    /// By cause; empty when every live block is traced.
    pub parts: Vec<UntracedPart>,
}

/// What of the live blocks of `reading`'s scopes (only `scope`, when given) `blocks`, the
/// live traced blocks read with them, do not hold. Exact for a process that is not
/// allocating meanwhile (the counters and the table are read one after the other).
pub fn untraced(
    reading: &Reading,
    blocks: &[LiveBlock],
    status: &TraceStatus,
    scope: Option<&str>,
) -> Untraced {
    // (bytes, blocks) counted and traced: scope init, and the program's other scopes.
    let mut init = [(0u64, 0u64); 2];
    let mut rest = [(0u64, 0u64); 2];
    let chosen: Vec<u32> = reading
        .snapshot
        .scopes
        .iter()
        .filter(|s| s.id != SCOPE_SELF && scope.is_none_or(|name| s.name == name))
        .map(|s| {
            let counted = if s.id == SCOPE_INIT {
                &mut init
            } else {
                &mut rest
            };
            counted[0].0 += s.used_bytes();
            counted[0].1 += s.live_blocks();
            s.id
        })
        .collect();
    for block in blocks.iter().filter(|b| chosen.contains(&b.scope)) {
        let traced = if block.scope == SCOPE_INIT {
            &mut init
        } else {
            &mut rest
        };
        traced[1].0 += block.size;
        traced[1].1 += 1;
    }
    let sampled = status.sample_bytes.is_some_and(|mean| mean != 0);
    let mut parts = Vec::new();
    let mut add = |[counted, traced]: [(u64, u64); 2], reason: &str, why: String| {
        let bytes = counted.0.saturating_sub(traced.0);
        let blocks = counted.1.saturating_sub(traced.1);
        if bytes != 0 || blocks != 0 {
            parts.push(UntracedPart {
                reason: reason.to_owned(),
                bytes,
                blocks,
                why,
            });
        }
    };
    if sampled {
        let both = [
            (init[0].0 + rest[0].0, init[0].1 + rest[0].1),
            (init[1].0 + rest[1].0, init[1].1 + rest[1].1),
        ];
        add(
            both,
            "not_sampled",
            "not sampled: tracing records a sample by bytes".to_owned(),
        );
    } else {
        add(
            init,
            "before_main",
            "allocated before main (scope init), before tracing was ready: before the \
             library's constructor (libstdc++'s emergency pool is one) or before tracing \
             was switched on"
                .to_owned(),
        );
        let mut why = "allocated before tracing was switched on".to_owned();
        if status.counts.dropped_blocks != 0 {
            why.push_str(", or dropped when the trace memory was full");
        }
        if status.scoped {
            why.push_str(", or in scopes tracing does not follow");
        }
        add(rest, "before_tracing", why);
    }
    Untraced {
        bytes: parts.iter().map(|p| p.bytes).sum(),
        blocks: parts.iter().map(|p| p.blocks).sum(),
        parts,
    }
}
