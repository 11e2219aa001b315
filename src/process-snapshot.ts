/**
 * A measured process's snapshot in the shared snapshot format v1 (see src/snapshot.ts): the
 * counters read from its segment plus the time and the process's resident figures, read by
 * the inspect crate (crates/inspect/src/process.rs). The output of `skull-mem memory --json`
 * and `skull-mem snapshot`, and an input of `diff`.
 */
import { callAddon } from './errors';
import { nativeBinding } from './native';
import type { SegmentInfo } from './segments';
import type { Snapshot } from './snapshot';

/** Resident figures of a process, in bytes, and how much of them malloc explains (field names
 * stable in `--json`). */
export interface ProcessFigures {
  /** VmRSS. */
  rss_bytes: number;
  /** RssAnon: heap, arenas, stacks, JIT and V8 heaps, anonymous mmaps. */
  anon_bytes: number;
  /** RssFile: code and mapped files. */
  file_bytes: number;
  /** RssShmem: shared memory, including skull-mem's own segment. */
  shmem_bytes: number;
  /** Resident in glibc's heap mappings: the brk heap and the per-thread arena heaps. */
  malloc_heap_bytes: number;
  /** Resident part of this process's skull-mem segment. */
  segment_bytes: number;
  /** Resident in glibc's heap mappings beyond live blocks and their headers: memory the
   * allocator keeps after frees, and fragmentation (a lower bound: large blocks live in
   * mappings of their own). */
  malloc_retained_bytes: number;
  /** Anonymous memory outside glibc's heap mappings: V8/JS heaps, thread stacks, blocks
   * malloc mapped on their own. */
  other_anon_bytes: number;
}

/** Format v1 as the CLI writes it: with the segment and the resident figures. */
export interface ProcessSnapshot extends Snapshot {
  segment: SegmentInfo;
  process: ProcessFigures;
}

/**
 * Reads process `pid` now: counters and resident figures.
 * @throws {SkullMemError} `UNREADABLE` with the reader's `reason` when it cannot be read.
 */
export function takeProcessSnapshot(pid: number, dir?: string): ProcessSnapshot {
  return callAddon(() => nativeBinding().takeProcessSnapshot(pid, dir));
}

/**
 * The per-scope pprof profile of process `pid` from its counters (tracing need not be on):
 * one sample per scope, its stack one frame named after the scope, gzipped.
 * @throws {SkullMemError} `UNREADABLE` with the reader's `reason` when it cannot be read.
 */
export function scopeProfile(pid: number, dir?: string): Buffer {
  return callAddon(() => nativeBinding().snapshotPprof(pid, dir));
}
