#!/usr/bin/env node
// Sets one version on every package and packs them:
//   node scripts/release.mjs <version>              set the version everywhere, build, pack
//   node scripts/release.mjs <version> --pack-only  pack what is built (its version must be <version>)
// The version goes to package.json and its optionalDependencies pins, npm/*/package.json,
// package-lock.json, the Cargo workspace (Cargo.toml) and Cargo.lock; the build then puts it in
// the native files, whose version status() compares with the package's. The tarballs land in
// dist/packages/, ready for `npm publish <tarball>`, platform packages first.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { PLATFORM, PLATFORM_DIR, root } from './native-target.mjs';

const OUT = path.join(root, 'dist', 'packages');

function fail(message) {
  console.error(`release: ${message}`);
  process.exit(1);
}

function run(command, args, cwd) {
  console.error(`> ${command} ${args.join(' ')}${cwd === root ? '' : `   (in ${path.relative(root, cwd)})`}`);
  const result = spawnSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (result.error) fail(`cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
  return result.stdout;
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function writeJson(file, value) {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Rewrites `file` with `edit`, and fails if it changed nothing (the pattern no longer matches). */
function editText(file, edit) {
  const before = fs.readFileSync(file, 'utf8');
  const after = edit(before);
  if (after === before) fail(`found no version to set in ${path.relative(root, file)}`);
  fs.writeFileSync(file, after);
}

const args = process.argv.slice(2);
const packOnly = args.includes('--pack-only');
const version = args.find((arg) => !arg.startsWith('--'));
if (!version || args.some((arg) => arg.startsWith('--') && arg !== '--pack-only')) {
  fail('usage: node scripts/release.mjs <version> [--pack-only]');
}
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) fail(`${version} is not a version (like 1.2.3 or 1.2.3-rc.1)`);

const platformDirs = fs
  .readdirSync(path.join(root, 'npm'))
  .map((name) => path.join(root, 'npm', name))
  .filter((dir) => fs.existsSync(path.join(dir, 'package.json')));

if (!packOnly) {
  const rootJson = readJson(path.join(root, 'package.json'));
  rootJson.version = version;
  for (const name of Object.keys(rootJson.optionalDependencies ?? {})) rootJson.optionalDependencies[name] = version;
  writeJson(path.join(root, 'package.json'), rootJson);

  const lock = readJson(path.join(root, 'package-lock.json'));
  lock.version = version;
  lock.packages[''].version = version;
  for (const name of Object.keys(lock.packages[''].optionalDependencies ?? {})) {
    lock.packages[''].optionalDependencies[name] = version;
  }
  for (const dir of platformDirs) {
    const file = path.join(dir, 'package.json');
    const json = readJson(file);
    json.version = version;
    writeJson(file, json);
    lock.packages[path.relative(root, dir)].version = version;
  }
  writeJson(path.join(root, 'package-lock.json'), lock);

  editText(path.join(root, 'Cargo.toml'), (text) =>
    text.replace(/(\[workspace\.package\][^[]*?\nversion = ")[^"]*(")/, `$1${version}$2`),
  );
  // The workspace's own crates are the lock's entries without a `source` (not from a registry).
  editText(path.join(root, 'Cargo.lock'), (text) =>
    text
      .split('\n[[package]]\n')
      .map((entry) => (/^source = /m.test(entry) ? entry : entry.replace(/^version = ".*"$/m, `version = "${version}"`)))
      .join('\n[[package]]\n'),
  );
  console.error(`release: version ${version} set in package.json, npm/*/package.json, package-lock.json, Cargo.toml and Cargo.lock`);
  run('npm', ['run', 'build'], root);
}

// The native files say their version through the addon; packing another version would ship a
// package whose status() reports a version mismatch.
const addon = path.join(PLATFORM_DIR, `skull-mem.${PLATFORM}.node`);
if (!fs.existsSync(addon)) fail(`${path.relative(root, addon)} is not built; run \`npm run build\` first`);
const built = createRequire(import.meta.url)(addon).bindingVersion();
if (built !== version) fail(`the built native files are version ${built}, not ${version}; run without --pack-only`);

fs.mkdirSync(OUT, { recursive: true });
const tarballs = [];
for (const dir of [...platformDirs, root]) {
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', OUT], dir));
  tarballs.push(path.join(OUT, packed.filename));
}
for (const tarball of tarballs) console.log(path.relative(process.cwd(), tarball));
