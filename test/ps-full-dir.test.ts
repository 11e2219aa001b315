/**
 * `skull-mem ps` on a full segment filesystem (issue 11): before, it raised each scope's peak
 * in the mapped files (an atomic write) before checking the process was alive; on a full
 * tmpfs a write to a page that is a hole of the file has no page to get, and `ps` died of
 * SIGBUS, removing nothing. Now it only reads, exits 0, lists the live process and removes
 * the killed one's file.
 *
 * The killed process registered 200 scopes; the page of the file holding the last ones is
 * made a hole again (`fallocate --punch-hole`), as the pages of the old 93 MiB sparse segments
 * were until touched, then the filesystem is filled to its last page. Touching a hole of a
 * full tmpfs faults, even to read it (measured on Linux 6.18): the reader now refuses a file
 * with fewer bytes reserved than it records, and removes it as its process has ended.
 * A preloaded `/bin/true` started on the full filesystem runs (before: it died of SIGBUS
 * and left a file of holes, on which `ps` died too).
 *
 * Runs in a private mount namespace (`unshare -m`, as root) over a fresh 64 MiB tmpfs, so
 * nothing outside the test is touched.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, LIBRARY, ROOT } from './helpers';

// The live process starts first: a measured process removes the files of ended ones when it
// starts, so the killed one is started last and its file stays for `ps`.
const SCRIPT = String.raw`
  mount --make-rprivate / && mount -t tmpfs -o size=64m,mode=1777 none "$DIR" || exit 97
  export SKULL_MEM_DIR="$DIR"
  LD_PRELOAD="$LIB" sleep 60 & live=$!
  "$SCOPES" > "$READY" & killed=$!
  until grep -q ready "$READY"; do sleep 0.05; done
  kill -9 $killed; wait $killed 2>/dev/null
  file="$DIR/skull-mem-$(id -u)-$killed"
  at=$(grep -obUa hole-199 "$file" | head -1 | cut -d: -f1)
  [ -n "$at" ] || exit 96
  fallocate --punch-hole --offset $((at / 4096 * 4096)) --length 4096 "$file" || exit 96
  dd if=/dev/zero of="$DIR/fill" bs=64k 2>/dev/null
  dd if=/dev/zero of="$DIR/fill-pages" bs=4k 2>/dev/null
  [ "$(df --output=avail "$DIR" | tail -1 | tr -d ' ')" = 0 ] || exit 98
  LD_PRELOAD="$LIB" /bin/true 2>/dev/null; echo "true exit: $?"
  echo "before: $(ls "$DIR" | grep -c '^skull-mem-')"
  node "$CLI" ps --dir "$DIR" --json > "$OUT"; echo "ps exit: $?"
  echo "after: $(ls "$DIR" | grep -c '^skull-mem-')"
  echo "live: $live"
  echo "killed: $file"
  kill $live
`;

let work: string;
let scopes: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-ps-full-'));
  scopes = path.join(work, 'many_scopes');
  const libDir = path.dirname(LIBRARY);
  const gcc = spawnSync('gcc', ['-O0', '-I', path.join(ROOT, 'include'), path.join(ROOT, 'test/c/many_scopes.c'), '-o', scopes,
    `-L${libDir}`, '-lskull_mem', `-Wl,-rpath,${libDir}`], { encoding: 'utf8' });
  expect(gcc.stderr).toBe('');
  expect(gcc.status).toBe(0);
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('skull-mem ps on a full segment filesystem', () => {
  it('exits_0_writes_nothing_lists_the_live_process_and_removes_the_killed_ones_file', () => {
    const out = path.join(work, 'ps.json');
    const dir = fs.mkdtempSync(path.join(work, 'dir-'));
    const run = spawnSync('unshare', ['-m', 'sh', '-c', SCRIPT], {
      encoding: 'utf8',
      env: { ...process.env, DIR: dir, LIB: LIBRARY, CLI, OUT: out, SCOPES: scopes, READY: path.join(work, 'ready'), LD_PRELOAD: '' },
      timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const lines = Object.fromEntries(run.stdout.trim().split('\n').map((line) => line.split(': ')));
    // `true` made no file (no room); the live process's file and the killed one's before;
    // only the live one's after.
    expect(lines).toMatchObject({ 'true exit': '0', before: '2', 'ps exit': '0', after: '1' });
    const listed = JSON.parse(fs.readFileSync(out, 'utf8')) as { processes: { pid: number }[]; removed: string[] };
    expect(listed.processes.map((p) => p.pid)).toEqual([Number(lines.live)]);
    expect(listed.removed).toEqual([lines.killed]);
  });
});
