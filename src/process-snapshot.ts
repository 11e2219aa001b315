/**
 * A measured process's snapshot in the shared snapshot format v1 (see src/snapshot.ts): the
 * report JSON read from its segment plus the time and the process's resident figures. The
 * output of `skull-mem memory --json` and `skull-mem snapshot`, and an input of `diff`.
 */
import { readProcessMemory, type ProcessMemory } from './process-memory';
import { SNAPSHOT_FORMAT, SNAPSHOT_FORMAT_VERSION, type Snapshot } from './snapshot';
import { readProcess, type SegmentInfo } from './segments';

/** The process figures the CLI adds: resident memory and how much of it malloc explains. */
export interface ProcessFigures extends ProcessMemory {
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
  process: ProcessFigures & { rss_bytes: number };
}

/** Reads process `pid` now: counters and resident figures. */
export function takeProcessSnapshot(pid: number, dir?: string): ProcessSnapshot {
  const { segment, report } = readProcess(pid, dir);
  const memory = readProcessMemory(pid, segment.path);
  const inHeap = Math.min(report.totals.used_bytes + report.totals.overhead_bytes, memory.malloc_heap_bytes);
  return {
    format: SNAPSHOT_FORMAT,
    format_version: SNAPSHOT_FORMAT_VERSION,
    time: new Date().toISOString(),
    ...report,
    segment,
    process: {
      ...memory,
      malloc_retained_bytes: memory.malloc_heap_bytes - inHeap,
      other_anon_bytes: Math.max(0, memory.anon_bytes - memory.malloc_heap_bytes),
    },
  };
}
