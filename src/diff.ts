/**
 * The difference between two snapshots: which scopes grew, by how much, sorted so the worst
 * comes first. Scopes are matched by (name, kind), never by id: ids are given in registration
 * order and differ between two runs of the same program. Computed and rendered by the inspect
 * crate (crates/inspect/src/render/diff.rs).
 */
import { callAddon } from './errors';
import { nativeBinding } from './native';
import type { Counters, Snapshot } from './snapshot';

/** The growth of one scope between two snapshots (after minus before; negative = shrank). */
export interface ScopeGrowth {
  name: string;
  kind: string;
  /** Used bytes in the first snapshot (0 when the scope did not exist yet). */
  used_bytes_before: number;
  /** Used bytes in the second snapshot (0 when the scope no longer appears). */
  used_bytes_after: number;
  /** `used_bytes_after - used_bytes_before`. */
  used_bytes: number;
  /** Growth of live blocks. */
  live_blocks: number;
  /** Growth of header and alignment overhead. */
  overhead_bytes: number;
  /** Growth of every counter (monotonic counters: what happened between the snapshots). */
  counters: Counters;
}

/** The whole difference; `toString()` renders `renderDiff(this)`. */
export interface SnapshotDiff {
  /** Seconds between the two snapshots. */
  seconds: number;
  /** One entry per scope found in either snapshot, by descending `used_bytes` growth. */
  scopes: ScopeGrowth[];
  /** Growth of the totals over all scopes. */
  totals: { used_bytes: number; live_blocks: number; overhead_bytes: number; counters: Counters };
  /** Growth of the resident set size. */
  rss_bytes: number;
  /** The table, as `renderDiff` writes it. */
  toString(): string;
}

/**
 * Compares two snapshots (from `snapshot()` or files checked by `parseSnapshot`).
 * Scopes are matched by (name, kind); a scope present in only one counts as 0 in the other.
 */
export function diff(before: Snapshot, after: Snapshot): SnapshotDiff {
  const growth = callAddon(() => nativeBinding().diff(before, after));
  const result: SnapshotDiff = { ...growth, toString: () => renderDiff(result) };
  // Keep JSON.stringify(diff) free of the method.
  Object.defineProperty(result, 'toString', { enumerable: false });
  return result;
}

/**
 * Renders a diff as a text table, one line per scope that changed (used bytes, live blocks or
 * any allocation), then the totals; shared with the CLI's `skull-mem diff a.json b.json`.
 */
export function renderDiff(d: Omit<SnapshotDiff, 'toString'>): string {
  return nativeBinding().diffTable(d);
}
