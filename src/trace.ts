/**
 * Tracing: switched on and off at run time through a process's segment (its control word),
 * from `skull-trace` or from inside the process; while on, allocations (all, or a Poisson
 * sample by bytes) record their stack, and `leaks` lists the traced blocks still live,
 * grouped by stack and symbolized to function and file:line.
 */
import { nativeBinding, type NativeBinding } from './native';
import { SkullMemError, requireActive } from './status';

/** The addon's tracing functions (crates/node/src/trace.rs); results are JSON text. */
interface TraceBinding extends NativeBinding {
  traceControl(pid: number, dir: string | null, depth: number, sampleBytes: number, scopes: string[]): string;
  traceReport(pid: number, dir: string | null, top: number): string;
  traceEvents(pid: number, dir: string | null, from: number, frames: number, followSeconds: number): string;
  traceStatus(pid: number, dir: string | null): string;
  traceLeaks(pid: number, dir: string | null, minAge: number, scope: string | null, top: number): string;
}

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
  /** Entries of the stack and live-block tables (SKULL_MEM_TRACE_STACKS, SKULL_MEM_TRACE_LIVE). */
  capacity: { stacks: number; live_blocks: number };
}

/** One frame of a leak's stack (inlined frames come before the frame they are inlined in). */
export interface TraceFrame {
  index: number;
  address: string;
  function?: string | null;
  file?: string | null;
  line?: number | null;
  module?: string;
  inlined?: boolean;
  /** `function at file:line (module)`, or `?? (module+offset)`. */
  text: string;
}

/** Live traced blocks with one stack. */
export interface LeakGroup {
  bytes: number;
  blocks: number;
  scopes: string[];
  oldest_seconds: number;
  newest_seconds: number;
  frames: TraceFrame[];
}

/** The leak candidates of a process, largest first. */
export interface LeakReport {
  pid: number;
  status: TraceStatus;
  /** Distinct stacks with live blocks (before `top`). */
  stacks: number;
  groups: LeakGroup[];
}

/** Which blocks `leaks` lists. */
export interface LeakOptions {
  /** Only blocks at least this old (seconds). */
  minAge?: number;
  /** Only blocks of this scope. */
  scope?: string;
  /** At most this many stacks; 0 or absent: all. */
  top?: number;
}

type Result<T> = ({ ok: true } & T) | { ok: false; code: string; message: string };

function unwrap<T>(json: string): T {
  const result = JSON.parse(json) as Result<T>;
  if (!result.ok) throw new SkullMemError('UNREADABLE', `skull-mem: ${result.message}`, result.code);
  const { ok: _ok, ...rest } = result;
  return rest as unknown as T;
}

function binding(): TraceBinding {
  return nativeBinding() as TraceBinding;
}

/** `value` as the table's number setting `name` (crates/core/src/options) would take it. */
function checkSetting(name: string, value: number): number {
  try {
    return binding().checkSetting(name, String(value));
  } catch (err) {
    if (err instanceof Error && (err as { code?: unknown }).code === 'BAD_SETTING') throw new RangeError(`skull-mem: ${err.message}`);
    throw err;
  }
}

/** Switches tracing of process `pid` on (`segment dir` default: $SKULL_MEM_DIR or /dev/shm). */
export function startTracing(pid: number, options: TraceOptions = {}, dir?: string): TraceStatus {
  const scopes = options.scopes ?? [];
  return unwrap<TraceStatus>(binding().traceControl(pid, dir ?? null, checkSetting('trace-depth', options.depth ?? MAX_TRACE_DEPTH), checkSetting('trace-sample-bytes', options.sampleBytes ?? 0), scopes));
}

/** Switches tracing of process `pid` off; the blocks traced so far stay listed until freed. */
export function stopTracing(pid: number, dir?: string): TraceStatus {
  return unwrap<TraceStatus>(binding().traceControl(pid, dir ?? null, 0, 0, []));
}

/** The tracing state of process `pid`. */
export function tracingStatus(pid: number, dir?: string): TraceStatus {
  return unwrap<TraceStatus>(binding().traceStatus(pid, dir ?? null));
}

/** The leak candidates of process `pid`. */
export function leakReport(pid: number, options: LeakOptions = {}, dir?: string): LeakReport {
  const minAge = options.minAge ?? 0;
  const top = options.top ?? 0;
  if (!(minAge >= 0) || !Number.isInteger(top) || top < 0) {
    throw new RangeError('skull-mem: minAge must be a number of seconds >= 0 and top a whole number >= 0');
  }
  return unwrap<LeakReport>(binding().traceLeaks(pid, dir ?? null, minAge, options.scope ?? null, top));
}

/** All traced allocations of a process by stack, since tracing started. */
export interface StackReport {
  pid: number;
  status: TraceStatus;
  /** Distinct stacks (before `top`). */
  stacks: number;
  by_stack: { allocations: number; bytes: number; frames: TraceFrame[] }[];
}

/** Every stack tracing recorded in process `pid`, largest by bytes first (`top` 0: all). */
export function stackReport(pid: number, top = 0, dir?: string): StackReport {
  if (!Number.isInteger(top) || top < 0) throw new RangeError('skull-mem: top must be a whole number >= 0');
  return unwrap<StackReport>(binding().traceReport(pid, dir ?? null, top));
}

/** A frame's name for the folded format: function (or the text of an unknown frame), without
 * the characters that format uses as separators. */
function foldedName(frame: TraceFrame): string {
  return (frame.function ?? frame.text).replace(/[;\n]/g, '_').replace(/ /g, '_');
}

/** The report in the folded-stack format flame graph tools read (`flamegraph.pl`, speedscope,
 * inferno): one line per stack, outermost frame first, `;`-separated, then the bytes. */
export function renderCollapsed(report: StackReport): string {
  return report.by_stack
    .map((entry) => `${[...entry.frames].reverse().map(foldedName).join(';')} ${entry.bytes}\n`)
    .join('');
}

/** The report as text, one block per stack. */
export function renderStackReport(report: StackReport): string {
  const out = [`======== Skull Trace: traced allocations of pid ${report.pid} by stack ========`];
  if (report.by_stack.length === 0) out.push('(nothing traced)');
  report.by_stack.forEach((entry, rank) => {
    out.push('', `#${rank + 1}: ${entry.bytes} bytes in ${entry.allocations} allocation(s)`);
    for (const frame of entry.frames) out.push(`    ${frame.inlined ? '(inlined) ' : ''}${frame.text}`);
  });
  return `${out.join('\n')}\n`;
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
  return unwrap<TraceEvents>(binding().traceEvents(pid, dir ?? null, from, frames, followSeconds));
}

/** One event as a line: `+` allocation or `-` free, size, address, scope, thread, frames. */
export function renderEvent(event: TraceEvent): string {
  const where = event.frames.map((frame) => frame.text).join(' < ');
  return `${event.op === 'alloc' ? '+' : '-'} ${event.size} B ${event.addr} scope ${event.scope} thread ${event.thread}  ${where}`;
}

/** Renders a leak report as text: one block per stack, largest first. */
export function renderLeaks(report: LeakReport): string {
  const s = report.status;
  const out = [
    `======== Skull Trace: live traced blocks of pid ${report.pid} ========`,
    `tracing ${s.enabled ? `on (depth ${s.depth}, ${s.sample_bytes ? `sampled every ${s.sample_bytes} bytes on average` : 'all allocations'})` : 'off'}; ` +
      `${s.counts.traced_allocs} traced, ${s.counts.traced_frees} freed, dropped: ${s.counts.dropped_stacks} stacks, ${s.counts.dropped_blocks} blocks`,
  ];
  if (report.groups.length === 0) out.push('(no traced block is live)');
  report.groups.forEach((group, rank) => {
    out.push('');
    out.push(
      `#${rank + 1}: ${group.bytes} bytes in ${group.blocks} block(s), scope ${group.scopes.join(', ')}, ` +
        `age ${group.newest_seconds.toFixed(1)}-${group.oldest_seconds.toFixed(1)} s`,
    );
    for (const frame of group.frames) out.push(`    ${frame.inlined ? '(inlined) ' : ''}${frame.text}`);
  });
  if (report.stacks > report.groups.length) out.push('', `(${report.stacks - report.groups.length} more stacks not shown)`);
  return `${out.join('\n')}\n`;
}

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
  /** This process's leak candidates (same as `skull-trace leaks <pid> --json`). */
  leaks(options: LeakOptions = {}): LeakReport {
    requireActive();
    return leakReport(process.pid, options);
  },
};
