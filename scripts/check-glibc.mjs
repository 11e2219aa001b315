#!/usr/bin/env node
// Fails if a shipped native file needs a glibc newer than the baseline: lists, from `objdump -T`,
// every undefined dynamic symbol whose version is GLIBC_x.y above GLIBC_BASELINE, or that must be
// present but has no version. A symbol the files need only on newer systems must be looked up
// with dlsym (and have a fallback) instead of linked. Arguments name other files to check.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GLIBC_BASELINE, NATIVE_FILES, PLATFORM_DIR, root } from './native-target.mjs';

/** `2.17` → [2, 17], for numeric comparison. */
function parts(version) {
  return version.split('.').map(Number);
}

function newer(version, than) {
  const [a, b] = [parts(version), parts(than)];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return false;
}

let failed = false;
const files = process.argv.length > 2 ? process.argv.slice(2) : NATIVE_FILES.map((name) => path.join(PLATFORM_DIR, name));
for (const file of files) {
  const shown = path.relative(root, path.resolve(file));
  if (!fs.existsSync(file)) {
    console.error(`check-glibc: ${shown} is missing; run \`npm run build\` first`);
    process.exit(1);
  }
  const dump = spawnSync('objdump', ['-T', file], { encoding: 'utf8' });
  if (dump.error || dump.status !== 0) {
    console.error(`check-glibc: objdump -T ${shown} failed: ${dump.error?.message ?? dump.stderr.trim()}`);
    process.exit(1);
  }
  // An undefined symbol's line is `<address> <flags> *UND* <size> [<version>] <name>`; the
  // version may be `(GLIBC_2.2.5)`. A strong one without a version is a function the baseline's
  // glibc does not have (zig links it unversioned) and fails to load there; Node provides napi_*.
  let highest = '0';
  const tooNew = [];
  for (const line of dump.stdout.split('\n')) {
    const [before, after] = line.split('*UND*');
    if (after === undefined) continue;
    const fields = after.trim().split(/\s+/);
    const symbol = fields[fields.length - 1];
    const version = /GLIBC_(\d+(?:\.\d+)*)/.exec(fields.length > 2 ? fields[1] : '')?.[1];
    if (version === undefined) {
      const weak = /\bw\b/.test(before);
      if (!weak && !symbol.startsWith('napi_')) tooNew.push(`${symbol} (unversioned)`);
      continue;
    }
    if (newer(version, highest)) highest = version;
    if (newer(version, GLIBC_BASELINE)) tooNew.push(`${symbol}@GLIBC_${version}`);
  }
  if (tooNew.length > 0) {
    console.error(`check-glibc: ${shown} needs a glibc newer than ${GLIBC_BASELINE}: ${tooNew.join(', ')}`);
    failed = true;
  } else {
    console.error(`check-glibc: ${shown} needs glibc ${highest} at most (baseline ${GLIBC_BASELINE})`);
  }
}
process.exit(failed ? 1 : 0);
