// skull-mem/testing and skull-mem/vitest against real Node work, in preloaded processes.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, cli, node } from './helpers';

// Per call, the leaky function keeps one Buffer of 4096 bytes, which Node 20 charges as the
// 4096-byte backing store plus three bookkeeping blocks of 128 bytes in all (README, Node.js
// API): 4224 bytes in 4 blocks per iteration.
const LEAK_MESSAGE =
  'native memory leaked: scope "leaky" grew by 4224 bytes (4.1 KiB) and 4.0 blocks per iteration over 20 iterations ' +
  '(allowed: 256 bytes per iteration); trace the run (`skull-mem run --trace all`) to see where they are allocated';

/** LEAK_MESSAGE with any figure: group 1 is the bytes per iteration. */
const LEAK_PATTERN = new RegExp(
  '^native memory leaked: scope "leaky" grew by (\\d+) bytes \\(4\\.\\d KiB\\) and \\d\\.\\d blocks per iteration over 20 iterations ' +
    '\\(allowed: 256 bytes per iteration\\); trace the run \\(`skull-mem run --trace all`\\) to see where they are allocated$',
);

describe('expectNoNativeLeaks', () => {
  it('passes Buffers, zlib and TextEncoder work and fails 4 KiB kept per call, 20 times over', () => {
    const r = cli(['run', '--', process.execPath, path.join(ROOT, 'test/fixtures/native-leaks.mjs'), '20']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { clean: number[]; leaky: string[] };
    expect(out.clean).toHaveLength(20);
    // Each clean round passed (it would have thrown); its growth is within the default budget.
    for (const growth of out.clean) expect(growth).toBeLessThanOrEqual(256);
    // Each leaky round fails with the message, with Node's figure per call (4224 bytes) give or
    // take the default budget: under load, V8's helpers once freed two blocks the scope had
    // made before a round, during it (4173 bytes, 3.9 blocks per iteration, in 1 of 20 rounds).
    expect(out.leaky).toHaveLength(20);
    for (const message of out.leaky) {
      const figures = LEAK_PATTERN.exec(message);
      expect(figures, message).not.toBeNull();
      expect(Math.abs(Number(figures![1]) - 4224), message).toBeLessThanOrEqual(256);
    }
    expect(out.leaky.filter((message) => message === LEAK_MESSAGE).length).toBeGreaterThan(0);
  });

  it('says how to run the suite when the interposer is not preloaded', () => {
    const r = node(
      `require(${JSON.stringify(path.join(ROOT, 'dist/src/testing.js'))}).expectNoNativeLeaks(() => {})` +
        '.catch((e) => { console.log(e.code + ": " + e.message); });',
    );
    expect(r.stdout).toBe(
      'NOT_PRELOADED: skull-mem: native leaks can only be measured with the interposer preloaded ' +
        '(the interposer (libskull_mem.so) is not preloaded into this process); run the test suite with `npx skull-mem run -- npx vitest run`\n',
    );
  });
});

describe('the skull-mem/vitest matcher', () => {
  it('passes a clean function and fails a leaky one in a real vitest run', () => {
    const r = cli(['run', '--', process.execPath, path.join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter', 'verbose', '--config', 'test/fixtures/matcher.vitest.config.mjs'], {
      // Plain text: this vitest run passes its colour setting on.
      env: { NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    const output = r.stdout + r.stderr;
    expect(r.status, output).toBe(1);
    expect(output).toContain('✓ test/fixtures/matcher.fixture.mjs > passes a function that frees what it allocates');
    expect(output).toContain('× test/fixtures/matcher.fixture.mjs > fails a function that keeps 4 KiB per call');
    expect(output).toContain('native memory leaked: scope "matcher-leaky" grew by 4224 bytes (4.1 KiB) and 4.0 blocks per iteration');
    expect(output).toContain('Tests  1 failed | 1 passed (2)');
  });
});
