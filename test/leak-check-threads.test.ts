// `skull-mem run --leak-check` on a threaded program (issue 14's known defect): glibc cached
// the stacks of exited threads with the pointers they last held, and the check, scanning every
// writable mapping, counted 1 or 2 of 20 lost blocks as still reachable. `run` now turns the
// cache off for the checked command (GLIBC_TUNABLES glibc.pthread.stack_cache_size=0).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, cli } from './helpers';

let work: string;
let program: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-leak-threads-'));
  program = path.join(work, 'leak_threads');
  const gcc = spawnSync('gcc', ['-O0', '-g', '-pthread', path.join(ROOT, 'test/c/leak_threads.c'), '-o', program], { encoding: 'utf8' });
  expect(gcc.stderr).toBe('');
  expect(gcc.status).toBe(0);
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

it('counts_exactly_the_20_blocks_4_exited_threads_lost_every_time', () => {
  // Five runs: before, 4 of 5 runs said 18 lost and 1 said 19.
  for (let round = 0; round < 5; round++) {
    const run = cli(['run', '--leak-check=summary', '--', program]);
    expect(run.stderr).toMatch(/^lost: 2000 bytes in 20 block\(s\) at 1 site\(s\)$/m);
  }
});
