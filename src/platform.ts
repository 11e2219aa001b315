/**
 * Finds this platform's native files — the Node addon and the preloaded `libskull_mem.so`.
 * Modelled on esbuild's `node-platform.ts`: one table from platform to package,
 * `require.resolve` of that package from `optionalDependencies`, and an error that says why a
 * file is missing and what to do about it. src/native.ts loads the addon found here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Platform key (`linux-x64-gnu`) → the package that ships its native files. */
const PLATFORM_PACKAGES: Readonly<Record<string, string>> = {
  'linux-x64-gnu': '@skull-mem/linux-x64-gnu',
};

/** The environment variable naming a directory that holds both native files. */
export const BINARY_DIR_ENV = 'SKULL_MEM_BINARY_DIR';

/** The README section that lists the supported platforms and what to do on the others. */
const PLATFORM_DOCS = 'https://github.com/skull-mem/skull-mem#platform-support';

/** This package's version, which its platform package has too: named in the commands to run. */
function ownVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** The name of the preloaded library. */
export const PRELOAD_LIBRARY = 'libskull_mem.so';

/** `${platform}-${arch}`, plus the C library on Linux, since a glibc build does not run on musl. */
export function platformKey(): string {
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}`;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: unknown } } | undefined;
  const glibc = typeof report?.header?.glibcVersionRuntime === 'string';
  return `${process.platform}-${process.arch}-${glibc ? 'gnu' : 'musl'}`;
}

/** The directory of the nearest package.json above this file: the skull-mem package root,
 * whether running from `src/` or from the compiled `dist/src/`. */
export function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`skull-mem: cannot find package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

/** Where the native files are, and how they were found (for messages). */
interface NativeFiles {
  addon: string;
  library: string;
  source: string;
}

let located: NativeFiles | undefined;

function filesIn(dir: string, key: string): NativeFiles & { missing: string[] } {
  const addon = path.join(dir, `skull-mem.${key}.node`);
  const library = path.join(dir, PRELOAD_LIBRARY);
  const missing = [addon, library].filter((file) => !fs.existsSync(file));
  return { addon, library, source: dir, missing };
}

function locate(): NativeFiles {
  if (located) return located;
  const key = platformKey();

  const override = process.env[BINARY_DIR_ENV];
  if (override) {
    const files = filesIn(path.resolve(override), key);
    if (files.missing.length > 0) {
      throw new Error(
        `skull-mem: ${BINARY_DIR_ENV}=${override} does not contain ${files.missing.map((f) => path.basename(f)).join(' and ')}; ` +
          `point it at a directory holding skull-mem.${key}.node and ${PRELOAD_LIBRARY}, or unset it`,
      );
    }
    return (located = files);
  }

  const pkg = PLATFORM_PACKAGES[key];
  if (!pkg) {
    throw new Error(
      `skull-mem: this platform (${key}) is not supported yet; supported: ${Object.keys(PLATFORM_PACKAGES).join(', ')}. ` +
        `If you built the native files yourself, set ${BINARY_DIR_ENV} to their directory. ` +
        `See ${PLATFORM_DOCS}`,
    );
  }

  let packageDir: string | undefined;
  try {
    packageDir = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    // Not installed: a development checkout keeps the platform package under npm/.
    const checkout = path.join(packageRoot(), 'npm', key);
    if (fs.existsSync(path.join(checkout, 'package.json'))) packageDir = checkout;
  }
  if (!packageDir) {
    throw new Error(
      `skull-mem: the native package ${pkg} for ${key} is not installed. It is an optional dependency of skull-mem, ` +
        `left out by --omit=optional (or --no-optional) and by a package-lock.json made on another platform. ` +
        `Install it: \`npm install --include=optional skull-mem\` or \`npm install ${pkg}@${ownVersion()}\`. ` +
        `See ${PLATFORM_DOCS}`,
    );
  }

  const files = filesIn(packageDir, key);
  if (files.missing.length > 0) {
    throw new Error(
      `skull-mem: ${files.missing.join(' and ')} missing. In a checkout, build them: \`npm run build\` (it needs cargo); ` +
        `otherwise reinstall the package: \`npm install ${pkg}@${ownVersion()}\`. See ${PLATFORM_DOCS}`,
    );
  }
  return (located = files);
}

/** The absolute path of `libskull_mem.so`, the library to put in LD_PRELOAD. */
export function preloadLibraryPath(): string {
  return locate().library;
}

/** The absolute path of this platform's Node addon. */
export function addonPath(): string {
  return locate().addon;
}
