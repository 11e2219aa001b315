/**
 * `skull-mem diff <a.json> <b.json>`: what grew between two snapshots (from `skull-mem
 * snapshot` or the API's `snapshot()`), sorted by growth, with totals.
 */
import * as fs from 'node:fs';
import { diff, renderDiff } from '../../src/diff';
import { parseSnapshot, type Snapshot } from '../../src/snapshot';
import { SkullMemError } from '../../src/status';
import { CliError } from './cli-error';
import { jsonLine } from './terminal';

function load(file: string): Snapshot {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read it (${code ?? String(err)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not JSON; expected a snapshot from \`skull-mem snapshot\``);
  }
  try {
    return parseSnapshot(json);
  } catch (err) {
    if (err instanceof SkullMemError) throw new CliError(`${file}: ${err.message.replace(/^skull-mem: /, '')}`);
    throw err;
  }
}

/** Prints the diff as a table, or as JSON with `json`. */
export function diffCommand(before: string, after: string, options: { json: boolean }): number {
  const result = diff(load(before), load(after));
  process.stdout.write(options.json ? jsonLine(result, 2) : renderDiff(result));
  return 0;
}
