/**
 * skull-mem: exact, always-on accounting of native memory per scope.
 *
 * The counting happens in `libskull_mem.so`, preloaded into the process
 * (`npx skull-mem run -- node app.js`). This module reads it through the addon and explains
 * what is wrong when it cannot: importing it never throws because the library is absent.
 */
import { callAddon } from './errors';
import { renderMemoryTable, type SortKey } from './memory-table';
import { nativeBinding } from './native';
import { takeProcessSnapshot } from './process-snapshot';
import { requireActive } from './status';

export { preloadLibraryPath } from './platform';
export { PRELOAD_COMMAND, SkullMemError, status, type SkullMemErrorCode, type Status } from './status';
export {
  CORE_SCOPE_ID,
  Scope,
  THREADPOOL_SCOPE,
  currentScopeId,
  defineScope,
  scopePropagation,
  threadpoolAttribution,
  withScope,
  type ScopeKind,
  type ScopeOptions,
} from './scope';
export type { Propagation } from './propagation';
export {
  SNAPSHOT_FORMAT,
  SNAPSHOT_FORMAT_VERSION,
  parseSnapshot,
  snapshot,
  type Counters,
  type MemoryUsage,
  type Snapshot,
  type SnapshotScope,
} from './snapshot';
export { diff, renderDiff, type ScopeGrowth, type SnapshotDiff } from './diff';
export { OTHER_ROUTES, defaultRoute, instrumentHttp, type HttpScopeOptions } from './http';
export { metrics, type OpenTelemetryMeter, type PrometheusRegistry } from './metrics';

export { humanBytes, renderMemoryTable, type SortKey, type TableOptions } from './memory-table';
export { takeProcessSnapshot, type ProcessFigures, type ProcessSnapshot } from './process-snapshot';
export { readProcess, scanProcesses, type Reading, type Scan, type SegmentInfo } from './segments';
export {
  GROUP_BY,
  MAX_TRACE_DEPTH,
  leakReport,
  renderCollapsed,
  renderEvent,
  renderLeaks,
  renderStackReport,
  stackReport,
  startTracing,
  stopTracing,
  trace,
  traceEvents,
  tracingStatus,
  type Estimate,
  type GroupBy,
  type JitNote,
  type LeakGroup,
  type LeakOptions,
  type LeakReport,
  type StackReport,
  type TraceEvent,
  type TraceEvents,
  type TraceFrame,
  type TraceOptions,
  type TraceStatus,
  type Untraced,
} from './trace';

/** Report formats: the "Skull Memory Measurement" table, or the same figures as JSON. */
export type ReportFormat = 'text' | 'json';

/** Options of the text report. */
export interface ReportOptions {
  /** Calls per API, failed allocations and header overhead per scope. */
  detail?: boolean;
  /** Order of the scopes; default `used`. */
  sort?: SortKey;
}

/**
 * Renders the report of every scope: in text, the same table as `skull-mem memory <pid>`
 * (read through this process's own segment, with the RSS breakdown); in JSON, the library's
 * report (the snapshot format v1 without time and process figures).
 * @throws {SkullMemError} `NOT_PRELOADED` when the interposer is not preloaded
 *   ("skull-mem: the interposer is not loaded in this process; start it with
 *   `npx skull-mem run -- node app.js`"), `VERSION_MISMATCH` when the package, addon and
 *   library versions differ.
 */
export function report(format: ReportFormat = 'text', options: ReportOptions = {}): string {
  requireActive();
  if (format === 'json') return JSON.stringify(callAddon(() => nativeBinding().report()));
  return renderMemoryTable(takeProcessSnapshot(process.pid), { detail: options.detail === true, sort: options.sort ?? 'used' });
}
