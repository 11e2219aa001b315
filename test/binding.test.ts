// The binding is thin and typed: TypeScript never casts it, it returns objects (never JSON
// text), and src/ leaves /proc to the inspect crate.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INDEX, ROOT, node } from './helpers';

/** Every .ts file under `dir`, recursively. */
function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)));
}

/** The file's code without its comments, so that prose about /proc or casts does not count. */
function code(file: string): string {
  return fs
    .readFileSync(path.join(ROOT, file), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1');
}

/** The functions src/native-binding.d.ts declares, with the type each returns. */
function declared(): Map<string, string> {
  const dts = fs.readFileSync(path.join(ROOT, 'src', 'native-binding.d.ts'), 'utf8');
  return new Map([...dts.matchAll(/^export declare function (\w+)\(.*\): (.+)$/gm)].map((m) => [m[1], m[2]]));
}

/** The functions that render text; every other one returns structured values. */
const TEXT_FUNCTIONS = [
  'bindingVersion',
  'collapsedStacks',
  'describeTracing',
  'diffTable',
  'escapeJson',
  'escapeText',
  'eventLine',
  'humanBytes',
  'leaksText',
  'memoryTable',
  'stacksText',
  'statusText',
  'traceHtml',
];

describe('the typed binding', () => {
  it('no_file_of_src_or_bin_casts_the_binding', () => {
    const casts = [/\bas\s+unknown\s+as\b/, /\bas\s+\w*Binding\b/, /nativeBinding\(\)\s*as\b/, /require\([^)]*\)\s*as\b/, /<\w*Binding>/];
    const found = [...sources('src'), ...sources('bin')].flatMap((file) =>
      casts.filter((cast) => cast.test(code(file))).map((cast) => `${file}: ${cast}`),
    );
    expect(found).toEqual([]);
  });

  it('src_reads_no_proc_file', () => {
    const found = sources('src').filter((file) => /['"`]\/proc\//.test(code(file)));
    expect(found).toEqual([]);
  });

  it('the_declarations_return_strings_only_from_the_text_renderers', () => {
    const strings = [...declared()].filter(([, type]) => type === 'string').map(([name]) => name);
    expect(strings.sort()).toEqual(TEXT_FUNCTIONS);
  });

  it('every_function_of_the_addon_returns_values_of_its_declared_shape_and_no_json_text', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-binding-'));
    try {
      const out = node(
        `const b = require(${JSON.stringify(INDEX.replace(/index\.js$/, 'native.js'))}).nativeBinding();
         const pid = process.pid;
         const id = b.scopeRegister('binding-test', 'module');
         const reading = b.readProcess(pid);
         const snap = b.takeProcessSnapshot(pid);
         const later = { ...snap, time: new Date(Date.parse(snap.time) + 1000).toISOString() };
         const growth = b.diff(snap, later);
         const calls = {
           bindingVersion: () => b.bindingVersion(),
           preloadStatus: () => b.preloadStatus(),
           report: () => b.report(),
           snapshotScopes: () => b.snapshotScopes(),
           scopeRegister: () => b.scopeRegister('binding-test', 'module'),
           scopeEnter: () => b.scopeLeave(b.scopeEnter(id)),
           scopeLeave: () => b.scopeLeave(b.scopeCurrent()),
           scopeCurrent: () => b.scopeCurrent(),
           scopeSwitch: () => b.scopeSwitch(b.scopeSwitch(id)),
           scopeSwitchWords: () => { const words = b.scopeSwitchWords(); return words instanceof ArrayBuffer && words.byteLength === 8 ? words : 'not 8 bytes'; },
           threadpoolMark: () => b.threadpoolMark(id, 0),
           readProcess: () => reading,
           readSegmentFile: () => b.readSegmentFile(reading.segment.path),
           scanProcesses: () => b.scanProcesses(undefined, false),
           listProcesses: () => b.listProcesses(),
           takeProcessSnapshot: () => snap,
           memoryTable: () => b.memoryTable(snap, { detail: true, sort: 'used' }),
           humanBytes: () => b.humanBytes(1536),
           escapeText: () => b.escapeText('name'),
           escapeJson: () => b.escapeJson('"name"'),
           diff: () => growth,
           diffTable: () => b.diffTable(growth),
           traceControl: () => b.traceControl(pid, undefined, 8, 0, []),
           traceStatus: () => b.traceStatus(pid),
           traceLeaks: () => b.traceLeaks(pid, undefined, 0, undefined, 1),
           traceLeaksAsync: () => b.traceLeaksAsync(pid, undefined, 0, undefined, 1),
           LeakPages: () => b.LeakPages,
           releaseSymbols: () => b.releaseSymbols(),
           traceReport: () => b.traceReport(pid, undefined, 1),
           traceEvents: () => b.traceEvents(pid, undefined, 0, 1, 0),
           leaksText: () => b.leaksText(b.traceLeaks(pid, undefined, 0, undefined, 1)),
           stacksText: () => b.stacksText(b.traceReport(pid, undefined, 1)),
           collapsedStacks: () => b.collapsedStacks(b.traceReport(pid, undefined, 1)),
           eventLine: () => { const keep = Buffer.alloc(100); b.traceEvents(pid, undefined, 0, 1, 5); Buffer.alloc(200); const e = b.traceEvents(pid, undefined, 0, 1, 0).events; return e.length > 0 ? b.eventLine(e[0]) : keep; },
           describeTracing: () => b.describeTracing(b.traceStatus(pid)),
           statusText: () => b.statusText(pid, b.traceStatus(pid)),
           settings: () => b.settings(),
           SettingKind: () => b.SettingKind,
           checkSetting: () => b.checkSetting('cache', '4096'),
           parseTraceSetting: () => b.parseTraceSetting('all:8'),
           renderMetrics: () => b.renderMetrics(undefined, false),
           scopeMetricFamilies: () => b.scopeMetricFamilies(),
           ownScopeMetrics: () => b.ownScopeMetrics(),
           scrapeHeapProfile: () => b.scrapeHeapProfile(pid),
           tracePprof: () => b.tracePprof(pid),
           traceHtml: () => b.traceHtml(pid),
           snapshotPprof: () => b.snapshotPprof(pid),
         };
         const kind = (value) => {
           if (value instanceof Promise) return 'promise';
           if (Array.isArray(value)) return 'array';
           if (value === null) return 'null';
           if (typeof value !== 'string') return typeof value;
           try { const parsed = JSON.parse(value); return typeof parsed === 'object' && parsed !== null ? 'json text' : 'string'; }
           catch { return 'string'; }
         };
         const out = { untested: Object.keys(b).filter((name) => !(name in calls)), kinds: {} };
         for (const [name, call] of Object.entries(calls)) out.kinds[name] = kind(call());
         // What the asynchronous report resolves to: its pages, objects too (the outcome once).
         b.traceLeaksAsync(pid, undefined, 0, undefined, 1).then((pages) => {
           out.leakPages = [pages instanceof b.LeakPages, kind(pages.outcome()), kind(pages.outcome()), kind(pages.nextGroups(1)[0]), kind(pages.nextGroups(1))];
           b.traceControl(pid, undefined, 0, 0, []);
           out.summary = [b.humanBytes(1536), b.memoryTable(snap, { detail: false, sort: 'name' }).split('\\n')[0].startsWith('======== Skull Memory Measurement'),
             growth.seconds, reading.report.scopes[0].counters.alloc_bytes > 0];
           process.stdout.write(JSON.stringify(out));
         });`,
        { preload: true, env: { SKULL_MEM_DIR: dir } },
      );
      expect(out.stderr).toBe('');
      const result = JSON.parse(out.stdout) as { untested: string[]; kinds: Record<string, string>; leakPages: unknown[]; summary: unknown[] };
      expect(result.untested).toEqual([]);
      const texts = Object.entries(result.kinds).filter(([, kind]) => kind === 'string').map(([name]) => name);
      expect(texts.sort()).toEqual(TEXT_FUNCTIONS);
      expect(Object.values(result.kinds)).not.toContain('json text');
      expect(result.kinds).toMatchObject({
        preloadStatus: 'object',
        settings: 'array',
        SettingKind: 'object',
        checkSetting: 'number',
        parseTraceSetting: 'object',
        report: 'object',
        snapshotScopes: 'array',
        scopeCurrent: 'number',
        scopeSwitchWords: 'object',
        threadpoolMark: 'promise',
        readProcess: 'object',
        scanProcesses: 'object',
        listProcesses: 'object',
        takeProcessSnapshot: 'object',
        diff: 'object',
        traceControl: 'object',
        traceLeaks: 'object',
        traceLeaksAsync: 'promise',
        LeakPages: 'function',
        releaseSymbols: 'boolean',
        traceReport: 'object',
        traceEvents: 'object',
        renderMetrics: 'object',
        scopeMetricFamilies: 'array',
        ownScopeMetrics: 'array',
        scrapeHeapProfile: 'object',
        tracePprof: 'object',
        snapshotPprof: 'object',
      });
      // A LeakPages; the report without groups, then null; one group (top 1); then none left.
      expect(result.leakPages).toEqual([true, 'object', 'null', 'object', 'array']);
      expect(result.summary).toEqual(['1.5 KiB', true, 1, true]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
