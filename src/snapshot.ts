/**
 * Snapshots in the shared snapshot format v1: what `snapshot()` returns here and what the
 * CLI's `skull-mem snapshot <pid>` writes from another process, so `diff` takes either.
 *
 * Format v1 (JSON, snake_case field names, stable):
 * ```
 * {
 *   "format": "skull-mem-snapshot", "format_version": 1,
 *   "time": "<ISO-8601>", "pid": <int>, "version": "<library version>",
 *   "threads": <int|null>, "region_bytes": <int|null>, "trace_enabled": <bool>,
 *   "scopes": [ { "id", "name", "kind", "used_bytes", "live_blocks", "peak_used_bytes",
 *                 "overhead_bytes", "counters": { "<counter>": <int>, ... } } ],
 *   "totals": { "used_bytes", "live_blocks", "overhead_bytes", "counters": {...} },
 *   "process": { "rss_bytes": <int>, "memory_usage"?: { "rss", "heapTotal", "heapUsed",
 *                "external", "arrayBuffers" } }
 * }
 * ```
 * Everything but `format`, `format_version`, `time` and `process` is the library's JSON
 * report (crates/inspect/src/report.rs). Counter names are those of crates/core/src/counters.rs
 * (`alloc_bytes`, `freed_bytes`, `cross_freed_bytes`, ...). Byte counts are JSON numbers:
 * exact below 2^53 (8 PiB). `memory_usage` is present only when the snapshot was taken inside
 * the process (it is Node's `process.memoryUsage()`).
 */
import { SkullMemError, callAddon } from './errors';
import { nativeBinding } from './native';
import { requireActive } from './status';

/** The value of `format`. */
export const SNAPSHOT_FORMAT = 'skull-mem-snapshot';
/** The value of `format_version` this package writes and reads. */
export const SNAPSHOT_FORMAT_VERSION = 1;

/** Counters by their snake_case name. */
export type Counters = Record<string, number>;

/** One scope's figures in a snapshot. */
export interface SnapshotScope {
  id: number;
  name: string;
  kind: string;
  /** Bytes allocated by this scope and not yet freed (by any scope). */
  used_bytes: number;
  live_blocks: number;
  peak_used_bytes: number;
  /** Header and alignment bytes of this scope's live blocks. */
  overhead_bytes: number;
  counters: Counters;
}

/** Node's `process.memoryUsage()` at the time of the snapshot. */
export interface MemoryUsage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** A snapshot in format v1 (see the module comment). */
export interface Snapshot {
  format: typeof SNAPSHOT_FORMAT;
  format_version: typeof SNAPSHOT_FORMAT_VERSION;
  time: string;
  pid: number;
  version: string;
  threads: number | null;
  region_bytes: number | null;
  trace_enabled: boolean;
  scopes: SnapshotScope[];
  totals: { used_bytes: number; live_blocks: number; overhead_bytes: number; counters: Counters };
  process: { rss_bytes: number; memory_usage?: MemoryUsage };
}

/**
 * Takes a snapshot of every scope of this process, a plain object that `JSON.stringify`
 * writes in format v1.
 * @throws {SkullMemError} `NOT_PRELOADED` when the interposer is not preloaded.
 */
export function snapshot(): Snapshot {
  requireActive();
  const report = callAddon(() => nativeBinding().report());
  // Node's rss is the kernel's resident set count, the figure VmRSS shows.
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return {
    format: SNAPSHOT_FORMAT,
    format_version: SNAPSHOT_FORMAT_VERSION,
    time: new Date().toISOString(),
    ...report,
    process: { rss_bytes: rss, memory_usage: { rss, heapTotal, heapUsed, external, arrayBuffers } },
  };
}

// ---- Validation of loaded snapshots ----

type Json = Record<string, unknown>;

function bad(path: string, what: string): never {
  throw new SkullMemError('BAD_SNAPSHOT', `skull-mem: not a skull-mem snapshot v1: ${path} ${what}`);
}

function object(value: unknown, path: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(path, 'is not an object');
  return value as Json;
}

function count(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    bad(path, 'is not a non-negative integer');
  }
  return value;
}

function text(value: unknown, path: string): string {
  if (typeof value !== 'string') bad(path, 'is not a string');
  return value;
}

function counters(value: unknown, path: string): Counters {
  const raw = object(value, path);
  const out: Counters = {};
  for (const [name, n] of Object.entries(raw)) out[name] = count(n, `${path}.${name}`);
  return out;
}

function nullableCount(value: unknown, path: string): number | null {
  return value === null ? null : count(value, path);
}

function scope(value: unknown, path: string): SnapshotScope {
  const s = object(value, path);
  return {
    id: count(s.id, `${path}.id`),
    name: text(s.name, `${path}.name`),
    kind: text(s.kind, `${path}.kind`),
    used_bytes: count(s.used_bytes, `${path}.used_bytes`),
    live_blocks: count(s.live_blocks, `${path}.live_blocks`),
    peak_used_bytes: count(s.peak_used_bytes, `${path}.peak_used_bytes`),
    overhead_bytes: count(s.overhead_bytes, `${path}.overhead_bytes`),
    counters: counters(s.counters, `${path}.counters`),
  };
}

function memoryUsage(value: unknown, path: string): MemoryUsage {
  const m = object(value, path);
  return {
    rss: count(m.rss, `${path}.rss`),
    heapTotal: count(m.heapTotal, `${path}.heapTotal`),
    heapUsed: count(m.heapUsed, `${path}.heapUsed`),
    external: count(m.external, `${path}.external`),
    arrayBuffers: count(m.arrayBuffers, `${path}.arrayBuffers`),
  };
}

/**
 * Checks that `json` (a parsed file) is a snapshot in format v1 and returns it typed, keeping
 * only the documented fields.
 * @throws {SkullMemError} `BAD_SNAPSHOT` with a one-line message naming the first bad field.
 */
export function parseSnapshot(json: unknown): Snapshot {
  const s = object(json, 'the snapshot');
  if (s.format !== SNAPSHOT_FORMAT) bad('"format"', `is ${JSON.stringify(s.format)}, expected "${SNAPSHOT_FORMAT}"`);
  if (s.format_version !== SNAPSHOT_FORMAT_VERSION) {
    bad('"format_version"', `is ${JSON.stringify(s.format_version)}; this skull-mem reads version ${SNAPSHOT_FORMAT_VERSION}`);
  }
  const time = text(s.time, 'time');
  if (Number.isNaN(Date.parse(time))) bad('time', 'is not an ISO-8601 date');
  if (typeof s.trace_enabled !== 'boolean') bad('trace_enabled', 'is not a boolean');
  if (!Array.isArray(s.scopes)) bad('scopes', 'is not an array');
  const totals = object(s.totals, 'totals');
  const proc = object(s.process, 'process');
  const result: Snapshot = {
    format: SNAPSHOT_FORMAT,
    format_version: SNAPSHOT_FORMAT_VERSION,
    time,
    pid: count(s.pid, 'pid'),
    version: text(s.version, 'version'),
    threads: nullableCount(s.threads, 'threads'),
    region_bytes: nullableCount(s.region_bytes, 'region_bytes'),
    trace_enabled: s.trace_enabled,
    scopes: s.scopes.map((entry, i) => scope(entry, `scopes[${i}]`)),
    totals: {
      used_bytes: count(totals.used_bytes, 'totals.used_bytes'),
      live_blocks: count(totals.live_blocks, 'totals.live_blocks'),
      overhead_bytes: count(totals.overhead_bytes, 'totals.overhead_bytes'),
      counters: counters(totals.counters, 'totals.counters'),
    },
    process: { rss_bytes: count(proc.rss_bytes, 'process.rss_bytes') },
  };
  if (proc.memory_usage !== undefined) result.process.memory_usage = memoryUsage(proc.memory_usage, 'process.memory_usage');
  return result;
}
