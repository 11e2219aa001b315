// The TypeScript API and the addon, in real node processes with and without the preload.
import { describe, expect, it } from 'vitest';
import { FIX, INDEX, LIBRARY, VERSION, node } from './helpers';

/** Runs `body` (which sets `out`) in a fresh node and returns `out` parsed from JSON. */
function evaluate(body: string, preload: boolean): Record<string, unknown> {
  const script = `const sm = require(${JSON.stringify(INDEX)}); let out = {}; ${body}; process.stdout.write(JSON.stringify(out));`;
  const result = node(script, { preload });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

const CAUGHT = `try { sm.report(); out.report = 'returned'; } catch (e) { out.report = { name: e.name, code: e.code, message: e.message }; }`;

describe('without the preload', () => {
  it('status_says_inactive_and_gives_the_fix_command', () => {
    const out = evaluate('out = sm.status()', false);
    expect(out).toEqual({
      active: false,
      bindingVersion: VERSION,
      packageVersion: VERSION,
      preloadPath: LIBRARY,
      reason: 'the interposer (libskull_mem.so) is not preloaded into this process',
      fix: FIX,
    });
  });

  it('report_throws_the_documented_error', () => {
    const out = evaluate(CAUGHT, false);
    expect(out.report).toEqual({
      name: 'SkullMemError',
      code: 'NOT_PRELOADED',
      message: `skull-mem: the interposer is not loaded in this process; start it with \`${FIX}\``,
    });
  });

  it('binding_calls_throw_an_actionable_error_instead_of_crashing', () => {
    const out = evaluate(
      `const b = require(${JSON.stringify(INDEX.replace('index.js', 'native.js'))}).nativeBinding();
       out.messages = [() => b.report(), () => b.snapshotScopes(), () => b.scopeCurrent()].map((f) => {
         try { f(); return 'returned'; } catch (e) { return e.message; } });`,
      false,
    );
    const notLoaded = `skull-mem: the interposer is not loaded in this process; start it with \`${FIX}\``;
    expect(out.messages).toEqual([notLoaded, notLoaded, notLoaded]);
  });
});

describe('with the preload', () => {
  it('status_is_active_and_all_three_parts_report_the_same_version', () => {
    const out = evaluate('out = sm.status()', true);
    expect(out).toEqual({
      active: true,
      version: VERSION,
      abiVersion: 1,
      bindingVersion: VERSION,
      packageVersion: VERSION,
      preloadPath: LIBRARY,
    });
  });

  it('json_report_lists_the_core_and_init_scopes', () => {
    const out = evaluate(`out = JSON.parse(sm.report('json'))`, true);
    expect(out.version).toBe(VERSION);
    const scopes = out.scopes as { id: number; name: string; kind: string }[];
    expect(scopes.find((s) => s.name === 'core')).toMatchObject({ id: 0, kind: 'core' });
    expect(scopes.find((s) => s.name === 'init')).toMatchObject({ id: 1, kind: 'init' });
  });

  it('text_report_is_the_cli_table_with_the_scopes_figures', () => {
    const out = evaluate(
      `const scope = sm.defineScope('report-test', { kind: 'service' });
       const b = require(${JSON.stringify(INDEX.replace('index.js', 'native.js'))}).nativeBinding();
       out.keep = scope.run(() => Buffer.allocUnsafeSlow(1 << 20)).length;
       out.used = b.snapshotScopes().find((s) => s.name === 'report-test').usedBytes;
       out.text = sm.report('text', { detail: true })`,
      true,
    );
    const text = out.text as string;
    expect(text).toMatch(new RegExp(`^======== Skull Memory Measurement ======== pid \\d+: `));
    const row = text.split('\n').find((line) => / report-test /.test(line))!.trim().split(/\s+/);
    // kind, name, used, peak, blocks: the same figures the binding reads.
    expect(row.slice(0, 3)).toEqual(['service', 'report-test', String(out.used)]);
    expect(Number(row[2])).toBeGreaterThanOrEqual(1 << 20);
    expect(text).toMatch(/Process RSS\s+\d+ bytes/);
  });

  it('scopes_round_trip_through_the_binding', () => {
    const out = evaluate(
      `const b = require(${JSON.stringify(INDEX.replace('index.js', 'native.js'))}).nativeBinding();
       const id = b.scopeRegister('api-test', 'module');
       out.again = b.scopeRegister('api-test', 'module') === id;
       out.before = b.scopeCurrent();
       out.previous = b.scopeEnter(id);
       out.inside = b.scopeCurrent() === id;
       const keep = Buffer.alloc(1 << 20, 1);
       const mine = b.snapshotScopes().find((s) => s.id === id);
       b.scopeLeave(out.previous);
       out.after = b.scopeCurrent();
       out.scope = { name: mine.name, kind: mine.kind, counters: mine.counters.length };
       out.charged = mine.usedBytes >= keep.length && mine.liveBlocks >= 1;
       out.ids = b.snapshotScopes().slice(0, 2).map((s) => [s.id, s.name, s.kind]);
       try { b.scopeEnter(4000000000); } catch (e) { out.unknown = e.message; }`,
      true,
    );
    expect(out).toEqual({
      again: true,
      before: 0,
      previous: 0,
      inside: true,
      after: 0,
      scope: { name: 'api-test', kind: 'module', counters: 20 },
      charged: true,
      ids: [
        [0, 'core', 'core'],
        [1, 'init', 'init'],
      ],
      unknown: 'skull-mem: unknown scope id 4000000000; use an id returned by scopeRegister',
    });
  });

  it('esm_import_and_require_share_one_copy_of_the_package', () => {
    const script = `import * as esm from 'skull-mem'; import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('skull-mem');
      console.log(esm.status === cjs.status, esm.status().active);`;
    const result = node(script, { preload: true, env: { NODE_OPTIONS: '--input-type=module' } });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('true true\n');
  });
});
