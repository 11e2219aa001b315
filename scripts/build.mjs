#!/usr/bin/env node
// Builds everything `npm install` needs from a checkout: the preloaded library and the Node addon
// (cargo), placed in this platform's package under npm/, then the TypeScript (tsc).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** Runs a command in the repository root with inherited stdio; stops the build when it fails. */
function run(command, args) {
  console.error(`> ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.error) {
    const hint = result.error.code === 'ENOENT' ? ` (${command} was not found on PATH)` : '';
    fail(`cannot run ${command}: ${result.error.message}${hint}`);
  }
  if (result.status !== 0) fail(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
}

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

/** Copies then renames, so a process that has the old file mapped keeps a consistent copy. */
function install(from, to) {
  if (!fs.existsSync(from)) fail(`${from} was not produced by cargo`);
  const tmp = `${to}.${process.pid}.tmp`;
  fs.copyFileSync(from, tmp);
  fs.renameSync(tmp, to);
  console.error(`build: ${path.relative(root, to)}`);
}

// Same key as src/native.ts; only this platform is built today.
const glibc = typeof process.report?.getReport().header.glibcVersionRuntime === 'string';
const platform = `${process.platform}-${process.arch}${process.platform === 'linux' ? (glibc ? '-gnu' : '-musl') : ''}`;
const platformDir = path.join(root, 'npm', platform);
if (!fs.existsSync(path.join(platformDir, 'package.json'))) {
  fail(`skull-mem does not support ${platform} yet (no npm/${platform}/package.json); it needs Linux x64 with glibc`);
}

run('cargo', ['build', '--release', '-p', 'skull-mem-preload', '-p', 'skull-mem-node']);

const targetDir = path.resolve(root, process.env.CARGO_TARGET_DIR ?? 'target');
install(path.join(targetDir, 'release', 'libskull_mem.so'), path.join(platformDir, 'libskull_mem.so'));
install(
  path.join(targetDir, 'release', 'libskull_mem_node.so'),
  path.join(platformDir, `skull-mem.${platform}.node`),
);

run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json']);

// The ESM entry re-exports the CommonJS build, so both module systems share one native binding.
for (const file of ['index.mjs', 'index.d.mts']) {
  fs.copyFileSync(path.join(root, 'src', file), path.join(root, 'dist', 'src', file));
}
for (const bin of ['skull-mem.js', 'skull-trace.js']) fs.chmodSync(path.join(root, 'dist', 'bin', bin), 0o755);
