/**
 * `skull-mem ps` on a full segment filesystem (issue 11): before, it wrote each scope's peak
 * into the mapped files and died of SIGBUS, removing nothing. Now it reads only, exits 0,
 * lists the live process and removes the files of killed ones.
 *
 * Runs in a private mount namespace (`unshare -m`, as root) over a fresh 64 MiB tmpfs, so
 * nothing outside the test is touched.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, LIBRARY } from './helpers';

// One process stays alive; three are SIGKILLed one after the other (nothing runs at their
// exit, so their files stay), then the filesystem is filled to its last page and `ps` runs
// on it. Each measured process removes the files of ended ones when it starts, so of the
// killed three only the last one's file is left for `ps` (the live process started first).
const SCRIPT = String.raw`
  mount --make-rprivate / && mount -t tmpfs -o size=64m,mode=1777 none "$DIR" || exit 97
  export SKULL_MEM_DIR="$DIR"
  LD_PRELOAD="$LIB" sleep 60 & live=$!
  for i in 1 2 3; do LD_PRELOAD="$LIB" sleep 60 & pid=$!; sleep 0.5; kill -9 $pid; wait $pid 2>/dev/null; done
  sleep 0.3
  dd if=/dev/zero of="$DIR/fill" bs=64k 2>/dev/null
  dd if=/dev/zero of="$DIR/fill-pages" bs=4k 2>/dev/null
  [ "$(df --output=avail "$DIR" | tail -1 | tr -d ' ')" = 0 ] || exit 98
  echo "before: $(ls "$DIR" | grep -c '^skull-mem-')"
  node "$CLI" ps --dir "$DIR" --json > "$OUT"; echo "ps exit: $?"
  echo "after: $(ls "$DIR" | grep -c '^skull-mem-')"
  echo "live: $live"
  kill $live
`;

describe('skull-mem ps on a full segment filesystem', () => {
  it('exits_0_lists_the_live_process_and_removes_the_files_of_killed_ones', () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'skull-ps-full-')), 'ps.json');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-ps-full-dir-'));
    try {
      const run = spawnSync('unshare', ['-m', 'sh', '-c', SCRIPT], {
        encoding: 'utf8',
        env: { ...process.env, DIR: dir, LIB: LIBRARY, CLI, OUT: out, LD_PRELOAD: '' },
        timeout: 60_000,
      });
      expect(run.status, run.stderr).toBe(0);
      const lines = Object.fromEntries(run.stdout.trim().split('\n').map((line) => line.split(': ')));
      // The live process's file and the last killed one's before; only the live one after.
      expect(lines).toMatchObject({ before: '2', 'ps exit': '0', after: '1' });
      const listed = JSON.parse(fs.readFileSync(out, 'utf8')) as { processes: { pid: number }[]; removed: unknown[] };
      expect(listed.processes.map((p) => p.pid)).toEqual([Number(lines.live)]);
      expect(listed.removed).toHaveLength(1);
    } finally {
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
