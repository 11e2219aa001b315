/**
 * The Skull Memory Measurement table of a process, as `skull-mem memory` and `sm.report()`
 * print it, rendered by the inspect crate (crates/inspect/src/render/memory.rs), the one
 * renderer of that table.
 */
import { callAddon } from './errors';
import { nativeBinding } from './native';
import type { ProcessSnapshot } from './process-snapshot';

/** How the scopes are ordered. */
export type SortKey = 'used' | 'growth' | 'name';

/** What to show besides the basic columns. */
export interface TableOptions {
  /** Calls per API, failed allocations and header overhead per scope. */
  detail: boolean;
  sort: SortKey;
  /** The previous reading, for the growth column; absent on a single reading. */
  previous?: ProcessSnapshot;
  /** Seconds between `previous` and this reading. */
  interval?: number;
}

/** 1536 → "1.5 KiB"; exact bytes are in the table and in --json. */
export function humanBytes(bytes: number): string {
  return nativeBinding().humanBytes(bytes);
}

/** Renders the table and the RSS summary. */
export function renderMemoryTable(snapshot: ProcessSnapshot, options: TableOptions): string {
  return callAddon(() => nativeBinding().memoryTable(snapshot, options));
}
