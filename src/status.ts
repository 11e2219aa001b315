/**
 * Whether this process is measured (`status()`). Kept apart from index.ts so that every
 * module of the API can check the preload without an import cycle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SkullMemError } from './errors';
import { nativeBinding } from './native';
import { packageRoot, preloadLibraryPath } from './platform';

export { SkullMemError, type SkullMemErrorCode } from './errors';

/** The command that starts a program with the interposer preloaded. */
export const PRELOAD_COMMAND = 'npx skull-mem run -- node app.js';

/** Whether this process is being measured, and by which versions of the three parts. */
export interface Status {
  /** True when libskull_mem.so is preloaded and counting this process's allocations. */
  active: boolean;
  /** The preloaded library's version; absent when it is not loaded. */
  version?: string;
  /** The preloaded library's C ABI version; absent when it is not loaded. */
  abiVersion?: number;
  /** The Node addon's version; absent when the addon cannot be loaded. */
  bindingVersion?: string;
  /** This JavaScript package's version. */
  packageVersion: string;
  /** The library to preload (LD_PRELOAD) to measure a process; absent when this platform's
   * native files cannot be found. */
  preloadPath?: string;
  /** Set when `report()` would throw: why measuring is not possible. */
  reason?: string;
  /** Set with `reason`: what to do about it. */
  fix?: string;
}

let packageVersionCache: string | undefined;

function packageVersion(): string {
  packageVersionCache ??= (
    JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }
  ).version;
  return packageVersionCache;
}

/** What to do when the native files cannot be found or loaded. */
const REINSTALL = 'npm install --include=optional skull-mem';

/**
 * Reports whether the interposer is measuring this process, and if not, why (`reason`) and
 * what to do (`fix`). Never throws, for any reason: a missing platform package or an addon
 * that does not load is a `reason` too.
 */
export function status(): Status {
  let version: string;
  try {
    version = packageVersion();
  } catch (err) {
    return { active: false, packageVersion: 'unknown', reason: message(err), fix: REINSTALL };
  }
  let native: ReturnType<typeof nativeBinding>;
  let preloadPath: string;
  try {
    preloadPath = preloadLibraryPath();
    native = nativeBinding();
  } catch (err) {
    return { active: false, packageVersion: version, reason: message(err), fix: REINSTALL };
  }
  const preload = native.preloadStatus();
  const result: Status = {
    active: preload.active,
    bindingVersion: native.bindingVersion(),
    packageVersion: version,
    preloadPath,
  };
  if (preload.version !== undefined) result.version = preload.version;
  if (preload.abiVersion !== undefined) result.abiVersion = preload.abiVersion;
  if (!preload.active) {
    result.reason =
      preload.version === undefined
        ? 'the interposer (libskull_mem.so) is not preloaded into this process'
        : 'libskull_mem.so is loaded but not counting: it was linked or opened after start, not preloaded';
    result.fix = PRELOAD_COMMAND;
  } else if (preload.version !== result.packageVersion || result.bindingVersion !== result.packageVersion) {
    result.reason =
      `versions differ: package ${result.packageVersion}, addon ${result.bindingVersion}, ` +
      `preloaded library ${preload.version}`;
    result.fix = `preload the library of this package (${preloadPath}): ${PRELOAD_COMMAND}`;
  }
  return result;
}

/** An error's message without the `skull-mem: ` every message of the package starts with. */
function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/^skull-mem: /, '');
}

/** Set once `requireActive` has passed: a library preloaded at exec time cannot go away. */
let activeConfirmed = false;

/**
 * Whether this process is measured: true when it is, false when nothing is measured (the
 * interposer is not preloaded, or the native files cannot be loaded), which puts scopes and
 * `instrumentHttp` in no-op mode. Throws `VERSION_MISMATCH` when the interposer is preloaded
 * but belongs to another version: that is a broken deployment, not an unmeasured one.
 */
export function measuring(): boolean {
  if (activeConfirmed) return true;
  const s = status();
  if (s.reason === undefined) return (activeConfirmed = true);
  if (!s.active) return false;
  throw new SkullMemError('VERSION_MISMATCH', `skull-mem: ${s.reason}; ${s.fix}`);
}

/** Throws the documented error unless the interposer is measuring this process. */
export function requireActive(): void {
  if (measuring()) return;
  const s = status();
  const why =
    s.bindingVersion === undefined
      ? `${s.reason}; ${s.fix}`
      : `the interposer is not loaded in this process; start it with \`${PRELOAD_COMMAND}\``;
  throw new SkullMemError('NOT_PRELOADED', `skull-mem: ${why}`);
}
