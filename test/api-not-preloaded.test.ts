// Without the preload: importing works, status() explains, every measuring function throws the
// documented error, and the pure functions (diff, parseSnapshot) still work.
import { describe, expect, it } from 'vitest';
import { evaluate } from './fixtures/api-run';
import { FIX } from './helpers';

describe('without the preload', () => {
  it('status_explains_and_every_measuring_function_throws_NOT_PRELOADED', () => {
    const out = evaluate(
      `const s = sm.status();
       out.status = { active: s.active, reason: s.reason, fix: s.fix };
       const http = require('node:http');
       const calls = {
         defineScope: () => sm.defineScope('x'),
         withScope: () => sm.withScope('x', () => 1),
         snapshot: () => sm.snapshot(),
         report: () => sm.report(),
         threadpoolAttribution: () => sm.threadpoolAttribution(),
         currentScopeId: () => sm.currentScopeId(),
         instrumentHttp: () => sm.instrumentHttp(http.createServer()),
       };
       out.errors = {};
       for (const [name, call] of Object.entries(calls)) {
         try { call(); out.errors[name] = 'returned'; } catch (e) { out.errors[name] = [e instanceof sm.SkullMemError, e.code, e.message]; }
       }
       const snap = { format: 'skull-mem-snapshot', format_version: 1, time: new Date(0).toISOString(), pid: 1, version: '0.1.0',
         threads: null, region_bytes: null, trace_enabled: false, scopes: [],
         totals: { used_bytes: 0, live_blocks: 0, overhead_bytes: 0, counters: {} }, process: { rss_bytes: 0 } };
       out.diff = sm.diff(sm.parseSnapshot(snap), snap).totals.used_bytes;`,
      { preload: false },
    );
    const error = [true, 'NOT_PRELOADED', `skull-mem: the interposer is not loaded in this process; start it with \`${FIX}\``];
    expect(out).toEqual({
      status: { active: false, reason: 'the interposer (libskull_mem.so) is not preloaded into this process', fix: FIX },
      errors: {
        defineScope: error,
        withScope: error,
        snapshot: error,
        report: error,
        threadpoolAttribution: error,
        currentScopeId: error,
        instrumentHttp: error,
      },
      diff: 0,
    });
  });

  it('esm_import_works_without_the_preload', () => {
    const out = evaluate(
      `const esm = await import('skull-mem');
       out.same = esm.defineScope === sm.defineScope && esm.SkullMemError === sm.SkullMemError;
       out.missingFromEsm = Object.keys(sm).filter((name) => !(name in esm));
       try { esm.defineScope('x'); } catch (e) { out.code = e.code; }`,
      { preload: false },
    );
    expect(out).toEqual({ same: true, missingFromEsm: [], code: 'NOT_PRELOADED' });
  });
});
