#!/usr/bin/env node
/**
 * The skull-mem CLI: runs programs with the interposer preloaded, and reads measured processes
 * from outside through their shared-memory segments (`ps`, `memory`, `snapshot`, `diff`).
 * Errors are one line (`skull-mem: <message>`), never a stack trace: exit 1 when the process
 * or segment is not usable, exit 2 for usage errors.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { packageRoot, preloadLibraryPath } from '../src/platform';
import { leakReport, renderLeaks } from '../src/trace';
import { CliError, parsePid, parseSeconds } from './cli/cli-error';
import { diffCommand } from './cli/diff-command';
import { addLeakCheckOptions, setLeakCheckEnv, type LeakCheckOptions } from './cli/leak-check';
import { newProgram, runCli } from './cli/run-cli';
import { terminalText } from './cli/terminal';
import { checkNumber, checkTrace, settingEnv, settingOption, withSettingsHelp } from './cli/settings';
import { memoryCommand, parseSnapshotFormat, parseSortKey, psCommand, snapshotCommand, type MemoryOptions } from './cli/inspect';
import { DEFAULT_LISTEN, parseListen, serveCommand, type Listen } from './cli/serve';

/** The library path, checked to be expressible in LD_PRELOAD (which splits on spaces and colons). */
function libraryForPreload(): string {
  const library = preloadLibraryPath();
  if (/[\s:]/.test(library)) {
    throw new CliError(
      `${library} contains a space or a colon, which LD_PRELOAD cannot express; ` +
        `copy libskull_mem.so and skull-mem.*.node to a plain path and set SKULL_MEM_BINARY_DIR to it`,
    );
  }
  return library;
}

/** LD_PRELOAD with `library` first, keeping the entries already there. */
function withPreload(library: string, existing: string | undefined): string {
  const others = (existing ?? '').split(/[\s:]+/).filter((entry) => entry !== '' && entry !== library);
  return [library, ...others].join(':');
}

/** The exit code to pass on for a child that exited with `code` or was ended by `signal`
 * (128 + its number, as shells do). */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return signal ? 128 + (os.constants.signals[signal] ?? 0) : (code ?? 1);
}

/** Runs `argv` with `env`, stdio inherited, printing `announce(pid)` to stderr once it started;
 * resolves to the exit code to pass on (128+n for a signal). */
function runChild(argv: string[], env: NodeJS.ProcessEnv, announce?: (pid: number) => string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env });
    child.on('spawn', () => {
      if (announce !== undefined && child.pid !== undefined) process.stderr.write(`skull-mem: ${announce(child.pid)}\n`);
    });
    // Terminal signals reach the whole process group, so the child already has them: wait for it.
    // Signals sent to this process alone (a supervisor stopping it) are passed on.
    const ignore = (): void => {};
    const forward = (signal: NodeJS.Signals) => (): void => void child.kill(signal);
    const handlers: [NodeJS.Signals, () => void][] = [
      ['SIGINT', ignore],
      ['SIGQUIT', ignore],
      ['SIGTERM', forward('SIGTERM')],
      ['SIGHUP', forward('SIGHUP')],
    ];
    for (const [signal, handler] of handlers) process.on(signal, handler);
    const done = (): void => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      done();
      if (err.code === 'ENOENT') reject(new CliError(`cannot run \`${argv[0]}\`: command not found`, 127));
      else if (err.code === 'EACCES') reject(new CliError(`cannot run \`${argv[0]}\`: permission denied`, 126));
      else reject(new CliError(`cannot run \`${argv[0]}\`: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      done();
      resolve(exitCodeOf(code, signal));
    });
  });
}

interface RunOptions extends LeakCheckOptions {
  dir?: string;
  trace?: string;
  cache?: string;
}

/** `skull-mem run`: the command with libskull_mem.so preloaded, its segment in `--dir`. */
async function runCommand(argv: string[], options: RunOptions): Promise<number> {
  const library = libraryForPreload();
  const env: NodeJS.ProcessEnv = { ...process.env, LD_PRELOAD: withPreload(library, process.env.LD_PRELOAD) };
  if (options.trace !== undefined) env[settingEnv('trace')] = options.trace;
  if (options.cache !== undefined) env[settingEnv('cache')] = options.cache;
  setLeakCheckEnv(options, env);
  let where = '';
  if (options.dir !== undefined) {
    const dir = path.resolve(options.dir);
    if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
      throw new CliError(`--dir ${options.dir} is not a directory`, 2);
    }
    env[settingEnv('dir')] = dir;
    where = ` --dir ${dir}`;
  }
  return runChild(argv, env, (pid) => `measuring \`${terminalText(argv.join(' '))}\` (pid ${pid}); read it with \`skull-mem memory ${pid}${where}\``);
}

/** Runs the demo, passing its output through; when it holds at the end, prints the leak
 * report of its traced allocations (read from outside, as `skull-trace leaks` does), then
 * lets it finish. */
function runDemo(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'], env });
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      pending += text;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line !== 'demo: holding') {
          process.stdout.write(`${line}\n`);
          continue;
        }
        try {
          process.stdout.write(`\n${renderLeaks(leakReport(child.pid!, { top: 1 }))}`);
        } catch (err) {
          process.stderr.write(`skull-mem: no leak report: ${err instanceof Error ? err.message.replace(/^skull-mem: /, '') : String(err)}\n`);
        }
        child.stdin.end('\n');
      }
    });
    child.on('error', (err) => reject(new CliError(`cannot run the demo: ${err.message}`)));
    child.on('exit', (code, signal) => resolve(exitCodeOf(code, signal)));
  });
}

/** `skull-mem demo`: compiles demo/demo.c against the library and runs it preloaded; with
 * `ticks`, that many one-second ticks instead of five quick ones. */
async function demoCommand(ticks?: number): Promise<number> {
  const root = packageRoot();
  const source = path.join(root, 'demo', 'demo.c');
  if (!fs.existsSync(source)) throw new CliError(`${source} is missing; reinstall skull-mem`);
  const library = libraryForPreload();
  const libDir = path.dirname(library);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'skull-mem-demo-'));
  try {
    const program = path.join(work, 'demo');
    const gccArgs = ['-O1', '-g', '-I', path.join(root, 'include'), source, '-o', program];
    gccArgs.push(`-L${libDir}`, '-lskull_mem', `-Wl,-rpath,${libDir}`, '-pthread');
    const gcc = spawnSync('gcc', gccArgs, { stdio: 'inherit' });
    if (gcc.error) {
      const missing = (gcc.error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new CliError(missing ? 'the demo needs gcc, which is not on PATH (e.g. `apt-get install gcc`)' : gcc.error.message);
    }
    if (gcc.status !== 0) throw new CliError(`gcc could not compile ${source} (exit ${gcc.status ?? gcc.signal})`);
    const args = ['--hold', ...(ticks === undefined ? [] : ['--ticks', String(ticks), '--pause-ms', '1000'])];
    const env = { ...process.env, LD_PRELOAD: withPreload(library, process.env.LD_PRELOAD), [settingEnv('trace')]: 'all:16' };
    return await runDemo([program, ...args], env);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function parseTicks(text: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(text)) throw new CliError(`--ticks needs a whole number from 1 to 999999 (got "${text}")`, 2);
  return Number(text);
}


/** Builds the command tree; every action stores its exit code in `exit`. */
function program(exit: (code: number) => void): Command {
  const cli = newProgram('skull-mem', 'Exact native memory accounting per scope, for any Linux process (LD_PRELOAD)');

  addLeakCheckOptions(withSettingsHelp(cli.command('run')))
    .description('run a command with libskull_mem.so preloaded; exits with its exit code (with --leak-check: the leak exit code when it leaks)')
    .addOption(settingOption('--dir <dir>', 'put the segment in this directory', 'dir'))
    .addOption(settingOption('--trace <setting>', 'trace from the start: "all", or a sample size in bytes; optionally ":<depth>"', 'trace', checkTrace))
    .addOption(settingOption('--cache <bytes>', 'freed small blocks each thread keeps for reuse, 0 turns it off', 'cache', (text) => String(checkNumber('cache', text))))
    .argument('<command...>', 'the command and its arguments (put them after --)')
    .passThroughOptions()
    .usage('[--dir <dir>] [--trace <setting>] [--cache <bytes>] [--leak-check[=summary|full]] [--fail-above <bytes>] [--leak-exit-code <n>] [--suppressions <file>] [--json <file>] -- <command...>')
    .action(async (argv: string[], options: RunOptions) => exit(await runCommand(argv, options)));

  cli
    .command('preload-path')
    .description('print the absolute path of libskull_mem.so')
    .action(() => {
      process.stdout.write(`${preloadLibraryPath()}\n`);
      exit(0);
    });

  cli
    .command('env')
    .description('print the LD_PRELOAD line for a Dockerfile ENV or a systemd Environment=')
    .action(() => {
      process.stdout.write(`LD_PRELOAD=${libraryForPreload()}\n`);
      exit(0);
    });

  cli
    .command('ps')
    .description('list the live processes running with skull-mem (removes segments of ended ones)')
    .option('--json', 'JSON on stdout')
    .option('--dir <dir>', 'where segments are (default $SKULL_MEM_DIR or /dev/shm)')
    .action((options: { json?: boolean; dir?: string }) =>
      exit(psCommand({ json: options.json === true, dir: options.dir })),
    );

  cli
    .command('memory')
    .description("the Skull Memory Measurement table of a process, and what makes up its RSS")
    .argument('<pid>', 'a process started with `skull-mem run` (or LD_PRELOAD)', parsePid)
    .option('--detail', 'calls per API, failed allocations and header overhead per scope')
    .option('--json', 'JSON on stdout (the snapshot format)')
    .option('--watch <seconds>', 'redraw every so many seconds, with growth per interval', (v) => parseSeconds(v, '--watch'))
    .option('--sort <key>', 'order scopes by used, growth or name', parseSortKey, 'used')
    .option('--dir <dir>', 'where segments are (default $SKULL_MEM_DIR or /dev/shm)')
    .action(async (pid: number, options: Omit<MemoryOptions, 'detail' | 'json'> & { detail?: boolean; json?: boolean; dir?: string }) =>
      exit(
        await memoryCommand(pid, {
          ...options,
          detail: options.detail === true,
          json: options.json === true,
          dir: options.dir,
        }),
      ),
    );

  cli
    .command('snapshot')
    .description('save a JSON snapshot of a process (compare two with `skull-mem diff`), or a per-scope pprof profile')
    .argument('<pid>', 'a process started with `skull-mem run` (or LD_PRELOAD)', parsePid)
    .option('--format <format>', 'json, or pprof (gzipped, one sample per scope; no tracing needed)', parseSnapshotFormat, 'json')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--dir <dir>', 'where segments are (default $SKULL_MEM_DIR or /dev/shm)')
    .action((pid: number, options: { format: 'json' | 'pprof'; output?: string; dir?: string }) =>
      exit(snapshotCommand(pid, { output: options.output, dir: options.dir, format: options.format })),
    );

  cli
    .command('diff')
    .description('what grew between two snapshots, by scope, sorted by growth')
    .argument('<before>', 'a snapshot file (skull-mem snapshot -o, or the API)')
    .argument('<after>', 'a later snapshot file')
    .option('--json', 'JSON on stdout')
    .action((before: string, after: string, options: { json?: boolean }) =>
      exit(diffCommand(before, after, { json: options.json === true })),
    );

  cli
    .command('serve')
    .description('serve /metrics (Prometheus, OpenMetrics) and /debug/pprof/heap?pid=N for every measured process')
    .option('--listen <ip:port>', 'where to listen; loopback by default', parseListen, parseListen(DEFAULT_LISTEN))
    .option('--dir <dir>', 'where segments are (default $SKULL_MEM_DIR or /dev/shm)')
    .action(async (options: { listen: Listen; dir?: string }) => exit(await serveCommand(options)));

  cli
    .command('demo')
    .description('compile demo/demo.c with gcc and run it preloaded; it prints its own table')
    .option('--ticks <n>', 'run this many one-second ticks (default: five quick ones)', parseTicks)
    .action(async (options: { ticks?: number }) => exit(await demoCommand(options.ticks)));

  return cli;
}

runCli('skull-mem', program);
