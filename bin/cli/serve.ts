/**
 * `skull-mem serve`: an exporter for every measured process on the host, like node_exporter.
 * `GET /metrics` is Prometheus text (OpenMetrics when the scraper's `Accept` asks for it) and
 * `GET /debug/pprof/heap?pid=N` a gzipped pprof profile, the path Pyroscope, Parca and Grafana
 * Alloy scrape. It reads only the processes the serving user may read (the reader refuses the
 * others' segments).
 *
 * A Node `http` server over the binding, not a Rust one: the reading and the rendering are in
 * crates/inspect either way (one home for each fact), and Node's server is the smallest correct
 * HTTP/1.1 at hand (keep-alive, HEAD, header limits), idle in epoll between scrapes.
 *
 * Bad requests get a status and one line, and the server stays up; only a listen failure
 * ends it (exit 1; a bad `--listen` is a usage error, exit 2).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { CliError } from './cli-error';
import { callAddon } from '../../src/errors';
import { nativeBinding } from '../../src/native';
import { SkullMemError } from '../../src/status';

/** Where to listen. */
export interface Listen {
  host: string;
  port: number;
}

/** The default, loopback only: the figures name every measured process and its command line. */
export const DEFAULT_LISTEN = '127.0.0.1:9464';

/** Parses `--listen host:port` (`[v6]:port`; `:port` for every interface); anything else is
 * a usage error. */
export function parseListen(text: string): Listen {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(text);
  const host = match && (match[1] ?? match[2]);
  const port = match ? Number(match[3]) : NaN;
  if (host === null || !(port <= 65535) || (host !== '' && host !== 'localhost' && net.isIP(host) === 0)) {
    throw new CliError(`--listen needs <ip>:<port>, e.g. 127.0.0.1:9464, [::1]:9464 or 0.0.0.0:9464 (got "${text}")`, 2);
  }
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** The HTTP status for a reader's reason: no such process 404, not this user's 403. */
function statusOf(err: unknown): number {
  const reason = err instanceof SkullMemError ? err.reason : undefined;
  if (reason === 'NO_PROCESS' || reason === 'NOT_MEASURED' || reason === 'STALE') return 404;
  if (reason === 'NOT_OWNED' || reason === 'PERMISSION_DENIED') return 403;
  return 500;
}

/** One line of text as the whole response. */
function reply(res: http.ServerResponse, status: number, line: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${line.replace(/\n/g, ' ')}\n`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : `skull-mem: ${String(err)}`;
}

const INDEX = 'skull-mem exporter: GET /metrics (Prometheus, OpenMetrics), GET /debug/pprof/heap?pid=N (pprof)';

/** Answers one request. */
function handle(req: http.IncomingMessage, res: http.ServerResponse, dir: string | undefined): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    reply(res, 405, `skull-mem: ${req.method ?? 'this method'} is not served; use GET`, { Allow: 'GET, HEAD' });
    return;
  }
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://exporter');
  } catch {
    reply(res, 400, 'skull-mem: the request target is not a URL');
    return;
  }
  try {
    if (url.pathname === '/metrics') {
      const openMetrics = /application\/openmetrics-text/i.test(req.headers.accept ?? '');
      const { contentType, text } = callAddon(() => nativeBinding().renderMetrics(dir, openMetrics));
      res.writeHead(200, { 'Content-Type': contentType });
      res.end(text);
    } else if (url.pathname === '/debug/pprof/heap') {
      const pid = url.searchParams.get('pid') ?? '';
      if (!/^[1-9][0-9]{0,9}$/.test(pid) || Number(pid) > 4194304) {
        reply(res, 400, `skull-mem: /debug/pprof/heap needs ?pid=<process id> (got "${pid}")`);
        return;
      }
      const profile = callAddon(() => nativeBinding().scrapeHeapProfile(Number(pid), dir));
      // Already gzipped, as pprof files are: no Content-Encoding, clients read it as is.
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': 'attachment; filename="heap"' });
      res.end(profile);
    } else if (url.pathname === '/') {
      reply(res, 200, INDEX);
    } else {
      reply(res, 404, `skull-mem: no ${url.pathname} here; ${INDEX}`);
    }
  } catch (err) {
    reply(res, statusOf(err), messageOf(err));
  }
}

/** Why listening failed, in one line. */
function listenError(err: NodeJS.ErrnoException, where: string): CliError {
  const why: Record<string, string> = {
    EADDRINUSE: 'the address is in use (is another exporter running?); choose another with --listen',
    EADDRNOTAVAIL: 'that address is not one of this host',
    EACCES: 'permission denied (ports below 1024 need root)',
  };
  return new CliError(`cannot listen on ${where}: ${why[err.code ?? ''] ?? err.message}`);
}

/** `skull-mem serve`: serves until SIGINT or SIGTERM, then exits 0. */
export async function serveCommand(options: { listen: Listen; dir?: string }): Promise<number> {
  const { host, port } = options.listen;
  if (options.dir !== undefined && !fs.statSync(options.dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new CliError(`--dir ${options.dir} is not a directory`, 2);
  }
  const server = http.createServer((req, res) => handle(req, res, options.dir));
  const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, shown)));
    server.listen(port, host, resolve);
  });
  const address = server.address() as net.AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const reach = isLoopback(host)
    ? 'loopback only; --listen 0.0.0.0:9464 makes it reachable from other hosts'
    : 'reachable from other hosts: it shows every measured process and its command line';
  const dir = options.dir ?? process.env.SKULL_MEM_DIR ?? '/dev/shm';
  process.stderr.write(`skull-mem: serving ${url}/metrics and ${url}/debug/pprof/heap?pid=N for the processes in ${dir} (${reach})\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
