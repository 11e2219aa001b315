/**
 * Native leak checks for Node test suites (`skull-mem/testing`): `expectNoNativeLeaks(fn)` runs
 * `fn` repeatedly in a scope of its own, collects garbage between rounds, and fails when the
 * scope's live native memory grows per iteration after warm-up.
 *
 * Why a scope: everything `fn` allocates (and the callbacks and `await` continuations it starts)
 * is charged to it, and a block freed later, by whichever code (the garbage collector's
 * finalizers included), is credited back to it; so the scope's live bytes after the rounds are
 * what `fn` left behind, whatever else the test process does meanwhile. Work Node runs on the
 * libuv threadpool (zlib's, fs's) is charged to the `threadpool` pseudo-scope, not to `fn`.
 *
 * Garbage is collected without `--expose-gc`: `v8.setFlagsFromString('--expose-gc')` makes new
 * contexts get `gc`, and `vm.runInNewContext('gc')` fetches it.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { SkullMemError } from './errors';
import { defineScope, type Scope } from './scope';
import { snapshot } from './snapshot';
import { status } from './status';
import { leakReport, tracingStatus } from './trace';

/** How to run a test suite so that native leaks can be measured. */
export const TEST_RUN_COMMAND = 'npx skull-mem run -- npx vitest run';

/** Options of `expectNoNativeLeaks`. */
export interface NativeLeakOptions {
  /** Measured iterations, after warm-up, in two halves (default 20, at least 2). */
  iterations?: number;
  /** Iterations run first and not measured: caches and lazily made state fill up (default 3). */
  warmup?: number;
  /** Growth per iteration allowed, in bytes (default 256). */
  maxBytesPerIteration?: number;
  /** The scope `fn` runs in (default `native-leak-check`, kind `test`). */
  scope?: string;
}

/** What `measureNativeGrowth` measured. */
export interface NativeGrowth {
  /** The scope `fn` ran in. */
  scope: string;
  /** Measured iterations. */
  iterations: number;
  /** Growth of the scope's live bytes over all measured iterations. */
  bytes: number;
  /** Growth of the scope's live blocks over all measured iterations. */
  blocks: number;
  /** Growth per iteration in bytes, in the half of the iterations that grew less. */
  bytesPerIteration: number;
  /** Growth per iteration in blocks, in the same half. */
  blocksPerIteration: number;
}

let collect: (() => void) | undefined;

/** V8's `gc()`, without requiring `--expose-gc` on the command line. */
function garbageCollector(): () => void {
  if (collect === undefined) {
    const exposed = (globalThis as { gc?: unknown }).gc;
    if (typeof exposed === 'function') {
      collect = exposed as () => void;
    } else {
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as () => void;
    }
  }
  return collect;
}

/** Collects garbage until the scope's figures stand still: native memory of collected objects
 * is freed by finalizers on later turns of the event loop, ArrayBuffer backing stores by a V8
 * helper thread after the collection, and a zlib stream's state once it is closed. */
async function settle(scope: Scope): Promise<{ bytes: number; blocks: number }> {
  const gc = garbageCollector();
  let last = figures(scope);
  let still = 0;
  for (let round = 0; round < 50 && still < 3; round++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, round < 3 ? 0 : 5));
    const now = figures(scope);
    still = now.bytes === last.bytes && now.blocks === last.blocks ? still + 1 : 0;
    last = now;
  }
  return last;
}

function figures(scope: Scope): { bytes: number; blocks: number } {
  const entry = snapshot().scopes.find((s) => s.id === scope.id);
  return { bytes: entry?.used_bytes ?? 0, blocks: entry?.live_blocks ?? 0 };
}

function wholeNumber(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`skull-mem: ${name} must be a whole number >= ${min} (got ${value})`);
  return value;
}

/** Throws the one error that says how to run the suite when the interposer is not measuring. */
function requireMeasured(): void {
  const s = status();
  if (s.reason === undefined) return;
  throw new SkullMemError(
    s.active ? 'VERSION_MISMATCH' : 'NOT_PRELOADED',
    `skull-mem: native leaks can only be measured with the interposer preloaded (${s.reason}); run the test suite with \`${TEST_RUN_COMMAND}\``,
  );
}

/** Runs `fn` `warmup` times, then `iterations` times in two halves, each garbage collected
 * before and after, and takes the half that grew less: what `fn` allocates once and keeps (a
 * cache it fills, code V8 compiles for it late) grows one half only, a leak grows both. */
export async function measureNativeGrowth(fn: () => unknown, options: NativeLeakOptions = {}): Promise<NativeGrowth> {
  requireMeasured();
  const iterations = wholeNumber('iterations', options.iterations ?? 20, 2);
  const warmup = wholeNumber('warmup', options.warmup ?? 3, 0);
  const scope = defineScope(options.scope ?? 'native-leak-check', { kind: 'test' });
  for (let i = 0; i < warmup; i++) await scope.run(fn);
  const halves: { bytes: number; blocks: number; iterations: number }[] = [];
  let before = await settle(scope);
  for (const half of [Math.floor(iterations / 2), Math.ceil(iterations / 2)]) {
    for (let i = 0; i < half; i++) await scope.run(fn);
    const after = await settle(scope);
    halves.push({ bytes: after.bytes - before.bytes, blocks: after.blocks - before.blocks, iterations: half });
    before = after;
  }
  const perIteration = (h: { bytes: number; iterations: number }): number => h.bytes / h.iterations;
  const least = perIteration(halves[0]) <= perIteration(halves[1]) ? halves[0] : halves[1];
  return {
    scope: scope.name,
    iterations,
    bytes: halves[0].bytes + halves[1].bytes,
    blocks: halves[0].blocks + halves[1].blocks,
    bytesPerIteration: least.bytes / least.iterations,
    blocksPerIteration: least.blocks / least.iterations,
  };
}

/** The top call sites of the scope's live traced blocks, when this process is traced. */
function topSites(scope: string): string {
  const tracing = tracingStatus(process.pid);
  if (!tracing.enabled) return '; trace the run (`skull-mem run --trace all`) to see where they are allocated';
  const report = leakReport(process.pid, { scope, top: 3 });
  const sites = report.groups.map((group) => {
    const frames = group.frames.slice(0, 4).map((frame) => `      ${frame.text}`);
    return [`    ${group.bytes} bytes in ${group.blocks} block(s):`, ...frames].join('\n');
  });
  return sites.length === 0 ? '' : `; top call sites of its live blocks:\n${sites.join('\n')}`;
}

/** The failure message for `growth` over the allowed `max` bytes per iteration. */
export function nativeLeakMessage(growth: NativeGrowth, max: number): string {
  const bytes = Math.round(growth.bytesPerIteration);
  const kib = (growth.bytesPerIteration / 1024).toFixed(1);
  return (
    `native memory leaked: scope "${growth.scope}" grew by ${bytes} bytes (${kib} KiB) and ` +
    `${growth.blocksPerIteration.toFixed(1)} blocks per iteration over ${growth.iterations} iterations ` +
    `(allowed: ${max} bytes per iteration)${topSites(growth.scope)}`
  );
}

/**
 * Runs `fn` (sync or async) repeatedly in a fresh scope and throws an Error stating bytes and
 * blocks per iteration (and, when the process is traced, the top call sites) when the scope's
 * live native memory grows by more than `maxBytesPerIteration` per iteration after warm-up.
 * @throws {SkullMemError} `NOT_PRELOADED` when the suite does not run under `skull-mem run`.
 */
export async function expectNoNativeLeaks(fn: () => unknown, options: NativeLeakOptions = {}): Promise<NativeGrowth> {
  const max = options.maxBytesPerIteration ?? 256;
  if (!(max >= 0)) throw new RangeError(`skull-mem: maxBytesPerIteration must be a number >= 0 (got ${max})`);
  const growth = await measureNativeGrowth(fn, options);
  if (growth.bytesPerIteration > max) throw new Error(nativeLeakMessage(growth, max));
  return growth;
}
