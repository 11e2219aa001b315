// The published packages, as a user gets them: packed from a copy of this built checkout with no
// cargo on PATH, installed from the tarballs into a fresh directory, then used through npx,
// require, import (default and named) and the TypeScript declarations.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, VERSION } from './helpers';
import { WITHOUT_GC, expectBuffersCharged } from './fixtures/v8-buffers';

const PLATFORM_PACKAGE = '@skull-mem/linux-x64-gnu';
const DOCS = 'https://github.com/skull-mem/skull-mem#platform-support';

/** PATH without any directory that holds cargo: the packing machine has no Rust. */
const PATH_WITHOUT_CARGO = (process.env.PATH ?? '')
  .split(path.delimiter)
  .filter((dir) => dir !== '' && !fs.existsSync(path.join(dir, 'cargo')))
  .join(path.delimiter);

let work: string;

/** The environment of a user's shell: cargo off PATH, no preload, no npm script variables (which
 * `npm test` sets around vitest). */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: PATH_WITHOUT_CARGO };
  delete env.LD_PRELOAD;
  delete env.SKULL_MEM_BINARY_DIR;
  for (const name of Object.keys(env)) if (name.startsWith('npm_')) delete env[name];
  return env;
}

/** Runs a command in `cwd` in `userEnv()`; fails with its output if it fails. */
function sh(cwd: string, command: string, args: string[]): string {
  const result = spawnSync(command, args, { cwd, env: userEnv(), encoding: 'utf8', timeout: 55_000 });
  if (result.error) throw result.error;
  expect(result.status, `${command} ${args.join(' ')} in ${cwd}:\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

interface Packed {
  filename: string;
  files: { path: string }[];
}

/** `npm pack` of the package in `dir` into `out`: the tarball's path and the files it holds. */
function pack(dir: string, out: string): { tarball: string; files: string[] } {
  const [packed] = JSON.parse(sh(dir, 'npm', ['pack', '--json', '--pack-destination', out])) as Packed[];
  return { tarball: path.join(out, packed.filename), files: packed.files.map((file) => file.path).sort() };
}

let packs: { root: { tarball: string; files: string[] }; platform: { tarball: string; files: string[] } };
let app: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-mem-package-'));
  // A copy of the built checkout, so packing (which runs tsc) does not rewrite dist/ under the
  // other tests; its node_modules is this one's, as after `npm ci`.
  const checkout = path.join(work, 'checkout');
  const skipped = new Set(['.git', 'node_modules', 'target'].map((name) => path.join(ROOT, name)));
  fs.cpSync(ROOT, checkout, { recursive: true, filter: (from) => !skipped.has(from) });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'));

  const tarballs = path.join(work, 'tarballs');
  fs.mkdirSync(tarballs);
  packs = {
    platform: pack(path.join(checkout, 'npm', 'linux-x64-gnu'), tarballs),
    root: pack(checkout, tarballs),
  };

  app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  sh(app, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', packs.platform.tarball, packs.root.tarball]);
}, 120_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('packing with no cargo on PATH', () => {
  it('the_test_really_has_no_cargo', () => {
    const found = spawnSync('cargo', ['--version'], { env: userEnv() });
    expect((found.error as NodeJS.ErrnoException | undefined)?.code).toBe('ENOENT');
  });

  it('the_platform_package_holds_the_stripped_native_files_and_the_license_but_not_the_debug_info', () => {
    expect(packs.platform.tarball).toMatch(/skull-mem-linux-x64-gnu-\d+\.\d+\.\d+\.tgz$/);
    expect(packs.platform.files).toEqual(['LICENSE', 'libskull_mem.so', 'package.json', 'skull-mem.linux-x64-gnu.node']);
    // Stripped: the debug info stays in the checkout beside the files, named by .gnu_debuglink.
    for (const name of ['libskull_mem.so', 'skull-mem.linux-x64-gnu.node']) {
      const sections = spawnSync('objdump', ['-h', path.join(ROOT, 'npm', 'linux-x64-gnu', name)], { encoding: 'utf8' }).stdout;
      expect(sections).toContain('.gnu_debuglink');
      expect(sections).not.toContain('.debug_info');
      expect(fs.existsSync(path.join(ROOT, 'npm', 'linux-x64-gnu', `${name}.debug`))).toBe(true);
    }
  });

  it('packing_before_the_native_build_names_the_missing_files_and_the_command', () => {
    const unbuilt = path.join(work, 'unbuilt');
    fs.mkdirSync(path.join(unbuilt, 'npm', 'linux-x64-gnu'), { recursive: true });
    fs.cpSync(path.join(ROOT, 'scripts'), path.join(unbuilt, 'scripts'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'npm', 'linux-x64-gnu', 'package.json'), path.join(unbuilt, 'npm', 'linux-x64-gnu', 'package.json'));
    const result = spawnSync('npm', ['pack'], { cwd: path.join(unbuilt, 'npm', 'linux-x64-gnu'), env: userEnv(), encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      'check-built: npm pack ships the native files built in this checkout and does not build them (that needs cargo); ' +
        'missing: npm/linux-x64-gnu/libskull_mem.so, npm/linux-x64-gnu/skull-mem.linux-x64-gnu.node, npm/linux-x64-gnu/LICENSE. ' +
        'Run `npm run build` (Rust, cargo and gcc) first\n',
    );
  });

  it('the_main_package_holds_the_built_javascript_both_entries_and_the_license', () => {
    expect(packs.root.tarball).toMatch(/skull-mem-\d+\.\d+\.\d+\.tgz$/);
    for (const file of ['LICENSE', 'README.md', 'package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/index.mjs', 'dist/src/index.d.mts', 'dist/bin/skull-mem.js', 'include/skull_mem.h']) {
      expect(packs.root.files).toContain(file);
    }
    expect(packs.root.files.filter((file) => /\.(node|so|debug)$|^(src|crates|test|scripts)\//.test(file))).toEqual([]);
  });
});

describe('the installed tarballs', () => {
  it('npx_skull_mem_run_measures_a_node_program', () => {
    // 32 Buffers of 8 KiB kept in a scope; measured after the same code ran three times, so
    // V8's compiler is done allocating for it (as in test/api-scope.test.ts), and with its
    // compile jobs on the main thread (see fixtures/api-run.ts).
    fs.writeFileSync(
      path.join(app, 'app.js'),
      `const sm = require('skull-mem');
       const scope = sm.defineScope('packed', { kind: 'module' });
       const keep = [];
       const body = () => { for (let i = 0; i < 32; i++) keep.push(Buffer.allocUnsafeSlow(8192)); };
       const figures = () => sm.snapshot().scopes.find((s) => s.name === 'packed');
       scope.run(body); scope.run(body); scope.run(body);
       ${WITHOUT_GC}
       const growth = withoutGc(() => {
         const before = figures();
         scope.run(body);
         const after = figures();
         return { used: after.used_bytes - before.used_bytes, live: after.live_blocks - before.live_blocks };
       });
       console.log(JSON.stringify({ active: sm.status().active, ...growth }));`,
    );
    const out = JSON.parse(sh(app, 'npx', ['--no-install', 'skull-mem', 'run', '--', process.execPath, '--no-concurrent-recompilation', '--no-concurrent-sparkplug', 'app.js'])) as {
      active: boolean;
      used: number;
      live: number;
      gcs: number;
    };
    expect(out.active).toBe(true);
    expectBuffersCharged(out, 32, 8192);
  });

  it('require_loads_the_api_with_the_native_files_of_the_installed_platform_package', () => {
    const out = JSON.parse(
      sh(app, process.execPath, ['-e', `const sm = require('skull-mem'); console.log(JSON.stringify(sm.status()))`]),
    ) as Record<string, unknown>;
    expect(out).toMatchObject({ active: false, bindingVersion: VERSION, packageVersion: VERSION });
    expect(out.preloadPath).toBe(path.join(fs.realpathSync(app), 'node_modules', PLATFORM_PACKAGE, 'libskull_mem.so'));
  });

  it('import_gives_the_api_as_default_and_named_exports', () => {
    fs.writeFileSync(
      path.join(app, 'esm.mjs'),
      `import sm from 'skull-mem';
       import { status, defineScope } from 'skull-mem';
       console.log(JSON.stringify({ same: sm.status === status && sm.defineScope === defineScope, version: status().packageVersion }));`,
    );
    expect(JSON.parse(sh(app, process.execPath, ['esm.mjs']))).toEqual({ same: true, version: VERSION });
  });

  it('tsc_type_checks_a_program_using_both_imports', () => {
    fs.writeFileSync(
      path.join(app, 'usage.mts'),
      `import sm, { defineScope, status, type Status } from 'skull-mem';
       const now: Status = status();
       const answer: number = defineScope('typed', { kind: 'route' }).run(() => 42);
       // @ts-expect-error scope names are strings: proves the declarations are read, not 'any'
       sm.defineScope(42);
       export const used: [boolean, number] = [now.active, answer];`,
    );
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const types = path.join(ROOT, 'node_modules', '@types');
    sh(app, process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--typeRoots', types, '--types', 'node', 'usage.mts']);
  });

  it('without_the_platform_package_status_gives_the_command_and_the_docs_and_scopes_pass_through', () => {
    const bare = path.join(work, 'bare');
    fs.mkdirSync(bare);
    fs.writeFileSync(path.join(bare, 'package.json'), JSON.stringify({ name: 'bare', private: true }));
    sh(bare, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional', packs.root.tarball]);
    const script = `const sm = require('skull-mem');
      let code; try { sm.snapshot(); } catch (e) { code = e.code; }
      console.log(JSON.stringify({ status: sm.status(), ran: sm.withScope('a', () => 1), code }));`;
    expect(JSON.parse(sh(bare, process.execPath, ['-e', script]))).toEqual({
      status: {
        active: false,
        packageVersion: VERSION,
        reason:
          `the native package ${PLATFORM_PACKAGE} for linux-x64-gnu is not installed. ` +
          'It is an optional dependency of skull-mem, left out by --omit=optional (or --no-optional) and by a ' +
          'package-lock.json made on another platform. Install it: `npm install --include=optional skull-mem` or ' +
          `\`npm install ${PLATFORM_PACKAGE}@${VERSION}\`. See ${DOCS}`,
        fix: 'npm install --include=optional skull-mem',
      },
      ran: 1,
      code: 'NOT_PRELOADED',
    });
  });
});
