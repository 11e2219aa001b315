/**
 * Where a command's output goes: stdout, or the file of `-o`.
 */
import * as fs from 'node:fs';
import { CliError } from './cli-error';

/** Writes `data` to stdout (no `output`, or `-`) or to the file `output`, then says on stderr
 * (as `tool: `) what was written where. A file that cannot be written is one line and exit 1. */
export function writeOutput(tool: string, output: string | undefined, data: string | Uint8Array, what: string): void {
  if (output === undefined || output === '-') {
    process.stdout.write(data);
    return;
  }
  try {
    fs.writeFileSync(output, data);
  } catch (err) {
    throw new CliError(`cannot write ${output}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  process.stderr.write(`${tool}: ${what} written to ${output}\n`);
}
