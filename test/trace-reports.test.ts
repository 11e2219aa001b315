// The leak report as a user reads it: sampled figures scaled to estimates of what was leaked,
// blocks grouped by symbolized call site, stacks cut at --depth marked; against real programs
// started with `skull-mem run` (test/c/report_shapes.c).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Started } from './fixtures/started';
import { LIBRARY, ROOT, run } from './helpers';

const TRACE_CLI = path.join(ROOT, 'dist', 'bin', 'skull-trace.js');
const SOURCE = 'test/c/report_shapes.c';
let work: string;
let exe: string;

function trace(args: string[]): ReturnType<typeof run> {
  const result = run([process.execPath, TRACE_CLI, ...args]);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result;
}

/** The 1-based line of the source line containing `marker`. */
function lineOf(marker: string): number {
  return fs.readFileSync(path.join(ROOT, SOURCE), 'utf8').split('\n').findIndex((line) => line.includes(marker)) + 1;
}

interface Frame {
  function: string | null;
  file: string | null;
  line: number | null;
  address: string;
  text: string;
}
interface Group {
  bytes: number;
  blocks: number;
  estimated: boolean;
  samples: number;
  sampled_bytes: number;
  error: number;
  stacks: number;
  truncated: boolean;
  frames: Frame[];
}
interface Leaks {
  estimated: boolean;
  group_by: string;
  groups: Group[];
}

function leaks(pid: number, dir: string, extra: string[] = []): Leaks {
  return JSON.parse(trace(['leaks', String(pid), '--json', '--dir', dir, ...extra]).stdout) as Leaks;
}

/** Starts report_shapes under skull-mem with tracing as `on` says, runs `step`, returns its pid. */
async function started(on: string[], step: string): Promise<{ program: Started; pid: number; dir: string }> {
  const dir = fs.mkdtempSync(path.join(work, 'seg-'));
  const program = new Started([exe], dir);
  const pid = Number((await program.line(/ready (\d+)/))[1]);
  trace(['on', String(pid), ...on, '--dir', dir]);
  program.send(step);
  await program.line(/done/);
  return { program, pid, dir };
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-reports-'));
  exe = path.join(work, 'report_shapes');
  const libDir = path.dirname(LIBRARY);
  const built = spawnSync('gcc', ['-g', '-O0', path.join(ROOT, SOURCE), '-o', exe, `-L${libDir}`, '-lskull_mem', `-Wl,-rpath,${libDir}`], {
    encoding: 'utf8',
  });
  expect(built.stderr).toBe('');
  expect(built.status).toBe(0);
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('sampled leak reports', () => {
  it('estimates_equal_leaks_in_small_and_large_blocks_within_15_percent_and_says_estimated', async () => {
    // A sample every 16 KiB on average: the 100-byte site gets ~20e6 / 16384 = 1,221 samples
    // (relative error ~2.9 %, so 15 % is over 5 standard deviations); each 100,000-byte block
    // is sampled with chance 1 - e^(-100000/16384) = 99.8 %.
    const { program, pid, dir } = await started(['--sample-bytes', '16384'], 'sampled');
    const report = leaks(pid, dir);
    expect(report.estimated).toBe(true);
    const site = (name: string) => report.groups.find((g) => g.frames.some((f) => f.function === name));
    const small = site('small_blocks')!;
    const large = site('large_blocks')!;
    // Both leak 20,000,000 bytes; they are the two largest groups.
    expect(report.groups.slice(0, 2).map((g) => g.bytes).sort()).toEqual([small.bytes, large.bytes].sort());
    for (const group of [small, large]) {
      expect(group.estimated).toBe(true);
      expect(Math.abs(group.bytes - 20_000_000) / 20_000_000).toBeLessThan(0.15);
      expect(group.error).toBeCloseTo(1 / Math.sqrt(group.samples), 10);
    }
    expect(Math.abs(small.blocks - 200_000) / 200_000).toBeLessThan(0.15);
    expect(small.sampled_bytes).toBe(small.samples * 100);
    expect(large.sampled_bytes).toBe(large.samples * 100_000);
    expect(large.samples).toBeLessThanOrEqual(200);
    const text = trace(['leaks', String(pid), '--dir', dir, '--top', '2']).stdout;
    expect(text).toMatch(/figures are estimated from a sample by bytes/);
    expect(text).toMatch(/#1: ~\d+ bytes in ~\d+ block\(s\) \(estimated from \d+ samples, ±\d+\.\d %\)/);
    // The report by stack scales the same way (each stack allocates blocks of one size).
    const byStack = JSON.parse(trace(['report', String(pid), '--format', 'json', '--dir', dir]).stdout) as {
      estimated: boolean;
      by_stack: (Group & { allocations: number })[];
    };
    expect(byStack.estimated).toBe(true);
    const smallStack = byStack.by_stack.find((s) => s.frames.some((f) => f.function === 'small_blocks'))!;
    expect(Math.abs(smallStack.bytes - 20_000_000) / 20_000_000).toBeLessThan(0.15);
    expect(await program.end()).toBe(0);
  });
});

describe('grouping and truncation', () => {
  it('groups_the_two_return_addresses_of_one_line_as_one_leak_unless_asked_for_stacks', async () => {
    const { program, pid, dir } = await started(['--all'], 'pair');
    const atPair = (report: Leaks) => report.groups.filter((g) => g.frames[0]?.function === 'pair');
    // 10 rounds of two 48-byte blocks, from two calls on PAIR_LINE: one site, two stacks.
    const byLine = atPair(leaks(pid, dir));
    expect(byLine.map((g) => [g.bytes, g.blocks, g.stacks, g.estimated, g.truncated])).toEqual([[960, 20, 2, false, false]]);
    expect([byLine[0].frames[0].line, path.basename(byLine[0].frames[0].file ?? '')]).toEqual([lineOf('PAIR_LINE'), 'report_shapes.c']);
    const byStack = atPair(leaks(pid, dir, ['--group-by', 'stack']));
    expect(byStack.map((g) => [g.bytes, g.blocks, g.stacks])).toEqual([
      [480, 10, 1],
      [480, 10, 1],
    ]);
    expect(new Set(byStack.map((g) => g.frames[0].address)).size).toBe(2);
    expect(atPair(leaks(pid, dir, ['--group-by', 'function'])).map((g) => [g.bytes, g.stacks])).toEqual([[960, 2]]);
    const wrong = run([process.execPath, TRACE_CLI, 'leaks', String(pid), '--group-by', 'file', '--dir', dir]);
    expect([wrong.status, wrong.stderr]).toEqual([2, 'skull-trace: --group-by must be stack, line or function (got "file")\n']);
    expect(await program.end()).toBe(0);
  });

  it('marks_a_stack_cut_at_depth_as_truncated_in_json_and_text', async () => {
    const { program, pid, dir } = await started(['--all', '--depth', '8'], 'deep');
    program.send('pair');
    await program.line(/done\ndone/);
    const report = leaks(pid, dir);
    // descend(40) is 41 frames deep before main: cut at 8, all descend.
    const deep = report.groups.find((g) => g.frames[0]?.function === 'descend')!;
    expect([deep.bytes, deep.blocks, deep.truncated, deep.frames.length]).toEqual([320, 5, true, 8]);
    expect(deep.frames[0].line).toBe(lineOf('DEEP_LINE'));
    // pair, main, __libc_start_call_main, __libc_start_main, _start: 5 frames, not cut.
    const pair = report.groups.find((g) => g.frames[0]?.function === 'pair')!;
    expect(pair.truncated).toBe(false);
    const text = trace(['leaks', String(pid), '--dir', dir]).stdout;
    expect(text).toMatch(/descend at .*report_shapes\.c:\d+ \(report_shapes\)\n {4}\.\.\. \(truncated: the stack is deeper than --depth\)\n/);
    // One mark per cut stack: descend's blocks, and the array `keep` made from down there.
    expect(report.groups.filter((g) => g.truncated).map((g) => g.frames.length)).toEqual([8, 8]);
    expect(text.match(/truncated/g)).toHaveLength(2);
    expect(await program.end()).toBe(0);
  });
});

describe('unloaded libraries', () => {
  it('names_the_frames_of_a_plugin_leak_after_the_plugin_was_dlclosed', async () => {
    const plugin = path.join(work, 'libleaky_plugin.so');
    const built = spawnSync('gcc', ['-g', '-O2', '-shared', '-fPIC', path.join(ROOT, 'test/c/leaky_plugin.c'), '-o', plugin], { encoding: 'utf8' });
    expect(built.status).toBe(0);
    const host = path.join(work, 'dlopen_host');
    const hostBuilt = spawnSync('gcc', ['-g', '-O2', path.join(ROOT, 'test/c/dlopen_host.c'), '-o', host, '-ldl'], { encoding: 'utf8' });
    expect(hostBuilt.status).toBe(0);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([host, plugin], dir);
    const pid = Number((await program.line(/ready (\d+)/))[1]);
    trace(['on', String(pid), '--all', '--dir', dir]);
    program.send();
    await program.line(/done/);
    program.send('close');
    await program.line(/closed/);
    // The plugin is unmapped now: its 40 blocks of 512 bytes are still named by it.
    expect(fs.readFileSync(`/proc/${pid}/maps`, 'utf8')).not.toMatch(/libleaky_plugin\.so/);
    const top = leaks(pid, dir).groups[0];
    expect([top.bytes, top.blocks]).toEqual([40 * 512, 40]);
    const leakLine = fs.readFileSync(path.join(ROOT, 'test/c/leaky_plugin.c'), 'utf8').split('\n').findIndex((l) => l.includes('PLUGIN_LEAK_LINE')) + 1;
    expect([top.frames[0].function, path.basename(top.frames[0].file ?? ''), top.frames[0].line]).toEqual(['plugin_leak', 'leaky_plugin.c', leakLine]);
    expect(top.frames[0].text).toMatch(/\(libleaky_plugin\.so\)$/);
    expect(top.frames[1].function).toBe('main');
    expect(await program.end()).toBe(0);
  });
});
