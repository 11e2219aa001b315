//! The structs of the C ABI (`include/skull_mem.h`), filled without allocating.

use crate::counters::COUNTER_COUNT;
use crate::region::Region;
use crate::scopes::{KIND_MAX, NAME_MAX};
use crate::snapshot::{live_blocks, scope_counters, used_bytes};

/// `SKULL_SCOPE_STATS_VERSION`.
pub const SCOPE_STATS_VERSION: u32 = 1;

/// `struct skull_scope_stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ScopeStatsC {
    /// `sizeof(struct skull_scope_stats)` as this library knows it.
    pub struct_size: u32,
    /// `SCOPE_STATS_VERSION`.
    pub struct_version: u32,
    /// Scope id.
    pub id: u32,
    /// Zero.
    pub reserved: u32,
    /// NUL-terminated name.
    pub name: [u8; NAME_MAX],
    /// NUL-terminated kind.
    pub kind: [u8; KIND_MAX],
    /// Allocated minus freed bytes.
    pub used_bytes: u64,
    /// Allocated minus freed blocks.
    pub live_blocks: u64,
    /// Highest used bytes any snapshot has seen.
    pub peak_used_bytes: u64,
    /// Counters, indexed by `enum skull_counter`.
    pub counters: [u64; COUNTER_COUNT],
}

fn copy_str<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let len = text.len().min(N - 1);
    out[..len].copy_from_slice(&text.as_bytes()[..len]);
    out
}

impl ScopeStatsC {
    /// Scope `id`'s figures now; `id` must be registered.
    pub fn of(region: &Region, id: u32) -> ScopeStatsC {
        let (counters, peak_used_bytes) = scope_counters(region, id);
        ScopeStatsC {
            struct_size: core::mem::size_of::<ScopeStatsC>() as u32,
            struct_version: SCOPE_STATS_VERSION,
            id,
            reserved: 0,
            name: copy_str(region.scopes.name(id)),
            kind: copy_str(region.scopes.kind(id)),
            used_bytes: used_bytes(&counters),
            live_blocks: live_blocks(&counters),
            peak_used_bytes,
            counters,
        }
    }
}
