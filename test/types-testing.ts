// Compiled with `tsc --noEmit` by `npm run typecheck`, never run: the types of
// `skull-mem/testing` (ESM and CommonJS entries) and of the `skull-mem/vitest` matcher, resolved
// through package.json "exports".
import * as testing from 'skull-mem/testing';
import type * as CjsTesting from 'skull-mem/testing' with { 'resolution-mode': 'require' };
import 'skull-mem/vitest';
import { expect } from 'vitest';

async function usage(t: typeof testing | typeof CjsTesting): Promise<void> {
  const options: testing.NativeLeakOptions = { iterations: 20, warmup: 3, maxBytesPerIteration: 256, scope: 'parser' };
  const growth: testing.NativeGrowth = await t.expectNoNativeLeaks(async () => Buffer.alloc(16), options);
  const perIteration: number = growth.bytesPerIteration + growth.blocksPerIteration;
  const measured: testing.NativeGrowth = await t.measureNativeGrowth(() => undefined);
  const command: string = t.TEST_RUN_COMMAND + t.nativeLeakMessage(measured, perIteration);
  await expect(() => command.length).not.toLeakNativeMemory({ maxBytesPerIteration: 0 });
}

void usage;
