// Tests run the built package; say how to build it instead of failing test by test.
import * as fs from 'node:fs';
import { ADDON, CLI, INDEX, LIBRARY } from './helpers';

export default function checkBuilt(): void {
  const missing = [LIBRARY, ADDON, INDEX, CLI].filter((file) => !fs.existsSync(file));
  if (missing.length > 0) {
    throw new Error(`missing ${missing.join(', ')}; run \`npm run build\` before \`vitest run\``);
  }
}
