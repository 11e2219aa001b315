// defineScope / run / withScope in real node processes under the preloaded library.
import { describe, expect, it } from 'vitest';
import { PRELUDE, evaluate } from './fixtures/api-run';
import { INDEX } from './helpers';
import { PER_BUFFER_BLOCKS, PER_BUFFER_BYTES, WITHOUT_GC, expectBuffersCharged } from './fixtures/v8-buffers';

const NATIVE = INDEX.replace(/index\.js$/, 'native.js');

describe('scope.run', () => {
  it('buffers_made_in_a_scope_are_charged_to_it_with_their_v8_bookkeeping', () => {
    // The same function runs five times first: V8 compiles it (bytecode, then baseline code)
    // in its first calls, and the compiler's mallocs are charged to the scope too (measured:
    // ~140 transient blocks and 1 KiB kept), which is true but not what this test is about.
    // After three calls whether a compile still lands in the measured one depends on the JS
    // heap's state: one more row in each snapshot (a `thread:node` pseudo-scope) made it land
    // there under vitest (62 blocks; main's build with one extra scope gives the same figure);
    // after five it never did, with or without the extra row.
    // No gc() just before: the first ArrayBuffer made after a GC adds a 128-byte block (see
    // the GC test below).
    const out = evaluate(`${PRELUDE}
      const scope = sm.defineScope('api-buffers', { kind: 'module' });
      const keep = [];
      const body = () => { for (let i = 0; i < 32; i++) keep.push(Buffer.allocUnsafeSlow(8192)); return 'value'; };
      for (let i = 0; i < 5; i++) scope.run(body);
      out.growth = withoutGc(() => {
        const before = scopeOf('api-buffers');
        out.returned = scope.run(body);
        const { used, live } = grown(before, scopeOf('api-buffers'));
        return { used, live };
      });
      out.kind = scopeOf('api-buffers').kind;`);
    // 32 buffers' figure, within the GC tolerance stated in fixtures/v8-buffers.ts.
    const { growth } = out as { growth: { used: number; live: number; gcs: number } };
    expect([out.returned, out.kind]).toEqual(['value', 'module']);
    expectBuffersCharged(growth, 32, 8192);
  });

  it('nested_scopes_restore_the_outer_one_when_fn_throws_and_across_awaits', () => {
    const out = evaluate(`
      const a = sm.defineScope('api-outer'), b = sm.defineScope('api-inner', { kind: 'service' });
      out.ids = [];
      a.run(() => {
        out.ids.push(sm.currentScopeId() === a.id);
        b.run(() => out.ids.push(sm.currentScopeId() === b.id));
        out.ids.push(sm.currentScopeId() === a.id);
        try { b.run(() => { throw new Error('boom'); }); } catch (e) { out.error = e.message; }
        out.ids.push(sm.currentScopeId() === a.id);
      });
      out.after = sm.currentScopeId();
      out.sameScope = sm.defineScope('api-outer') === a;
      out.withScope = sm.withScope('api-outer', () => sm.currentScopeId() === a.id);
      out.async = await a.run(async () => {
        const seen = [];
        await b.run(async () => { await null; seen.push(sm.currentScopeId() === b.id); });
        seen.push(sm.currentScopeId() === a.id);
        await new Promise((resolve) => setImmediate(resolve));
        seen.push(sm.currentScopeId() === a.id);
        return seen;
      });
      out.asyncAfter = sm.currentScopeId();`);
    expect(out).toEqual({
      ids: [true, true, true, true],
      error: 'boom',
      after: 0,
      sameScope: true,
      withScope: true,
      async: [true, true, true],
      asyncAfter: 0,
    });
  });

  it('interleaved_async_tasks_are_each_charged_only_their_own_allocations', () => {
    // A keeps 64 KiB buffers, B 16 KiB ones; each allocates after an `await` and after a timer,
    // so both kinds of continuation interleave. The heap is settled (gc() around a turn of the
    // loop) before each reading, so that garbage the warm-up left is freed before the first.
    // Tolerance: 12 KiB either way, for incidental allocations Node makes while a task's
    // JavaScript runs (timer lists, V8 bookkeeping) and frees of such blocks made earlier in
    // the task's scope (before the compile jobs ran on the main thread, fixtures/api-run.ts,
    // Node 24 credited a task with 8.6 KB of Sparkplug jobs destroyed in the window). Still
    // below one buffer of either task: a misplaced one moves 16 KiB or more.
    const out = evaluate(`${PRELUDE}
      const keep = [];
      const native = require(${JSON.stringify(NATIVE)}).nativeBinding();
      const mismatches = [];
      const check = (scope) => { if (native.scopeCurrent() !== scope.id) mismatches.push(scope.name); };
      const task = (scope, size, n) => scope.run(async () => {
        for (let i = 0; i < n; i++) {
          await null;
          check(scope);
          keep.push(Buffer.allocUnsafeSlow(size));
          await new Promise((resolve) => setTimeout(resolve, 1));
          check(scope);
          keep.push(Buffer.allocUnsafeSlow(size));
        }
      });
      const a = sm.defineScope('api-task-a'), b = sm.defineScope('api-task-b');
      const settle = async () => { gc(); await new Promise((resolve) => setImmediate(resolve)); gc(); };
      await Promise.all([task(a, 1024, 1), task(b, 1024, 1)]);
      await settle();
      const a0 = scopeOf('api-task-a'), b0 = scopeOf('api-task-b');
      await Promise.all([task(a, 65536, 10), task(b, 16384, 10)]);
      await settle();
      out.a = grown(a0, scopeOf('api-task-a'));
      out.b = grown(b0, scopeOf('api-task-b'));
      out.after = [sm.currentScopeId(), native.scopeCurrent()];
      out.mismatches = mismatches;`);
    // The thread-local the library charges equals the scope of the JS running, at every step.
    expect(out.mismatches).toEqual([]);
    expect(out.after).toEqual([0, 0]);
    for (const [growth, size] of [
      [out.a, 65536],
      [out.b, 16384],
    ] as const) {
      expect(Math.abs(growth.used - 20 * (size + PER_BUFFER_BYTES))).toBeLessThanOrEqual(12 * 1024);
      // Blocks: 32 either way; Node 22 keeps 13 to 22 more small blocks of its own per task
      // (measured, about two per round), and a misplaced buffer moves the bytes by 16 KiB or
      // more anyway.
      expect(Math.abs(growth.live - 20 * PER_BUFFER_BLOCKS)).toBeLessThanOrEqual(32);
    }
  });

  it('a_buffer_freed_by_gc_while_another_scope_runs_is_credited_back_to_its_scope', () => {
    // Allocated right after a gc(), the buffer comes with up to two more small blocks: V8's
    // remembered-set bookkeeping (`Heap::InsertIntoRememberedSetFromCode`, named by tracing),
    // 128 or 256 bytes each, whose number and size follow the heap's layout; even the size of
    // the environment moves them (measured: none, one or two, under a shell and under vitest).
    // They are freed by the next GC with the buffer, so they are part of what B's gc() credits
    // back. The test bounds them, and requires that everything A allocated, whatever it was, is
    // credited back to A exactly, as cross-scope frees.
    const out = evaluate(`${PRELUDE}
      const a = sm.defineScope('api-gc-a'), b = sm.defineScope('api-gc-b');
      let buf;
      const alloc = () => { buf = Buffer.allocUnsafeSlow(1 << 20); };
      a.run(alloc); // compiles \`alloc\` (see above)
      a.run(alloc);
      buf = null; gc();
      const a0 = scopeOf('api-gc-a');
      a.run(alloc);
      out.allocated = grown(a0, scopeOf('api-gc-a'));
      b.run(() => { buf = null; gc(); });
      out.released = grown(a0, scopeOf('api-gc-a'));`);
    const extraBlocks = out.allocated.live - PER_BUFFER_BLOCKS;
    const extraBytes = out.allocated.used - (1 << 20) - PER_BUFFER_BYTES;
    expect([0, 1, 2]).toContain(extraBlocks);
    expect(extraBytes).toBeGreaterThanOrEqual(128 * extraBlocks);
    expect(extraBytes).toBeLessThanOrEqual(256 * extraBlocks);
    const { used: bytes, live: blocks } = out.allocated;
    expect(out).toEqual({
      allocated: { used: bytes, live: blocks, allocs: blocks, crossFreedBytes: 0, crossFreedBlocks: 0 },
      released: { used: 0, live: 0, allocs: blocks, crossFreedBytes: bytes, crossFreedBlocks: blocks },
    });
  });

  it('a_worker_thread_switches_its_own_scope_not_the_main_threads', async () => {
    // Each thread switches through its own switch words (src/scope.ts, `switcher`): the
    // worker's scope gets exactly the worker's 32 buffers (were the words shared, the worker's
    // switches would move the main thread's scope and leave its own), and the main thread's
    // scope, used after the worker's, exactly its own 32. Measured right around the run, as
    // in the first test: over the worker's life, blocks the warm-up runs left (V8's) may be
    // freed on other threads (seen: 16 to 224 bytes).
    const out = evaluate(`${PRELUDE}
      const { Worker } = require('node:worker_threads');
      const workerCode = \`
        const sm = require(\${JSON.stringify(${JSON.stringify(INDEX)})});
        const { parentPort } = require('node:worker_threads');
        const scopeOf = (name) => sm.snapshot().scopes.find((s) => s.name === name);
        const scope = sm.defineScope('api-worker');
        const keep = [];
        const body = () => { for (let i = 0; i < 32; i++) keep.push(Buffer.allocUnsafeSlow(8192)); };
        for (let i = 0; i < 5; i++) scope.run(body);
        ${WITHOUT_GC}
        parentPort.postMessage(withoutGc(() => {
          const before = scopeOf('api-worker');
          scope.run(body);
          const after = scopeOf('api-worker');
          return { used: after.used_bytes - before.used_bytes, live: after.live_blocks - before.live_blocks };
        }));\`;
      const main = sm.defineScope('api-main-side');
      const keep = [];
      const body = () => { for (let i = 0; i < 32; i++) keep.push(Buffer.allocUnsafeSlow(8192)); };
      for (let i = 0; i < 5; i++) main.run(body);
      const worker = new Worker(workerCode, { eval: true });
      out.worker = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
      await new Promise((resolve) => worker.once('exit', resolve));
      out.main = withoutGc(() => {
        const mainBefore = scopeOf('api-main-side');
        main.run(body);
        const { used, live } = grown(mainBefore, scopeOf('api-main-side'));
        return { used, live };
      });`);
    type Growth = { used: number; live: number; gcs: number };
    const { worker, main } = out as { worker: Growth; main: Growth };
    expectBuffersCharged(worker, 32, 8192);
    expectBuffersCharged(main, 32, 8192);
  });
});

describe('the libuv threadpool', () => {
  it('zlib_work_queued_from_a_scope_is_charged_to_threadpool_not_core_or_another_scope', () => {
    // Node 20 runs deflateInit2 lazily on the pool thread, at the first write: zlib's state,
    // window, prev, head and pending buffers (four 64 KiB arrays and the state) are malloc'd
    // there. The pool threads charge the `threadpool` scope, so those 5 blocks appear there.
    // They cannot be charged to the scope that queued them: the pool does not know it.
    const out = evaluate(`
      const zlib = require('node:zlib');
      const a = sm.defineScope('api-zlib-a'), b = sm.defineScope('api-zlib-b');
      out.threads = await sm.threadpoolAttribution();
      const input = Buffer.alloc(1 << 20, 7);
      const before = Object.fromEntries(sm.snapshot().scopes.map((s) => [s.name, s]));
      await a.run(() => new Promise((resolve, reject) => zlib.deflate(input, (e, r) => (e ? reject(e) : resolve(r)))));
      const after = Object.fromEntries(sm.snapshot().scopes.map((s) => [s.name, s]));
      const allocs = (name) => after[name].counters.alloc_blocks - before[name].counters.alloc_blocks;
      const bytes = (name) => after[name].counters.alloc_bytes - before[name].counters.alloc_bytes;
      out.pool = { blocks: allocs('threadpool'), kind: after.threadpool.kind, used: after.threadpool.used_bytes - before.threadpool.used_bytes };
      out.poolBytesAtLeast4x64KiB = bytes('threadpool') >= 4 * 65536;
      out.otherScope = allocs('api-zlib-b');`, { env: { UV_THREADPOOL_SIZE: '3' } });
    expect(out).toEqual({
      threads: 3,
      pool: { blocks: 5, kind: 'pool', used: 0 },
      poolBytesAtLeast4x64KiB: true,
      otherScope: 0,
    });
  });

  it('without_the_threadpool_scope_the_same_work_would_land_in_core', () => {
    // The control experiment: the raw binding enters a scope but marks no pool thread, so the
    // pool's zlib state is charged to core — what the `threadpool` scope prevents.
    const out = evaluate(`
      const zlib = require('node:zlib');
      const b = require(${JSON.stringify(NATIVE)}).nativeBinding();
      const id = b.scopeRegister('api-zlib-raw', 'module');
      const core = () => b.snapshotScopes()[0].counters[0];
      const input = Buffer.alloc(1 << 20, 7);
      const before = core();
      const previous = b.scopeEnter(id);
      const done = new Promise((resolve) => zlib.deflate(input, resolve));
      b.scopeLeave(previous);
      await done;
      out.coreBytesAtLeast4x64KiB = core() - before >= 4 * 65536;
      out.threadpoolScope = b.snapshotScopes().some((s) => s.name === 'threadpool');`);
    expect(out).toEqual({ coreBytesAtLeast4x64KiB: true, threadpoolScope: false });
  });
});
