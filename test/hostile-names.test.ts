// Names a measured process chooses — scope names and kinds, its command line, its thread name,
// the files its frames come from — are shown escaped on a terminal by every command, so a
// process cannot retitle, clear or reorder the terminal of whoever reads it; JSON keeps them
// exact. The program is test/c/hostile.c, compiled from a file and to an executable whose
// paths hold escape sequences and a bidi override, and started with such arguments.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Started } from './fixtures/started';
import { LIBRARY, ROOT, cli, run, type Run } from './helpers';

const TRACE_CLI = path.join(ROOT, 'dist', 'bin', 'skull-trace.js');

/** The scope names and kinds of hostile.c, exactly. */
const SCOPES = [
  { name: '\x1b]0;OWNED\x07\x1b[2J', kind: 'service' },
  { name: 'line1\nline2\r\tx\x7f', kind: '\x1b[31mroute' },
  { name: 'evil\u202etxt.exe\u2066x\u2069\u009b31m', kind: 'module' },
];
/** How the terminal shows them. */
const SHOWN = ['\\e]0;OWNED\\x07\\e[2J', 'line1\\nline2\\r\\tx\\x7f', 'evil\\u{202e}txt.exe\\u{2066}x\\u{2069}\\u{9b}31m'];
const ARGS = ['arg\x1b]0;OWNED\x07', 'two\nlines', 'bidi\u202eexe'];

/** Every character a terminal could act on, or that reorders or hides text; a table's own
 * line breaks aside. */
const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu;

function rawCharacters(text: string): string[] {
  return [...text.matchAll(RAW)].map((match) => `U+${match[0].codePointAt(0)!.toString(16)}`);
}

/** Asserts a command succeeded and printed nothing raw on stdout or stderr. */
function safe(result: Run): string {
  expect(rawCharacters(result.stdout + result.stderr)).toEqual([]);
  expect(result.status).toBe(0);
  return result.stdout;
}

function trace(args: string[]): Run {
  return run([process.execPath, TRACE_CLI, ...args]);
}

let work: string;
let dir: string;
let exe: string;
let program: Started;
let pid: number;
let rounds = 0;

/** Has the program allocate one more round (see hostile.c) and waits until it did. */
async function nextRound(): Promise<void> {
  program.send();
  await program.line(new RegExp(`done ${++rounds}\n`));
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-mem-hostile-'));
  dir = fs.mkdtempSync(path.join(work, 'seg-'));
  // Frames name the source file and the executable: both paths hold ESC and U+202E.
  const sources = path.join(work, 'src\x1b[1m\u202e');
  fs.mkdirSync(sources);
  const source = path.join(sources, 'hostile\x1b]0;FILE\x07.c');
  fs.copyFileSync(path.join(ROOT, 'test/c/hostile.c'), source);
  exe = path.join(work, 'hostile\x1b[7m\u202eexe');
  const libDir = path.dirname(LIBRARY);
  const gcc = spawnSync('gcc', ['-g', '-O1', '-I', path.join(ROOT, 'include'), source, '-o', exe, `-L${libDir}`, '-lskull_mem', `-Wl,-rpath,${libDir}`], {
    encoding: 'utf8',
  });
  expect(gcc.stderr).toBe('');
  expect(gcc.status).toBe(0);
  program = new Started([exe, ...ARGS], dir, { SKULL_MEM_TRACE: 'all' });
  pid = Number((await program.line(/ready (\d+)/))[1]);
  await nextRound();
});

afterAll(async () => {
  await program?.end();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('text from a measured process is escaped on the terminal', () => {
  it('memory_and_memory_detail_show_names_kinds_and_the_command_line_escaped', () => {
    for (const extra of [[], ['--detail'], ['--sort', 'name']]) {
      const text = safe(cli(['memory', String(pid), '--dir', dir, ...extra]));
      const header = text.split('\n')[0];
      expect(header).toContain('arg\\e]0;OWNED\\x07 two\\nlines bidi\\u{202e}exe');
      expect(header).toContain('hostile\\e[7m\\u{202e}exe');
      for (const shown of SHOWN) expect(text).toContain(shown);
      expect(text).toContain('\\e[31mroute');
      // Each scope stays on one line: the table has its 3 built-in scopes, the 3 hostile
      // ones and the header, then a blank line before the summary.
      expect(text.split('\n').indexOf('')).toBe(1 + 6 + 1);
    }
  });

  it('memory_watch_redraws_escaped', async () => {
    const watch = spawn(process.execPath, [path.join(ROOT, 'dist', 'bin', 'skull-mem.js'), 'memory', String(pid), '--watch', '0.1', '--dir', dir]);
    let out = '';
    watch.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    while (out.split('Summary').length < 3) await new Promise((resolve) => setTimeout(resolve, 20));
    watch.kill('SIGINT');
    expect(await new Promise((resolve) => watch.on('exit', (code) => resolve(code)))).toBe(0);
    expect(rawCharacters(out)).toEqual([]);
    expect(out).toContain(SHOWN[0]);
  });

  it('json_keeps_the_exact_names_and_command_line_with_unprintable_characters_as_u_escapes', () => {
    // JSON.stringify escapes only controls below 0x20; DEL, C1 and bidi characters are written
    // as \u escapes too, which parse to the same text.
    const snapshot = JSON.parse(safe(cli(['memory', String(pid), '--json', '--dir', dir]))) as {
      scopes: { name: string; kind: string; used_bytes: number }[];
      segment: { command_line: string; executable: string };
    };
    for (const scope of SCOPES) {
      // 4 blocks of 1000 bytes kept per round (hostile.c), one round so far.
      expect(snapshot.scopes.find((s) => s.name === scope.name && s.kind === scope.kind)?.used_bytes).toBe(4000);
    }
    expect(snapshot.segment.command_line).toBe([exe, ...ARGS].join(' '));
    const ps = JSON.parse(safe(cli(['ps', '--json', '--dir', dir]))) as { processes: { pid: number; command: string }[] };
    expect(ps.processes.find((p) => p.pid === pid)?.command).toBe([exe, ...ARGS].join(' '));
  });

  it('ps_shows_the_command_line_escaped_and_aligned', () => {
    const lines = safe(cli(['ps', '--dir', dir])).trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^ +${pid} +[0-9.]+ [KM]iB +6 +on  `));
    // The command starts under its title: the escapes before it took no width they do not show.
    expect(lines[1].slice(lines[0].indexOf('COMMAND'))).toBe(`${work}/hostile\\e[7m\\u{202e}exe arg\\e]0;OWNED\\x07 two\\nlines bidi\\u{202e}exe`);
  });

  it('leaks_report_and_collapsed_show_scopes_and_frames_escaped', () => {
    // By stack: one group per scope (grouped by line, the three scopes' blocks are one site).
    const leaks = safe(trace(['leaks', String(pid), '--group-by', 'stack', '--dir', dir]));
    for (const shown of SHOWN) expect(leaks).toContain(`scope ${shown}`);
    expect(leaks).toContain('allocate_in at ');
    expect(leaks).toContain('hostile\\e]0;FILE\\x07.c:');
    expect(leaks).toContain('(hostile\\e[7m\\u{202e}exe)');
    const report = safe(trace(['report', String(pid), '--dir', dir]));
    expect(report).toContain('hostile\\e]0;FILE\\x07.c:');
    safe(trace(['report', String(pid), '--format', 'collapsed', '--dir', dir]));
    safe(trace(['status', String(pid), '--dir', dir]));
    const json = JSON.parse(safe(trace(['leaks', String(pid), '--json', '--dir', dir]))) as { groups: { scopes: string[]; frames: { file?: string | null }[] }[] };
    const scopes = new Set(json.groups.flatMap((group) => group.scopes));
    for (const scope of SCOPES) expect(scopes.has(scope.name)).toBe(true);
    expect(json.groups.some((group) => group.frames.some((frame) => frame.file?.endsWith('hostile\x1b]0;FILE\x07.c')))).toBe(true);
  });

  it('tail_shows_events_escaped', async () => {
    const tail = spawn(process.execPath, [TRACE_CLI, 'tail', String(pid), '--interval', '0.05', '--dir', dir]);
    let out = '';
    let err = '';
    tail.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    tail.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
    while (!err.includes('following')) await new Promise((resolve) => setTimeout(resolve, 20));
    await nextRound();
    // Per scope, 4 kept blocks and one allocated and freed: 6 events, 18 for the round.
    while (out.split('\n').length <= 18) await new Promise((resolve) => setTimeout(resolve, 20));
    tail.kill('SIGINT');
    expect(await new Promise((resolve) => tail.on('exit', (code) => resolve(code)))).toBe(0);
    expect(rawCharacters(out + err)).toEqual([]);
    for (const shown of SHOWN) expect(out).toContain(`scope ${shown} thread`);
  });

  it('diff_shows_names_escaped_in_aligned_columns_and_json_keeps_them', async () => {
    const before = path.join(work, 'before.json');
    const after = path.join(work, 'after.json');
    safe(cli(['snapshot', String(pid), '-o', before, '--dir', dir]));
    await nextRound();
    safe(cli(['snapshot', String(pid), '-o', after, '--dir', dir]));
    const lines = safe(cli(['diff', before, after])).split('\n');
    const table = lines.slice(1, lines.findIndex((line) => line.startsWith('total used')));
    // A fitted table ends every line at the same column (the last one is right-aligned).
    expect(new Set(table.map((line) => line.length)).size).toBe(1);
    for (const [index, shown] of SHOWN.entries()) {
      // One round: 4 kept blocks of 1000 bytes more in each scope.
      expect(table.some((line) => line.includes(shown) && /\+4000 +\+4 +/.test(line)), `scope ${index}`).toBe(true);
    }
    const json = JSON.parse(safe(cli(['diff', before, after, '--json']))) as { scopes: { name: string; kind: string; used_bytes: number }[] };
    for (const scope of SCOPES) {
      expect(json.scopes.find((s) => s.name === scope.name && s.kind === scope.kind)?.used_bytes).toBe(4000);
    }
  });

  it('the_cli_escapes_its_own_messages_quoting_a_file_name_and_its_contents', () => {
    const snapshot = JSON.parse(safe(cli(['snapshot', String(pid), '--dir', dir]))) as { scopes: { counters: Record<string, unknown> }[] };
    snapshot.scopes[0].counters['\x1b]0;KEY\x07\u202e'] = 'many';
    const file = path.join(work, 'bad\x1b[2J\u202e.json');
    fs.writeFileSync(file, JSON.stringify(snapshot));
    const result = cli(['diff', file, file]);
    expect(result.status).toBe(1);
    expect(rawCharacters(result.stderr)).toEqual([]);
    expect(result.stderr).toBe(
      `skull-mem: ${work}/bad\\e[2J\\u{202e}.json: not a skull-mem snapshot v1: scopes[0].counters.\\e]0;KEY\\x07\\u{202e} is not a non-negative integer\n`,
    );
  });

  it('errors_quote_a_command_line_escaped', () => {
    // An unmeasured process whose command line is hostile: the error names it.
    const plain = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', '\x1b]0;OWNED\x07\x1b[2J'], { stdio: 'ignore' });
    try {
      // Until node has exec'd and /proc shows its arguments.
      let result = cli(['memory', String(plain.pid), '--dir', dir]);
      for (let tries = 0; tries < 100 && !result.stderr.includes('OWNED'); tries++) result = cli(['memory', String(plain.pid), '--dir', dir]);
      expect(result.status).toBe(1);
      expect(rawCharacters(result.stderr)).toEqual([]);
      expect(result.stderr).toContain('\\e]0;OWNED\\x07\\e[2J) does not run with skull-mem');
    } finally {
      plain.kill();
    }
  });
});
