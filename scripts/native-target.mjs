// Where the shipped native files are built for, in one place: build.mjs builds for it, and
// check-glibc.mjs checks the result against it.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The oldest glibc the shipped files run on: CentOS/RHEL 7, Debian 8, Ubuntu 14.04 and later.
 * Rust's own standard library needs no newer one on x86-64. */
export const GLIBC_BASELINE = '2.17';

/** The Rust target of the shipped files; cargo-zigbuild links against this glibc version's symbols. */
export const RUST_TARGET = 'x86_64-unknown-linux-gnu';

/** The platform key of the package holding the files (src/native.ts computes the same at run time). */
export const PLATFORM = 'linux-x64-gnu';

/** The platform package's directory. */
export const PLATFORM_DIR = path.join(root, 'npm', PLATFORM);

/** The shipped native files, by their names in the platform package. */
export const NATIVE_FILES = ['libskull_mem.so', `skull-mem.${PLATFORM}.node`];
