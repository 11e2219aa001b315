/**
 * skull-mem: exact, always-on accounting of native memory per scope.
 *
 * The counting happens in `libskull_mem.so`, preloaded into the process
 * (`npx skull-mem run -- node app.js`). This module reads it through the addon and explains
 * what is wrong when it cannot: importing it never throws because the library is absent.
 */
import { nativeBinding } from './native';
import { requireActive } from './status';

export { preloadLibraryPath } from './native';
export { PRELOAD_COMMAND, SkullMemError, status, type SkullMemErrorCode, type Status } from './status';
export {
  CORE_SCOPE_ID,
  Scope,
  THREADPOOL_SCOPE,
  currentScopeId,
  defineScope,
  threadpoolAttribution,
  withScope,
  type ScopeKind,
  type ScopeOptions,
} from './scope';
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

/** Report formats: the "Skull Memory Measurement" table, or the same figures as JSON. */
export type ReportFormat = 'text' | 'json';

/**
 * Renders the report of every scope.
 * @throws {SkullMemError} `NOT_PRELOADED` when the interposer is not preloaded
 *   ("skull-mem: the interposer is not loaded in this process; start it with
 *   `npx skull-mem run -- node app.js`"), `VERSION_MISMATCH` when the package, addon and
 *   library versions differ.
 */
export function report(format: ReportFormat = 'text'): string {
  requireActive();
  return nativeBinding().report(format);
}
