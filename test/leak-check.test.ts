// `skull-mem run --leak-check`: real programs checked at their exit, with exact figures.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli } from './helpers';

let work: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-leak-check-'));
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

/** The 1-based line of the source line containing `marker`. */
function lineOf(file: string, marker: string): number {
  return fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n').findIndex((line) => line.includes(marker)) + 1;
}

function compile(source: string, output: string): string {
  const exe = path.join(work, output);
  const compiler = source.endsWith('.cpp') ? 'g++' : 'gcc';
  const result = spawnSync(compiler, ['-g', '-O2', path.join(ROOT, source), '-o', exe], { encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return exe;
}

interface Site {
  bytes: number;
  blocks: number;
  frames: { text: string; function?: string | null; file?: string | null; line?: number | null }[];
}

interface Check {
  format: string;
  pid: number;
  executable: string;
  lost: { bytes: number; blocks: number; sites: number };
  reachable: { bytes: number; blocks: number; sites: number };
  suppressed: { pattern: string; tally: { bytes: number; blocks: number; sites: number } }[];
  untraced_blocks: number;
  lost_sites: Site[];
  reachable_sites: Site[];
}

function checks(file: string): Check[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Check);
}

/** The first frame of `site` in `file` (the allocating line). */
function where(site: Site): string {
  const frame = site.frames.find((f) => f.file?.endsWith('.c') || f.file?.endsWith('.cpp'));
  return `${frame?.function} ${path.basename(frame?.file ?? '?')}:${frame?.line}`;
}

describe('skull-mem run --leak-check on a C program', () => {
  const source = 'test/c/leak_check.c';

  it('finds exactly the 100 lost blocks and the 50 still reachable, at their lines, and exits 23', () => {
    const exe = compile(source, 'leak_check');
    const json = path.join(work, 'c.jsonl');
    const r = cli(['run', '--leak-check=full', '--json', json, '--', exe]);
    expect(r.status, r.stderr).toBe(23);
    const [check] = checks(json);
    // 100 blocks of 48 bytes lost at one site; 50 of 64 bytes kept in `kept`.
    expect(check.lost).toEqual({ bytes: 4800, blocks: 100, sites: 1 });
    expect(where(check.lost_sites[0])).toBe(`lose_one leak_check.c:${lineOf(source, '/* LOST_LINE */')}`);
    expect(check.reachable).toEqual({ bytes: 3200, blocks: 50, sites: 1 });
    expect(where(check.reachable_sites[0])).toBe(`keep leak_check.c:${lineOf(source, '/* KEPT_LINE */')}`);
    expect(check.untraced_blocks).toBe(0);
    expect(r.stderr).toContain(`======== skull-mem leak check: pid ${check.pid} (${exe}) ========\nlost: 4800 bytes in 100 block(s) at 1 site(s)\nstill reachable: 3200 bytes in 50 block(s) at 1 site(s)\n`);
    expect(r.stderr).toContain(`#1 lost: 4800 bytes in 100 block(s), scope core\n    lose_one at ${path.join(ROOT, source)}:${lineOf(source, '/* LOST_LINE */')}`);
  });

  it('lists still-reachable blocks by stack only with =full, and passes the exit status on under the threshold', () => {
    const exe = compile(source, 'leak_check_summary');
    const r = cli(['run', '--leak-check', '--fail-above', '4800', '--', exe]);
    // 4800 lost bytes do not exceed --fail-above 4800: the program's own status, 0.
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('lost: 4800 bytes in 100 block(s) at 1 site(s)\nstill reachable: 3200 bytes in 50 block(s) at 1 site(s)\n');
    expect(r.stderr).not.toContain('still reachable: 3200 bytes in 50 block(s), scope');
    const code = cli(['run', '--leak-check', '--leak-exit-code', '99', '--', exe]);
    expect(code.status).toBe(99);
  });

  it('silences exactly the suppressed site', () => {
    const exe = compile(source, 'leak_check_second');
    const suppressions = path.join(work, 'suppressions.txt');
    fs.writeFileSync(suppressions, '# the second site is known\nleak:^lose_second$\n');
    const json = path.join(work, 'suppressed.jsonl');
    const r = cli(['run', '--leak-check', '--suppressions', suppressions, '--json', json, '--', exe, 'second']);
    expect(r.status, r.stderr).toBe(23);
    const [check] = checks(json);
    // lose_one's 100 blocks of 48 bytes still count; lose_second's 7 of 24 are suppressed.
    expect(check.lost).toEqual({ bytes: 4800, blocks: 100, sites: 1 });
    expect(check.suppressed).toEqual([{ pattern: '^lose_second$', tally: { bytes: 168, blocks: 7, sites: 1 } }]);
    const all = path.join(work, 'unsuppressed.jsonl');
    cli(['run', '--leak-check', '--json', all, '--', exe, 'second']);
    expect(checks(all)[0].lost).toEqual({ bytes: 4968, blocks: 107, sites: 2 });
  });

  it('checks a program a shell started (fork and exec) on its own, naming its pid', () => {
    const exe = compile(source, 'leak_check_exec');
    const json = path.join(work, 'exec.jsonl');
    const r = cli(['run', '--leak-check', '--json', json, '--', 'sh', '-c', `${exe}; echo "status $?"; exit 0`]);
    // The shell's own status is 0; the program's, which the shell saw, the leak exit code.
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('status 23\n');
    const shell = Number(/\(pid (\d+)\)/.exec(r.stderr)?.[1]);
    const program = checks(json).filter((check) => check.executable === exe);
    expect(program).toHaveLength(1);
    expect(program[0].pid).not.toBe(shell);
    expect(program[0].lost).toEqual({ bytes: 4800, blocks: 100, sites: 1 });
    expect(r.stderr).toContain(`======== skull-mem leak check: pid ${program[0].pid} (${exe}) ========`);
  });

  it('checks a forked child on its own: the child fails with its pid, the parent passes', () => {
    const source = 'test/c/leak_fork.c';
    const exe = compile(source, 'leak_fork');
    const json = path.join(work, 'fork.jsonl');
    const r = cli(['run', '--leak-check', '--json', json, '--', exe]);
    expect(r.status, r.stderr).toBe(0);
    const child = Number(/child (\d+) status 23\n/.exec(r.stdout)?.[1]);
    const byPid = new Map(checks(json).map((check) => [check.pid, check]));
    expect(byPid.size).toBe(2);
    // The child: its 10 blocks of 32 bytes (its trace tables start empty at fork, so the
    // parent's 100-byte block is not its own to check); the parent freed everything.
    expect(byPid.get(child)?.lost).toEqual({ bytes: 320, blocks: 10, sites: 1 });
    expect(where(byPid.get(child)!.lost_sites[0])).toBe(`child_loses leak_fork.c:${lineOf(source, '/* CHILD_LOST_LINE */')}`);
    const parent = [...byPid.values()].find((check) => check.pid !== child)!;
    expect(parent.lost).toEqual({ bytes: 0, blocks: 0, sites: 0 });
    expect(r.stderr).toContain(`======== skull-mem leak check: pid ${child} (`);
  });
});

describe('skull-mem run --leak-check on programs that free what they allocate', () => {
  /** Runs `argv` under the default leak check and returns its one report. */
  function clean(argv: string[]): Check {
    const json = path.join(work, `clean-${path.basename(argv[0])}.jsonl`);
    const r = cli(['run', '--leak-check', '--json', json, '--', ...argv]);
    expect(r.status, r.stderr).toBe(0);
    const [check] = checks(json);
    expect(check.lost).toEqual({ bytes: 0, blocks: 0, sites: 0 });
    return check;
  }

  it('C++ with std containers, strings and exceptions: 0 lost, exit 0', () => {
    const check = clean([compile('test/c/leak_free.cpp', 'leak_free_cpp')]);
    // Left at exit: stdout's 4096-byte buffer (glibc keeps it for the process's life).
    expect(check.reachable).toEqual({ bytes: 4096, blocks: 1, sites: 1 });
  });

  it('Rust: 0 lost, exit 0', () => {
    const exe = path.join(work, 'leak_free_rs');
    const built = spawnSync('rustc', ['-g', '-O', path.join(ROOT, 'test/rust/leak_free.rs'), '-o', exe], { encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    clean([exe]);
  });

  it('python3 -c with a small script: 0 lost, exit 0', () => {
    // The interpreter itself, not a wrapper script in front of it (pyenv's shim is bash).
    const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
    const check = clean([python, '-c', 'import json, collections\nd = {str(i): list(range(i % 20)) for i in range(5000)}\nprint(len(json.dumps(d)), collections.Counter("hello").most_common(1))']);
    expect(check.reachable.blocks).toBeGreaterThan(0);
  });

  it('node with Buffers and zlib: 0 lost, exit 0', () => {
    const check = clean([process.execPath, '-e', 'const z = require("zlib"); console.log(z.gunzipSync(z.gzipSync(Buffer.alloc(100000, 1))).length)']);
    expect(check.reachable.blocks).toBeGreaterThan(0);
  });
});
