// The tracing API inside a node process under the preloaded library: trace.start, leaks, stop.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluate } from './fixtures/api-run';
import { spawnSync } from 'node:child_process';
import { INDEX, LIBRARY } from './helpers';

describe('trace API', () => {
  it('start_leaks_and_stop_in_process_list_the_buffers_a_scope_keeps', () => {
    const out = evaluate(`
      const scope = sm.defineScope('api-trace', { kind: 'module' });
      const keep = [];
      out.started = sm.trace.start({ depth: 16 });
      scope.run(() => { for (let i = 0; i < 20; i++) keep.push(Buffer.allocUnsafeSlow(100000)); });
      const report = await sm.trace.leaks({ scope: 'api-trace' });
      out.top = report.groups[0] && { bytes: report.groups[0].bytes, blocks: report.groups[0].blocks, scopes: report.groups[0].scopes };
      out.total = report.groups.reduce((sum, g) => sum + g.bytes, 0);
      out.frames = report.groups[0].frames.map((f) => f.function ?? '');
      out.stopped = sm.trace.stop();
      out.text = sm.renderLeaks(report).split('\\n')[0];
      out.kept = keep.length;`);
    expect(out.started).toMatchObject({ enabled: true, depth: 16, sample_bytes: 0, scoped: false });
    // The 20 backing stores of 100,000 bytes share one stack (and the V8 bookkeeping of each
    // buffer, 128 bytes in three small blocks, is traced too, with stacks of its own).
    expect(out.top).toEqual({ bytes: 20 * 100_000, blocks: 20, scopes: ['api-trace'] });
    expect(out.total).toBeGreaterThanOrEqual(20 * (100_000 + 128));
    // Unwound through node's C++ (it has unwind tables): the ArrayBuffer allocation is named.
    expect((out.frames as string[]).some((name) => /ArrayBuffer|BackingStore|Allocate/.test(name))).toBe(true);
    expect(out.stopped).toMatchObject({ enabled: false });
    expect(out.text).toMatch(/^======== Skull Trace: live traced blocks of pid \d+ ========$/);
    expect(out.kept).toBe(20);
  });

  it('names_the_javascript_function_behind_a_native_allocation_with_perf_basic_prof', () => {
    // The walk follows the unwind tables of node's C++ down to V8's first builtin frame, which
    // has none; it goes on by frame pointers through the builtins and the JavaScript frames,
    // and the symbolizer names those from /tmp/perf-<pid>.map.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-jsleak-'));
    const script = path.join(dir, 'jsleak.js');
    fs.writeFileSync(
      script,
      [
        `const sm = require(${JSON.stringify(INDEX)});`,
        'const keep = [];',
        'function keepBuffers(n) { for (let i = 0; i < n; i++) keep.push(Buffer.allocUnsafeSlow(50000)); }',
        // Few calls, so that no optimizing tier inlines it away, whatever the machine's speed.
        'keepBuffers(1); keepBuffers(1);',
        'sm.trace.start();',
        'keepBuffers(20);',
        // The 20 calls may be split over a few stacks: node's own JavaScript between the
        // Buffer API and the allocator (FastBuffer, createUnsafeBuffer) can tier up in the
        // middle of the loop, depending on what ran before; every one of them has keepBuffers.
        "sm.trace.leaks().then(({ groups }) => { const ours = groups.filter((g) => g.frames[0].text.startsWith('node::NodeArrayBufferAllocator::') && g.frames.some((f) => f.text.includes('keepBuffers')));",
        '  process.stdout.write(JSON.stringify({ pid: process.pid, bytes: ours.reduce((n, g) => n + g.bytes, 0), frames: ours[0].frames.map((f) => f.text) })); });',
      ].join('\n'),
    );
    // --interpreted-frames-native-stack: a function still interpreted gets a frame of its own
    // in the perf map too (the usual companion of --perf-basic-prof).
    // Run in its own directory: with --perf-basic-prof node writes isolate-*-v8.log there.
    const spawned = spawnSync(process.execPath, ['--perf-basic-prof', '--interpreted-frames-native-stack', script], {
      cwd: dir,
      env: { ...process.env, LD_PRELOAD: LIBRARY },
      encoding: 'utf8',
    });
    const result = { status: spawned.status, stdout: spawned.stdout };
    const out = JSON.parse(result.stdout) as { pid: number; bytes: number; frames: string[] };
    fs.rmSync(`/tmp/perf-${out.pid}.map`, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(result.status).toBe(0);
    expect(out.bytes).toBe(20 * 50_000);
    expect(out.frames[0]).toMatch(/^node::NodeArrayBufferAllocator::/);
    const js = out.frames.find((frame) => frame.includes('keepBuffers'));
    expect(js).toMatch(new RegExp(`^JS:.keepBuffers at ${script.replace(/[.]/g, '\\.')}:3 \\(perf-${out.pid}\\.map\\)$`));
  });

  it('without_the_preload_it_throws_the_documented_error', () => {
    const out = evaluate(
      `try { sm.trace.start(); out.result = 'started'; } catch (e) { out.result = { name: e.name, code: e.code }; }`,
      { preload: false },
    );
    expect(out.result).toEqual({ name: 'SkullMemError', code: 'NOT_PRELOADED' });
  });
});
