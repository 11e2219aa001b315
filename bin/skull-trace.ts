#!/usr/bin/env node
/**
 * skull-trace: switches stack tracing on and off in a running process started with
 * skull-mem, and lists the traced blocks still live, grouped by the stack that allocated
 * them, symbolized to function and file:line.
 */
import type { Command } from 'commander';
import {
  GROUP_BY,
  type GroupBy,
  describeTracing,
  type LeakReport,
  renderCollapsed,
  renderEvent,
  renderLeaks,
  renderStackReport,
  renderTraceStatus,
  type StackReport,
  startTracing,
  stopTracing,
  traceEvents,
  traceHtml,
  tracePprof,
  tracingStatus,
} from '../src/trace';
import { SkullMemError } from '../src/status';
import { callAddon } from '../src/errors';
import { nativeBinding } from '../src/native';
import { CliError, parsePid, parseSeconds } from './cli/cli-error';
import { writeOutput } from './cli/output';
import { newProgram, runCli } from './cli/run-cli';
import { jsonLine } from './cli/terminal';
import { checkNumber, settingMax, settingOption, withSettingsHelp } from './cli/settings';

function parseWhole(text: string, option: string, max: number): number {
  if (!/^[0-9]{1,13}$/.test(text) || Number(text) > max) {
    throw new CliError(`${option} needs a whole number from 0 to ${max} (got "${text}")`, 2);
  }
  return Number(text);
}


function program(exit: (code: number) => void): Command {
  const cli = newProgram('skull-trace', 'Stack tracing of allocations in a running process, switched on and off at will');

  withSettingsHelp(cli.command('on'))
    .description('start tracing (every allocation with --all, or a Poisson sample by bytes)')
    .argument('<pid>', 'a process started with `skull-mem run`', parsePid)
    .option('--all', 'trace every allocation (the default)')
    .addOption(
      settingOption('--sample-bytes <n>', 'trace on average one allocation per <n> bytes allocated (e.g. 524288)', 'trace-sample-bytes', (v) =>
        checkNumber('trace-sample-bytes', v),
      ),
    )
    .addOption(settingOption('--depth <frames>', 'frames per stack', 'trace-depth', (v) => checkNumber('trace-depth', v)))
    .addOption(settingOption('--memory <bytes>', 'bytes the trace tables may take', 'trace-memory', (v) => checkNumber('trace-memory', v)))
    .option('--scope <names...>', 'only allocations charged to these scopes')
    .option('--dir <dir>', 'where segments are (default $SKULL_MEM_DIR or /dev/shm)')
    .action((pid: number, options: { all?: boolean; sampleBytes?: number; depth?: number; memory?: number; scope?: string[]; dir?: string }) => {
      if (options.all && options.sampleBytes !== undefined) throw new CliError('--all and --sample-bytes exclude each other', 2);
      const status = startTracing(
        pid,
        { depth: options.depth, sampleBytes: options.sampleBytes ?? 0, scopes: options.scope ?? [], memory: options.memory },
        options.dir,
      );
      process.stdout.write(`tracing of process ${pid} ${describeTracing(status)}\n`);
      exit(0);
    });

  cli
    .command('off')
    .description('stop tracing; blocks traced so far stay listed until freed')
    .argument('<pid>', 'a process started with `skull-mem run`', parsePid)
    .option('--dir <dir>', 'where segments are (default $SKULL_MEM_DIR or /dev/shm)')
    .action((pid: number, options: { dir?: string }) => {
      stopTracing(pid, options.dir);
      process.stdout.write(`tracing of process ${pid} off\n`);
      exit(0);
    });

  cli
    .command('status')
    .description('whether tracing is on, and what it has recorded and dropped')
    .argument('<pid>', 'a process started with `skull-mem run`', parsePid)
    .option('--json', 'JSON on stdout')
    .option('--dir <dir>', 'where segments are (default $SKULL_MEM_DIR or /dev/shm)')
    .action((pid: number, options: { json?: boolean; dir?: string }) => {
      const status = tracingStatus(pid, options.dir);
      process.stdout.write(options.json ? jsonLine(status, 2) : renderTraceStatus(pid, status));
      exit(0);
    });

  cli
    .command('leaks')
    .description('traced blocks still live, grouped by call site, largest first: the leak candidates')
    .argument('<pid>', 'a process started with `skull-mem run`', parsePid)
    .option('--min-age <seconds>', 'only blocks at least this old', (v) => parseSeconds(v, '--min-age'))
    .option('--scope <name>', 'only blocks of this scope')
    .option('--top <n>', 'at most this many groups', (v) => parseWhole(v, '--top', 1_000_000))
    .option('--group-by <what>', 'line (function and file:line of each frame), stack (return addresses) or function', parseGroupBy, 'line')
    .option('--json', 'JSON on stdout')
    .option('--dir <dir>', 'where segments are (default $SKULL_MEM_DIR or /dev/shm)')
    .action((pid: number, options: { minAge?: number; scope?: string; top?: number; groupBy: GroupBy; json?: boolean; dir?: string }) => {
      // Straight to the binding, which says how symbolizing goes on a terminal (never in JSON);
      // the API's leakReport never prints.
      const report: LeakReport = callAddon(() =>
        nativeBinding().traceLeaks(pid, options.dir, options.minAge ?? 0, options.scope, options.top ?? 0, options.groupBy, !options.json),
      );
      process.stdout.write(options.json ? jsonLine(report, 2) : renderLeaks(report));
      exit(0);
    });

  cli
    .command('tail')
    .description('traced allocations and frees as they happen, with their top frames, until interrupted')
    .argument('<pid>', 'a process started with `skull-mem run`', parsePid)
    .option('--scope <name>', 'only events of this scope')
    .option('--frames <n>', 'frames shown per event', (v) => parseWhole(v, '--frames', settingMax('trace-depth')), 3)
    .option('--interval <seconds>', 'how often to look for new events', (v) => parseSeconds(v, '--interval'), 0.2)
    .option('--json', 'one JSON object per event')
    .option('--dir <dir>', 'where segments are (default $SKULL_MEM_DIR or /dev/shm)')
    .action(async (pid: number, options: { scope?: string; frames: number; interval: number; json?: boolean; dir?: string }) =>
      exit(await tail(pid, options)),
    );

  cli
    .command('report')
    .description(
      'every traced allocation since tracing started, by stack: text, json, collapsed (flame graph tools), ' +
        'pprof (gzipped heap profile for go tool pprof, Pyroscope, Parca) or html (one self-contained page)',
    )
    .argument('<pid>', 'a process started with `skull-mem run`', parsePid)
    .option('--format <format>', FORMATS.join(', '), parseFormat, 'text')
    .option('--top <n>', 'at most this many stacks (text, json, collapsed)', (v) => parseWhole(v, '--top', 1_000_000))
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--dir <dir>', 'where segments are (default $SKULL_MEM_DIR or /dev/shm)')
    .action((pid: number, options: { format: Format; top?: number; output?: string; dir?: string }) => {
      const what = `${options.format} report of process ${pid}`;
      if (options.format === 'pprof') {
        writeOutput('skull-trace', options.output, tracePprof(pid, options.dir), what);
        return exit(0);
      }
      if (options.format === 'html') {
        writeOutput('skull-trace', options.output, traceHtml(pid, options.dir), what);
        return exit(0);
      }
      const report: StackReport = callAddon(() =>
        nativeBinding().traceReport(pid, options.dir, options.top ?? 0, options.format !== 'json'),
      );
      const render: Record<'text' | 'json' | 'collapsed', () => string> = {
        text: () => renderStackReport(report),
        json: () => jsonLine(report, 2),
        collapsed: () => renderCollapsed(report),
      };
      writeOutput('skull-trace', options.output, render[options.format](), what);
      exit(0);
    });

  return cli;
}

/** Follows the event ring of `pid`: prints events newer than the start, until SIGINT or
 * SIGTERM (exit 0) or the process ends (exit 0, said on stderr). */
async function tail(
  pid: number,
  options: { scope?: string; frames: number; interval: number; json?: boolean; dir?: string },
): Promise<number> {
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // The process records events while followed: each poll extends that by a few intervals.
  const follow = Math.max(10, 3 * options.interval);
  let next = traceEvents(pid, Number.MAX_SAFE_INTEGER, 0, options.dir, follow).next;
  process.stderr.write(`skull-trace: following process ${pid} (Ctrl-C to stop)\n`);
  try {
    while (!stopped) {
      await new Promise((resolve) => setTimeout(resolve, options.interval * 1000));
      let batch;
      try {
        batch = traceEvents(pid, next, options.frames, options.dir, follow);
      } catch (err) {
        if (err instanceof SkullMemError && ['NO_PROCESS', 'STALE', 'NOT_MEASURED'].includes(err.reason ?? '')) {
          process.stderr.write(`skull-trace: process ${pid} has ended\n`);
          return 0;
        }
        throw err;
      }
      next = batch.next;
      if (batch.lost > 0) process.stderr.write(`skull-trace: ${batch.lost} events lost (the ring was overwritten between reads)\n`);
      for (const event of batch.events) {
        if (options.scope !== undefined && event.scope !== options.scope) continue;
        process.stdout.write(options.json ? jsonLine(event) : `${renderEvent(event)}\n`);
      }
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return 0;
}

function parseGroupBy(text: string): GroupBy {
  const found = GROUP_BY.find((choice) => choice === text);
  if (found === undefined) throw new CliError(`--group-by must be stack, line or function (got "${text}")`, 2);
  return found;
}

const FORMATS = ['text', 'json', 'collapsed', 'pprof', 'html'] as const;
type Format = (typeof FORMATS)[number];

function parseFormat(text: string): Format {
  if (!(FORMATS as readonly string[]).includes(text)) {
    throw new CliError(`--format must be one of ${FORMATS.join(', ')} (got "${text}")`, 2);
  }
  return text as Format;
}

runCli('skull-trace', program);
