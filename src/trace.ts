/**
 * Tracing: switched on and off at run time through a process's segment (its control word),
 * from `skull-trace` or from inside the process; while on, allocations (all, or a Poisson
 * sample by bytes) record their stack, and `leaks` lists the traced blocks still live,
 * grouped by stack and symbolized to function and file:line. The inspect crate
 * (crates/inspect/src/trace) switches, reads, groups, symbolizes and renders.
 */
import { callAddon } from './errors';
import { nativeBinding } from './native';
import { requireActive } from './status';

/** Deepest stack recorded: the options table's `trace-depth` maximum (a test holds them equal). */
export const MAX_TRACE_DEPTH = 32;

/** How to trace. */
export interface TraceOptions {
  /** Frames per stack, 1 to 32; default 32. */
  depth?: number;
  /** Poisson sampling: on average one sample per this many bytes allocated; 0 or absent
   * traces every allocation. 524288 (512 KiB) costs next to nothing. */
  sampleBytes?: number;
  /** Only allocations charged to these scopes (by name); absent or empty: all scopes. */
  scopes?: string[];
  /** Bytes the trace tables may take (the options table's `trace-memory`); absent keeps the
   * process's budget (SKULL_MEM_TRACE_MEMORY or its default). */
  memory?: number;
}

/** Tracing state and counts of a process. */
export interface TraceStatus {
  enabled: boolean;
  depth: number | null;
  sample_bytes: number | null;
  /** Whether only chosen scopes are traced. */
  scoped: boolean;
  /** Recorded allocations, recorded frees, and what was dropped because a table was full. */
  counts: { traced_allocs: number; traced_frees: number; dropped_stacks: number; dropped_blocks: number };
  /** Traced blocks live now. */
  live_blocks: number;
  /** The memory the trace tables take, in bytes, of their budget (SKULL_MEM_TRACE_MEMORY). */
  memory: {
    budget: number;
    used: number;
    committed: number;
    stack_nodes: number;
    stack_bytes: number;
    live_bytes: number;
    /** The threads' running totals: one chunk once a thread has counted. */
    totals_bytes: number;
  };
}

/** One frame of a leak's stack (inlined frames come before the frame they are inlined in). */
export interface TraceFrame {
  index: number;
  address: string;
  /** null when unknown, as are `file` and `line`. */
  function: string | null;
  file: string | null;
  line: number | null;
  /** null when the process's mappings could not be read. */
  module: string | null;
  inlined: boolean;
  /** `function at file:line (module)`, or `?? (module+offset)`. */
  text: string;
}

/** How a figure was arrived at: counted, or estimated from a sample by bytes (a sampled block of
 * s bytes stands for s / (1 - e^(-s/M)) bytes, M the sampling mean). */
export interface Estimate {
  /** Whether `bytes` and `blocks` (or `allocations`) are estimates from a sample. */
  estimated: boolean;
  /** Traced blocks behind the figures. */
  samples: number;
  /** Their own bytes, before scaling. */
  sampled_bytes: number;
  /** Rough relative error of the estimates, 1/sqrt(samples); 0 when counted. */
  error: number;
}

/** How `leaks` groups live blocks: by symbolized call site (`line`: function and file:line of
 * every frame, the default), by recorded return addresses (`stack`), or by function. */
export type GroupBy = 'stack' | 'line' | 'function';

/** The choices of `GroupBy`, as `--group-by` takes them. */
export const GROUP_BY: readonly GroupBy[] = ['stack', 'line', 'function'];

/** Live traced blocks from one call site (or stack, or function). */
export interface LeakGroup extends Estimate {
  /** Bytes of the blocks (estimated when `estimated`). */
  bytes: number;
  /** Number of blocks (estimated when `estimated`). */
  blocks: number;
  /** Recorded stacks in the group (more than 1 when addresses differ but sites do not). */
  stacks: number;
  /** Whether the stack was cut at the recording depth (its outer callers are missing). */
  truncated: boolean;
  scopes: string[];
  oldest_seconds: number;
  newest_seconds: number;
  frames: TraceFrame[];
}

/** The leak candidates of a process, largest first. */
export interface LeakReport {
  pid: number;
  status: TraceStatus;
  /** How blocks were grouped. */
  group_by: GroupBy;
  /** Whether the figures are estimates from a sample. */
  estimated: boolean;
  /** Groups with live blocks (before `top`). */
  stacks: number;
  /** Said once about the JIT frames listed, when due: `function_lines` (some JavaScript frames
   * show the line where their function is defined) or `unnamed` (no JIT map names JIT code). */
  jit_note?: JitNote;
  groups: LeakGroup[];
  /** Live blocks the scopes count that no trace table holds (of `scope`, when given). */
  untraced: Untraced;
}

/** Live blocks counted in the program's scopes (skull-mem's own left out) that the trace
 * tables do not hold, by cause: `before_main` (scope `init`, allocated before tracing was
 * ready, such as libstdc++'s emergency pool), `before_tracing` (allocated before tracing was
 * switched on), `not_sampled` (sampled tracing). */
export interface Untraced {
  bytes: number;
  blocks: number;
  parts: { reason: 'before_main' | 'before_tracing' | 'not_sampled'; bytes: number; blocks: number; why: string }[];
}

/** What a report says once about its JIT frames (see `LeakReport.jit_note`). */
export type JitNote = 'function_lines' | 'unnamed';

/** Which blocks `leaks` lists. */
export interface LeakOptions {
  /** Only blocks at least this old (seconds). */
  minAge?: number;
  /** Only blocks of this scope. */
  scope?: string;
  /** At most this many groups; 0 or absent: all. */
  top?: number;
  /** What makes blocks one group; default `line`. */
  groupBy?: GroupBy;
}

/** `value` as the table's number setting `name` (crates/core/src/options) would take it. */
function checkSetting(name: string, value: number): number {
  try {
    return nativeBinding().checkSetting(name, String(value));
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'BAD_SETTING') throw new RangeError(`skull-mem: ${err.message}`);
    throw err;
  }
}

/** Switches tracing of process `pid` on (`segment dir` default: $SKULL_MEM_DIR or /dev/shm). */
export function startTracing(pid: number, options: TraceOptions = {}, dir?: string): TraceStatus {
  const scopes = options.scopes ?? [];
  const depth = checkSetting('trace-depth', options.depth ?? MAX_TRACE_DEPTH);
  const sampleBytes = checkSetting('trace-sample-bytes', options.sampleBytes ?? 0);
  const memory = options.memory === undefined ? undefined : checkSetting('trace-memory', options.memory);
  return callAddon(() => nativeBinding().traceControl(pid, dir, depth, sampleBytes, scopes, memory));
}

/** Switches tracing of process `pid` off; the blocks traced so far stay listed until freed. */
export function stopTracing(pid: number, dir?: string): TraceStatus {
  return callAddon(() => nativeBinding().traceControl(pid, dir, 0, 0, []));
}

/** The tracing state of process `pid`. */
export function tracingStatus(pid: number, dir?: string): TraceStatus {
  return callAddon(() => nativeBinding().traceStatus(pid, dir));
}

/** `options`' age and count, checked. */
function leakSettings(options: LeakOptions): { minAge: number; top: number; groupBy: GroupBy } {
  const minAge = options.minAge ?? 0;
  const top = options.top ?? 0;
  if (!(minAge >= 0) || !Number.isInteger(top) || top < 0) {
    throw new RangeError('skull-mem: minAge must be a number of seconds >= 0 and top a whole number >= 0');
  }
  const groupBy = options.groupBy ?? 'line';
  if (!GROUP_BY.includes(groupBy)) throw new RangeError(`skull-mem: groupBy must be one of ${GROUP_BY.join(', ')} (got "${String(groupBy)}")`);
  return { minAge, top, groupBy };
}

/** The leak candidates of process `pid`, read on the calling thread (the CLI's way; inside a
 * service use `trace.leaks()`, which does not block the event loop). */
export function leakReport(pid: number, options: LeakOptions = {}, dir?: string): LeakReport {
  const { minAge, top, groupBy } = leakSettings(options);
  return callAddon(() => nativeBinding().traceLeaks(pid, dir, minAge, options.scope, top, groupBy));
}

/** All traced allocations of a process by stack, since tracing started. */
export interface StackReport {
  pid: number;
  status: TraceStatus;
  /** Whether the figures are estimates from a sample. */
  estimated: boolean;
  /** Distinct stacks (before `top`). */
  stacks: number;
  /** Said once about the JIT frames listed, when due (as `LeakReport.jit_note`). */
  jit_note?: JitNote;
  /** Allocations and bytes estimated when `estimated`; `truncated`: cut at the recording depth. */
  by_stack: (Estimate & { allocations: number; bytes: number; truncated: boolean; frames: TraceFrame[] })[];
  /** Live blocks the scopes count that no trace table holds. */
  untraced: Untraced;
}

/** Every stack tracing recorded in process `pid`, largest by bytes first (`top` 0: all). */
export function stackReport(pid: number, top = 0, dir?: string): StackReport {
  if (!Number.isInteger(top) || top < 0) throw new RangeError('skull-mem: top must be a whole number >= 0');
  return callAddon(() => nativeBinding().traceReport(pid, dir, top));
}

/** The pprof heap profile (gzipped `perftools.profiles.Profile`, as Go's heap profiles:
 * `alloc_objects`, `alloc_space`, `inuse_objects`, `inuse_space`) of the stacks traced in
 * process `pid`, one sample per stack and scope with labels `scope` and `kind`; for `go tool
 * pprof`, Pyroscope, Parca. Sampled tracing's values are scaled to estimates. */
export function tracePprof(pid: number, dir?: string): Buffer {
  return callAddon(() => nativeBinding().tracePprof(pid, dir));
}

/** One self-contained HTML page (no network access) of process `pid`: icicle flame graphs
 * of its live and allocated traced bytes (click to zoom, search), its per-scope table and
 * what makes up its RSS. */
export function traceHtml(pid: number, dir?: string): string {
  return callAddon(() => nativeBinding().traceHtml(pid, dir));
}

/** The report in the folded-stack format flame graph tools read (`flamegraph.pl`, speedscope,
 * inferno): one line per stack, outermost frame first, `;`-separated, then the bytes. */
export function renderCollapsed(report: StackReport): string {
  return nativeBinding().collapsedStacks(report);
}

/** The report as text, one block per stack. */
export function renderStackReport(report: StackReport): string {
  return nativeBinding().stacksText(report);
}

/** A traced allocation or free. */
export interface TraceEvent {
  seq: number;
  op: 'alloc' | 'free';
  addr: string;
  size: number;
  scope: string;
  /** Kernel thread id. */
  thread: number;
  time_ns: number;
  /** The innermost frames of the block's stack. */
  frames: TraceFrame[];
}

/** Events from sequence number `from` on, and where to continue. */
export interface TraceEvents {
  pid: number;
  /** The sequence number to ask for next. */
  next: number;
  /** Events overwritten in the ring (4,096 kept) before they were read. */
  lost: number;
  events: TraceEvent[];
}

/** The traced allocations and frees of process `pid` from sequence number `from` on, with the
 * top `frames` frames of each stack. The process records events only while someone follows
 * them: each call asks it to go on for `followSeconds` more (0: just read what is there). */
export function traceEvents(pid: number, from: number, frames = 3, dir?: string, followSeconds = 10): TraceEvents {
  return callAddon(() => nativeBinding().traceEvents(pid, dir, from, frames, followSeconds));
}

/** One event as a line: `+` allocation or `-` free, size, address, scope, thread, frames. */
export function renderEvent(event: TraceEvent): string {
  return nativeBinding().eventLine(event);
}

/** Renders a leak report as text: one block per stack, largest first. */
export function renderLeaks(report: LeakReport): string {
  return nativeBinding().leaksText(report);
}

/** `off`, or how tracing runs (`on: every allocation, stacks of up to 32 frames`). */
export function describeTracing(status: TraceStatus): string {
  return nativeBinding().describeTracing(status);
}

/** The status of process `pid` as `skull-trace status` prints it. */
export function renderTraceStatus(pid: number, status: TraceStatus): string {
  return nativeBinding().statusText(pid, status);
}

/** Frames of leak groups converted to JavaScript per turn of the event loop by `trace.leaks()`:
 * about 2.5 ms of conversion on a busy 2-core machine (measured: 4,220 frames in about 45 ms
 * at load 10), well inside the 20 ms the event loop may be held. */
const FRAMES_PER_PAGE = 256;

/** Tracing of this very process. */
export const trace = {
  /** Switches tracing of this process on. */
  start(options: TraceOptions = {}): TraceStatus {
    requireActive();
    return startTracing(process.pid, options);
  },
  /** Switches tracing of this process off. */
  stop(): TraceStatus {
    requireActive();
    return stopTracing(process.pid);
  },
  /** This process's tracing state. */
  status(): TraceStatus {
    requireActive();
    return tracingStatus(process.pid);
  },
  /**
   * This process's leak candidates (same as `skull-trace leaks <pid> --json`). The report is
   * read, grouped and symbolized on a libuv threadpool thread, so the event loop goes on
   * meanwhile; the symbolizer's memory is charged to the `skull-mem` scope and kept for the
   * next report until `releaseSymbols()`.
   */
  async leaks(options: LeakOptions = {}): Promise<LeakReport> {
    requireActive();
    const { minAge, top, groupBy } = leakSettings(options);
    const pages = await nativeBinding().traceLeaksAsync(process.pid, undefined, minAge, options.scope, top, groupBy);
    const outcome = pages.outcome();
    if (!outcome?.report) {
      return callAddon(() => {
        throw Object.assign(new Error(outcome?.message), { code: outcome?.code });
      });
    }
    const report: LeakReport = outcome.report;
    // The groups a page at a time, the event loop running in between (crates/node/src/
    // trace_async.rs: converting them all at once blocks it for tens of milliseconds).
    for (let page = pages.nextGroups(FRAMES_PER_PAGE); page.length > 0; page = pages.nextGroups(FRAMES_PER_PAGE)) {
      report.groups.push(...page);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return report;
  },
  /** Frees what the symbolizer keeps between reports (debug info of the modules it read);
   * the next report reads them again. Returns whether anything was kept. */
  releaseSymbols(): boolean {
    requireActive();
    return nativeBinding().releaseSymbols();
  },
  /** This process's traced stacks as a pprof heap profile, gzipped (same as `skull-trace
   * report <pid> --format pprof`). */
  pprof(): Buffer {
    requireActive();
    return tracePprof(process.pid);
  },
};
