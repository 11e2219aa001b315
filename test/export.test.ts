// pprof profiles and the HTML report, checked with the real tools people read them with:
// `go tool pprof` (Debian's golang-go) and a headless Chromium (Debian's chromium), both
// installed by .ci/run. The program, test/c/pprof_leak.c, leaks known blocks in two scopes.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from './fixtures/chromium';
import { evaluate } from './fixtures/api-run';
import { Started } from './fixtures/started';
import { LIBRARY, ROOT, cli, run } from './helpers';

const TRACE_CLI = path.join(ROOT, 'dist', 'bin', 'skull-trace.js');
const SOURCE = 'test/c/pprof_leak.c';
// What pprof_leak.c keeps: 50 blocks of 4096 bytes in "parser", 10 of 2000 in "cache".
const PARSER_BYTES = 50 * 4096;
const CACHE_BYTES = 10 * 2000;
let work: string;
let program: Started;
let pid: number;
let dir: string;
let exe: string;

function trace(args: string[]): ReturnType<typeof run> {
  return run([process.execPath, TRACE_CLI, ...args]);
}

/** `go tool pprof <args>`'s output; it must succeed. */
function pprof(args: string[]): string {
  const result = spawnSync('go', ['tool', 'pprof', ...args], {
    encoding: 'utf8',
    env: { ...process.env, GOCACHE: path.join(work, 'gocache'), GOPATH: path.join(work, 'gopath') },
  });
  expect(result.error).toBeUndefined();
  expect(result.status).toBe(0);
  return result.stdout;
}

/** The rows of `go tool pprof -top`, after its header line. */
function topRows(output: string): string[] {
  const lines = output.split('\n');
  return lines.slice(lines.findIndex((line) => /^\s+flat\s+flat%/.test(line)) + 1).filter((line) => line.trim() !== '');
}

/** The 1-based line of the source line containing `marker`. */
function lineOf(marker: string): number {
  return fs.readFileSync(path.join(ROOT, SOURCE), 'utf8').split('\n').findIndex((line) => line.includes(marker)) + 1;
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-export-'));
  exe = path.join(work, 'pprof_leak');
  const libDir = path.dirname(LIBRARY);
  const built = spawnSync('gcc', ['-g', '-O2', '-I', path.join(ROOT, 'include'), path.join(ROOT, SOURCE), '-o', exe,
    `-L${libDir}`, '-lskull_mem', `-Wl,-rpath,${libDir}`], { encoding: 'utf8' });
  expect(built.stderr).toBe('');
  dir = fs.mkdtempSync(path.join(work, 'seg-'));
  program = new Started([exe], dir);
  pid = Number((await program.line(/ready (\d+)/))[1]);
  // Tracing starts after "ready": everything the program allocates from here on is traced.
  expect(trace(['on', String(pid), '--all', '--dir', dir]).status).toBe(0);
  program.send();
  await program.line(/done/);
});

afterAll(async () => {
  expect(await program.end()).toBe(0);
  fs.rmSync(work, { recursive: true, force: true });
});

describe('skull-trace report --format pprof', () => {
  it('go_tool_pprof_ranks_the_leaking_function_first_with_the_exact_bytes_and_lists_the_scope_labels', () => {
    const file = path.join(work, 'heap.pb.gz');
    const written = trace(['report', String(pid), '--format', 'pprof', '-o', file, '--dir', dir]);
    expect([written.status, written.stderr]).toEqual([0, `skull-trace: pprof report of process ${pid} written to ${file}\n`]);
    // Gzipped, as pprof profiles are on disk and over HTTP.
    expect([...fs.readFileSync(file).subarray(0, 2)]).toEqual([0x1f, 0x8b]);

    // Live bytes: the only live traced blocks are the two leaks (churn's were all freed), so
    // parse_leak has 204800 of 224800 bytes (91.10%), and cache_block, inlined into
    // cache_leak, the other 20000 (8.90%).
    const inuse = pprof(['-top', '-sample_index=inuse_space', '-unit=B', file]);
    expect(inuse).toContain(`Showing nodes accounting for ${PARSER_BYTES + CACHE_BYTES}B, 100% of ${PARSER_BYTES + CACHE_BYTES}B total`);
    const rows = topRows(inuse);
    expect(rows[0]).toMatch(new RegExp(`^\\s*${PARSER_BYTES}B\\s+91\\.10%\\s+91\\.10%\\s+${PARSER_BYTES}B\\s+91\\.10%\\s+parse_leak$`));
    expect(rows[1]).toMatch(new RegExp(`^\\s*${CACHE_BYTES}B\\s+8\\.90%\\s+100%\\s+${CACHE_BYTES}B\\s+8\\.90%\\s+cache_block \\(inline\\)$`));

    // Allocations since tracing started: 1000 churned blocks (94.34% of 1060), 50, 10.
    const allocs = topRows(pprof(['-top', '-sample_index=alloc_objects', file]));
    expect(allocs.slice(0, 3).map((row) => row.trim().split(/\s+/))).toEqual([
      ['1000', '94.34%', '94.34%', '1000', '94.34%', 'churn'],
      ['50', '4.72%', '99.06%', '50', '4.72%', 'parse_leak'],
      ['10', '0.94%', '100%', '10', '0.94%', 'cache_block', '(inline)'],
    ]);
    const allocSpace = topRows(pprof(['-top', '-sample_index=alloc_space', '-unit=B', file]));
    expect(allocSpace[0]).toMatch(new RegExp(`^\\s*${PARSER_BYTES}B\\s.*parse_leak$`));
    expect(allocSpace[1]).toMatch(/^\s*64000B\s.*churn$/); // 1000 blocks of 64 bytes

    // Labels: the scope and kind of each sample's live blocks; churn's stack has none live,
    // so its scope is not known (the stack table does not record scopes).
    const tags = pprof(['-tags', '-unit=B', file]);
    expect(tags).toContain(
      ` scope: Total ${PARSER_BYTES + CACHE_BYTES}.0B\n` +
        `        ${PARSER_BYTES}.0B (91.10%): parser\n` +
        `         ${CACHE_BYTES}.0B ( 8.90%): cache\n` +
        `             0.0B (    0%): (unknown)\n`,
    );
    expect(tags).toMatch(/ kind: Total .*\n\s+204800\.0B \(91\.10%\): module\n\s+20000\.0B \( 8\.90%\): service\n/);

    // Locations: one Line per frame, the inlined one first; the mapping carries the
    // executable's build id (as readelf reads it) and says every location is symbolized.
    const raw = pprof(['-raw', file]);
    const source = path.join(ROOT, SOURCE);
    expect(raw).toMatch(
      new RegExp(`M=1 cache_block ${source}:${lineOf('CACHE_LINE')} s=0\n\\s+cache_leak ${source}:${lineOf('CACHE_CALLER_LINE')} s=0\n`),
    );
    expect(raw).toContain(`M=1 parse_leak ${source}:${lineOf('PARSER_LINE')} s=0\n`);
    const buildId = /Build ID: ([0-9a-f]+)/.exec(spawnSync('readelf', ['-n', exe], { encoding: 'utf8' }).stdout)![1];
    // The mapping names the executable by its path.
    expect(raw).toMatch(new RegExp(`\\n\\d+: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ ${exe} ${buildId} \\[FN\\]\\[FL\\]\\[LN\\]\\[IN\\]\\n`));
    expect(raw).toContain('PeriodType: space bytes\nPeriod: 1\n'); // every allocation traced
  });

  it('sampled_tracing_sets_the_period_and_scales_each_value_to_its_estimate', async () => {
    const sampled = new Started([exe], dir);
    try {
      const sampledPid = Number((await sampled.line(/ready (\d+)/))[1]);
      expect(trace(['on', String(sampledPid), '--sample-bytes', '4096', '--dir', dir]).status).toBe(0);
      sampled.send();
      await sampled.line(/done/);
      // How many of parse_leak's 50 blocks of 4096 bytes the Poisson sampling kept (random):
      // the samples behind the leak report's estimate.
      const report = JSON.parse(trace(['leaks', String(sampledPid), '--json', '--dir', dir]).stdout) as {
        groups: { samples: number; frames: { function?: string | null }[] }[];
      };
      const kept = report.groups.find((group) => group.frames[0]?.function === 'parse_leak')?.samples ?? 0;
      const file = path.join(work, 'sampled.pb.gz');
      expect(trace(['report', String(sampledPid), '--format', 'pprof', '-o', file, '--dir', dir]).status).toBe(0);
      const raw = pprof(['-raw', file]);
      expect(raw).toContain('PeriodType: space bytes\nPeriod: 4096\n');
      // A block of 4096 bytes sampled with mean 4096 was kept with probability 1 - 1/e, so it
      // stands for e / (e - 1) blocks (as Go scales its heap samples); rounded per sample.
      const scale = Math.E / (Math.E - 1);
      const parseLocation = /\n\s+(\d+): 0x[0-9a-f]+ M=1 parse_leak /.exec(raw)?.[1];
      if (kept > 0) {
        const values = new RegExp(`\\n\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+): ${parseLocation} `).exec(raw)!.slice(1).map(Number);
        expect(values.slice(2)).toEqual([Math.round(kept * scale), Math.round(kept * 4096 * scale)]);
      } else {
        expect(parseLocation).toBeUndefined(); // P = e^(-50): nothing of it was sampled
      }
    } finally {
      expect(await sampled.end()).toBe(0);
    }
  });

  it('fails_in_one_line_for_an_unknown_pid_and_an_unwritable_output_file', () => {
    // 4000000 is above the kernel's default pid_max (4194304 is the largest allowed) and not in use here.
    const unknown = trace(['report', '4000000', '--format', 'pprof', '--dir', dir]);
    expect([unknown.status, unknown.stdout, unknown.stderr]).toEqual([1, '', 'skull-trace: no process with pid 4000000\n']);
    const missing = path.join(work, 'no-such-dir', 'heap.pb.gz');
    for (const format of ['pprof', 'html']) {
      const unwritable = trace(['report', String(pid), '--format', format, '-o', missing, '--dir', dir]);
      expect([unwritable.status, unwritable.stderr]).toEqual([1, `skull-trace: cannot write ${missing}: ENOENT\n`]);
    }
    const badFormat = trace(['report', String(pid), '--format', 'svg', '--dir', dir]);
    expect([badFormat.status, badFormat.stderr]).toEqual([2, 'skull-trace: --format must be one of text, json, collapsed, pprof, html (got "svg")\n']);
  });
});

describe('skull-mem snapshot --format pprof', () => {
  it('has_one_sample_per_scope_with_the_used_bytes_the_counters_say', () => {
    const file = path.join(work, 'scopes.pb.gz');
    // The program waits on stdin: the counters do not move between the two readings.
    const written = cli(['snapshot', String(pid), '--format', 'pprof', '-o', file, '--dir', dir]);
    expect([written.status, written.stderr]).toEqual([0, `skull-mem: per-scope pprof profile of process ${pid} written to ${file}\n`]);
    const memory = JSON.parse(cli(['memory', String(pid), '--json', '--dir', dir]).stdout) as {
      scopes: { name: string; used_bytes: number; live_blocks: number }[];
    };
    const used = new Map(memory.scopes.map((scope) => [scope.name, scope.used_bytes]));
    expect([used.get('parser'), used.get('cache')]).toEqual([PARSER_BYTES, CACHE_BYTES]);
    const rows = topRows(pprof(['-top', '-sample_index=inuse_space', '-unit=B', file]));
    // Each row's one frame is named after its scope, with that scope's used bytes.
    const byName = new Map(rows.map((row) => row.trim().split(/\s+/)).map((cells) => [cells[5], cells[0]]));
    for (const scope of memory.scopes.filter((s) => s.used_bytes > 0)) expect(byName.get(scope.name)).toBe(`${scope.used_bytes}B`);
    // Largest among the program's scopes (skull-mem's own row holds the trace tables of
    // this traced program, which can be more).
    expect(rows.find((row) => !/\sskull-mem$/.test(row))).toMatch(/\sparser$/);
    expect(pprof(['-tags', file])).toMatch(/ scope: Total [^\n]*\n(\s+[^\n]+\n)*\s+[^\n]+: parser\n/);
    const unknown = cli(['snapshot', '4000000', '--format', 'pprof', '--dir', dir]);
    expect([unknown.status, unknown.stdout, unknown.stderr]).toEqual([1, '', 'skull-mem: no process with pid 4000000\n']);
    const badFormat = cli(['snapshot', String(pid), '--format', 'xml', '--dir', dir]);
    expect([badFormat.status, badFormat.stderr]).toEqual([2, 'skull-mem: --format must be json or pprof (got "xml")\n']);
  });
});

describe('sm.trace.pprof()', () => {
  it('returns_the_profile_of_this_process_as_a_buffer_with_its_scopes', () => {
    const file = path.join(work, 'node.pb.gz');
    const out = evaluate(`
      const scope = sm.defineScope('api-pprof', { kind: 'module' });
      const keep = [];
      sm.trace.start();
      scope.run(() => { for (let i = 0; i < 20; i++) keep.push(Buffer.allocUnsafeSlow(100000)); });
      const profile = sm.trace.pprof();
      sm.trace.stop();
      out.isBuffer = Buffer.isBuffer(profile);
      require('node:fs').writeFileSync(${JSON.stringify(file)}, profile);
      out.kept = keep.length;`);
    expect(out).toEqual({ isBuffer: true, kept: 20 });
    // The 20 backing stores of 100,000 bytes are charged to the scope (with V8's bookkeeping
    // of each buffer, a few small blocks, also traced).
    const tags = pprof(['-tags', '-unit=B', file]);
    const bytes = Number(/\s([0-9.]+)B \([ 0-9.]+%\): api-pprof\n/.exec(tags)![1]);
    expect(bytes).toBeGreaterThanOrEqual(20 * 100_000);
    expect(bytes).toBeLessThan(20 * 100_000 + 20 * 1024);
  });
});

describe('skull-trace report --format html', () => {
  it('renders_in_chromium_shows_the_leaking_function_and_search_highlights_it', async () => {
    const file = path.join(work, 'report.html');
    const written = trace(['report', String(pid), '--format', 'html', '-o', file, '--dir', dir]);
    expect([written.status, written.stderr]).toEqual([0, `skull-trace: html report of process ${pid} written to ${file}\n`]);
    // Self-contained: nothing is fetched (no src= or href= to load, no fetch or import).
    const page = fs.readFileSync(file, 'utf8');
    expect(page).not.toMatch(/\s(src|href)=|fetch\(|import\(/);

    const browser = await Browser.launch(1200, 900);
    try {
      await browser.open(`file://${file}`);
      const frames = (graph: string) =>
        browser.evaluate(`[...document.querySelectorAll('[data-graph=${graph}] .frame')].map((el) =>
          ({ name: el.textContent, width: el.style.width, hit: el.classList.contains('hit'), visible: el.getBoundingClientRect().width }))`) as Promise<
          { name: string; width: string; hit: boolean; visible: number }[]
        >;
      // Live graph: parse_leak holds 204800 of the 224800 live bytes, 91.1% of the width.
      const live = await frames('live');
      const parse = live.find((frame) => frame.name === 'parse_leak')!;
      expect(parseFloat(parse.width)).toBeCloseTo((100 * PARSER_BYTES) / (PARSER_BYTES + CACHE_BYTES), 4); // the style keeps 4 decimals
      expect(parse.visible).toBeGreaterThan(900); // of a graph about 1170 px wide
      expect(live.map((frame) => frame.name)).toEqual(expect.arrayContaining(['all', 'main', 'parse_leak', 'cache_leak', 'cache_block']));
      // Allocated graph: churn's 64000 bytes are there too, though none is live.
      expect((await frames('alloc')).map((frame) => frame.name)).toContain('churn');
      expect(await browser.evaluate(`document.getElementById('table').textContent`)).toMatch(/module\s+parser\s+204800\s/);
      expect(await browser.evaluate(`document.getElementById('table').textContent`)).toMatch(/Process RSS/);

      // Typing a search highlights the frames it matches, in both graphs, and says how much.
      await browser.evaluate(`(() => { const input = document.getElementById('search');
        input.focus(); input.value = 'parse_l'; input.dispatchEvent(new Event('input')); })()`);
      const hits = [...(await frames('live')), ...(await frames('alloc'))].filter((frame) => frame.hit).map((frame) => frame.name);
      expect(hits).toEqual(['parse_leak', 'parse_leak']);
      // 204800 of 224800 live bytes; of 288800 allocated (with churn's 64000): 70.9%.
      expect(await browser.evaluate(`document.getElementById('matched').textContent`)).toBe(
        'matched: live 200.0 KiB (91.1%), alloc 200.0 KiB (70.9%)',
      );
      const artifacts = process.env.SKULL_MEM_ARTIFACTS ?? path.join(os.tmpdir(), 'skull-mem-artifacts');
      fs.mkdirSync(artifacts, { recursive: true });
      const shot = path.join(artifacts, 'report-search.png');
      await browser.screenshot(shot);
      expect(fs.statSync(shot).size).toBeGreaterThan(10_000);

      // Clicking cache_leak zooms the live graph to it: it spans the width, parse_leak is gone.
      await browser.evaluate(`[...document.querySelectorAll('[data-graph=live] .frame')].find((el) => el.textContent === 'cache_leak').click()`);
      const zoomed = await frames('live');
      expect(zoomed.find((frame) => frame.name === 'cache_leak')!.width).toBe('100%');
      expect(zoomed.find((frame) => frame.name === 'cache_block')!.width).toBe('100%');
      expect(zoomed.some((frame) => frame.name === 'parse_leak')).toBe(false);
      await browser.screenshot(path.join(artifacts, 'report-zoomed.png'));
    } finally {
      await browser.close();
    }
  });
});
