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
  /** The Node addon's version. */
  bindingVersion: string;
  /** This JavaScript package's version. */
  packageVersion: string;
  /** The library to preload (LD_PRELOAD) to measure a process. */
  preloadPath: string;
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

/**
 * Reports whether the interposer is measuring this process. Never throws because the library
 * is absent; throws only when the native files of the installation itself are missing.
 */
export function status(): Status {
  const native = nativeBinding();
  const preload = native.preloadStatus();
  const result: Status = {
    active: preload.active,
    bindingVersion: native.bindingVersion(),
    packageVersion: packageVersion(),
    preloadPath: preloadLibraryPath(),
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
    result.fix = `preload the library of this package (${result.preloadPath}): ${PRELOAD_COMMAND}`;
  }
  return result;
}

/** Set once `requireActive` has passed: a library preloaded at exec time cannot go away. */
let activeConfirmed = false;

/** Throws the documented error unless the interposer is measuring this process. */
export function requireActive(): void {
  if (activeConfirmed) return;
  const s = status();
  if (s.reason === undefined) {
    activeConfirmed = true;
    return;
  }
  if (!s.active) {
    throw new SkullMemError(
      'NOT_PRELOADED',
      `skull-mem: the interposer is not loaded in this process; start it with \`${PRELOAD_COMMAND}\``,
    );
  }
  throw new SkullMemError('VERSION_MISMATCH', `skull-mem: ${s.reason}; ${s.fix}`);
}
