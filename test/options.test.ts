// The options table (crates/core/src/options) as the README, the CLIs and start-up see it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SettingInfo } from '../src/native-binding';
import { ADDON, INDEX, ROOT, cli, node, run } from './helpers';

const settings = (require(ADDON) as { settings(): SettingInfo[] }).settings();
const TRACE = path.join(ROOT, 'dist', 'bin', 'skull-trace.js');
const REFUSED_SAMPLE = 'trace sample size must be a whole number from 0 to 1099511627775 bytes (got "2000000000000")';

/** The rows of the README's Environment table, as written. */
function readmeRows(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('\n## Environment\n')[1].split('\n## ')[0];
  return section.split('\n').filter((line) => line.startsWith('| `'));
}

describe('options table', () => {
  it('the_readme_environment_table_is_the_options_table', () => {
    const expected = settings
      .filter((setting) => setting.env)
      .map((setting) => `| \`${setting.env}\` | ${setting.defaultValue} | ${setting.bounds} | ${setting.meaning} |`);
    expect(expected.map((row) => row.split(' | ')[0])).toEqual([
      '| `SKULL_MEM_DIR`',
      '| `SKULL_MEM_TRACE`',
      '| `SKULL_MEM_CACHE`',
      '| `SKULL_MEM_TRACE_MEMORY`',
      '| `SKULL_MEM_BINARY_DIR`',
      '| `SKULL_MEM_LEAK_CHECK`',
      '| `SKULL_MEM_LEAK_FAIL_ABOVE`',
      '| `SKULL_MEM_LEAK_EXIT_CODE`',
      '| `SKULL_MEM_LEAK_SUPPRESSIONS`',
      '| `SKULL_MEM_LEAK_JSON`',
    ]);
    expect(readmeRows()).toEqual(expected);
  });

  it('the_typescript_constants_left_are_the_table_s', () => {
    const out = node(
      `const sm = require(${JSON.stringify(INDEX)}); const native = require(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'platform.js'))});` +
        'console.log(sm.MAX_TRACE_DEPTH, native.BINARY_DIR_ENV)',
    );
    const byName = new Map(settings.map((setting) => [setting.name, setting]));
    expect(out.stdout).toBe(`${byName.get('trace-depth')?.max} ${byName.get('binary-dir')?.env}\n`);
  });

  it('run_trace_and_trace_on_refuse_a_sample_size_past_40_bits_with_the_same_message', () => {
    const runResult = cli(['run', '--trace', '2000000000000', '--', 'true']);
    expect([runResult.status, runResult.stderr]).toEqual([2, `skull-mem: ${REFUSED_SAMPLE}\n`]);
    const onResult = run([process.execPath, TRACE, 'on', String(process.pid), '--sample-bytes', '2000000000000']);
    expect([onResult.status, onResult.stderr]).toEqual([2, `skull-trace: ${REFUSED_SAMPLE}\n`]);
  });

  it('help_shows_defaults_and_bounds_from_the_table', () => {
    const help = cli(['run', '--help']).stdout.replace(/\s+/g, ' ');
    expect(help).toContain('0 turns it off (0 to 1048576 bytes, default 32768, sets SKULL_MEM_CACHE)');
    expect(help).toContain('(sample 0 to 1099511627775 bytes, depth 1 to 32 frames, default off, sets SKULL_MEM_TRACE)');
    expect(help).toContain('(any directory, default /dev/shm, sets SKULL_MEM_DIR)');
    const on = run([process.execPath, TRACE, 'on', '--help']).stdout.replace(/\s+/g, ' ');
    expect(on).toContain('frames per stack (1 to 32 frames, default 32)');
    expect(on).toContain('(0 to 1099511627775 bytes, default 0)');
  });
});

describe('start-up', () => {
  const status = `const sm = require(${JSON.stringify(INDEX)}); const s = sm.trace.status();` +
    'console.log(JSON.stringify({ enabled: s.enabled, sample: s.sample_bytes, depth: s.depth }))';

  it('an_out_of_range_trace_setting_is_refused_once_and_the_process_runs_untraced', () => {
    const result = node(status, { preload: true, env: { SKULL_MEM_TRACE: '2000000000000:8' } });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('{"enabled":false,"sample":null,"depth":null}\n');
    expect(result.stderr).toBe(`skull-mem: SKULL_MEM_TRACE refused: ${REFUSED_SAMPLE}; tracing stays off\n`);
  });

  it('the_largest_sample_size_is_kept_whole', () => {
    const result = node(status, { preload: true, env: { SKULL_MEM_TRACE: '1099511627775:8' } });
    expect([result.status, result.stderr]).toEqual([0, '']);
    expect(result.stdout).toBe('{"enabled":true,"sample":1099511627775,"depth":8}\n');
  });

  it('a_refused_number_keeps_the_default_and_says_so', () => {
    const result = run(['/bin/true'], { preload: true, env: { SKULL_MEM_CACHE: '1048577', SKULL_MEM_TRACE_MEMORY: '1000' } });
    expect(result.status).toBe(0);
    expect(result.stderr).toBe(
      'skull-mem: SKULL_MEM_TRACE_MEMORY refused: trace memory must be a whole number from 1048576 to 1073741824 bytes (got "1000"); keeping 268435456\n' +
        'skull-mem: SKULL_MEM_CACHE refused: cache size must be a whole number from 0 to 1048576 bytes (got "1048577"); keeping 32768\n',
    );
  });
});
