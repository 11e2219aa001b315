/**
 * The Skull Memory Measurement table of another process, as `skull-mem memory` prints it:
 * the seed's per-scope table, extended with peak, calls per API (`--detail`), cross-scope
 * frees and growth per interval (`--watch`), and a summary that explains the RSS.
 */
import type { SnapshotScope } from './snapshot';
import type { ProcessSnapshot } from './process-snapshot';

/** How the scopes are ordered. */
export type SortKey = 'used' | 'growth' | 'name';

/** What to show besides the basic columns. */
export interface TableOptions {
  detail: boolean;
  sort: SortKey;
  /** The previous reading, for the growth column; absent on a single reading. */
  previous?: ProcessSnapshot;
  /** Seconds between `previous` and this reading. */
  interval?: number;
}

const scopeKey = (scope: SnapshotScope): string => `${scope.kind}\0${scope.name}`;

/** Built-in kinds show as `.`, as in the seed's table. */
const displayKind = (kind: string): string => (kind === 'core' || kind === 'init' ? '.' : kind);

function count(scope: SnapshotScope, ...names: string[]): number {
  return names.reduce((sum, name) => sum + (scope.counters[name] ?? 0), 0);
}

/** 1536 → "1.5 KiB"; exact bytes are in the table and in --json. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 ? `${value}` : value.toFixed(1);
  return `${bytes < 0 ? '-' : ''}${text} ${units[unit]}`;
}

const signed = (value: number): string => (value > 0 ? `+${value}` : `${value}`);

interface Column {
  title: string;
  width: number;
  value: (scope: SnapshotScope) => string | number;
}

function columns(options: TableOptions, growth: (scope: SnapshotScope) => number): Column[] {
  const list: Column[] = [
    { title: 'kind', width: 8, value: (s) => displayKind(s.kind) },
    { title: 'name', width: 16, value: (s) => s.name },
    { title: 'used', width: 14, value: (s) => s.used_bytes },
    { title: 'peak', width: 14, value: (s) => s.peak_used_bytes },
    { title: 'blocks', width: 10, value: (s) => s.live_blocks },
  ];
  if (options.previous) list.push({ title: 'growth', width: 12, value: (s) => signed(growth(s)) });
  if (options.detail) {
    list.push(
      { title: 'malloc', width: 9, value: (s) => count(s, 'malloc_calls') },
      { title: 'calloc', width: 9, value: (s) => count(s, 'calloc_calls') },
      { title: 'realloc', width: 9, value: (s) => count(s, 'realloc_calls', 'reallocarray_calls') },
      { title: 'free', width: 9, value: (s) => count(s, 'free_calls') },
      {
        title: 'aligned',
        width: 9,
        value: (s) => count(s, 'posix_memalign_calls', 'aligned_alloc_calls', 'memalign_calls', 'valloc_calls', 'pvalloc_calls'),
      },
      { title: 'failed', width: 7, value: (s) => count(s, 'failed_allocs') },
      { title: 'overhead', width: 10, value: (s) => s.overhead_bytes },
    );
  }
  list.push(
    { title: 'x-freed', width: 9, value: (s) => count(s, 'cross_freed_blocks') },
    { title: 'x-freed-bytes', width: 14, value: (s) => count(s, 'cross_freed_bytes') },
  );
  return list;
}

/** Used-bytes growth of each scope since `previous` (a new scope grew from 0). */
export function growthBy(previous?: ProcessSnapshot): (scope: SnapshotScope) => number {
  const before = new Map((previous?.scopes ?? []).map((scope) => [scopeKey(scope), scope.used_bytes]));
  return (scope) => scope.used_bytes - (before.get(scopeKey(scope)) ?? 0);
}

/** Orders scopes: most used (or most grown) first, or by name; ties by id. */
export function sortScopes(scopes: SnapshotScope[], sort: SortKey, growth: (scope: SnapshotScope) => number): SnapshotScope[] {
  const compare: Record<SortKey, (a: SnapshotScope, b: SnapshotScope) => number> = {
    used: (a, b) => b.used_bytes - a.used_bytes,
    growth: (a, b) => growth(b) - growth(a),
    name: (a, b) => a.name.localeCompare(b.name),
  };
  return [...scopes].sort((a, b) => compare[sort](a, b) || a.id - b.id);
}

function row(cells: (string | number)[], list: Column[]): string {
  return list.map((column, index) => String(cells[index]).padStart(column.width)).join(' ');
}

function line(label: string, bytes: number, note = ''): string {
  return `${label.padEnd(34)}${String(bytes).padStart(14)} bytes  ${humanBytes(bytes).padStart(10)}${note ? `  ${note}` : ''}`;
}

/** Renders the table and the RSS summary. */
export function renderMemoryTable(snapshot: ProcessSnapshot, options: TableOptions): string {
  const growth = growthBy(options.previous);
  const list = columns(options, growth);
  const out: string[] = [];
  out.push(`======== Skull Memory Measurement ======== pid ${snapshot.pid}: ${snapshot.segment.command_line}`);
  out.push(row(list.map((column) => column.title), list));
  for (const scope of sortScopes(snapshot.scopes, options.sort, growth)) {
    out.push(row(list.map((column) => column.value(scope)), list));
  }
  const totals = snapshot.totals;
  const p = snapshot.process;
  out.push('', '================ Summary =================');
  out.push(`Total Used: ${totals.used_bytes} bytes in ${totals.live_blocks} blocks`);
  if (options.previous) {
    const interval = options.interval ? ` in ${options.interval} s` : '';
    out.push(`Growth: ${signed(totals.used_bytes - options.previous.totals.used_bytes)} bytes${interval}`);
  }
  const liveAndHeaders = totals.used_bytes + totals.overhead_bytes;
  const inHeap = p.malloc_heap_bytes - p.malloc_retained_bytes;
  out.push(`Header Overhead: ${totals.overhead_bytes} bytes (16 per block, more for aligned blocks)`);
  out.push(line('Process RSS', p.rss_bytes));
  out.push(line('  glibc heap mappings', p.malloc_heap_bytes, 'brk heap and arena heaps'));
  out.push(line('    live blocks and headers', inHeap));
  out.push(line('    retained by malloc (at least)', p.malloc_retained_bytes, 'freed but kept, fragmentation'));
  out.push(line('  other anonymous memory', p.other_anon_bytes, 'V8/JS heap, stacks, mmapped large blocks'));
  if (liveAndHeaders > inHeap) {
    out.push(line('    of it live large blocks (about)', liveAndHeaders - inHeap, 'malloc maps these one by one'));
  }
  out.push(line('  code and mapped files', p.file_bytes));
  out.push(line('  shared memory', p.shmem_bytes, `the skull-mem segment: ${humanBytes(p.segment_bytes)}`));
  out.push(
    `Scopes: ${snapshot.scopes.length}  Threads: ${snapshot.threads ?? '?'}  Tracing: ${snapshot.segment.control === 0 ? 'off' : 'on'}  Library: ${snapshot.version}`,
  );
  return `${out.join('\n')}\n`;
}
