#!/usr/bin/env bash
# benches/segment_read.sh — how long reading a running process from outside takes.
#
# A preloaded C process (crates/inspect/tests/c/reader_threads.c) registers SCOPES scopes and
# starts THREADS threads that allocate in several of them, then pauses with every thread
# alive. Measured:
#   1. one complete `reader::read_pid` (open, checks, map, sum of every thread block for every
#      scope), as the median of READS reads by crates/inspect/examples/segment_read.rs;
#   2. `node dist/bin/skull-mem.js memory <pid> --json` end to end (process start included),
#      median of CLI_RUNS runs, when that command exists in the tree.
# Target for 1: under 50 ms.
#
# Settings (environment): SKULL_MEM_LIB (default target/release/libskull_mem.so, built when
# missing), THREADS (64), SCOPES (200), READS (50), CLI_RUNS (10), SEGMENT_DIR (a fresh
# directory under /dev/shm, where segments normally live).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=library.sh
source "$here/library.sh"
repo=$(cd "$here/.." && pwd)
THREADS=${THREADS:-64}
SCOPES=${SCOPES:-200}
READS=${READS:-50}
CLI_RUNS=${CLI_RUNS:-10}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/skull-mem-segread.XXXXXX")
if [[ -n "${SEGMENT_DIR:-}" ]]; then
    segdir=$SEGMENT_DIR
    mkdir -p "$segdir"
else
    segdir=$(mktemp -d /dev/shm/skull-mem-segread.XXXXXX 2>/dev/null || mktemp -d "$tmp/seg.XXXXXX")
fi
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
    [[ -n "${SEGMENT_DIR:-}" ]] || rm -rf "$segdir"
}
trap cleanup EXIT

lib=$(skull_mem_library segment_read.sh)
(cd "$repo" && cargo build --release -q -p skull-mem-inspect --example segment_read) >&2
timer="$repo/target/release/examples/segment_read"

bin="$tmp/reader_threads"
gcc -std=gnu11 -O2 -Wall -pthread -I "$repo/include" -o "$bin" \
    "$repo/crates/inspect/tests/c/reader_threads.c" \
    -L "$(dirname "$lib")" -lskull_mem -Wl,-rpath,"$(dirname "$lib")"

# The workload, paused: its stdin is a FIFO we hold open, its stdout a file we poll.
mkfifo "$tmp/in"
LD_PRELOAD="$lib" SKULL_MEM_DIR="$segdir" "$bin" "$THREADS" "$SCOPES" <"$tmp/in" >"$tmp/out" &
pid=$!
exec 3>"$tmp/in"
for _ in $(seq 1 600); do
    grep -q '^ready$' "$tmp/out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "segment_read.sh: the workload died" >&2; exit 1; }
    sleep 0.05
done
grep -q '^ready$' "$tmp/out" || { echo "segment_read.sh: the workload never got ready" >&2; exit 1; }

echo "workload: pid $pid, $THREADS threads, $SCOPES scopes, segment dir $segdir"
echo "segment: $(stat -c '%s bytes, mode %a' "$segdir"/skull-mem-*-"$pid"), resident $(du -k "$segdir"/skull-mem-*-"$pid" | cut -f1) KiB"
result=$("$timer" "$segdir" "$pid" "$READS")
echo "read_pid: $result"
median=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<<"$result")
if awk -v m="$median" 'BEGIN { exit !(m < 50) }'; then
    echo "read_pid median $median ms: under the 50 ms target"
else
    echo "read_pid median $median ms: OVER the 50 ms target"
fi

cli="$repo/dist/bin/skull-mem.js"
if ! command -v node >/dev/null 2>&1; then
    echo "cli: skipped, node is not on PATH"
elif ! grep -q "command('memory')" "$repo/bin/skull-mem.ts" 2>/dev/null; then
    echo "cli: skipped, this tree's CLI (bin/skull-mem.ts) has no \`memory\` command yet"
elif [[ ! -f "$cli" ]]; then
    echo "cli: skipped, $cli does not exist (build it with: npm run build)"
elif ! node "$cli" --help 2>/dev/null | grep -qE '^\s+memory\b'; then
    echo "cli: skipped, this tree's CLI has no \`memory\` command ($(node "$cli" --help 2>/dev/null | grep -oE '^\s+[a-z-]+' | tr -d ' ' | tr '\n' ' '))"
else
    times=()
    for _ in $(seq 1 "$CLI_RUNS"); do
        start=$(date +%s%N)
        SKULL_MEM_DIR="$segdir" node "$cli" memory "$pid" --json >"$tmp/cli.json"
        end=$(date +%s%N)
        times+=("$(( (end - start) / 1000 ))")
    done
    node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$tmp/cli.json"
    median_us=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (CLI_RUNS + 1) / 2 ))p")
    echo "cli: node dist/bin/skull-mem.js memory $pid --json, median of $CLI_RUNS runs: $(awk -v u="$median_us" 'BEGIN { printf "%.1f", u / 1000 }') ms end to end"
fi

echo >&3
echo >&3
exec 3>&-
wait "$pid"
pid=""
