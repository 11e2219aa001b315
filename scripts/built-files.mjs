// The files a pack ships but cannot make without cargo: `npm pack` and `npm publish` check them
// instead of building them, so a package can be packed where no Rust toolchain is installed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NATIVE_FILES, PLATFORM_DIR, root } from './native-target.mjs';

/** The native files that are not built yet, relative to the repository root. */
export function missingNativeFiles() {
  return NATIVE_FILES.map((name) => path.join(PLATFORM_DIR, name))
    .filter((file) => !fs.existsSync(file))
    .map((file) => path.relative(root, file));
}

/** One line for a pack that finds files missing: what, and the command that makes them. */
export function missingMessage(command, missing) {
  return (
    `npm ${command} ships the native files built in this checkout and does not build them (that needs cargo); ` +
    `missing: ${missing.join(', ')}. Run \`npm run build\` (Rust, cargo and gcc) first`
  );
}
