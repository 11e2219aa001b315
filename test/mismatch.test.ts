// A preloaded library of another version is reported by status() and refused by report().
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ADDON, FIX, INDEX, ROOT, VERSION, node } from './helpers';

// Just enough of the C ABI to be found by the addon, claiming version 0.0.1.
const OLD_LIBRARY = `
#include "skull_mem.h"
const char *skull_version(void) { return "0.0.1"; }
uint32_t skull_abi_version(void) { return SKULL_ABI_VERSION; }
int skull_is_active(void) { return 1; }
skull_scope_id skull_scope_register(const char *n, const char *k) { (void)n; (void)k; return SKULL_SCOPE_INVALID; }
skull_scope_id skull_scope_enter(skull_scope_id id) { (void)id; return SKULL_SCOPE_INVALID; }
void skull_scope_leave(skull_scope_id p) { (void)p; }
skull_scope_id skull_scope_current(void) { return SKULL_SCOPE_CORE; }
size_t skull_snapshot(struct skull_scope_stats *b, size_t c, size_t e) { (void)b; (void)c; (void)e; return 0; }
size_t skull_report(char *b, size_t c, int f) { (void)f; if (c) b[0] = 0; return 0; }
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-mem-mismatch-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const hasGcc = spawnSync('gcc', ['--version']).status === 0;

it.skipIf(!hasGcc)('a_library_of_another_version_is_a_mismatch_and_report_refuses_it', () => {
  fs.writeFileSync(path.join(dir, 'old.c'), OLD_LIBRARY);
  const library = path.join(dir, 'libskull_mem.so');
  const gcc = spawnSync('gcc', ['-shared', '-fPIC', '-I', path.join(ROOT, 'include'), path.join(dir, 'old.c'), '-o', library]);
  expect(gcc.status).toBe(0);
  fs.copyFileSync(ADDON, path.join(dir, path.basename(ADDON)));

  const script = `const sm = require(${JSON.stringify(INDEX)}); const out = { status: sm.status() };
    try { sm.report(); } catch (e) { out.error = { code: e.code, message: e.message }; }
    process.stdout.write(JSON.stringify(out));`;
  const result = node(script, { env: { SKULL_MEM_BINARY_DIR: dir, LD_PRELOAD: library } });
  expect(result.stderr).toBe('');
  const reason = `versions differ: package ${VERSION}, addon ${VERSION}, preloaded library 0.0.1`;
  const fix = `preload the library of this package (${library}): ${FIX}`;
  expect(JSON.parse(result.stdout)).toEqual({
    status: {
      active: true,
      version: '0.0.1',
      abiVersion: 1,
      bindingVersion: VERSION,
      packageVersion: VERSION,
      preloadPath: library,
      reason,
      fix,
    },
    error: { code: 'VERSION_MISMATCH', message: `skull-mem: ${reason}; ${fix}` },
  });
});
