/**
 * The commands that read other processes: `ps`, `memory` (with `--watch`) and `snapshot`.
 */
import { CliError } from './cli-error';
import { renderMemoryTable, type SortKey } from '../../src/memory-table';
import { scopeProfile, takeProcessSnapshot, type ProcessSnapshot } from '../../src/process-snapshot';
import { writeOutput } from './output';
import { listProcesses } from '../../src/segments';
import { jsonLine } from './terminal';

/** Options of `skull-mem memory`. */
export interface MemoryOptions {
  detail: boolean;
  json: boolean;
  watch?: number;
  sort: SortKey;
  dir?: string;
}

const SORT_KEYS: readonly SortKey[] = ['used', 'growth', 'name'];

/** Checks `--sort`; anything else is a usage error. */
export function parseSortKey(text: string): SortKey {
  if (!(SORT_KEYS as readonly string[]).includes(text)) {
    throw new CliError(`--sort must be one of ${SORT_KEYS.join(', ')} (got "${text}")`, 2);
  }
  return text as SortKey;
}

/** Checks `snapshot --format`; anything else is a usage error. */
export function parseSnapshotFormat(text: string): 'json' | 'pprof' {
  if (text !== 'json' && text !== 'pprof') throw new CliError(`--format must be json or pprof (got "${text}")`, 2);
  return text;
}

const sleep = (seconds: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

/** Without `--watch`, growth needs two readings: they are taken this far apart. */
const GROWTH_SAMPLE_SECONDS = 1;

/** `skull-mem memory <pid>`: one table (or JSON), or a redrawn one with `--watch`. */
export async function memoryCommand(pid: number, options: MemoryOptions): Promise<number> {
  if (options.watch === undefined) {
    let previous: ProcessSnapshot | undefined;
    if (options.sort === 'growth' && !options.json) {
      previous = takeProcessSnapshot(pid, options.dir);
      await sleep(GROWTH_SAMPLE_SECONDS);
    }
    const snapshot = takeProcessSnapshot(pid, options.dir);
    process.stdout.write(
      options.json
        ? jsonLine(snapshot, 2)
        : renderMemoryTable(snapshot, { ...options, previous, interval: previous && GROWTH_SAMPLE_SECONDS }),
    );
    return 0;
  }
  return watch(pid, options, options.watch);
}

/** Redraws the table every `interval` seconds, like `top`, until interrupted or the
 * process ends; with `--json`, one JSON object per line instead. */
async function watch(pid: number, options: MemoryOptions, interval: number): Promise<number> {
  let previous: ProcessSnapshot | undefined;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!stopped) {
      const snapshot = takeProcessSnapshot(pid, options.dir);
      if (options.json) {
        process.stdout.write(jsonLine(snapshot));
      } else {
        const clear = process.stdout.isTTY ? '\x1b[H\x1b[2J' : '';
        const table = renderMemoryTable(snapshot, { ...options, previous, interval });
        process.stdout.write(`${clear}${table}${process.stdout.isTTY ? '' : '\n'}`);
      }
      previous = snapshot;
      await sleep(interval);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return 0;
}

/** `skull-mem snapshot <pid> [-o file]`: the JSON snapshot to a file or stdout. */
export function snapshotCommand(pid: number, options: { output?: string; dir?: string; format: 'json' | 'pprof' }): number {
  const data = options.format === 'pprof' ? scopeProfile(pid, options.dir) : jsonLine(takeProcessSnapshot(pid, options.dir), 2);
  writeOutput('skull-mem', options.output, data, options.format === 'pprof' ? `per-scope pprof profile of process ${pid}` : `snapshot of process ${pid}`);
  return 0;
}

/** `skull-mem ps`: every live process with the library that the caller may read. */
export function psCommand(options: { json: boolean; dir?: string }): number {
  const { table, ...list } = listProcesses(options.dir);
  if (options.json) {
    process.stdout.write(jsonLine(list, 2));
    return 0;
  }
  process.stdout.write(table);
  if (list.removed.length > 0) {
    process.stderr.write(`skull-mem: removed ${list.removed.length} segment(s) of processes that have ended\n`);
  }
  for (const failure of list.unreadable) process.stderr.write(`skull-mem: ${failure.message}\n`);
  return 0;
}
