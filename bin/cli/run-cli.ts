/**
 * What the `skull-mem` and `skull-trace` commands share: the commander set-up, and one line
 * on stderr instead of a stack trace for every error, with exit 1 for failures and 2 for
 * usage errors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { packageRoot } from '../../src/platform';
import { CliError } from './cli-error';
import { terminalText } from './terminal';

function packageVersion(): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

/** A message of the CLI itself, escaped; as it is when the addon cannot load (the message is
 * then about the installation, with no text from elsewhere in it). */
function ownMessage(message: string): string {
  try {
    return terminalText(message);
  } catch {
    return message;
  }
}

/** A command tree named `name` whose errors print as `name: <message>`. */
export function newProgram(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .version(packageVersion(), '-V, --version', 'print the version')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`${name}: ${text.replace(/^error: /, '')}`) });
}

/** Runs the command tree built by `build` (whose actions report their exit code through
 * `exit`) and sets the process's exit code; never lets a stack trace reach the user. */
export function runCli(name: string, build: (exit: (code: number) => void) => Command): void {
  // A closed pipe (`| head`) ends the output, not in an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  let code = 0;
  build((c) => (code = c))
    .parseAsync(process.argv)
    .then(
      () => {
        process.exitCode = code;
      },
      (err: unknown) => {
        // Help and --version end with exit code 0; every other parse error is a usage error.
        if (err instanceof CommanderError) {
          process.exitCode = err.exitCode === 0 ? 0 : 2;
          return;
        }
        const message = (err instanceof Error ? err.message : String(err)).replace(/^skull-mem: /, '');
        // The addon's messages are escaped where they are made; the CLI's own quote file
        // names, paths and snapshot contents.
        process.stderr.write(`${name}: ${err instanceof CliError ? ownMessage(message) : message}\n`);
        process.exitCode = err instanceof CliError ? err.exitCode : 1;
      },
    );
}
