// skull-mem/vitest: the vitest matcher `await expect(fn).not.toLeakNativeMemory(options)`, which
// passes when `fn` leaves no native memory behind per iteration (see `expectNoNativeLeaks` in
// src/testing.ts, whose measurement it uses). Importing this module registers the matcher (in a
// setup file, or in a test). ESM only, as vitest itself: vitest cannot be `require`d. Copied
// beside the compiled build by scripts/build.mjs; its types are src/vitest.d.mts.
import { expect } from 'vitest';
import { measureNativeGrowth, nativeLeakMessage } from './testing.js';

const DEFAULT_MAX_BYTES_PER_ITERATION = 256;

expect.extend({
  async toLeakNativeMemory(received, options = {}) {
    if (typeof received !== 'function') throw new TypeError('skull-mem: toLeakNativeMemory expects a function');
    const max = options.maxBytesPerIteration ?? DEFAULT_MAX_BYTES_PER_ITERATION;
    const growth = await measureNativeGrowth(received, options);
    const leaked = growth.bytesPerIteration > max;
    return {
      pass: leaked,
      message: () =>
        leaked
          ? nativeLeakMessage(growth, max)
          : `expected a native leak, but scope "${growth.scope}" grew by ${Math.round(growth.bytesPerIteration)} bytes per iteration (allowed: ${max})`,
    };
  },
});
