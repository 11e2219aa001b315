// JavaScript frames in leak reports of node under `skull-mem run --trace all`: the allocating
// line from V8's jitdump (`--perf-prof`), the function's line and a note from its perf map
// (`--perf-basic-prof`), and one hint naming the flags when no map names JIT code.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, run } from './helpers';

const TRACE_CLI = path.join(ROOT, 'dist', 'bin', 'skull-trace.js');

// keepBuffers is defined on line 3; the Buffer it keeps is allocated on line 7. TurboFan
// compiles it on the call after %OptimizeFunctionOnNextCall (and inlines allocUnsafeSlow, whose
// lines V8's line table gives under this script's name). leakNow is the only caller of the 20
// kept Buffers, so their group is told apart from the two of the warm-up calls.
const SCRIPT = `'use strict';
const kept = [];
function keepBuffers(n) {
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += i;
    kept.push(Buffer.allocUnsafeSlow(50000));
  }
  return total;
}
function leakNow() {
  return keepBuffers(20);
}
%PrepareFunctionForOptimization(keepBuffers);
keepBuffers(1);
keepBuffers(1);
%OptimizeFunctionOnNextCall(keepBuffers);
leakNow();
console.log(\`ready \${process.pid}\`);
process.stdin.once('data', () => process.exit(0));
`;
const DEFINED = 3;
const ALLOCATES = 7;

interface Frame {
  function: string | null;
  file: string | null;
  line: number | null;
  text: string;
}
interface Leaks {
  jit_note?: string;
  groups: { bytes: number; blocks: number; frames: Frame[] }[];
}

let work: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-js-frames-'));
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Runs the script in node with `flags` under `skull-mem run --trace all`, returns the leak
 * report (JSON and text) once it kept its Buffers. */
async function leaks(flags: string[]): Promise<{ json: Leaks; text: string; pid: number; script: string }> {
  // Its own directory: node writes jit-<pid>.dump (--perf-prof) and isolate logs there.
  const dir = fs.mkdtempSync(path.join(work, 'run-'));
  const script = path.join(dir, 'app.js');
  fs.writeFileSync(script, SCRIPT);
  const seg = path.join(dir, 'seg');
  fs.mkdirSync(seg);
  const child = spawn(
    process.execPath,
    [CLI, 'run', '--dir', seg, '--trace', 'all', '--', process.execPath, '--allow-natives-syntax', ...flags, script],
    { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  const pid = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const ready = /ready (\d+)/.exec(out);
      if (ready) resolve(Number(ready[1]));
    });
    child.on('exit', (code) => reject(new Error(`node exited with ${code} before it was ready: ${out}`)));
  });
  const report = (args: string[]) => {
    const result = run([process.execPath, TRACE_CLI, 'leaks', String(pid), '--dir', seg, ...args]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    return result.stdout;
  };
  // The 20 Buffers are the largest group: the two warm-up Buffers are the next largest.
  const json = JSON.parse(report(['--json', '--top', '3'])) as Leaks;
  const text = report(['--top', '3']);
  child.stdin.end('\n');
  await new Promise((resolve) => child.on('exit', resolve));
  fs.rmSync(`/tmp/perf-${pid}.map`, { force: true });
  return { json, text, pid, script };
}

/** The group of the 20 Buffers leakNow keeps, and its keepBuffers frame. */
function kept(report: Leaks): { bytes: number; blocks: number; frame: Frame } {
  const groups = report.groups.filter((g) => g.frames.some((f) => /leakNow/.test(f.function ?? '')));
  expect(groups.length).toBe(1);
  const frame = groups[0].frames.find((f) => /keepBuffers/.test(f.function ?? ''))!;
  return { bytes: groups[0].bytes, blocks: groups[0].blocks, frame };
}

/** How many lines of `text` start with `start`. */
function count(text: string, start: string): number {
  return text.split('\n').filter((line) => line.startsWith(start)).length;
}

describe('JavaScript frames', () => {
  it('node_perf_prof_names_the_line_that_allocated_from_the_jitdump', async () => {
    const { json, text, pid, script } = await leaks(['--perf-prof', '--interpreted-frames-native-stack']);
    const group = kept(json);
    // 20 Buffers of 50,000 bytes, each one malloc'd backing store (traced exactly: --trace all).
    expect([group.bytes, group.blocks]).toEqual([20 * 50_000, 20]);
    // TurboFan's code (tier `*`; Node 24 adds `'` for code specialized to its context), named
    // from jit-<pid>.dump with the allocating line.
    expect(group.frame.function).toMatch(/^JS:\*'?keepBuffers$/);
    expect([group.frame.file, group.frame.line]).toEqual([script, ALLOCATES]);
    const shown = `${group.frame.function} at ${script}:${ALLOCATES} (jit-${pid}.dump)`;
    expect(group.frame.text).toBe(shown);
    expect(text).toContain(`    ${shown}\n`);
    // leakNow and the script's top level are still interpreted: no line table, so the note
    // says their lines are where they are defined, once.
    expect(json.jit_note).toBe('function_lines');
    expect(count(text, 'note: JavaScript frames without a V8 line table')).toBe(1);
    expect(count(text, 'hint:')).toBe(0);
  });

  it('node_perf_basic_prof_names_the_function_line_and_says_so_once', async () => {
    const { json, text, pid, script } = await leaks(['--perf-basic-prof', '--interpreted-frames-native-stack']);
    const group = kept(json);
    expect([group.bytes, group.blocks]).toEqual([20 * 50_000, 20]);
    expect(group.frame.function).toMatch(/^JS:\*'?keepBuffers$/);
    expect(group.frame.text).toBe(`${group.frame.function} at ${script}:${DEFINED} (perf-${pid}.map)`);
    expect(json.jit_note).toBe('function_lines');
    expect(count(text, 'note: JavaScript frames without a V8 line table')).toBe(1);
    expect(count(text, 'hint:')).toBe(0);
  });

  it('node_without_a_jit_map_gets_one_hint_naming_the_flags', async () => {
    const { json, text } = await leaks([]);
    // Unnamed, the 20 Buffers are grouped by return address, and V8's code reaches the
    // allocation from more than one (19 and 1 with Node 20): the largest group is of them.
    const group = json.groups[0];
    expect(group.bytes).toBe(group.blocks * 50_000);
    expect(group.frames.some((f) => /keepBuffers|leakNow/.test(f.text))).toBe(false);
    expect(group.frames.some((f) => /^\?\? \(\[anon\]\+0x[0-9a-f]+\)$/.test(f.text))).toBe(true);
    expect(json.jit_note).toBe('unnamed');
    expect(count(text, 'hint: frames in JIT code are unnamed')).toBe(1);
    expect(text).toContain('--perf-prof --interpreted-frames-native-stack');
    expect(count(text, 'note:')).toBe(0);
  });
});
