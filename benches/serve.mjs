#!/usr/bin/env node
// benches/serve.mjs — what `skull-mem serve` costs: one `/metrics` scrape of PROCESSES measured
// processes with SCOPES scopes each (target: under 100 ms for 100 x 50), and the exporter's
// CPU while idle between scrapes (target: under 1 % of a core). See benches/README.md.
//
// The workload is crates/inspect/tests/c/reader_threads.c (one thread, SCOPES scopes "s000"...
// plus the three built-in ones), started PROCESSES times preloaded and paused on stdin.
// Baselines from the same run: `GET /` of the same server (an HTTP round trip that reads
// nothing), and an idle `node` with one timer (what an idle Node process costs at all).
// Scrapes and baselines are interleaved round by round; the table shows median and minimum.
//
// Settings (environment): PROCESSES (100), SCOPES (50), ROUNDS (20), IDLE_SECONDS (10),
// SKULL_MEM_LIB (default npm/linux-x64-gnu/libskull_mem.so, built by `npm run build`).
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const PROCESSES = Number(process.env.PROCESSES ?? 100);
const SCOPES = Number(process.env.SCOPES ?? 50);
const ROUNDS = Number(process.env.ROUNDS ?? 20);
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 10);
const lib = process.env.SKULL_MEM_LIB ?? path.join(repo, 'npm', 'linux-x64-gnu', 'libskull_mem.so');
if (!fs.existsSync(lib)) throw new Error(`${lib} is missing: run \`npm run build\` first`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-mem-serve-bench-'));
const segments = path.join(tmp, 'segments');
fs.mkdirSync(segments, { mode: 0o700 });
const workload = path.join(tmp, 'reader_threads');
execFileSync('gcc', ['-std=gnu11', '-O2', '-pthread', '-I', path.join(repo, 'include'), '-o', workload,
  path.join(repo, 'crates/inspect/tests/c/reader_threads.c'), '-L', path.dirname(lib), '-lskull_mem', `-Wl,-rpath,${path.dirname(lib)}`]);

const children = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Resolves with the child's output once `pattern` appears in it (stdout or stderr). */
function waitFor(child, pattern) {
  return new Promise((resolve, reject) => {
    let text = '';
    const look = (chunk) => {
      text += chunk;
      if (pattern.test(text)) resolve(text);
    };
    child.stdout?.setEncoding('utf8').on('data', look);
    child.stderr?.setEncoding('utf8').on('data', look);
    child.on('exit', (code) => reject(new Error(`${child.spawnfile} exited (${code}): ${text}`)));
  });
}

for (let i = 0; i < PROCESSES; i++) {
  const child = spawn(workload, ['1', String(SCOPES)], {
    env: { ...process.env, LD_PRELOAD: lib, SKULL_MEM_DIR: segments },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  await waitFor(child, /^ready$/m);
}

const server = spawn(process.execPath, [path.join(repo, 'dist/bin/skull-mem.js'), 'serve', '--listen', '127.0.0.1:0', '--dir', segments], {
  stdio: ['ignore', 'ignore', 'pipe'],
});
children.push(server);
const port = /127\.0\.0\.1:(\d+)/.exec(await waitFor(server, /\n/))[1];
const base = `http://127.0.0.1:${port}`;

async function timed(url) {
  const start = process.hrtime.bigint();
  const response = await fetch(url);
  const body = await response.text();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${body}`);
  return { ms, body };
}

// Warm up (first load of the addon, page cache), and check the scrape has every series.
const { body } = await timed(`${base}/metrics`);
const perScope = body.split('\n').filter((line) => line.startsWith('skull_mem_used_bytes{')).length;
const expected = PROCESSES * (SCOPES + 3);
if (perScope !== expected) throw new Error(`/metrics has ${perScope} skull_mem_used_bytes series, expected ${expected}`);

const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
/** utime + stime of `pid`, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

// Wall time depends on how busy the machine is; the exporter's own CPU time per scrape
// (user + system, the round trips included) does much less.
const scrape = [];
const roundTrip = [];
const serverTicks = cpuTicks(server.pid);
for (let round = 0; round < ROUNDS; round++) {
  roundTrip.push((await timed(`${base}/`)).ms);
  scrape.push((await timed(`${base}/metrics`)).ms);
}
const cpuPerScrape = ((cpuTicks(server.pid) - serverTicks) / ticks / ROUNDS) * 1000;
const idleNode = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
children.push(idleNode);
await new Promise((resolve) => setTimeout(resolve, 1000));
const before = [cpuTicks(server.pid), cpuTicks(idleNode.pid)];
await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
const after = [cpuTicks(server.pid), cpuTicks(idleNode.pid)];
const percent = (i) => ((after[i] - before[i]) / ticks / IDLE_SECONDS) * 100;

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const row = (name, values, unit = 'ms') =>
  `${name.padEnd(40)} ${median(values).toFixed(2).padStart(9)} ${Math.min(...values).toFixed(2).padStart(9)} ${unit}`;
console.log(`skull-mem serve: ${PROCESSES} processes x ${SCOPES} scopes (+3 built-in), ${ROUNDS} rounds, ${(body.length / 2 ** 20).toFixed(1)} MiB of text`);
console.log(`${''.padEnd(40)} ${'median'.padStart(9)} ${'min'.padStart(9)}`);
console.log(row('GET / (baseline: HTTP round trip)', roundTrip));
console.log(row('GET /metrics', scrape));
console.log(`${'ratio /metrics : /'.padEnd(40)} ${(median(scrape) / median(roundTrip)).toFixed(1).padStart(9)}x`);
console.log(`${'exporter CPU time per scrape'.padEnd(40)} ${cpuPerScrape.toFixed(2).padStart(9)} ms (user + system, mean of ${ROUNDS})`);
console.log(`load average while measuring: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores`);
console.log(`idle CPU over ${IDLE_SECONDS} s: exporter ${percent(0).toFixed(2)} % of a core, idle node (baseline) ${percent(1).toFixed(2)} % (clock tick ${(1000 / ticks).toFixed(0)} ms)`);
process.exit(0);
