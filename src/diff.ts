/**
 * The difference between two snapshots: which scopes grew, by how much, sorted so the worst
 * comes first. Scopes are matched by (name, kind), never by id: ids are given in registration
 * order and differ between two runs of the same program.
 */
import type { Counters, Snapshot, SnapshotScope } from './snapshot';

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

const EMPTY: Omit<SnapshotScope, 'id' | 'name' | 'kind'> = {
  used_bytes: 0,
  live_blocks: 0,
  peak_used_bytes: 0,
  overhead_bytes: 0,
  counters: {},
};

function counterGrowth(before: Counters, after: Counters): Counters {
  const out: Counters = {};
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    out[name] = (after[name] ?? 0) - (before[name] ?? 0);
  }
  return out;
}

function key(scope: { name: string; kind: string }): string {
  return `${scope.kind}\0${scope.name}`;
}

/**
 * Compares two snapshots (from `snapshot()` or files checked by `parseSnapshot`).
 * Scopes are matched by (name, kind); a scope present in only one counts as 0 in the other.
 */
export function diff(before: Snapshot, after: Snapshot): SnapshotDiff {
  const earlier = new Map(before.scopes.map((s) => [key(s), s]));
  const later = new Map(after.scopes.map((s) => [key(s), s]));
  const scopes: ScopeGrowth[] = [];
  for (const k of new Set([...earlier.keys(), ...later.keys()])) {
    const b = earlier.get(k);
    const a = later.get(k);
    const named = (a ?? b) as SnapshotScope;
    const x = b ?? EMPTY;
    const y = a ?? EMPTY;
    scopes.push({
      name: named.name,
      kind: named.kind,
      used_bytes_before: x.used_bytes,
      used_bytes_after: y.used_bytes,
      used_bytes: y.used_bytes - x.used_bytes,
      live_blocks: y.live_blocks - x.live_blocks,
      overhead_bytes: y.overhead_bytes - x.overhead_bytes,
      counters: counterGrowth(x.counters, y.counters),
    });
  }
  // Descending growth; ties keep a stable, readable order.
  scopes.sort((p, q) => q.used_bytes - p.used_bytes || p.name.localeCompare(q.name) || p.kind.localeCompare(q.kind));
  const result: SnapshotDiff = {
    seconds: (Date.parse(after.time) - Date.parse(before.time)) / 1000,
    scopes,
    totals: {
      used_bytes: after.totals.used_bytes - before.totals.used_bytes,
      live_blocks: after.totals.live_blocks - before.totals.live_blocks,
      overhead_bytes: after.totals.overhead_bytes - before.totals.overhead_bytes,
      counters: counterGrowth(before.totals.counters, after.totals.counters),
    },
    rss_bytes: after.process.rss_bytes - before.process.rss_bytes,
    toString: () => renderDiff(result),
  };
  // Keep JSON.stringify(diff) free of the method.
  Object.defineProperty(result, 'toString', { enumerable: false });
  return result;
}

/** `+1234` / `-56` / `0`: growth with its sign. */
function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}

/**
 * Renders a diff as a text table, one line per scope that changed (used bytes, live blocks or
 * any allocation), then the totals; shared with the CLI's `skull-mem diff a.json b.json`.
 */
export function renderDiff(d: Omit<SnapshotDiff, 'toString'>): string {
  const header = ['kind', 'name', 'used before', 'used after', 'growth', 'blocks', 'allocs', 'frees'];
  const rows = d.scopes
    .filter((s) => s.used_bytes !== 0 || s.live_blocks !== 0 || (s.counters.alloc_blocks ?? 0) !== 0)
    .map((s) => [
      s.kind,
      s.name,
      String(s.used_bytes_before),
      String(s.used_bytes_after),
      signed(s.used_bytes),
      signed(s.live_blocks),
      String(s.counters.alloc_blocks ?? 0),
      String(s.counters.freed_blocks ?? 0),
    ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const out = [
    `======== Skull Memory Diff (${d.seconds.toFixed(3)} s) ========`,
    line(header),
    ...rows.map(line),
    rows.length === 0 ? '(no scope changed)' : undefined,
    `total used ${signed(d.totals.used_bytes)} bytes, live blocks ${signed(d.totals.live_blocks)}, ` +
      `rss ${signed(d.rss_bytes)} bytes`,
  ];
  return `${out.filter((l): l is string => l !== undefined).join('\n')}\n`;
}
