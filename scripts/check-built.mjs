#!/usr/bin/env node
// The platform package's `prepack`: refuses to pack npm/<platform>/ before its native files and
// LICENSE are built there, instead of packing an empty package.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { missingMessage, missingNativeFiles } from './built-files.mjs';
import { PLATFORM_DIR, root } from './native-target.mjs';

const missing = missingNativeFiles();
const license = path.join(PLATFORM_DIR, 'LICENSE');
if (!fs.existsSync(license)) missing.push(path.relative(root, license));
if (missing.length > 0) {
  console.error(`check-built: ${missingMessage(process.env.npm_command ?? 'pack', missing)}`);
  process.exit(1);
}
