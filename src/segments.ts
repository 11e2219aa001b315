/**
 * Reading measured processes through the addon's reader (crates/inspect/src/reader), which
 * checks every segment before trusting it. Failures come back as codes, turned here into a
 * `SkullMemError` with code `UNREADABLE` and the reader's one-line message.
 */
import { nativeBinding } from './native';
import type { Snapshot } from './snapshot';
import { SkullMemError } from './status';

/** The library's JSON report of one process: a snapshot without the fields the reader adds. */
export type Report = Omit<Snapshot, 'format' | 'format_version' | 'time' | 'process'>;

/** What the segment header says about its process. */
export interface SegmentInfo {
  path: string;
  pid: number;
  uid: number;
  start_time: number;
  executable: string;
  command_line: string;
  library_version: string;
  control: number;
}

/** One process read through its segment. */
export interface Reading {
  segment: SegmentInfo;
  report: Report;
}

interface Failure {
  ok: false;
  code: string;
  message: string;
}

type Result<T> = ({ ok: true } & T) | Failure;

function unwrap<T>(json: string): T {
  const result = JSON.parse(json) as Result<T>;
  if (!result.ok) throw new SkullMemError('UNREADABLE', `skull-mem: ${result.message}`, result.code);
  return result;
}

/** Reads process `pid`; throws a `SkullMemError` saying in one line why it cannot be read. */
export function readProcess(pid: number, dir?: string): Reading {
  return unwrap<Reading>(nativeBinding().readProcess(pid, dir ?? null));
}

/** The live measured processes, after removing segments of processes that have ended. */
export interface Scan {
  dir: string;
  processes: Reading[];
  removed: string[];
  unreadable: Failure[];
}

/** Lists measured processes in `dir` (default `$SKULL_MEM_DIR` or /dev/shm). */
export function scanProcesses(dir?: string): Scan {
  return unwrap<Scan>(nativeBinding().scanProcesses(dir ?? null, true));
}
