// Tracing of running processes: skull-trace on/off/status/leaks against real programs
// started with `skull-mem run`, built without frame pointers; symbolized names and lines are
// checked against the source.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Started } from './fixtures/started';
import type * as Binding from '../src/native-binding';
import { ADDON, LIBRARY, ROOT, cli, run } from './helpers';

const TRACE_CLI = path.join(ROOT, 'dist', 'bin', 'skull-trace.js');
let work: string;

function trace(args: string[]): ReturnType<typeof run> {
  return run([process.execPath, TRACE_CLI, ...args]);
}

/** The 1-based line of the source line containing `marker`. */
function lineOf(file: string, marker: string): number {
  return fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n').findIndex((line) => line.includes(marker)) + 1;
}

function compile(source: string, output: string, flags: string[]): string {
  const exe = path.join(work, output);
  const libDir = path.dirname(LIBRARY);
  const compiler = source.endsWith('.cpp') ? 'g++' : 'gcc';
  const result = spawnSync(compiler, [...flags, '-I', path.join(ROOT, 'include'), path.join(ROOT, source), '-o', exe,
    '-pthread', `-L${libDir}`, '-lskull_mem', `-Wl,-rpath,${libDir}`], { encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return exe;
}

interface Frame {
  function?: string | null;
  file?: string | null;
  line?: number | null;
  inlined?: boolean;
  text: string;
}
interface Leaks {
  status: { enabled: boolean; counts: Record<string, number>; live_blocks: number };
  groups: { bytes: number; blocks: number; scopes: string[]; frames: Frame[] }[];
}

function leaks(pid: number, dir: string, extra: string[] = []): Leaks {
  const result = trace(['leaks', String(pid), '--json', '--dir', dir, ...extra]);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as Leaks;
}

/** A frame as [function, file name, line]. */
function where(frame: Frame): [string | null | undefined, string, number | null | undefined] {
  return [frame.function, path.basename(frame.file ?? ''), frame.line];
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-trace-'));
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('skull-trace leaks', () => {
  it('names_the_leaking_function_and_line_in_C_built_with_O2_and_no_frame_pointers', async () => {
    const exe = compile('test/c/leaky.c', 'leaky', ['-g', '-O2']);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([exe], dir);
    const pid = Number((await program.line(/ready (\d+)/))[1]);

    const on = trace(['on', String(pid), '--all', '--dir', dir]);
    expect(on.stdout).toBe(`tracing of process ${pid} on: every allocation, stacks of up to 32 frames\n`);
    program.send();
    await program.line(/done 1/);

    const report = leaks(pid, dir);
    const top = report.groups[0];
    // 100 blocks of 1000 bytes from leak_here; the churned blocks were all freed.
    expect([top.bytes, top.blocks, top.scopes]).toEqual([100_000, 100, ['core']]);
    const frames = top.frames.map((f) => [f.function, path.basename(f.file ?? ''), f.line, f.inlined]);
    // `remember` is inlined into `leak_here` at -O2: both frames, innermost first.
    expect(frames[0]).toEqual(['remember', 'leaky.c', lineOf('test/c/leaky.c', 'LEAK_LINE'), true]);
    expect(frames[1]).toEqual(['leak_here', 'leaky.c', lineOf('test/c/leaky.c', 'CALLER_LINE'), false]);
    expect(frames[2][0]).toBe('main');
    expect(report.groups.some((g) => g.frames.some((f) => f.function === 'churn'))).toBe(false);

    // Off: the next round's leaks are not traced; the first round's stay listed.
    expect(trace(['off', String(pid), '--dir', dir]).stdout).toBe(`tracing of process ${pid} off\n`);
    program.send();
    await program.line(/done 2/);
    const after = leaks(pid, dir);
    expect(after.status.enabled).toBe(false);
    expect([after.groups[0].bytes, after.groups[0].blocks]).toEqual([100_000, 100]);

    // Everything traced while on, by stack, in the folded format of flame graph tools.
    const folded = trace(['report', String(pid), '--format', 'collapsed', '--dir', dir]).stdout.split('\n');
    expect(folded).toContainEqual(expect.stringMatching(/;main;leak_here;remember 100000$/));
    expect(folded).toContainEqual(expect.stringMatching(/;main;churn 10000$/));
    const byStack = JSON.parse(trace(['report', String(pid), '--format', 'json', '--dir', dir]).stdout) as {
      by_stack: { allocations: number; bytes: number; frames: Frame[] }[];
    };
    expect(byStack.by_stack[0]).toMatchObject({ allocations: 100, bytes: 100_000 });

    const text = trace(['leaks', String(pid), '--dir', dir, '--top', '1']);
    expect(text.stdout).toMatch(/#1: 100000 bytes in 100 block\(s\), scope core/);
    expect(text.stdout).toMatch(/\(inlined\) remember at .*leaky\.c:\d+ \(leaky\)/);
    expect(await program.end()).toBe(0);
  });

  it('names_the_leaking_line_in_a_non_PIE_executable', async () => {
    const exe = compile('test/c/leaky.c', 'leaky-nopie', ['-g', '-O2', '-no-pie']);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([exe], dir);
    const pid = Number((await program.line(/ready (\d+)/))[1]);
    trace(['on', String(pid), '--dir', dir]);
    // The counters' JSON says tracing is on, as the table's summary does.
    expect(JSON.parse(cli(['memory', String(pid), '--json', '--dir', dir]).stdout).trace_enabled).toBe(true);
    expect(cli(['memory', String(pid), '--dir', dir]).stdout).toMatch(/Tracing: on/);
    program.send();
    await program.line(/done 1/);
    const top = leaks(pid, dir).groups[0];
    expect([top.bytes, top.blocks]).toEqual([100_000, 100]);
    expect([top.frames[0].function, path.basename(top.frames[0].file ?? ''), top.frames[0].line]).toEqual([
      'remember',
      'leaky.c',
      lineOf('test/c/leaky.c', 'LEAK_LINE'),
    ]);
    expect(await program.end()).toBe(0);
  });

  it('names_the_leaking_line_in_a_library_loaded_with_dlopen_and_in_the_one_loaded_after_dlclose', async () => {
    const build = (name: string, flags: string[]) => {
      const plugin = path.join(work, name);
      const built = spawnSync('gcc', ['-g', '-O2', '-shared', '-fPIC', ...flags, path.join(ROOT, 'test/c/leaky_plugin.c'), '-o', plugin], { encoding: 'utf8' });
      expect(built.status).toBe(0);
      return plugin;
    };
    const plugin = build('libleaky_plugin.so', []);
    const replacement = build('libleaky_plugin2.so', ['-DBIG_FRAME']);
    const host = compile('test/c/dlopen_host.c', 'dlopen_host', ['-g', '-O2']);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([host, plugin, replacement], dir);
    const pid = Number((await program.line(/ready (\d+)/))[1]);
    trace(['on', String(pid), '--dir', dir]);
    const leakLine = lineOf('test/c/leaky_plugin.c', 'PLUGIN_LEAK_LINE');
    program.send();
    await program.line(/done/);
    const top = leaks(pid, dir).groups[0];
    expect([top.bytes, top.blocks]).toEqual([40 * 512, 40]);
    expect(where(top.frames[0])).toEqual(['plugin_leak', 'leaky_plugin.c', leakLine]);
    expect(top.frames[0].text).toMatch(/\(libleaky_plugin\.so\)$/);
    expect(top.frames[1].function).toBe('main');
    // dlclose, then another build of the plugin, with other unwind rules (a 16 KiB frame),
    // loaded in its place: its stacks must be walked with its own rules, not with those
    // learned for the first. It usually lands at the first one's address, so the first
    // round's blocks are now symbolized against it too, and the two rounds may share one
    // stack; together, every block of both is under a stack through plugin_leak to main.
    program.send('swap');
    await program.line(/done\ndone/);
    const plugins = leaks(pid, dir).groups.filter((g) => /\(libleaky_plugin2\.so\)$/.test(g.frames[0]?.text ?? ''));
    expect(plugins.reduce((sum, g) => sum + g.blocks, 0)).toBe(80);
    expect(plugins.reduce((sum, g) => sum + g.bytes, 0)).toBe(40 * 512 + 40 * 256);
    expect(plugins.some((g) => where(g.frames[0]).join() === ['plugin_leak', 'leaky_plugin.c', leakLine].join())).toBe(true);
    for (const g of plugins) expect(g.frames[1].function).toBe('main');
    expect(await program.end()).toBe(0);
  });

  it('names_the_function_behind_a_CPP_new', async () => {
    const exe = compile('test/c/leaky_new.cpp', 'leaky_new', ['-g', '-O1']);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([exe], dir);
    const pid = Number((await program.line(/ready (\d+)/))[1]);
    trace(['on', String(pid), '--dir', dir]);
    program.send();
    await program.line(/done/);
    const top = leaks(pid, dir).groups[0];
    expect([top.bytes, top.blocks]).toEqual([50 * 256, 50]);
    const named = top.frames.find((f) => f.function?.includes('Cache::add'));
    expect(named?.function).toBe('Cache::add(int)');
    expect([path.basename(named?.file ?? ''), named?.line]).toEqual(['leaky_new.cpp', lineOf('test/c/leaky_new.cpp', 'NEW_LINE')]);
    expect(top.frames[0].function).toMatch(/^operator new/);
    expect(await program.end()).toBe(0);
  });
  it('names_the_leaking_function_and_line_in_Rust_code', async () => {
    const exe = path.join(work, 'rust_leaky');
    const built = spawnSync('rustc', ['-g', '-O', '-o', exe, path.join(ROOT, 'test/rust/leaky.rs')], { encoding: 'utf8' });
    expect(built.stderr).toBe('');
    expect(built.status).toBe(0);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([exe], dir);
    const pid = Number((await program.line(/ready (\d+)/))[1]);
    trace(['on', String(pid), '--all', '--dir', dir]);
    program.send();
    await program.line(/done 1/);
    const top = leaks(pid, dir).groups[0];
    expect([top.bytes, top.blocks]).toEqual([100_000, 100]);
    // Below the inlined frames of Vec's allocation: the function that made it, then main.
    const at = top.frames.findIndex((f) => f.function === 'leaky::leak_here');
    expect(at).toBeGreaterThan(0);
    expect(where(top.frames[at])).toEqual(['leaky::leak_here', 'leaky.rs', lineOf('test/rust/leaky.rs', 'RUST_LEAK_LINE')]);
    expect(top.frames[at].inlined).toBe(false);
    expect(top.frames[at + 1].function).toBe('leaky::main');
    expect(await program.end()).toBe(0);
  });
});

describe('stack capture', () => {
  it('tells_apart_callers_at_the_same_stack_depth_and_walks_through_a_64_KiB_frame', async () => {
    const exe = compile('test/c/unwind_paths.c', 'unwind_paths', ['-g', '-O2']);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([exe], dir);
    const pid = Number((await program.line(/ready (\d+)/))[1]);
    trace(['on', String(pid), '--all', '--dir', dir]);
    program.send();
    await program.line(/done/);
    const source = 'test/c/unwind_paths.c';
    const groups = leaks(pid, dir).groups.filter((g) => g.frames[0]?.function === 'keep_block');
    // Largest first: via_a 30 x 64, via_b 20 x 80, big_frame 10 x 128 bytes.
    expect(groups.map((g) => [g.bytes, g.blocks])).toEqual([[1920, 30], [1600, 20], [1280, 10]]);
    for (const g of groups) expect(where(g.frames[0])).toEqual(['keep_block', 'unwind_paths.c', lineOf(source, 'KEEP_LINE')]);
    expect(where(groups[0].frames[1])).toEqual(['via_a', 'unwind_paths.c', lineOf(source, 'VIA_A_LINE')]);
    expect(where(groups[1].frames[1])).toEqual(['via_b', 'unwind_paths.c', lineOf(source, 'VIA_B_LINE')]);
    expect(where(groups[2].frames[1])).toEqual(['big_frame', 'unwind_paths.c', lineOf(source, 'BIG_LINE')]);
    for (const g of groups) expect(g.frames[2].function).toBe('main');
    expect(await program.end()).toBe(0);
  });
});

describe('skull-trace tail', () => {
  it('prints_new_traced_allocations_and_frees_with_their_frames_until_interrupted', async () => {
    const exe = compile('test/c/leaky.c', 'leaky-tail', ['-g', '-O2']);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([exe], dir);
    const pid = Number((await program.line(/ready (\d+)/))[1]);
    trace(['on', String(pid), '--dir', dir]);
    const tail = spawn(process.execPath, [TRACE_CLI, 'tail', String(pid), '--interval', '0.05', '--frames', '2', '--dir', dir]);
    let out = '';
    let err = '';
    tail.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    tail.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
    while (!err.includes('following')) await new Promise((resolve) => setTimeout(resolve, 20));
    program.send();
    await program.line(/done 1/);
    // 100 leaks and 100 churned blocks allocated, the churned ones freed: 300 events.
    while (out.split('\n').length <= 300) await new Promise((resolve) => setTimeout(resolve, 20));
    tail.kill('SIGINT');
    expect(await new Promise((resolve) => tail.on('exit', (code) => resolve(code)))).toBe(0);
    const lines = out.trim().split('\n');
    const leakLine = lineOf('test/c/leaky.c', 'LEAK_LINE');
    expect(lines.filter((l) => new RegExp(`^\\+ 1000 B 0x[0-9a-f]+ scope core thread ${pid}  remember at .*leaky\\.c:${leakLine} \\(leaky-tail\\) < leak_here at `).test(l))).toHaveLength(100);
    expect(lines.filter((l) => /^\+ 100 B .* churn at .*leaky\.c/.test(l))).toHaveLength(100);
    expect(lines.filter((l) => /^- 100 B .* churn at .*leaky\.c/.test(l))).toHaveLength(100);
    expect(await program.end()).toBe(0);
  });
});

describe('skull-trace on --scope', () => {
  it('traces_only_the_chosen_scope', async () => {
    const exe = compile('test/c/stepper.c', 'stepper', ['-O0']);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([exe], dir);
    await program.line(/ready 1/);
    const pid = Number(fs.readdirSync(dir)[0].split('-').pop());
    const on = trace(['on', String(pid), '--scope', 'cache', '--dir', dir]);
    expect(on.stdout).toBe(`tracing of process ${pid} on: every allocation of the chosen scopes, stacks of up to 32 frames\n`);
    const unknown = trace(['on', String(pid), '--scope', 'nope', '--dir', dir]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/^skull-trace: process \d+ has no scope named "nope" \(its scopes: core, init, skull-mem, parser, cache\)\n$/);
    program.send();
    await program.line(/ready 2/);
    // Step 2: cache callocs 6 x 4096 (traced); nothing else of the program is.
    const report = leaks(pid, dir);
    expect(report.groups.map((g) => [g.bytes, g.blocks, g.scopes])).toEqual([[6 * 4096, 6, ['cache']]]);
    program.send();
    expect(await program.end()).toBe(0);
  });
});

describe('skull-trace on a busy process', () => {
  it('toggling_1000_times_while_2_threads_allocate_keeps_the_counters_exact', async () => {
    const exe = compile('test/c/toggle.c', 'toggle', ['-O1']);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([exe], dir);
    const pid = Number((await program.line(/ready (\d+)/))[1]);
    const binding: typeof Binding = require(ADDON);
    for (let i = 0; i < 1000; i++) {
      const scopes = i % 8 === 0 ? ['work'] : [];
      const result = binding.traceControl(pid, dir, i % 2 === 0 ? 8 : 0, i % 4 === 0 ? 4096 : 0, scopes);
      expect(result.enabled).toBe(i % 2 === 0);
    }
    const status = JSON.parse(trace(['status', String(pid), '--json', '--dir', dir]).stdout) as Leaks['status'];
    expect(status.enabled).toBe(false);
    expect(status.counts.traced_allocs).toBeGreaterThan(0);
    program.send();
    expect(await program.end()).toBe(0);
    const [mine, skull] = program.output.trim().split('\n').slice(-2);
    expect(skull).toBe(`skull ${mine}`);
  });

  it('a_forked_child_is_switched_on_and_off_apart_from_its_parent', async () => {
    const exe = compile('test/c/trace_fork.c', 'trace_fork', ['-g', '-O2']);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([exe], dir);
    const [, parent, child] = (await program.line(/ready (\d+) (\d+)/)).map(Number);
    const status = (pid: number) => JSON.parse(trace(['status', String(pid), '--json', '--dir', dir]).stdout) as Leaks['status'];
    trace(['on', String(child), '--all', '--dir', dir]);
    program.send();
    await program.line(/done 1/);
    // Only the child traced its 10 blocks (plus what its pipe I/O allocates: nothing).
    expect([status(child).enabled, status(child).counts.traced_allocs]).toEqual([true, 10]);
    expect([status(parent).enabled, status(parent).counts.traced_allocs]).toEqual([false, 0]);
    trace(['off', String(child), '--dir', dir]);
    trace(['on', String(parent), '--all', '--dir', dir]);
    program.send();
    await program.line(/done 2/);
    expect([status(child).enabled, status(child).counts.traced_allocs]).toEqual([false, 10]);
    expect([status(parent).enabled, status(parent).counts.traced_allocs]).toEqual([true, 10]);
    expect(await program.end()).toBe(0);
  });

  it('past_its_memory_budget_tracing_drops_and_counts_and_the_segment_does_not_grow', async () => {
    const exe = compile('test/c/leaky.c', 'leaky-many', ['-g', '-O2']);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([exe, 'many', '80000'], dir, { SKULL_MEM_TRACE_MEMORY: '1048576' });
    const pid = Number((await program.line(/ready (\d+)/))[1]);
    const [segment] = fs.readdirSync(dir);
    const allocated = () => fs.statSync(path.join(dir, segment)).blocks * 512;
    const before = allocated();
    trace(['on', String(pid), '--dir', dir]);
    program.send();
    await program.line(/done 1/);
    const status = JSON.parse(trace(['status', String(pid), '--json', '--dir', dir]).stdout) as Leaks['status'] & {
      memory: { budget: number; used: number; stack_nodes: number; stack_bytes: number; live_bytes: number; totals_bytes: number };
    };
    // 1 MiB is 16 chunks of 64 KiB: one of trie nodes, one of their index, one of the
    // threads' running totals (crates/core/src/trace/pending.rs), and live-table levels of 1,
    // 2 and 4 chunks (2,048 + 4,096 + 8,192 blocks); the next level (8 chunks) does not fit.
    // 80,000 leaked blocks (and the reallocs of the array keeping them) do not.
    // The tables' bytes are the parts of the used bytes, each said in the status.
    expect(status.memory).toMatchObject({
      budget: 1_048_576,
      used: 10 * 65_536,
      stack_bytes: 2 * 65_536,
      live_bytes: 7 * 65_536,
      totals_bytes: 65_536,
    });
    expect(status.live_blocks).toBeLessThanOrEqual(14_336);
    expect(status.live_blocks).toBeGreaterThan(14_336 * 0.75);
    expect(status.counts.dropped_blocks).toBeGreaterThan(80_000 - 14_336);
    expect(status.counts.traced_allocs + status.counts.dropped_blocks).toBeGreaterThanOrEqual(80_000);
    // The file gains the trace area only: the tables' header (about 200 KiB) and the pool's
    // 1 MiB, reserved in 1 MiB chunks: 2 chunks, however many blocks were dropped.
    expect(allocated() - before).toBe(2 * 1_048_576);
    const text = trace(['status', String(pid), '--dir', dir]);
    expect(text.stdout).toMatch(new RegExp(`dropped \\(memory full\\): 0 stacks, ${status.counts.dropped_blocks} blocks`));
    expect(text.stdout).toContain('trace memory: 655360 of 1048576 bytes used');
    expect(text.stdout).toContain(`stacks ${status.memory.stack_nodes} nodes in 131072 bytes, live blocks 458752 bytes, running totals 65536 bytes`);
    expect(await program.end()).toBe(0);
  });

  it('skull_trace_on_memory_sets_the_budget_and_a_bad_one_is_refused', async () => {
    const exe = compile('test/c/leaky.c', 'leaky-small', ['-g', '-O2']);
    const dir = fs.mkdtempSync(path.join(work, 'seg-'));
    const program = new Started([exe, 'many', '5000'], dir);
    const pid = Number((await program.line(/ready (\d+)/))[1]);
    const bad = trace(['on', String(pid), '--memory', '1000', '--dir', dir]);
    expect([bad.status, bad.stderr]).toEqual([
      2,
      'skull-trace: trace memory must be a whole number from 1048576 to 1073741824 bytes (got "1000")\n',
    ]);
    trace(['on', String(pid), '--memory', '2097152', '--dir', dir]);
    program.send();
    await program.line(/done 1/);
    const status = JSON.parse(trace(['status', String(pid), '--json', '--dir', dir]).stdout) as Leaks['status'] & {
      memory: { budget: number };
    };
    // 5,000 blocks fit in 2 MiB: none dropped; live are they and the array keeping them.
    expect(status.memory.budget).toBe(2_097_152);
    expect([status.counts.dropped_stacks, status.counts.dropped_blocks, status.live_blocks]).toEqual([0, 0, 5001]);
    expect(await program.end()).toBe(0);
  });
});

describe('skull-trace bad input', () => {
  it('gives_one_line_errors_and_exit_codes', () => {
    const bad = trace(['on', 'abc']);
    expect([bad.status, bad.stderr]).toEqual([2, 'skull-trace: "abc" is not a process id (a positive integer, at most 4194304)\n']);
    const none = trace(['leaks', '4194303']);
    expect([none.status, none.stderr]).toEqual([1, 'skull-trace: no process with pid 4194303\n']);
    const depth = trace(['on', '1', '--depth', '40']);
    expect([depth.status, depth.stderr]).toEqual([2, 'skull-trace: trace depth must be a whole number from 1 to 32 frames (got "40")\n']);
    const notMeasured = trace(['status', String(process.pid)]);
    expect(notMeasured.status).toBe(1);
    expect(notMeasured.stderr).toMatch(/^skull-trace: process \d+ \(.*\) does not run with skull-mem; start it with `skull-mem run -- .*`\n$/);
  });
});

it('the_run_option_starts_tracing_at_start_up', () => {
  const exe = compile('test/c/leaky.c', 'leaky-start', ['-g', '-O2']);
  const dir = fs.mkdtempSync(path.join(work, 'seg-'));
  const result = cli(['run', '--dir', dir, '--trace', 'all:4', '--', 'sh', '-c', `echo | ${exe} >/dev/null && echo ok`]);
  expect(result.stdout).toBe('ok\n');
  const wrong = cli(['run', '--trace', 'sometimes', '--', 'true']);
  expect([wrong.status, wrong.stderr]).toEqual([2, 'skull-mem: trace setting must be "all" or a sample size in bytes, optionally followed by ":<depth>" (got "sometimes")\n']);
});
