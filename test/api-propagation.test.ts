// Scope propagation through every kind of async continuation, on the node that runs the tests
// (.ci/run runs this file under Node 20, 22 and 24).
import { describe, expect, it } from 'vitest';
import { PRELUDE, evaluate } from './fixtures/api-run';
import { INDEX, ROOT, run } from './helpers';
import { NODE_MAJOR, PER_BUFFER_BYTES } from './fixtures/v8-buffers';

const NATIVE = INDEX.replace(/index\.js$/, 'native.js');

/** Continuation kinds each task goes through once per round, allocating one buffer in each. */
const KINDS = [
  'await',
  'setTimeout',
  'setImmediate',
  'setInterval',
  'nextTick',
  'queueMicrotask',
  'fs callback',
  'fs.promises',
  'stream transform',
  'stream write',
  'EventEmitter listener',
  'events.once',
  'socket data',
] as const;
const ROUNDS = 5;

/** The mechanisms of the running node, its default first: Node 24 has `trackPromises` and
 * AsyncContextFrame, Node 20 and 22 (without flags) neither; see src/propagation.ts. */
const MECHANISMS = NODE_MAJOR >= 24 ? ['promise-hooks', 'context-frame', 'async-hooks'] : ['async-hooks'];

describe('scope propagation', () => {
  it('the_default_is_the_cheapest_exact_mechanism_of_this_runtime_and_each_can_be_forced', () => {
    const chosen = (env: NodeJS.ProcessEnv) => evaluate(`out.mechanism = sm.scopePropagation();`, { env }).mechanism as string;
    expect(chosen({})).toBe(MECHANISMS[0]);
    for (const mechanism of MECHANISMS) expect(chosen({ SKULL_MEM_PROPAGATION: mechanism })).toBe(mechanism);
    // One this runtime lacks (or no such name) is ignored.
    expect(chosen({ SKULL_MEM_PROPAGATION: NODE_MAJOR >= 24 ? 'none' : 'context-frame' })).toBe(MECHANISMS[0]);
  });
});

describe('benches/node_scope.mjs', () => {
  it('runs_every_mechanism_of_this_runtime_against_plain_node_and_prints_its_table', () => {
    // The benchmark with one round of tiny counts (figures meaningless, well under a second of
    // work): it must start a child per mechanism and print a row for each, so it cannot rot
    // unnoticed when the API moves. Rows: 2 sync and 2 async baselines, a sync and an async
    // row per mechanism, 3 floors.
    const result = run([process.execPath, `${ROOT}/benches/node_scope.mjs`], { env: { ROUNDS: '1', SYNC_CALLS: '1000', ASYNC_CALLS: '100' } });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const rows = result.stdout.split('\n').filter((line) => / ns +[\d.]+x plain/.test(line));
    const config = (line: string) => line.slice(28).trim().split(/ +/)[0];
    expect(rows.map(config)).toEqual([
      'plain',
      'preload',
      ...MECHANISMS.map((m) => `scoped:${m}`),
      'plain',
      'preload',
      ...MECHANISMS.map((m) => `scoped:${m}`),
      'ah-empty',
      'als',
      'v8-promise',
    ]);
    expect(result.stdout).toMatch(new RegExp(`async3 with scopes \\(${MECHANISMS[0]}\\) / plain: [\\d.]+x`));
  });
});

describe.each(MECHANISMS)('scope propagation with %s', (mechanism) => {
  const env = { SKULL_MEM_PROPAGATION: mechanism };

  it('interleaved_tasks_keep_their_scope_in_every_kind_of_continuation', () => {
    // Two tasks run at once, A keeping 256 KiB buffers and B 64 KiB ones, one in every kind of
    // callback or continuation, 5 rounds. At each allocation the thread-local the library
    // charges must equal the task's scope: `mismatches` must be exactly empty. The scopes'
    // growth must be their buffers' figure: 65 buffers each, plus V8's bookkeeping
    // (PER_BUFFER_BYTES); tolerance 16 KiB for what Node keeps of the allocations it makes while
    // a task's JavaScript runs (timer lists, stream and socket state; measured 4.3 KiB on Node
    // 20, 8.6 KiB on Node 22, 0 on Node 24): a quarter of one buffer of B, so a single misplaced
    // continuation fails the test. Live blocks are not compared: those incidental allocations
    // are many small blocks (up to 150 more on Node 22), while the exact number of buffers each
    // task made is checked by `counts`.
    const out = evaluate(`${PRELUDE}
      const fs = require('node:fs');
      const net = require('node:net');
      const { EventEmitter, once } = require('node:events');
      const { Readable, Transform, Writable } = require('node:stream');
      const { pipeline } = require('node:stream/promises');
      const native = require(${JSON.stringify(NATIVE)}).nativeBinding();
      const keep = [];
      const mismatches = [];
      const counts = {};
      // The emitter and the echo server exist outside any scope: who emits decides.
      const emitter = new EventEmitter();
      emitter.on('work', (scope, size, kind) => alloc(scope, size, kind));
      const echo = net.createServer((socket) => socket.pipe(socket));
      await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve));
      const alloc = (scope, size, kind) => {
        const current = native.scopeCurrent();
        if (current !== scope.id) mismatches.push(kind + ' in ' + scope.name + ': ' + current);
        counts[scope.name] = (counts[scope.name] ?? 0) + 1;
        keep.push(Buffer.allocUnsafeSlow(size));
      };
      const round = async (scope, size) => {
        await null; alloc(scope, size, 'await');
        await new Promise((r) => setTimeout(() => { alloc(scope, size, 'setTimeout'); r(); }, 1));
        await new Promise((r) => setImmediate(() => { alloc(scope, size, 'setImmediate'); r(); }));
        await new Promise((r) => { let n = 0; const t = setInterval(() => { if (++n === 2) { clearInterval(t); alloc(scope, size, 'setInterval'); r(); } }, 1); });
        await new Promise((r) => process.nextTick(() => { alloc(scope, size, 'nextTick'); r(); }));
        await new Promise((r) => queueMicrotask(() => { alloc(scope, size, 'queueMicrotask'); r(); }));
        await new Promise((r, j) => fs.stat('/', (e) => { if (e) j(e); else { alloc(scope, size, 'fs callback'); r(); } }));
        await fs.promises.stat('/'); alloc(scope, size, 'fs.promises');
        await pipeline(
          Readable.from(['a', 'b']),
          new Transform({ transform(chunk, _enc, done) { if (chunk.toString() === 'a') alloc(scope, size, 'stream transform'); done(null, chunk); } }),
          new Writable({ write(chunk, _enc, done) { if (chunk.toString() === 'b') alloc(scope, size, 'stream write'); setTimeout(done, 1); } }),
        );
        await null; emitter.emit('work', scope, size, 'EventEmitter listener');
        const local = new EventEmitter();
        setTimeout(() => local.emit('go'), 1);
        await once(local, 'go'); alloc(scope, size, 'events.once');
        await new Promise((r, j) => {
          const socket = net.connect(echo.address().port, '127.0.0.1', () => socket.write('ping'));
          socket.once('data', () => { alloc(scope, size, 'socket data'); socket.end(); });
          socket.on('close', r).on('error', j);
        });
      };
      const task = (scope, size, rounds) => scope.run(async () => { for (let i = 0; i < rounds; i++) await round(scope, size); });
      const a = sm.defineScope('prop-a'), b = sm.defineScope('prop-b');
      // Warm-up: compiles everything above, creates Node's lazily made state (timer lists, the
      // threadpool's first work, stream internals) before measuring.
      await Promise.all([task(a, 1024, 1), task(b, 1024, 1)]);
      for (const k in counts) counts[k] = 0;
      // Frees now what the warm-up left for the GC (a closed socket's 64 KiB read buffer), so
      // it is not credited back to its scope in the middle of the measurement.
      gc(); await new Promise((r) => setImmediate(r)); gc();
      const a0 = scopeOf('prop-a'), b0 = scopeOf('prop-b');
      await Promise.all([task(a, 262144, ${ROUNDS}), task(b, 65536, ${ROUNDS})]);
      gc(); await new Promise((r) => setImmediate(r)); gc();
      out.a = grown(a0, scopeOf('prop-a'));
      out.b = grown(b0, scopeOf('prop-b'));
      out.counts = counts;
      out.mismatches = mismatches;
      out.after = [sm.currentScopeId(), native.scopeCurrent()];
      out.mechanism = sm.scopePropagation();
      echo.close();`, { env });
    const buffers = KINDS.length * ROUNDS;
    expect(out.mismatches).toEqual([]);
    expect(out.counts).toEqual({ 'prop-a': buffers, 'prop-b': buffers });
    expect(out.after).toEqual([0, 0]);
    expect(out.mechanism).toBe(mechanism);
    for (const [growth, size] of [
      [out.a, 262144],
      [out.b, 65536],
    ] as const) {
      expect(Math.abs(growth.used - buffers * (size + PER_BUFFER_BYTES))).toBeLessThanOrEqual(16384);
    }
  });

  it('callbacks_created_outside_any_scope_run_in_core_even_while_a_scope_awaits', () => {
    // A timer, an immediate and a nextTick queued from core fire while a scope's task is
    // suspended and resumed around them: they must see core (0), the task its own scope.
    const out = evaluate(`
      const native = require(${JSON.stringify(NATIVE)}).nativeBinding();
      const seen = [];
      const a = sm.defineScope('prop-core');
      const task = a.run(async () => {
        for (let i = 0; i < 20; i++) { await new Promise((r) => setTimeout(r, 0)); seen.push(native.scopeCurrent() === a.id ? 'a' : 'x'); }
      });
      for (let i = 0; i < 20; i++) {
        setTimeout(() => seen.push(native.scopeCurrent() === 0 ? 'core' : 'x'), 0);
        setImmediate(() => seen.push(native.scopeCurrent() === 0 ? 'core' : 'x'));
        process.nextTick(() => seen.push(native.scopeCurrent() === 0 ? 'core' : 'x'));
      }
      await task;
      out.wrong = seen.filter((s) => s === 'x').length;
      out.a = seen.filter((s) => s === 'a').length;
      out.core = seen.filter((s) => s === 'core').length;
      out.mechanism = sm.scopePropagation();`, { env });
    expect(out).toEqual({ wrong: 0, a: 20, core: 60, mechanism });
  });
});
