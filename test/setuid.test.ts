// In a set-user-ID program (AT_SECURE) the library ignores every SKULL_MEM_* variable: the
// caller chose them, and they must not make a root process create or delete files where the
// caller says, or trace it. The probe (test/c/setuid_probe.c) is installed set-user-ID root,
// and the library is preloaded the one way glibc allows for such a program (ld.so(8)): by a
// name without a slash, from a standard library directory, with the set-user-ID bit itself.
// The test installs both, runs the probe as nobody, and removes them again; the probe's
// /dev/shm is a private tmpfs of its own mount namespace.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIBRARY, ROOT } from './helpers';

const NOBODY = 65534;
const TRUSTED_DIR = '/usr/lib/x86_64-linux-gnu';
/** The name the library is preloaded by: no slash, so glibc looks in its trusted directories. */
const LIB_NAME = `libskull_mem_setuid_test_${process.pid}.so`;
const SECURE_LINE =
  'skull-mem: SKULL_MEM_* settings ignored: this program runs set-user-ID, set-group-ID or with added capabilities (AT_SECURE); the defaults apply\n';

let work: string;
let attacker: string;
let probe: string;

interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
  /** What the attacker's directory held while the probe ran, before anything was planted. */
  seenWhileRunning: string[];
}

/** Runs `exe` as nobody with the caller's hostile settings; while it waits, with `plant`,
 * plants files with the names its segment would have in the attacker's directory; then lets
 * it finish. */
async function runAsNobody(exe: string, plant: boolean): Promise<Outcome> {
  const settings = [`LD_PRELOAD=${LIB_NAME}`, `SKULL_MEM_DIR=${attacker}`, 'SKULL_MEM_TRACE=all', 'SKULL_MEM_CACHE=lots'];
  const script = 'mount -t tmpfs -o size=16m,mode=1777 skull-mem-test /dev/shm && exec "$@"';
  const setpriv = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
  // `env` sets the variables for the probe alone, so the tools before it are not preloaded.
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...setpriv, 'env', ...settings, exe], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let ready: RegExpExecArray | null = null;
  while (!(ready = /ready (\d+)\n/.exec(stdout)) && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 10));
  const seenWhileRunning = fs.readdirSync(attacker);
  if (ready) {
    // Never over a file that is there: truncating a live segment would end the probe (SIGBUS).
    const pid = ready[1];
    const names = [0, NOBODY].map((uid) => `skull-mem-${uid}-${pid}`).filter((name) => !seenWhileRunning.includes(name));
    if (plant) for (const name of names) fs.writeFileSync(path.join(attacker, name), 'planted\n', { flag: 'wx' });
    child.stdin.end('\n');
  }
  return { status: await exited, stdout, stderr, seenWhileRunning };
}

function planted(): Record<string, string> {
  return Object.fromEntries(fs.readdirSync(attacker).map((name) => [name.replace(/-\d+$/, ''), fs.readFileSync(path.join(attacker, name), 'utf8')]));
}

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('this test needs root: it installs a set-user-ID program and library');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-mem-setuid-'));
  fs.chmodSync(work, 0o755);
  probe = path.join(work, 'setuid_probe');
  const gcc = spawnSync('gcc', ['-O1', '-I', path.join(ROOT, 'include'), path.join(ROOT, 'test/c/setuid_probe.c'), '-o', probe, '-ldl'], { encoding: 'utf8' });
  expect(gcc.stderr).toBe('');
  expect(gcc.status).toBe(0);
  fs.copyFileSync(LIBRARY, path.join(TRUSTED_DIR, LIB_NAME));
  fs.chmodSync(path.join(TRUSTED_DIR, LIB_NAME), 0o4755);
});

afterAll(() => {
  fs.rmSync(path.join(TRUSTED_DIR, LIB_NAME), { force: true });
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function freshAttackerDir(): void {
  attacker = fs.mkdtempSync(path.join(work, 'attacker-'));
  fs.chownSync(attacker, NOBODY, NOBODY);
  fs.chmodSync(attacker, 0o755);
}

describe('settings under AT_SECURE', () => {
  it('an_ordinary_program_as_nobody_takes_the_same_settings', async () => {
    // The control: the same probe, not set-user-ID, preloaded the same way, does read them —
    // so the test below fails if the library stopped ignoring them.
    freshAttackerDir();
    const outcome = await runAsNobody(probe, false);
    expect(outcome.status).toBe(0);
    expect(outcome.stderr).toMatch(/^skull-mem: SKULL_MEM_CACHE refused: .*\(got "lots"\)/m);
    expect(outcome.stdout).toMatch(/Tracing: on/);
  });

  it('a_set_user_id_program_ignores_skull_mem_dir_and_every_other_setting', async () => {
    freshAttackerDir();
    const setuid = path.join(work, 'setuid_probe-root');
    fs.copyFileSync(probe, setuid);
    fs.chmodSync(setuid, 0o4755);
    const outcome = await runAsNobody(setuid, true);
    // Nothing was created in the attacker's directory while it ran.
    expect(outcome.seenWhileRunning).toEqual([]);
    expect(outcome.status).toBe(0);
    // Said once; SKULL_MEM_CACHE=lots was not even parsed, SKULL_MEM_TRACE=all not applied.
    expect(outcome.stderr).toBe(SECURE_LINE);
    expect(outcome.stdout).toMatch(/======== Skull Memory Measurement ========/);
    expect(outcome.stdout).toMatch(/Tracing: off/);
    // The files planted there with the names of the probe's segment were neither removed
    // nor written.
    expect(planted()).toEqual({ 'skull-mem-0': 'planted\n', [`skull-mem-${NOBODY}`]: 'planted\n' });
  });
});
