#!/usr/bin/env bash
# benches/leak_check.sh — what `--leak-check` costs at exit, and against Valgrind's memcheck:
# benches/leak_live.c with BLOCKS live blocks of SIZE bytes (default 1,000,000 of 1024: 1 GiB),
# one in LOSE lost, run (wall time, best of ROUNDS) with no tool, with skull-mem tracing every
# allocation, with skull-mem --leak-check (also printing the scan's own time, from its JSON
# report) and under `valgrind --leak-check=full`. Ratios are against the run without a tool,
# measured in the same run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=library.sh
source "$here/library.sh"
lib=$(skull_mem_library leak_check.sh)
BLOCKS=${BLOCKS:-1000000}
SIZE=${SIZE:-1024}
LOSE=${LOSE:-1000}
ROUNDS=${ROUNDS:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/skull-mem-leak.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -g "$here/leak_live.c" -o "$tmp/leak_live"
args=("$BLOCKS" "$SIZE" "$LOSE")

# Best wall time in seconds of ROUNDS runs of "$@" (its status ignored: a failed check is 23).
best() {
    local best="" start end took
    for _ in $(seq "$ROUNDS"); do
        start=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        end=$(date +%s.%N)
        took=$(echo "$end - $start" | bc)
        if [ -z "$best" ] || [ "$(echo "$took < $best" | bc)" = 1 ]; then best=$took; fi
    done
    echo "$best"
}

plain=$(best "$tmp/leak_live" "${args[@]}")
traced=$(best env LD_PRELOAD="$lib" SKULL_MEM_TRACE=all "$tmp/leak_live" "${args[@]}")
checked=$(best env LD_PRELOAD="$lib" SKULL_MEM_TRACE=all SKULL_MEM_LEAK_CHECK=summary \
    SKULL_MEM_LEAK_JSON="$tmp/check.jsonl" "$tmp/leak_live" "${args[@]}")
scan=$(tail -n 1 "$tmp/check.jsonl" | sed 's/.*"scan_seconds":\([0-9.e-]*\).*/\1/')
checked_blocks=$(tail -n 1 "$tmp/check.jsonl" | sed 's/.*"reachable":{"bytes":[0-9]*,"blocks":\([0-9]*\).*/\1/')
untraced=$(tail -n 1 "$tmp/check.jsonl" | sed 's/.*"untraced_blocks":\([0-9]*\).*/\1/')
valgrind_rounds=1
memcheck=$(ROUNDS=$valgrind_rounds best valgrind --leak-check=full --error-exitcode=0 "$tmp/leak_live" "${args[@]}")

echo "leak check benchmark: $BLOCKS live blocks of $SIZE bytes, 1 in $LOSE lost (best of $ROUNDS; valgrind: $valgrind_rounds run)"
echo "the machine is shared and busy: compare ratios, not absolute times"
printf '%-34s %8.2f s  %6.2fx\n' "no tool" "$plain" 1
printf '%-34s %8.2f s  %6.2fx\n' "skull-mem, tracing all" "$traced" "$(echo "$traced / $plain" | bc -l)"
printf '%-34s %8.2f s  %6.2fx\n' "skull-mem --leak-check" "$checked" "$(echo "$checked / $plain" | bc -l)"
printf '%-34s %8.2f s  %6.2fx\n' "valgrind --leak-check=full" "$memcheck" "$(echo "$memcheck / $plain" | bc -l)"
echo "exit scan: $scan s for $checked_blocks reachable traced blocks ($untraced blocks did not fit the trace tables)"
