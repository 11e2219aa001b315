// One renderer of the "Skull Memory Measurement" table: the table a process prints of itself
// (the demo, through the C `skull_report`, which `skull_mem::report` in Rust shares), the table
// `skull-mem memory <pid>` prints, and the one the API renders (`sm.report()` is this for its
// own pid) are the same text for the same quiescent process (resident figures: see
// RESIDENT_SLACK).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INDEX, LIBRARY, ROOT, cli, node } from './helpers';

const TITLE = '======== Skull Memory Measurement ========';

/** The RSS summary's lines of resident pages (not counted by skull-mem). */
const RESIDENT_LINES = ['Process RSS', '  glibc heap mappings', '    live blocks and headers', '    retained by malloc (at least)', '  other anonymous memory', '    of it live large blocks (about)'];

/** How far a resident figure of the process's own report may be from the outside reading:
 * the report gives its last freed blocks back to glibc after its last /proc reading, and
 * glibc may touch a heap page doing so (as crates/test-support's `assert_same_memory_table`). */
const RESIDENT_SLACK = 8192;

/** `outside` is `inside` line for line; resident figures may be RESIDENT_SLACK apart. */
function expectSameTable(outside: string, inside: string): void {
  const [outs, ins] = [outside.split('\n'), inside.split('\n')];
  expect(outs.length).toBe(ins.length);
  outs.forEach((line, index) => {
    const own = ins[index];
    if (line === own || !RESIDENT_LINES.some((label) => own.startsWith(label))) {
      expect(line).toBe(own);
      return;
    }
    const bytes = (text: string): number => Number(/(\d+) bytes/.exec(text)?.[1]);
    expect(Math.abs(bytes(line) - bytes(own))).toBeLessThanOrEqual(RESIDENT_SLACK);
    expect(line.slice(0, line.search(/\d/)).trimEnd()).toBe(own.slice(0, own.search(/\d/)).trimEnd());
  });
}
const HOLDING = 'demo: holding\n';

/** Compiles demo/demo.c as `skull-mem demo` does, into `dir`. */
function compileDemo(dir: string): string {
  const program = path.join(dir, 'demo');
  const libDir = path.dirname(LIBRARY);
  const gcc = spawnSync(
    'gcc',
    ['-O1', '-g', '-I', path.join(ROOT, 'include'), path.join(ROOT, 'demo', 'demo.c'), '-o', program, `-L${libDir}`, '-lskull_mem', `-Wl,-rpath,${libDir}`, '-pthread'],
    { encoding: 'utf8' },
  );
  expect(gcc.stderr).toBe('');
  expect(gcc.status).toBe(0);
  return program;
}

describe('one memory table', () => {
  it('the_demo_s_own_table_skull_mem_memory_and_the_api_render_the_same_text_for_the_holding_demo', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-one-table-'));
    const child = spawn(compileDemo(dir), ['--hold', '--ticks', '3', '--pause-ms', '0'], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, LD_PRELOAD: LIBRARY, SKULL_MEM_DIR: dir },
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let stdout = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (text: string) => {
          stdout += text;
          if (stdout.endsWith(HOLDING)) resolve();
        });
        child.on('exit', () => reject(new Error(`the demo ended before holding: ${stdout}`)));
      });
      // The demo now blocks in read(2): nothing in it allocates until its stdin gets a line.
      const own = stdout.slice(stdout.indexOf(TITLE), stdout.length - HOLDING.length);
      expect(own.startsWith(`${TITLE} pid ${child.pid}: `)).toBe(true);
      expect(own).toMatch(/^ +service +session-cache +19200 +19200 +300 /m);

      const memory = cli(['memory', String(child.pid), '--dir', dir]);
      expect(memory.stderr).toBe('');
      expectSameTable(memory.stdout, own);

      const api = node(
        `const sm = require(${JSON.stringify(INDEX)});
         process.stdout.write(sm.renderMemoryTable(sm.takeProcessSnapshot(${child.pid}, ${JSON.stringify(dir)}), { detail: false, sort: 'used' }));`,
      );
      expect(api.stderr).toBe('');
      expectSameTable(api.stdout, own);
    } finally {
      child.stdin.end('\n');
      expect(await exited).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
