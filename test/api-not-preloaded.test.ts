// Without the preload: importing works, status() explains, scopes and instrumentHttp are
// pass-throughs (no-op mode), every function that reads counters throws the documented error,
// and the pure functions (diff, parseSnapshot) still work.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluate } from './fixtures/api-run';
import { FIX, INDEX, ROOT, run } from './helpers';

const NOT_LOADED = `skull-mem: the interposer is not loaded in this process; start it with \`${FIX}\``;

/**
 * A small service using every scope function and instrumentHttp: nested and throwing scopes,
 * awaits, timers, nextTick, an EventEmitter and three HTTP requests. It prints what it computed;
 * `sm` is skull-mem, or, for the run "without skull-mem installed", `null`, where each call is
 * replaced by what it stands for (the function called directly, no server instrumented).
 */
const SERVICE = `
const http = require('node:http');
const { EventEmitter } = require('node:events');
const sm = process.env.SERVICE_SM ? require(process.env.SERVICE_SM) : null;
const run = (name, fn) => (sm ? sm.withScope(name, fn, { kind: 'service' }) : fn());
const scope = (name) => (sm ? sm.defineScope(name) : { run: (fn) => fn(), name });
const out = [];
(async () => {
  const db = scope('db');
  out.push(db.run(() => 6 * 7), db.name);
  out.push(await db.run(async () => { await null; await new Promise((r) => setTimeout(r, 1)); return 'awaited'; }));
  out.push(run('cache', () => run('nested', () => 'nested')));
  try { db.run(() => { throw new Error('thrown through'); }); } catch (e) { out.push(e.message); }
  out.push(await new Promise((r) => db.run(() => process.nextTick(() => r('tick')))));
  const events = new EventEmitter();
  events.on('hit', (n) => out.push('event ' + n));
  db.run(() => events.emit('hit', 1));
  out.push(sm ? [sm.currentScopeId(), await sm.threadpoolAttribution()] : [0, 0]);
  const server = http.createServer(async (req, res) => { await null; res.end(req.method + ' ' + req.url); });
  const stop = sm ? sm.instrumentHttp(server) : () => undefined;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const get = (p) => new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port: server.address().port, path: p }, (res) => {
    let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => resolve(res.statusCode + ' ' + body));
  }).on('error', reject));
  out.push(...(await Promise.all(['/a', '/b?x=1', '/a'].map(get))));
  stop();
  server.close();
  console.log(JSON.stringify(out));
})();`;

describe('without the preload', () => {
  it('a_service_using_every_scope_function_and_instrumentHttp_runs_as_without_skull_mem', () => {
    // The same output three ways: without skull-mem, with skull-mem not preloaded (no-op
    // mode), and preloaded (measured) — scopes change what is charged, never what runs.
    // With the preload, the one line that differs by design is the pool size: 4 libuv threads
    // charge `threadpool` (UV_THREADPOOL_SIZE unset), 0 when nothing is measured.
    const expected = [42, 'db', 'awaited', 'nested', 'thrown through', 'tick', 'event 1', [0, 0], '200 GET /a', '200 GET /b?x=1', '200 GET /a'];
    const service = (env: NodeJS.ProcessEnv, preload: boolean) => {
      const result = run([process.execPath, '-e', SERVICE], { env, preload });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      return JSON.parse(result.stdout) as unknown[];
    };
    expect(service({}, false)).toEqual(expected);
    expect(service({ SERVICE_SM: INDEX }, false)).toEqual(expected);
    const measured = [...expected];
    measured[7] = [0, 4];
    expect(service({ SERVICE_SM: INDEX }, true)).toEqual(measured);
  });

  it('status_explains_scopes_pass_through_and_counter_readers_throw_NOT_PRELOADED', () => {
    const out = evaluate(
      `const s = sm.status();
       out.status = { active: s.active, reason: s.reason, fix: s.fix };
       const scope = sm.defineScope('x', { kind: 'route' });
       out.scope = [scope.id, scope.name, scope.kind, scope.run(() => 'ran'), sm.withScope('y', () => 'ran too')];
       out.pool = await sm.threadpoolAttribution();
       out.current = sm.currentScopeId();
       out.propagation = sm.scopePropagation();
       const calls = {
         snapshot: () => sm.snapshot(),
         report: () => sm.report(),
         'trace.start': () => sm.trace.start(),
         'trace.stop': () => sm.trace.stop(),
         'trace.status': () => sm.trace.status(),
         'trace.leaks': () => sm.trace.leaks(),
         'trace.releaseSymbols': () => sm.trace.releaseSymbols(),
       };
       out.errors = {};
       for (const [name, call] of Object.entries(calls)) {
         try { await call(); out.errors[name] = 'returned'; } catch (e) { out.errors[name] = [e instanceof sm.SkullMemError, e.code, e.message]; }
       }
       const snap = { format: 'skull-mem-snapshot', format_version: 1, time: new Date(0).toISOString(), pid: 1, version: '0.1.0',
         threads: null, region_bytes: null, trace_enabled: false, scopes: [],
         totals: { used_bytes: 0, live_blocks: 0, overhead_bytes: 0, counters: {} }, process: { rss_bytes: 0 } };
       out.diff = sm.diff(sm.parseSnapshot(snap), snap).totals.used_bytes;`,
      { preload: false },
    );
    const error = [true, 'NOT_PRELOADED', NOT_LOADED];
    expect(out).toEqual({
      status: { active: false, reason: 'the interposer (libskull_mem.so) is not preloaded into this process', fix: FIX },
      // Every scope has core's id: nothing is charged anywhere.
      scope: [0, 'x', 'route', 'ran', 'ran too'],
      pool: 0,
      current: 0,
      propagation: 'none',
      errors: {
        snapshot: error,
        report: error,
        'trace.start': error,
        'trace.stop': error,
        'trace.status': error,
        'trace.leaks': error,
        'trace.releaseSymbols': error,
      },
      diff: 0,
    });
  });

  it('without_the_native_files_status_says_why_scopes_still_pass_through_and_readers_throw', () => {
    // The JavaScript alone, as installed with --omit=optional: no platform package beside it
    // (test/package.test.ts does the same with real npm installs).
    const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-mem-bare-'));
    try {
      fs.cpSync(path.join(ROOT, 'dist', 'src'), path.join(bare, 'dist', 'src'), { recursive: true });
      fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(bare, 'package.json'));
      const script = `const sm = require(${JSON.stringify(path.join(bare, 'dist', 'src', 'index.js'))});
        const s = sm.status();
        let error; try { sm.snapshot(); } catch (e) { error = [e.code, e.message]; }
        console.log(JSON.stringify({ s, ran: sm.defineScope('z').run(() => 1), stop: typeof sm.instrumentHttp(require('node:http').createServer()), error }));`;
      const result = run([process.execPath, '-e', script], { preload: false });
      expect(result.stderr).toBe('');
      const reason =
        'the native package @skull-mem/linux-x64-gnu for linux-x64-gnu is not installed. It is an optional dependency of skull-mem, ' +
        'left out by --omit=optional (or --no-optional) and by a package-lock.json made on another platform. Install it: ' +
        '`npm install --include=optional skull-mem` or `npm install @skull-mem/linux-x64-gnu@0.1.0`. ' +
        'See https://github.com/skull-mem/skull-mem#platform-support';
      const fix = 'npm install --include=optional skull-mem';
      expect(JSON.parse(result.stdout)).toEqual({
        s: { active: false, packageVersion: '0.1.0', reason, fix },
        ran: 1,
        stop: 'function',
        error: ['NOT_PRELOADED', `skull-mem: ${reason}; ${fix}`],
      });
    } finally {
      fs.rmSync(bare, { recursive: true, force: true });
    }
  });

  it('esm_import_works_without_the_preload', () => {
    const out = evaluate(
      `const esm = await import('skull-mem');
       out.same = esm.defineScope === sm.defineScope && esm.default.defineScope === sm.defineScope && esm.SkullMemError === sm.SkullMemError;
       out.missingFromEsm = Object.keys(sm).filter((name) => !(name in esm));
       try { esm.snapshot(); } catch (e) { out.code = e.code; }`,
      { preload: false },
    );
    expect(out).toEqual({ same: true, missingFromEsm: [], code: 'NOT_PRELOADED' });
  });
});
