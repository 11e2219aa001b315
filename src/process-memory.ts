/**
 * Where a process's resident memory is, from /proc: what the counters cannot see by
 * themselves. The memory table puts these beside the live malloc bytes to explain the RSS.
 */
import * as fs from 'node:fs';

/** Resident figures of a process, in bytes (field names stable in `--json`). */
export interface ProcessMemory {
  /** VmRSS. */
  rss_bytes: number;
  /** RssAnon: heap, arenas, stacks, JIT and V8 heaps, anonymous mmaps. */
  anon_bytes: number;
  /** RssFile: code and mapped files. */
  file_bytes: number;
  /** RssShmem: shared memory, including skull-mem's own segment. */
  shmem_bytes: number;
  /** Resident in glibc's heap mappings: the brk heap and the per-thread arena heaps. */
  malloc_heap_bytes: number;
  /** Resident part of this process's skull-mem segment. */
  segment_bytes: number;
}

/** glibc's arena heaps are HEAP_MAX_SIZE (64 MiB on 64-bit) reservations, aligned to it. */
const ARENA_HEAP_SIZE = 64 * 1024 * 1024;

function kib(text: string | undefined): number {
  const match = /([0-9]+)\s*kB/.exec(text ?? '');
  return match ? Number(match[1]) * 1024 : 0;
}

interface Mapping {
  start: number;
  end: number;
  perms: string;
  path: string;
  rss: number;
}

/** Parses /proc/<pid>/smaps into mappings with their resident size. */
export function parseSmaps(text: string): Mapping[] {
  const mappings: Mapping[] = [];
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      mappings.push({
        start: parseInt(header[1], 16),
        end: parseInt(header[2], 16),
        perms: header[3],
        path: header[4],
        rss: 0,
      });
    } else if (line.startsWith('Rss:') && mappings.length > 0) {
      mappings[mappings.length - 1].rss = kib(line);
    }
  }
  return mappings;
}

/** Whether `mapping` looks like a glibc arena heap: anonymous, read-write, 64 MiB-aligned,
 * and either the whole reservation or followed by its inaccessible rest. */
function isArenaHeap(mapping: Mapping, next: Mapping | undefined): boolean {
  if (mapping.path !== '' || mapping.perms !== 'rw-p' || mapping.start % ARENA_HEAP_SIZE !== 0) return false;
  const size = mapping.end - mapping.start;
  if (size === ARENA_HEAP_SIZE) return true;
  return (
    size < ARENA_HEAP_SIZE &&
    next !== undefined &&
    next.start === mapping.end &&
    next.perms === '---p' &&
    next.path === '' &&
    next.end - mapping.start <= ARENA_HEAP_SIZE
  );
}

/** Reads the resident figures of `pid`; `segmentPath` is its skull-mem segment file. */
export function readProcessMemory(pid: number, segmentPath: string): ProcessMemory {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => kib(new RegExp(`^${name}:(.*)$`, 'm').exec(status)?.[1]);
  const mappings = parseSmaps(fs.readFileSync(`/proc/${pid}/smaps`, 'utf8'));
  let heap = 0;
  let segment = 0;
  mappings.forEach((mapping, index) => {
    if (mapping.path === '[heap]' || isArenaHeap(mapping, mappings[index + 1])) heap += mapping.rss;
    else if (mapping.path === segmentPath) segment += mapping.rss;
  });
  return {
    rss_bytes: field('VmRSS'),
    anon_bytes: field('RssAnon'),
    file_bytes: field('RssFile'),
    shmem_bytes: field('RssShmem'),
    malloc_heap_bytes: heap,
    segment_bytes: segment,
  };
}
