// Types of skull-mem/vitest (src/vitest.mjs): the matcher, merged into vitest's assertions.
import type { NativeLeakOptions } from './testing.js';

export type { NativeLeakOptions } from './testing.js';

interface NativeLeakMatchers<R = unknown> {
  /** Runs the received function repeatedly in a scope of its own and passes when its native
   * memory grows per iteration by more than `maxBytesPerIteration` (use it with `.not`). */
  toLeakNativeMemory(options?: NativeLeakOptions): Promise<R>;
}

declare module 'vitest' {
  interface Assertion<T> extends NativeLeakMatchers<T> {}
  interface AsymmetricMatchersContaining extends NativeLeakMatchers {}
}
