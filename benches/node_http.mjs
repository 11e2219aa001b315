#!/usr/bin/env node
// benches/node_http.mjs — what skull-mem costs a node:http service: requests per second and p99
// latency under bounded loopback load, side by side in one run. See benches/README.md.
//
// Three servers run the same service (routes /json, /zlib and /buffer), each in its own process:
//   plain         no preload, no skull-mem                         (the baseline)
//   preload       libskull_mem.so preloaded, no scope used
//   instrumented  preloaded, `instrumentHttp(server)`: every request in its route's scope
// The load is closed-loop and bounded: CONNECTIONS keep-alive connections, each sending its
// next request when the previous answer arrived, cycling through the three routes, for
// SECONDS per round; the servers are loaded one at a time, in many short rounds whose order
// rotates. The table shows the medians of the rounds, and each ratio is the median of the
// rounds' own ratios (each server against plain in the same round): on a shared machine the
// load drifts over seconds, which a ratio of whole-run medians would take for a cost. The
// load generator is this process (plain node, not preloaded), sharing the machine with the
// server being measured as it does for all three.
//
// Settings (environment): ROUNDS (default 12), SECONDS (default 1), CONNECTIONS (default 16).
// Run it with each node to compare versions: `/path/to/node benches/node_http.mjs`.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const ROUNDS = Number(process.env.ROUNDS ?? 12);
const SECONDS = Number(process.env.SECONDS ?? 1);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 16);
const CONFIGS = ['plain', 'preload', 'instrumented'];
const ROUTES = ['/json', '/zlib', '/buffer'];

// ---- server: the service, in one of the three configurations ----

async function server(config) {
  const zlib = await import('node:zlib');
  const { promisify } = await import('node:util');
  const deflate = promisify(zlib.deflate);
  const rows = Array.from({ length: 200 }, (_, i) => ({ id: i, name: `user ${i}`, tags: ['a', 'b', 'c'], score: i * 1.5 }));
  const text = Buffer.from(JSON.stringify(rows));
  const service = http.createServer(async (req, res) => {
    if (req.url === '/json') {
      // Parse and serialize: V8 heap work, little native memory.
      const body = JSON.stringify(JSON.parse(JSON.stringify(rows)).filter((row) => row.id % 2 === 0));
      res.setHeader('content-type', 'application/json');
      res.end(body);
    } else if (req.url === '/zlib') {
      // Compression on the libuv threadpool: native memory on another thread.
      res.end(await deflate(text));
    } else {
      // Buffers: malloc'd backing stores, made and dropped per request.
      const buffer = Buffer.alloc(64 * 1024, req.url.length);
      res.end(buffer.subarray(0, 1024).toString('base64'));
    }
  });
  if (config === 'instrumented') {
    const { createRequire } = await import('node:module');
    const sm = createRequire(import.meta.url)(path.join(repo, 'dist', 'src', 'index.js'));
    if (!sm.status().active) throw new Error(`the ${config} server is not preloaded: ${sm.status().reason}`);
    sm.instrumentHttp(service);
    await sm.threadpoolAttribution();
  }
  service.keepAliveTimeout = 60_000;
  // The CPU time this server has used (µs, all its threads), asked before and after each round.
  process.on('message', () => {
    const { user, system } = process.cpuUsage();
    process.send(user + system);
  });
  service.listen(0, '127.0.0.1', () => process.send(service.address().port));
}

// ---- parent: starts the servers, loads them in turn, prints the table ----

function start(config, library) {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  if (config !== 'plain') env.LD_PRELOAD = library;
  const proc = fork(fileURLToPath(import.meta.url), ['--server', config], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = new Promise((resolve, reject) => {
    proc.once('message', resolve);
    proc.once('exit', (code) => reject(new Error(`the ${config} server exited (${code})`)));
  });
  // Answers come in order: one question at a time per server.
  const cpu = () =>
    new Promise((resolve) => {
      proc.once('message', resolve);
      proc.send('cpu');
    });
  return { config, proc, port, cpu };
}

/** One request on `agent`; resolves with its latency in ms. */
function request(agent, port, route) {
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    http
      .get({ agent, host: '127.0.0.1', port, path: route }, (res) => {
        res.on('data', () => {});
        res.on('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - t) / 1e6) : reject(new Error(`${route}: ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

/** Loads the server on `port` for `seconds`: requests per second and p99 latency (ms). */
async function load(port, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const latencies = [];
  const end = Date.now() + seconds * 1000;
  const connection = async (c) => {
    for (let i = c; Date.now() < end; i++) latencies.push(await request(agent, port, ROUTES[i % ROUTES.length]));
  };
  const t = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, c) => connection(c)));
  const elapsed = Number(process.hrtime.bigint() - t) / 1e9;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, rps: latencies.length / elapsed, p99: latencies[Math.floor(latencies.length * 0.99)] };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function parent() {
  const library = path.join(repo, 'npm', 'linux-x64-gnu', 'libskull_mem.so');
  if (!fs.existsSync(library) || !fs.existsSync(path.join(repo, 'dist', 'src', 'index.js'))) {
    console.error('node_http: build first: npm run build');
    process.exit(1);
  }
  const loadavg = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`node ${process.version}; ${ROUNDS} rounds of ${SECONDS} s per server; ${CONNECTIONS} keep-alive connections; routes ${ROUTES.join(' ')}; ${os.cpus().length} CPUs, load ${loadavg}`);
  const servers = CONFIGS.map((config) => start(config, library));
  const ports = await Promise.all(servers.map((s) => s.port));
  for (const port of ports) await load(port, 0.5); // warm-up: compile, fill pools and caches
  const results = Object.fromEntries(CONFIGS.map((c) => [c, { rps: [], p99: [], cpu: [] }]));
  for (let r = 0; r < ROUNDS; r++) {
    const round = Array(CONFIGS.length);
    for (let i = 0; i < CONFIGS.length; i++) {
      const k = (r + i) % CONFIGS.length;
      const cpu0 = await servers[k].cpu();
      const { requests, rps, p99 } = await load(ports[k], SECONDS);
      round[k] = { rps, p99, cpu: ((await servers[k].cpu()) - cpu0) / requests };
    }
    // Kept by round, in CONFIGS order, so that ratios compare servers of the same round.
    round.forEach((figures, k) => {
      for (const key of ['rps', 'p99', 'cpu']) results[CONFIGS[k]][key].push(figures[key]);
    });
  }
  for (const s of servers) s.proc.kill();
  // The median of the rounds' ratios against plain: throughput, and CPU time per request as
  // plain's over the server's (what the throughput ratio would be with a free CPU for each
  // server: the steadier figure on a shared machine, where throughput follows the neighbours).
  const ratioOf = (config) => median(results[config].rps.map((rps, r) => rps / results.plain.rps[r]));
  const cpuRatioOf = (config) => median(results[config].cpu.map((cpu, r) => results.plain.cpu[r] / cpu));
  for (const config of CONFIGS) {
    const rps = median(results[config].rps);
    const p99 = median(results[config].p99);
    const cpu = median(results[config].cpu);
    console.log(
      `${config.padEnd(13)} ${rps.toFixed(0).padStart(7)} req/s  ${ratioOf(config).toFixed(3)}x plain   p99 ${p99.toFixed(2).padStart(7)} ms   ` +
        `CPU ${cpu.toFixed(0).padStart(4)} µs/req  ${cpuRatioOf(config).toFixed(3)}x plain`,
    );
  }
  const major = Number(process.versions.node.split('.')[0]);
  const target = major >= 24 ? 0.95 : 0.9;
  const ratio = ratioOf('instrumented');
  console.log(`instrumentHttp / plain: ${ratio.toFixed(3)}x (target >= ${target}x on Node ${major >= 24 ? '24' : major}) ${ratio >= target ? 'ok' : 'MISSED'}`);
  const cpuRatio = cpuRatioOf('instrumented');
  console.log(`instrumentHttp / plain by CPU per request: ${cpuRatio.toFixed(3)}x ${cpuRatio >= target ? 'ok' : 'MISSED'}`);
}

if (process.argv[2] === '--server') await server(process.argv[3]);
else await parent();
