// The tracing API inside a node process under the preloaded library: trace.start, leaks, stop.
import { describe, expect, it } from 'vitest';
import { evaluate } from './fixtures/api-run';

describe('trace API', () => {
  it('start_leaks_and_stop_in_process_list_the_buffers_a_scope_keeps', () => {
    const out = evaluate(`
      const scope = sm.defineScope('api-trace', { kind: 'module' });
      const keep = [];
      out.started = sm.trace.start({ depth: 16 });
      scope.run(() => { for (let i = 0; i < 20; i++) keep.push(Buffer.allocUnsafeSlow(100000)); });
      const report = sm.trace.leaks({ scope: 'api-trace' });
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

  it('without_the_preload_it_throws_the_documented_error', () => {
    const out = evaluate(
      `try { sm.trace.start(); out.result = 'started'; } catch (e) { out.result = { name: e.name, code: e.code }; }`,
      { preload: false },
    );
    expect(out.result).toEqual({ name: 'SkullMemError', code: 'NOT_PRELOADED' });
  });
});
