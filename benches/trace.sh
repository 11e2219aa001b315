#!/usr/bin/env bash
# benches/trace.sh — what tracing costs, side by side in one run (benches/run.sh underneath):
# no tool (glibc), skull-mem with tracing off, tracing a Poisson sample every 512 KiB, tracing
# every allocation, and heaptrack. Targets: sampled <= 1.05x of tracing off; tracing all
# costs at most one third of heaptrack's overhead.
# Then the cost of one captured stack of 32 frames (benches/capture_depth.c, 40 frames deep).
# Settings: those of run.sh (ROUNDS, THREADS_LIST, PAIR_ITERS, ...); the memory part is skipped.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=library.sh
source "$here/library.sh"
out=$(CONFIGS="glibc skull-mem traced-sampled traced-all heaptrack" LIVE_ROUNDS=${LIVE_ROUNDS:-1} \
    LIVE_BLOCKS=${LIVE_BLOCKS:-100000} bash "$here/run.sh")
echo "$out" | grep -v '^target\|^  of which'
echo
# Rows of run.sh's table: MODE CONFIG THREADS MEDIAN MIN RATIO RATIO_OF_MINIMUMS.
echo "$out" | awk '
    $1 == "pair" || $1 == "batch" { med[$1 " " $2 " " $3] = $4; keys[$1 " " $3] = 1 }
    $1 == "traced-all" && $2 == "drops" { drops[$3 " " $4] = $5 }
    END {
        for (k in keys) {
            split(k, p, " ")
            mode = p[1]; t = p[2]
            off = med[mode " skull-mem " t]; glibc = med[mode " glibc " t]
            s = med[mode " traced-sampled " t]; a = med[mode " traced-all " t]; h = med[mode " heaptrack " t]
            if (off == "" || glibc == "") continue
            printf "%s, %s thread(s): sampled/off = %.3fx (target <= 1.05x: %s)", mode, t, s / off, (s / off <= 1.05 ? "met" : "NOT met")
            if (h != "") {
                share = (a - glibc) / (h - glibc)
                d = (k in drops) ? drops[k] : "unknown"
                printf "; all: %.2fx glibc, overhead %.2f of heaptrack'"'"'s (target <= 0.33: %s; drops %s%s)", a / glibc, share, (share <= 0.33 ? "met" : "NOT met"), d, (d != "0" ? ": does not count" : "")
            }
            printf "\n"
        }
    }' | sort

# One stack of 32 frames: a malloc+free pair made 40 frames deep, traced and not; from two
# call sites in turn (every capture walks the stack) and from one (the stack is the one
# captured last, recognised without a walk).
lib=$(skull_mem_library trace.sh)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/skull-mem-depth.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -fno-optimize-sibling-calls -o "$tmp/capture_depth" "$here/capture_depth.c"
for sites in alternate same; do
    off=$(LD_PRELOAD="$lib" "$tmp/capture_depth" 40 20000 "$sites" | sed -n 's/.*ns_per_pair=//p')
    all=$(SKULL_MEM_TRACE=all LD_PRELOAD="$lib" "$tmp/capture_depth" 40 20000 "$sites" | sed -n 's/.*ns_per_pair=//p')
    awk -v off="$off" -v all="$all" -v sites="$sites" 'BEGIN {
        what = sites == "same" ? "the same stack again (no walk)" : "a walked stack"
        printf "stack capture at depth 32, %s: %.0f ns per traced malloc+free pair (%.1f ns with tracing off): %.0f ns per captured stack\n", what, all, off, all - off
    }'
done
