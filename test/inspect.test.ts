// Reading processes from outside: `skull-mem ps`, `memory`, `snapshot` against real programs
// started with `skull-mem run`, paused at known points, and every bad input of the issue.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Started } from './fixtures/started';
import { ADDON, CLI, LIBRARY, ROOT, cli } from './helpers';

let work: string;
let stepper: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-inspect-'));
  stepper = path.join(work, 'stepper');
  const libDir = path.dirname(LIBRARY);
  const gcc = spawnSync('gcc', ['-O0', '-I', path.join(ROOT, 'include'), path.join(ROOT, 'test/c/stepper.c'), '-o', stepper,
    `-L${libDir}`, '-lskull_mem', `-Wl,-rpath,${libDir}`], { encoding: 'utf8' });
  expect(gcc.stderr).toBe('');
  expect(gcc.status).toBe(0);
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** A fresh segment directory, so tests do not see each other's processes. */
function segmentDir(): string {
  return fs.mkdtempSync(path.join(work, 'segments-'));
}

interface JsonScope {
  name: string;
  kind: string;
  used_bytes: number;
  live_blocks: number;
  peak_used_bytes: number;
  counters: Record<string, number>;
}

function memoryJson(pid: number, dir: string): { scopes: JsonScope[]; process: Record<string, number>; pid: number } {
  const result = cli(['memory', String(pid), '--json', '--dir', dir]);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout);
}

function scope(snapshot: { scopes: JsonScope[] }, name: string): JsonScope {
  const found = snapshot.scopes.find((s) => s.name === name);
  if (!found) throw new Error(`no scope ${name} in ${snapshot.scopes.map((s) => s.name).join(', ')}`);
  return found;
}

function expectOneLineError(result: { status: number | null; stderr: string; stdout: string }, code: number, pattern: RegExp): void {
  expect(result.status).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(/^skull-mem: /);
  expect(result.stderr).toMatch(pattern);
}

describe('skull-mem memory', () => {
  it('reads_exact_per_scope_numbers_of_a_paused_C_program', async () => {
    const dir = segmentDir();
    const program = new Started([stepper], dir);
    await program.line(/ready 1/);
    const pid = program.child.pid!; // `run` spawns the program directly: look it up by segment
    const [segment] = fs.readdirSync(dir);
    const programPid = Number(segment.split('-').pop());
    expect(programPid).toBeGreaterThan(0);
    expect(programPid).not.toBe(pid);

    const first = memoryJson(programPid, dir);
    expect(first.pid).toBe(programPid);
    const parser = scope(first, 'parser');
    expect(parser.kind).toBe('module');
    expect([parser.used_bytes, parser.live_blocks, parser.counters.malloc_calls]).toEqual([10_000, 10, 10]);
    const cache = scope(first, 'cache');
    expect([cache.used_bytes, cache.live_blocks, cache.counters.calloc_calls]).toEqual([4 * 4096, 4, 4]);
    expect(first.process.rss_bytes).toBeGreaterThan(0);

    program.send();
    await program.line(/ready 2/);
    const second = memoryJson(programPid, dir);
    const parser2 = scope(second, 'parser');
    // Two of parser's blocks were freed from `cache`: credited back to parser, as cross-scope frees.
    expect([parser2.used_bytes, parser2.live_blocks]).toEqual([8_000, 8]);
    expect([parser2.counters.cross_freed_blocks, parser2.counters.cross_freed_bytes]).toEqual([2, 2_000]);
    // An outside reading does not write its peak into the segment (issue 11: readers never
    // write); the program made no report of its own, so the peak is this reading's figure.
    expect(parser2.peak_used_bytes).toBe(8_000);
    const cache2 = scope(second, 'cache');
    expect([cache2.used_bytes, cache2.counters.calloc_calls, cache2.counters.free_calls]).toEqual([10 * 4096, 10, 2]);

    const table = cli(['memory', String(programPid), '--dir', dir, '--detail', '--sort', 'name']);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/^======== Skull Memory Measurement ========/);
    const rows = table.stdout.split('\n').filter((line) => /^\s+(module|service)\s/.test(line));
    expect(rows.map((row) => row.trim().split(/\s+/).slice(0, 5))).toEqual([
      ['service', 'cache', '40960', '40960', '10'],
      ['module', 'parser', '8000', '8000', '8'],
    ]);
    expect(table.stdout).toMatch(/Process RSS\s+\d+ bytes/);

    program.send();
    expect(await program.exited()).toBe(0);
    // Removed at normal exit.
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('snapshot_writes_the_same_figures_to_a_file', async () => {
    const dir = segmentDir();
    const program = new Started([stepper], dir);
    await program.line(/ready 1/);
    const programPid = Number(fs.readdirSync(dir)[0].split('-').pop());
    const file = path.join(work, 'snap.json');
    const result = cli(['snapshot', String(programPid), '-o', file, '--dir', dir]);
    expect(result.status).toBe(0);
    const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(saved.format).toBe('skull-mem-snapshot');
    expect(saved.format_version).toBe(1);
    expect(scope(saved, 'parser').used_bytes).toBe(10_000);
    program.send();
    program.send();
    expect(await program.exited()).toBe(0);
  });
});

describe('skull-mem diff', () => {
  it('reports_exactly_the_growth_made_between_two_snapshots', async () => {
    const dir = segmentDir();
    const program = new Started([stepper], dir);
    await program.line(/ready 1/);
    const programPid = Number(fs.readdirSync(dir)[0].split('-').pop());
    const before = path.join(work, 'before.json');
    const after = path.join(work, 'after.json');
    expect(cli(['snapshot', String(programPid), '-o', before, '--dir', dir]).status).toBe(0);
    program.send();
    await program.line(/ready 2/);
    expect(cli(['snapshot', String(programPid), '-o', after, '--dir', dir]).status).toBe(0);
    program.send();
    expect(await program.exited()).toBe(0);

    const result = cli(['diff', before, after, '--json']);
    expect(result.status).toBe(0);
    const growth = JSON.parse(result.stdout) as { scopes: { name: string; used_bytes: number; live_blocks: number; counters: Record<string, number> }[]; totals: { used_bytes: number } };
    const of = (name: string) => growth.scopes.find((s) => s.name === name)!;
    // Step 2: cache callocs 6 x 4096; two of parser's 1000-byte blocks are freed.
    expect([of('cache').used_bytes, of('cache').live_blocks, of('cache').counters.calloc_calls]).toEqual([6 * 4096, 6, 6]);
    expect([of('parser').used_bytes, of('parser').live_blocks, of('parser').counters.cross_freed_bytes]).toEqual([-2000, -2, 2000]);
    // Sorted by growth, and the totals are the sum of the scopes' growth.
    expect(growth.scopes[0].name).toBe('cache');
    expect(growth.totals.used_bytes).toBe(growth.scopes.reduce((sum, s) => sum + s.used_bytes, 0));

    const table = cli(['diff', before, after]);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/^======== Skull Memory Diff/);
    expect(table.stdout).toMatch(/service\s+cache\s+16384\s+40960\s+\+24576/);
  });

  it('refuses_missing_non_json_and_foreign_files_with_one_line', () => {
    const notJson = path.join(work, 'not.json');
    fs.writeFileSync(notJson, 'hello');
    const foreign = path.join(work, 'foreign.json');
    fs.writeFileSync(foreign, JSON.stringify({ format: 'other', scopes: [] }));
    expectOneLineError(cli(['diff', path.join(work, 'missing.json'), notJson]), 1, /missing\.json: no such file/);
    expectOneLineError(cli(['diff', notJson, notJson]), 1, /not\.json is not JSON/);
    expectOneLineError(cli(['diff', foreign, foreign]), 1, /foreign\.json: not a skull-mem snapshot v1/);
    expectOneLineError(cli(['diff', foreign]), 2, /missing required argument 'after'/);
  });
});

describe('skull-mem memory on node', () => {
  it('reads_the_native_bytes_of_buffers_a_node_process_holds_in_a_scope', async () => {
    const dir = segmentDir();
    const script = `
      const binding = require(${JSON.stringify(ADDON)});
      const id = binding.scopeRegister('buffers', 'module');
      const keep = [];
      const previous = binding.scopeEnter(id);
      for (let i = 0; i < 8; i++) keep.push(Buffer.allocUnsafeSlow(256 * 1024));
      binding.scopeLeave(previous);
      console.log('ready ' + process.pid);
      process.stdin.once('data', () => process.exit(keep.length === 8 ? 0 : 1));
    `;
    const program = new Started([process.execPath, '-e', script], dir);
    const pid = Number((await program.line(/ready (\d+)/))[1]);
    const buffers = scope(memoryJson(pid, dir), 'buffers');
    // 8 x 256 KiB of backing stores, plus what Node allocates per Buffer for its bookkeeping
    // (on Node 20: three small blocks, 128 bytes in all); allow up to 256 bytes per Buffer.
    expect(buffers.used_bytes).toBeGreaterThanOrEqual(8 * 256 * 1024);
    expect(buffers.used_bytes).toBeLessThanOrEqual(8 * (256 * 1024 + 256));
    expect(buffers.live_blocks).toBeGreaterThanOrEqual(8);
    expect(buffers.live_blocks).toBeLessThanOrEqual(8 * 4);
    program.send();
    expect(await program.exited()).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('skull-mem memory --watch', () => {
  it('prints_one_json_line_per_interval_with_the_figures_of_that_moment', async () => {
    const dir = segmentDir();
    const program = new Started([stepper], dir);
    await program.line(/ready 1/);
    const programPid = Number(fs.readdirSync(dir)[0].split('-').pop());
    const watcher = spawn(process.execPath, [CLI, 'memory', String(programPid), '--watch', '0.2', '--json', '--dir', dir]);
    let out = '';
    watcher.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    while (out.split('\n').length < 3) await new Promise((resolve) => setTimeout(resolve, 50));
    program.send();
    await program.line(/ready 2/);
    const target = out.split('\n').length + 2;
    while (out.split('\n').length < target) await new Promise((resolve) => setTimeout(resolve, 50));
    watcher.kill('SIGINT');
    const code = await new Promise((resolve) => watcher.on('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    const lines = out.trim().split('\n').map((line) => JSON.parse(line) as { scopes: JsonScope[] });
    expect(scope(lines[0], 'cache').used_bytes).toBe(4 * 4096);
    expect(scope(lines[lines.length - 1], 'cache').used_bytes).toBe(10 * 4096);
    program.send();
    expect(await program.exited()).toBe(0);
  });
});

describe('skull-mem ps', () => {
  it('lists_parent_and_forked_child_with_their_own_numbers_and_cleans_up_after_SIGKILL', async () => {
    const dir = segmentDir();
    const program = new Started([stepper, 'fork'], dir);
    const parentPid = Number((await program.line(/parent ready (\d+)/))[1]);
    const childPid = Number((await program.line(/child ready (\d+)/))[1]);

    const ps = cli(['ps', '--json', '--dir', dir]);
    expect(ps.status).toBe(0);
    const listed = JSON.parse(ps.stdout) as { processes: { pid: number; used_bytes: number; scopes: number }[] };
    expect(listed.processes.map((p) => p.pid).sort()).toEqual([parentPid, childPid].sort());

    // The child inherited the parent's blocks (its heap is a copy) and added 3 x 500 in parser.
    expect(scope(memoryJson(childPid, dir), 'parser').used_bytes).toBe(10_000 + 1_500);
    expect(scope(memoryJson(parentPid, dir), 'parser').used_bytes).toBe(10_000);

    // SIGKILL leaves the child's segment behind; ps removes it (pid and start time checked).
    process.kill(childPid, 'SIGKILL');
    expect(await program.exited()).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([`skull-mem-${os.userInfo().uid}-${childPid}`]);
    const after = cli(['ps', '--json', '--dir', dir]);
    const cleaned = JSON.parse(after.stdout) as { processes: unknown[]; removed: string[] };
    expect(cleaned.processes).toEqual([]);
    expect(cleaned.removed).toEqual([path.join(dir, `skull-mem-${os.userInfo().uid}-${childPid}`)]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('prints_a_table_and_says_how_to_start_a_process_when_there_is_none', () => {
    const result = cli(['ps', '--dir', segmentDir()]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/no process runs with skull-mem .*skull-mem run -- <command>/);
  });
});

describe('bad input', () => {
  let sleeper: ChildProcess;
  let dir: string;
  let validCopy: Buffer;
  const uid = os.userInfo().uid;
  const plant = (): string => path.join(dir, `skull-mem-${uid}-${sleeper.pid}`);

  beforeAll(async () => {
    // A live process without the library, whose pid the planted files claim.
    sleeper = spawn('sleep', ['300'], { stdio: 'ignore' });
    dir = segmentDir();
    const program = new Started([stepper], dir);
    await program.line(/ready 1/);
    const [name] = fs.readdirSync(dir);
    const mode = fs.statSync(path.join(dir, name)).mode & 0o777;
    expect(mode).toBe(0o600);
    validCopy = fs.readFileSync(path.join(dir, name));
    program.send();
    program.send();
    await program.exited();
  });

  afterAll(() => {
    sleeper.kill('SIGKILL');
  });

  /** A copy of a real segment, with its pid field (offset 64) changed to the sleeper's. */
  function forged(edit?: (bytes: Buffer) => void): Buffer {
    const bytes = Buffer.from(validCopy);
    bytes.writeUInt32LE(sleeper.pid!, 64);
    edit?.(bytes);
    return bytes;
  }

  function read(): ReturnType<typeof cli> {
    return cli(['memory', String(sleeper.pid), '--dir', dir]);
  }

  function writePlanted(bytes: Buffer, mode = 0o600): void {
    fs.rmSync(plant(), { force: true });
    fs.writeFileSync(plant(), bytes, { mode });
    fs.chmodSync(plant(), mode);
  }

  it('a_pid_that_does_not_exist', () => {
    expectOneLineError(cli(['memory', '4194303', '--dir', dir]), 1, /no process with pid 4194303/);
  });

  it('a_non_numeric_pid_is_a_usage_error', () => {
    expectOneLineError(cli(['memory', '12x']), 2, /"12x" is not a process id/);
    expectOneLineError(cli(['snapshot', '-5']), 2, /./);
  });

  it('a_process_without_the_library_says_how_to_start_it', () => {
    fs.rmSync(plant(), { force: true });
    expectOneLineError(read(), 1, /does not run with skull-mem; start it with `skull-mem run -- sleep 300`/);
  });

  it('a_symlink_planted_at_the_segment_path', () => {
    fs.rmSync(plant(), { force: true });
    fs.symlinkSync('/etc/passwd', plant());
    expectOneLineError(read(), 1, /is a symbolic link, not a skull-mem segment; refusing to follow it/);
    fs.rmSync(plant());
  });

  it('a_fifo_at_the_segment_path_does_not_hang', () => {
    fs.rmSync(plant(), { force: true });
    expect(spawnSync('mkfifo', [plant()]).status).toBe(0);
    expectOneLineError(read(), 1, /is not a regular file/);
    fs.rmSync(plant());
  });

  it('a_segment_readable_by_others', () => {
    writePlanted(forged(), 0o644);
    expectOneLineError(read(), 1, /has mode 0644, but a skull-mem segment is 0600/);
  });

  it('a_truncated_segment', () => {
    writePlanted(forged().subarray(0, 4096));
    expectOneLineError(read(), 1, /is truncated \(4096 bytes/);
  });

  it('a_file_that_is_not_a_segment', () => {
    writePlanted(forged((bytes) => bytes.write('NOTSKULL', 0, 'latin1')));
    expectOneLineError(read(), 1, /is not a skull-mem segment/);
  });

  it('a_segment_of_a_newer_layout_version', () => {
    const layout = validCopy.readUInt32LE(8);
    writePlanted(forged((bytes) => bytes.writeUInt32LE(layout + 1, 8)));
    // The layout, then the trace tables' fingerprint (crates/core/src/trace/tables.rs): the
    // same in the file and in the reader, which were built together.
    expectOneLineError(read(), 1, new RegExp(`has segment layout ${layout + 1}\\.([0-9a-f]{8}) \\(library 0\\.1\\.0\\); this skull-mem 0\\.1\\.0 reads layout ${layout}\\.\\1:`));
  });

  it('a_corrupt_segment', () => {
    writePlanted(forged((bytes) => bytes.writeUInt32LE(7, 24)));
    expectOneLineError(read(), 1, /is corrupt: its layout fields do not match/);
  });

  it('a_segment_of_an_earlier_process_with_the_same_pid_is_stale', () => {
    writePlanted(forged());
    expectOneLineError(read(), 1, /is left over from process \d+, which has ended/);
    const ps = cli(['ps', '--json', '--dir', dir]);
    expect(JSON.parse(ps.stdout).removed).toEqual([plant()]);
    expect(fs.existsSync(plant())).toBe(false);
  });

  it('a_segment_owned_by_another_user_is_refused', () => {
    // The reader runs as nobody; the segment belongs to root (0600).
    writePlanted(forged());
    const asNobody = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'snapshot', String(sleeper.pid), '--dir', dir],
      { encoding: 'utf8' },
    );
    if (uid !== 0) throw new Error('this test needs root to switch users');
    // nobody cannot see root's process status for the segment name, so the reader is asked by path.
    expect(asNobody.status).toBe(1);
    expect(asNobody.stderr).toMatch(/^skull-mem: .*(belongs to uid 0; only that user or root may read it|permission denied)\n$/);
  });
});
