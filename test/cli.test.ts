// The CLI as a user runs it: real child processes, exit codes and one-line errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIBRARY, ROOT, cli } from './helpers';

function oneLine(text: string): void {
  expect(text.endsWith('\n')).toBe(true);
  expect(text.trimEnd().split('\n')).toHaveLength(1);
  expect(text).not.toMatch(/^\s+at /m);
}

describe('skull-mem run', () => {
  it('exits_with_the_exit_code_of_the_command', () => {
    const result = cli(['run', '--', process.execPath, '-e', 'process.exit(3)']);
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(
      /^skull-mem: measuring `.* -e process\.exit\(3\)` \(pid (\d+)\); read it with `skull-mem memory \1`\n$/,
    );
  });

  it('passes_options_after_the_command_to_the_command', () => {
    const result = cli(['run', process.execPath, '-e', 'console.log(process.argv.length)']);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('1\n');
  });

  it('reports_a_signal_death_as_128_plus_the_signal_number', () => {
    const result = cli(['run', '--', process.execPath, '-e', 'process.kill(process.pid, "SIGTERM")']);
    expect(result.status).toBe(128 + 15);
  });

  it('puts_the_library_first_in_LD_PRELOAD_and_keeps_the_existing_entries', () => {
    const existing = `${LIBRARY} /nonexistent/libother.so`;
    const result = cli(['run', '--', process.execPath, '-e', 'console.log(process.env.LD_PRELOAD)'], {
      env: { LD_PRELOAD: existing },
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${LIBRARY}:/nonexistent/libother.so\n`);
  });

  it('preloads_the_library_so_the_api_is_active_in_the_command', () => {
    const result = cli(['run', '--', process.execPath, '-e', `console.log(require('skull-mem').status().active)`]);
    expect(result.stdout).toBe('true\n');
    expect(result.status).toBe(0);
  });

  it('puts_the_segment_in_the_directory_given_by_dir', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-run-dir-'));
    const script = 'console.log(process.env.SKULL_MEM_DIR, require("fs").readdirSync(process.env.SKULL_MEM_DIR).join())';
    const result = cli(['run', '--dir', dir, '--', process.execPath, '-e', script]);
    fs.rmSync(dir, { recursive: true });
    expect(result.status).toBe(0);
    const pid = /pid (\d+)/.exec(result.stderr)?.[1];
    expect(result.stdout).toBe(`${dir} skull-mem-${os.userInfo().uid}-${pid}\n`);
    expect(result.stderr).toContain(`skull-mem memory ${pid} --dir ${dir}`);
  });

  it('sets_the_per_thread_cache_from_cache_and_refuses_a_bad_size_in_one_line', () => {
    const result = cli(['run', '--cache', '0', '--', process.execPath, '-e', 'console.log(process.env.SKULL_MEM_CACHE)']);
    expect([result.status, result.stdout]).toEqual([0, '0\n']);
    for (const bad of ['-1', 'lots', '1048577']) {
      const wrong = cli(['run', '--cache', bad, '--', 'true']);
      expect([wrong.status, wrong.stderr]).toEqual([
        2,
        `skull-mem: cache size must be a whole number from 0 to 1048576 bytes (got "${bad}")\n`,
      ]);
    }
  });

  it('without_a_command_is_a_usage_error_of_one_line', () => {
    const result = cli(['run']);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`skull-mem: missing required argument 'command'\n`);
  });

  it('with_an_unknown_program_exits_127_with_one_line', () => {
    const result = cli(['run', '--', 'skull-mem-no-such-program']);
    expect(result.status).toBe(127);
    oneLine(result.stderr);
    expect(result.stderr).toBe('skull-mem: cannot run `skull-mem-no-such-program`: command not found\n');
  });
});

describe('other commands', () => {
  it('preload_path_prints_an_existing_absolute_file', () => {
    const result = cli(['preload-path']);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${LIBRARY}\n`);
    expect(path.isAbsolute(result.stdout.trim())).toBe(true);
    expect(fs.statSync(result.stdout.trim()).isFile()).toBe(true);
  });

  it('env_prints_an_LD_PRELOAD_line', () => {
    expect(cli(['env']).stdout).toBe(`LD_PRELOAD=${LIBRARY}\n`);
  });

  it('an_unknown_command_is_a_usage_error_of_one_line', () => {
    const result = cli(['frobnicate']);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`skull-mem: unknown command 'frobnicate'\n`);
  });

  it('a_missing_binary_dir_is_one_line_saying_what_to_do', () => {
    const result = cli(['preload-path'], { env: { SKULL_MEM_BINARY_DIR: '/nonexistent' } });
    expect(result.status).toBe(1);
    oneLine(result.stderr);
    expect(result.stderr).toMatch(/^skull-mem: SKULL_MEM_BINARY_DIR=\/nonexistent does not contain .*or unset it\n$/);
  });

  it('version_prints_the_package_version', () => {
    const result = cli(['--version']);
    expect(result.status).toBe(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(result.stdout).toBe(`${manifest.version}\n`);
  });

  it('demo_compiles_and_runs_the_demo_with_the_library_preloaded', () => {
    const result = cli(['demo']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    // 5 ticks of 100 requests (demo/demo.c); the table of `skull-mem memory`, rows: kind name
    // used peak blocks x-freed x-freed-bytes.
    const row = (name: string): string[] => {
      const line = result.stdout.split('\n').find((l) => l.trim().split(/\s+/)[1] === name);
      return line?.trim().split(/\s+/) ?? [];
    };
    expect(result.stdout).toMatch(/^======== Skull Memory Measurement ======== pid \d+: .*demo --hold$/m);
    // The leak: one 64-byte entry per request, never freed.
    expect(row('session-cache')).toEqual(['service', 'session-cache', '32000', '32000', '500', '0', '0']);
    // One thumbnail still held; the other 499 were freed by session-cache and credited back.
    expect(row('/thumbnail')).toEqual(['route', '/thumbnail', '1024', '1024', '1', '499', String(499 * 1024)]);
    expect(row('http-parser')).toEqual(['module', 'http-parser', '0', '0', '0', '0', '0']);
    expect(result.stdout).toMatch(/tick 5: parsed \d+ bytes; session-cache holds 32000 bytes/);
    // Traced from the start: the leak report names the line that leaks, at the top.
    const leakLine = fs.readFileSync(path.join(ROOT, 'demo/demo.c'), 'utf8').split('\n').findIndex((l) => l.includes('the leak: never evicted')) + 1;
    const report = result.stdout.slice(result.stdout.indexOf('======== Skull Trace'));
    expect(report).toMatch(/^#1: 32000 bytes in 500 block\(s\), scope session-cache/m);
    expect(report.split('\n').find((l) => l.startsWith('    '))).toMatch(new RegExp(`remember at .*demo/demo\\.c:${leakLine} \\(demo\\)$`));
  });
});
