/**
 * `skull-mem run --leak-check`: the options and the environment they give the command. The
 * check itself runs inside each process of the command's tree at its exit (the library's
 * exit handler), which prints its report on stderr and ends the process with the leak exit
 * code when it fails; `run` passes that status on like any other.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { CliError } from './cli-error';
import { checkNumber, settingEnv, settingOption } from './settings';

/** The leak-check options of `skull-mem run`, as commander parses them. */
export interface LeakCheckOptions {
  leakCheck?: string | true;
  failAbove?: string;
  leakExitCode?: string;
  suppressions?: string;
  json?: string;
  trace?: string;
}

const MODES = ['summary', 'full'];

function checkMode(text: string): string {
  if (!MODES.includes(text)) throw new CliError(`--leak-check must be summary or full (got "${text}")`, 2);
  return text;
}

/** Adds `--leak-check[=summary|full]`, `--fail-above`, `--leak-exit-code`, `--suppressions`
 * and `--json` to `command`. */
export function addLeakCheckOptions(command: Command): Command {
  return command
    .addOption(settingOption('--leak-check [mode]', 'at exit, report lost blocks and still-reachable ones (summary, or full: with their stacks); traces every allocation', 'leak-check', checkMode))
    .addOption(settingOption('--fail-above <bytes>', 'with --leak-check: exit with the leak exit code when more bytes than this are lost', 'leak-fail-above', (text) => String(checkNumber('leak-fail-above', text))))
    .addOption(settingOption('--leak-exit-code <n>', 'with --leak-check: the exit status of a process that fails the check', 'leak-exit-code', (text) => String(checkNumber('leak-exit-code', text))))
    .addOption(settingOption('--suppressions <file>', 'with --leak-check: lost blocks not to count, one "leak:<function or library pattern>" a line', 'leak-suppressions'))
    .addOption(settingOption('--json <file>', 'with --leak-check: each checked process appends its report to this file as one JSON line', 'leak-json'));
}

/** Sets in `env` what the leak-check options say; a usage error when they do not fit. */
export function setLeakCheckEnv(options: LeakCheckOptions, env: NodeJS.ProcessEnv): void {
  const mode = options.leakCheck === true ? 'summary' : options.leakCheck;
  if (mode === undefined) {
    const stray = (['failAbove', 'leakExitCode', 'suppressions', 'json'] as const).find((key) => options[key] !== undefined);
    if (stray !== undefined) throw new CliError(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --leak-check`, 2);
    return;
  }
  if (options.trace !== undefined && !/^all(:|$)/.test(options.trace)) {
    throw new CliError(`--leak-check traces every allocation: --trace must be "all" or "all:<depth>" (got "${options.trace}")`, 2);
  }
  env[settingEnv('leak-check')] = mode;
  env[settingEnv('trace')] = options.trace ?? 'all';
  // glibc keeps the stacks of exited threads for reuse, with the pointers they last held;
  // the check scans every writable mapping, so those stale pointers kept lost blocks
  // "reachable" (1 or 2 of 20 in test/leak-check-threads.test.ts). Without the cache an
  // exited thread's stack is unmapped once joined or detached.
  const tunable = 'glibc.pthread.stack_cache_size=0';
  env.GLIBC_TUNABLES = env.GLIBC_TUNABLES ? `${env.GLIBC_TUNABLES}:${tunable}` : tunable;
  if (options.failAbove !== undefined) env[settingEnv('leak-fail-above')] = options.failAbove;
  if (options.leakExitCode !== undefined) env[settingEnv('leak-exit-code')] = options.leakExitCode;
  if (options.suppressions !== undefined) {
    const file = path.resolve(options.suppressions);
    if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) throw new CliError(`--suppressions ${options.suppressions} is not a file`, 2);
    env[settingEnv('leak-suppressions')] = file;
  }
  if (options.json !== undefined) {
    const file = path.resolve(options.json);
    // Emptied first: the processes of this run append their lines.
    try {
      fs.writeFileSync(file, '');
    } catch (err) {
      throw new CliError(`--json ${options.json} cannot be written: ${(err as Error).message}`, 2);
    }
    env[settingEnv('leak-json')] = file;
  }
}
