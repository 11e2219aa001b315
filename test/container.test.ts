/**
 * Reading a container's processes from the host (issue 11). A "container" here is a new pid
 * and mount namespace (`unshare --pid --fork --mount --mount-proc`, as root) with a private
 * tmpfs on its /dev/shm; its measured processes name their segments by their pids inside.
 * From the host, `skull-mem ps|memory` and `skull-trace on|off|leaks` take host pids and
 * `--dir /proc/<host-pid>/root/dev/shm`; nothing live is removed, a killed process's file is.
 *
 * Before, the reader compared the files' pids (the container's) with the host's /proc: it
 * listed nothing, took the live files for stale ones and removed them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIBRARY, ROOT, cli, run } from './helpers';

const TRACE_CLI = path.join(ROOT, 'dist', 'bin', 'skull-trace.js');

// Inside the namespaces: the stepper (linked with the library, stdin from the test), a
// preloaded `sleep` that stays, and a preloaded `sleep` SIGKILLed so its file is left over.
// Each is started once the previous one's file exists, so the killed one starts last and no
// measured process starts after it (a starting process would clean its file up itself).
const SCRIPT = String.raw`
  mount -t tmpfs -o size=16m,mode=1777 none /dev/shm || exit 97
  files() { ls /dev/shm | grep -c '^skull-mem-'; }
  exec 3<&0
  "$STEPPER" <&3 & stepper=$!
  until [ "$(files)" = 1 ]; do sleep 0.05; done
  LD_PRELOAD="$LIB" sleep 600 & sleeper=$!
  until [ "$(files)" = 2 ]; do sleep 0.05; done
  LD_PRELOAD="$LIB" sleep 600 & killed=$!
  until [ "$(files)" = 3 ]; do sleep 0.05; done
  kill -9 $killed; wait $killed 2>/dev/null
  echo "inside: stepper $stepper sleeper $sleeper killed $killed"
  wait $stepper
`;

let work: string;
let stepper: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-container-'));
  stepper = path.join(work, 'stepper');
  const libDir = path.dirname(LIBRARY);
  const gcc = spawnSync('gcc', ['-g', '-O0', '-I', path.join(ROOT, 'include'), path.join(ROOT, 'test/c/stepper.c'), '-o', stepper,
    `-L${libDir}`, '-lskull_mem', `-Wl,-rpath,${libDir}`], { encoding: 'utf8' });
  expect(gcc.stderr).toBe('');
  expect(gcc.status).toBe(0);
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** The host pids of `pid`'s children, with their command names. */
function children(pid: number): { pid: number; comm: string }[] {
  const found: { pid: number; comm: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (Number(stat.slice(close + 2).split(' ')[1]) === pid) {
        found.push({ pid: Number(entry), comm: stat.slice(stat.indexOf('(') + 1, close) });
      }
    } catch {
      // Ended while listed.
    }
  }
  return found;
}

/** Resolves with the first match of `pattern` in `child`'s stdout so far or to come. */
function line(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const look = (text: string): void => {
      seen += text;
      const match = pattern.exec(seen);
      if (match) {
        child.stdout!.off('data', look);
        resolve(match);
      }
    };
    child.stdout!.on('data', look);
    child.on('exit', (code) => reject(new Error(`exited ${code} before ${pattern}: ${seen}`)));
  });
}

function trace(args: string[]): ReturnType<typeof run> {
  return run([process.execPath, TRACE_CLI, ...args]);
}

interface Scope {
  name: string;
  used_bytes: number;
  live_blocks: number;
}

describe('a container process read from the host', () => {
  it('ps_memory_and_skull_trace_take_host_pids_and_remove_nothing_live', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, STEPPER: stepper, LIB: LIBRARY };
    delete env.LD_PRELOAD;
    delete env.SKULL_MEM_DIR;
    const container = spawn('unshare', ['--pid', '--fork', '--mount', '--mount-proc', 'sh', '-c', SCRIPT], {
      env,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    container.stdout!.setEncoding('utf8');
    const ready = line(container, /ready 1/);
    const inside = (await line(container, /inside: stepper (\d+) sleeper (\d+) killed (\d+)/)).slice(1).map(Number);
    await ready;
    try {
      const [shell] = children(container.pid!);
      const host = Object.fromEntries(children(shell.pid).map((c) => [c.comm, c.pid]));
      const dir = `/proc/${shell.pid}/root/dev/shm`;
      const name = (pid: number): string => `skull-mem-0-${pid}`;
      expect(fs.readdirSync(dir).sort()).toEqual(inside.map(name).sort());
      // The pids differ on each side: the container's are small, the host's are others.
      expect(host.stepper).not.toBe(inside[0]);

      // ps by host pids: the two live processes listed; the killed one's file removed
      // (its namespace is seen whole from here, and nobody holds its lock).
      const ps = cli(['ps', '--dir', dir, '--json']);
      expect(ps.stderr).toBe('');
      expect(ps.status).toBe(0);
      const listing = JSON.parse(ps.stdout) as { processes: { pid: number }[]; removed: string[]; unreadable: unknown[] };
      expect(listing.processes.map((p) => p.pid)).toEqual([host.stepper, host.sleep].sort((a, b) => a - b));
      expect(listing.removed).toEqual([path.join(dir, name(inside[2]))]);
      expect(listing.unreadable).toEqual([]);
      expect(fs.readdirSync(dir).sort()).toEqual([name(inside[0]), name(inside[1])].sort());

      // memory by host pid: stepper's step 1 (parser: 10 x 1000 bytes; cache: 4 x 4096).
      const memory = cli(['memory', String(host.stepper), '--dir', dir, '--json']);
      expect(memory.stderr).toBe('');
      const snapshot = JSON.parse(memory.stdout) as { pid: number; scopes: Scope[] };
      expect(snapshot.pid).toBe(host.stepper);
      const figures = (s: Scope | undefined): number[] => [s?.used_bytes ?? -1, s?.live_blocks ?? -1];
      expect(figures(snapshot.scopes.find((s) => s.name === 'parser'))).toEqual([10_000, 10]);
      expect(figures(snapshot.scopes.find((s) => s.name === 'cache'))).toEqual([4 * 4096, 4]);

      // Tracing by host pid: step 2's 6 x calloc(4096) in cache are the only traced blocks.
      const on = trace(['on', String(host.stepper), '--all', '--dir', dir]);
      expect([on.status, on.stderr]).toEqual([0, '']);
      const stepped = line(container, /ready 2/);
      container.stdin!.write('\n');
      await stepped;
      const off = trace(['off', String(host.stepper), '--dir', dir]);
      expect([off.status, off.stdout]).toEqual([0, `tracing of process ${host.stepper} off\n`]);
      const leaks = trace(['leaks', String(host.stepper), '--dir', dir, '--json']);
      expect(leaks.stderr).toBe('');
      const report = JSON.parse(leaks.stdout) as { groups: { bytes: number; blocks: number; scopes: string[]; frames: { function?: string | null }[] }[] };
      expect(report.groups.map((g) => [g.bytes, g.blocks, g.scopes])).toEqual([[6 * 4096, 6, ['cache']]]);
      expect(report.groups[0].frames.some((f) => f.function === 'main')).toBe(true);

      // A second look removes nothing more and still lists both.
      const again = JSON.parse(cli(['ps', '--dir', dir, '--json']).stdout) as { processes: unknown[]; removed: unknown[] };
      expect([again.processes.length, again.removed.length]).toEqual([2, 0]);
      expect(fs.readdirSync(dir)).toHaveLength(2);
    } finally {
      container.stdin!.end('\n');
    }
    // The stepper ends at its next line; the shell, the namespace's init, ends after it.
    const code = await new Promise<number | null>((resolve) =>
      container.exitCode !== null ? resolve(container.exitCode) : container.on('exit', resolve));
    expect(code).toBe(0);
  });
});
