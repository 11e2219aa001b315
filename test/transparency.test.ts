// The preload must not change what a program does: same output, same exit code.
import { expect, it } from 'vitest';
import { node } from './helpers';

const WORKLOAD = `
  const kept = [];
  let hash = 0;
  for (let i = 0; i < 4000; i++) {
    const size = 1 + ((i * 7919) % 70000);
    const buf = i % 3 === 0 ? Buffer.alloc(size, i & 255) : Buffer.allocUnsafeSlow(size).fill(i & 127);
    for (let j = 0; j < buf.length; j += 4093) hash = (hash * 31 + buf[j]) >>> 0;
    if (i % 5 === 0) kept.push(buf);
  }
  const big = Buffer.concat(kept);
  console.log(kept.length, big.length, hash, big.toString('base64', 0, 64));
  console.log(JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ i, s: 'x'.repeat(i % 50) }))).length);
  process.exitCode = 7;
`;

it('buffer_workload_prints_byte_identical_output_and_exit_code_with_and_without_the_preload', () => {
  const plain = node(WORKLOAD);
  const preloaded = node(WORKLOAD, { preload: true });
  expect(plain.status).toBe(7);
  expect(preloaded.status).toBe(7);
  expect(preloaded.stdout).toBe(plain.stdout);
  expect(preloaded.stdout.split('\n')).toHaveLength(3);
});
