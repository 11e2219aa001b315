// Paths of the built package and a runner for real child processes.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..');
export const PLATFORM_DIR = path.join(ROOT, 'npm', 'linux-x64-gnu');
export const LIBRARY = path.join(PLATFORM_DIR, 'libskull_mem.so');
export const ADDON = path.join(PLATFORM_DIR, 'skull-mem.linux-x64-gnu.node');
export const INDEX = path.join(ROOT, 'dist', 'src', 'index.js');
export const CLI = path.join(ROOT, 'dist', 'bin', 'skull-mem.js');
export const VERSION = '0.1.0';
export const FIX = 'npx skull-mem run -- node app.js';

export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `argv` to completion in the repository root, with LD_PRELOAD set only when asked. */
export function run(argv: string[], options: { preload?: boolean; env?: NodeJS.ProcessEnv } = {}): Run {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.LD_PRELOAD;
  delete env.SKULL_MEM_BINARY_DIR;
  if (options.preload) env.LD_PRELOAD = LIBRARY;
  Object.assign(env, options.env);
  const result = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, env, encoding: 'utf8', timeout: 50_000 });
  if (result.error) throw result.error;
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a CommonJS script in a fresh `node`. */
export function node(script: string, options: { preload?: boolean; env?: NodeJS.ProcessEnv } = {}): Run {
  return run([process.execPath, '-e', script], options);
}

/** Runs the built CLI. */
export function cli(args: string[], options: { preload?: boolean; env?: NodeJS.ProcessEnv } = {}): Run {
  return run([process.execPath, CLI, ...args], options);
}
