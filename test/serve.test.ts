// `skull-mem serve` against real programs: `promtool check metrics` and Python's
// prometheus_client OpenMetrics parser (the reference parsers) accept `/metrics`, its values
// equal `skull-mem memory --json` of the same paused program, `/debug/pprof/heap` answers a
// gzipped profile that `go tool pprof` reads, and every bad input gets one line and a status while the server stays up.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Started } from './fixtures/started';
import { CLI, LIBRARY, ROOT, cli } from './helpers';

let work: string;
let dir: string;
let stepper: string;
let program: Started;
let programPid: number;
let server: Served;

/** An argument with every character the exposition format escapes in a label value. */
const AWKWARD_ARG = 'a"b\\c\nd';

/** A running `skull-mem serve` and its base URL. */
interface Served {
  child: ChildProcess;
  url: string;
}

/** Starts `skull-mem serve --listen 127.0.0.1:0` (a free port) and waits for its first line. */
async function serve(segments: string, wrap: string[] = []): Promise<Served> {
  const child = spawn(wrap[0] ?? process.execPath, [...wrap.slice(1), ...(wrap.length ? [process.execPath] : []), CLI, 'serve', '--listen', '127.0.0.1:0', '--dir', segments], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const line = await new Promise<string>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      if (stderr.includes('\n')) resolve(stderr);
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  expect(line).toMatch(/^skull-mem: serving http:\/\/127\.0\.0\.1:\d+\/metrics and .*\(loopback only; .*\)\n$/);
  const port = /127\.0\.0\.1:(\d+)/.exec(line)![1];
  return { child, url: `http://127.0.0.1:${port}` };
}

async function stop(served: Served): Promise<number | null> {
  served.child.kill('SIGTERM');
  return new Promise((resolve) => served.child.on('exit', (code) => resolve(code)));
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-serve-'));
  stepper = path.join(work, 'stepper');
  const libDir = path.dirname(LIBRARY);
  const gcc = spawnSync('gcc', ['-O0', '-I', path.join(ROOT, 'include'), path.join(ROOT, 'test/c/stepper.c'), '-o', stepper,
    `-L${libDir}`, '-lskull_mem', `-Wl,-rpath,${libDir}`], { encoding: 'utf8' });
  expect(gcc.stderr).toBe('');
  dir = fs.mkdtempSync(path.join(work, 'segments-'));
  program = new Started([stepper, AWKWARD_ARG], dir);
  await program.line(/ready 1/);
  programPid = Number(fs.readdirSync(dir)[0].split('-').pop());
  server = await serve(dir);
});

afterAll(async () => {
  await stop(server);
  await program.end();
  fs.rmSync(work, { recursive: true, force: true });
});

/** One sample of an exposition: name, labels (unescaped) and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the sample lines of the text format, undoing the label escapes. */
function samples(text: string): Sample[] {
  const result: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const name = /^[a-z_]+/.exec(line)![0];
    const labels: Record<string, string> = {};
    let at = name.length;
    if (line[at] === '{') {
      at++;
      while (line[at] !== '}') {
        const key = /^([a-z_]+)="/.exec(line.slice(at))!;
        at += key[0].length;
        let value = '';
        while (line[at] !== '"') {
          if (line[at] === '\\') {
            at++;
            value += line[at] === 'n' ? '\n' : line[at];
          } else value += line[at];
          at++;
        }
        labels[key[1]] = value;
        at++;
        if (line[at] === ',') at++;
      }
      at++;
    }
    result.push({ name, labels, value: Number(line.slice(at + 1)) });
  }
  return result;
}

function valueOf(all: Sample[], name: string, labels: Record<string, string>): number {
  const found = all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  expect(found).toHaveLength(1);
  return found[0].value;
}

describe('GET /metrics', () => {
  it('is_accepted_by_promtool_and_equals_memory_json_of_the_paused_program', async () => {
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    const memory = JSON.parse(cli(['memory', String(programPid), '--json', '--dir', dir]).stdout);

    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(promtool.error).toBeUndefined();
    expect(promtool.stdout + promtool.stderr).toBe('');
    expect(promtool.status).toBe(0);

    const all = samples(text);
    // The command label, unescaped, is the segment's command line with its quote,
    // backslash and newline.
    expect(memory.segment.command_line).toBe(`${stepper} ${AWKWARD_ARG}`);
    const process = { pid: String(programPid), command: memory.segment.command_line };
    // stepper holds at step 1: parser 10 x malloc(1000), cache 4 x calloc(1, 4096); every
    // other scope is compared too, and each series against the same field of the JSON.
    expect(memory.scopes.map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(['parser', 'cache']));
    for (const scope of memory.scopes) {
      const labels = { ...process, scope: scope.name, kind: scope.kind };
      const c = scope.counters;
      const allocCalls = c.malloc_calls + c.calloc_calls + c.realloc_calls + c.reallocarray_calls + c.posix_memalign_calls +
        c.aligned_alloc_calls + c.memalign_calls + c.valloc_calls + c.pvalloc_calls;
      expect([
        valueOf(all, 'skull_mem_used_bytes', labels),
        valueOf(all, 'skull_mem_live_blocks', labels),
        valueOf(all, 'skull_mem_allocated_bytes_total', labels),
        valueOf(all, 'skull_mem_freed_bytes_total', labels),
        valueOf(all, 'skull_mem_alloc_calls_total', labels),
      ]).toEqual([scope.used_bytes, scope.live_blocks, c.alloc_bytes, c.freed_bytes, allocCalls]);
    }
    const parser = { ...process, scope: 'parser', kind: 'module' };
    expect([valueOf(all, 'skull_mem_used_bytes', parser), valueOf(all, 'skull_mem_alloc_calls_total', parser)]).toEqual([10_000, 10]);
    expect(valueOf(all, 'skull_mem_used_bytes', { ...process, scope: 'cache', kind: 'service' })).toBe(4 * 4096);
    // The program is blocked on stdin: its resident figures do not move between the reads.
    expect(valueOf(all, 'skull_mem_process_rss_bytes', process)).toBe(memory.process.rss_bytes);
    expect(valueOf(all, 'skull_mem_malloc_retained_bytes', process)).toBe(memory.process.malloc_retained_bytes);
    // Tracing was never on: nothing dropped.
    expect(valueOf(all, 'skull_mem_trace_dropped_total', { ...process, table: 'stacks' })).toBe(0);
    expect(valueOf(all, 'skull_mem_unreadable_segments', {})).toBe(0);
  });

  it('speaks_openmetrics_when_asked_and_the_reference_parser_reads_it', async () => {
    const response = await fetch(`${server.url}/metrics`, { headers: { Accept: 'application/openmetrics-text; version=1.0.0' } });
    expect(response.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    const text = await response.text();
    expect(text.endsWith('# EOF\n')).toBe(true);
    // prometheus_client's OpenMetrics parser is strict: it raises on any deviation. Debian's
    // python3-prometheus-client is installed for Debian's python, which a pyenv may shadow.
    const parse = spawnSync('/usr/bin/python3', ['-c', [
      'import sys',
      'from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse',
      'for f in parse(sys.stdin.read()):',
      '    for s in f.samples: print(f.type, s.name, s.labels.get("scope", ""), int(s.value))',
    ].join('\n')], { input: text, encoding: 'utf8' });
    expect(parse.stderr).toBe('');
    expect(parse.status).toBe(0);
    expect(parse.stdout).toContain('counter skull_mem_allocated_bytes_total parser 10000\n');
    expect(parse.stdout).toContain('gauge skull_mem_used_bytes cache 16384\n');
  });
});

describe('GET /debug/pprof/heap', () => {
  it('gives_the_per_scope_profile_of_a_process_without_tracing', async () => {
    const response = await fetch(`${server.url}/debug/pprof/heap?pid=${programPid}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    const profile = zlib.gunzipSync(Buffer.from(await response.arrayBuffer()));
    // The string table names every scope (one one-frame stack per scope) and the sample types.
    for (const name of ['parser', 'cache', 'inuse_space', 'alloc_objects']) expect(profile.includes(name)).toBe(true);
  });


  it('gives_the_traced_stacks_of_a_traced_process_to_go_tool_pprof', async () => {
    const traced = new Started([stepper], dir, { SKULL_MEM_TRACE: 'all' });
    try {
      await traced.line(/ready 1/);
      const tracedPid = Number(fs.readdirSync(dir).find((name) => !name.endsWith(`-${programPid}`))!.split('-').pop());
      const response = await fetch(`${server.url}/debug/pprof/heap?pid=${tracedPid}`);
      expect(response.status).toBe(200);
      const file = path.join(work, 'heap.pb.gz');
      fs.writeFileSync(file, Buffer.from(await response.arrayBuffer()));
      const top = spawnSync('go', ['tool', 'pprof', '-top', '-unit=B', '-sample_index=inuse_space', file], { encoding: 'utf8' });
      expect(top.status).toBe(0);
      // main made every live block of parser (10 x 1000) and cache (4 x 4096) itself.
      expect(top.stdout).toMatch(/^\s+26384B\s.*\smain$/m);
      expect(top.stdout).toContain('skull-mem heap profile of process');
    } finally {
      await traced.end();
    }
  });
});

describe('bad input', () => {
  /** One line of text and the expected status. */
  async function expectLine(url: string, status: number, pattern: RegExp, init?: RequestInit): Promise<void> {
    const response = await fetch(url, init);
    expect(response.status).toBe(status);
    const body = await response.text();
    expect(body.split('\n')).toEqual([expect.stringMatching(pattern), '']);
  }

  it('answers_one_line_with_a_status_and_stays_up', async () => {
    await expectLine(`${server.url}/debug/pprof/heap?pid=4194304`, 404, /^skull-mem: no process with pid 4194304$/);
    // pid 1 lives but runs without skull-mem.
    await expectLine(`${server.url}/debug/pprof/heap?pid=1`, 404, /^skull-mem: process 1 .* does not run with skull-mem/);
    await expectLine(`${server.url}/debug/pprof/heap?pid=abc`, 400, /^skull-mem: \/debug\/pprof\/heap needs \?pid=<process id> \(got "abc"\)$/);
    await expectLine(`${server.url}/debug/pprof/heap`, 400, /needs \?pid=/);
    await expectLine(`${server.url}/nothing`, 404, /^skull-mem: no \/nothing here; /);
    await expectLine(`${server.url}/metrics`, 405, /^skull-mem: POST is not served; use GET$/, { method: 'POST', body: 'x' });
    // A request target that is no URL at all (fetch cannot send one): raw HTTP.
    const raw = await new Promise<string>((resolve, reject) => {
      let answer = '';
      const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1', () =>
        socket.write('GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      );
      socket.setEncoding('utf8').on('data', (text: string) => (answer += text));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(raw).toContain('\r\nskull-mem: the request target is not a URL\n');
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
  });

  it('refuses_another_users_process_and_leaves_it_out_of_metrics', async () => {
    if (process.getuid!() !== 0) throw new Error('this test needs root to run the exporter as another user (nobody)');
    // The program runs as root; an exporter run as nobody may list the directory but not read
    // root's 0600 segment.
    fs.chmodSync(work, 0o755);
    fs.chmodSync(dir, 0o755);
    const asNobody = await serve(dir, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    try {
      const response = await fetch(`${asNobody.url}/debug/pprof/heap?pid=${programPid}`);
      expect(response.status).toBe(403);
      expect(await response.text()).toMatch(/^skull-mem: .*(permission denied|belongs to uid 0).*\n$/);
      const text = await (await fetch(`${asNobody.url}/metrics`)).text();
      expect(text).not.toContain(`pid="${programPid}"`);
      // Segments of other users are not this exporter's business: not even counted.
      expect(text).toContain('\nskull_mem_unreadable_segments 0\n');
    } finally {
      expect(await stop(asNobody)).toBe(0);
      fs.chmodSync(dir, 0o700);
      fs.chmodSync(work, 0o700);
    }
  });

  it('a_port_in_use_ends_it_with_one_line_and_exit_1', () => {
    const port = new URL(server.url).port;
    const result = cli(['serve', '--listen', `127.0.0.1:${port}`, '--dir', dir]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`skull-mem: cannot listen on 127.0.0.1:${port}: the address is in use (is another exporter running?); choose another with --listen\n`);
  });

  it('a_dir_that_is_not_a_directory_is_a_usage_error', () => {
    const result = cli(['serve', '--listen', '127.0.0.1:0', '--dir', stepper]);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`skull-mem: --dir ${stepper} is not a directory\n`);
  });

  it('a_bad_listen_value_is_a_usage_error', () => {
    for (const bad of ['localhost', '1.2.3:80', '127.0.0.1:65536', '127.0.0.1:-1', '[::1:80', 'example.com:80']) {
      const result = cli(['serve', '--listen', bad]);
      expect(result.status).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`skull-mem: --listen needs <ip>:<port>, e.g. 127.0.0.1:9464, [::1]:9464 or 0.0.0.0:9464 (got "${bad}")\n`);
    }
  });
});
