/**
 * Reading measured processes through the addon's reader, which checks every segment before
 * trusting it. Failures come back as a `SkullMemError` with code `UNREADABLE`, the reader's
 * code as `reason` and its one-line message.
 */
import { callAddon } from './errors';
import { nativeBinding } from './native';
import type { Snapshot } from './snapshot';

/** The library's report of one process: a snapshot without the fields the reader adds. */
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

/** Reads process `pid`; throws a `SkullMemError` saying in one line why it cannot be read. */
export function readProcess(pid: number, dir?: string): Reading {
  return callAddon(() => nativeBinding().readProcess(pid, dir));
}

/** The live measured processes, after removing segments of processes that have ended. */
export interface Scan {
  dir: string;
  processes: Reading[];
  removed: string[];
  /** Segments that could not be read: the reader's code and one-line message. */
  unreadable: { code: string; message: string }[];
}

/** Lists measured processes in `dir` (default `$SKULL_MEM_DIR` or /dev/shm). */
export function scanProcesses(dir?: string): Scan {
  return callAddon(() => nativeBinding().scanProcesses(dir, true));
}

/** `skull-mem ps`: one row per live measured process, and the table of them. */
export interface ProcessList {
  dir: string;
  processes: {
    pid: number;
    command: string;
    used_bytes: number;
    live_blocks: number;
    scopes: number;
    threads: number | null;
    tracing: boolean;
    library_version: string;
    segment: string;
  }[];
  removed: string[];
  unreadable: { code: string; message: string }[];
  /** The rows as the text table `skull-mem ps` prints. */
  table: string;
}

/** Lists the live measured processes of `dir` for `skull-mem ps`, removing the segments of
 * processes that have ended. */
export function listProcesses(dir?: string): ProcessList {
  return callAddon(() => nativeBinding().listProcesses(dir));
}
