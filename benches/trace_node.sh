#!/usr/bin/env bash
# benches/trace_node.sh — tracing's cost on a Node Buffer workload, side by side in one run:
# no tool, skull-mem tracing off, sampled every 512 KiB, tracing every allocation, heaptrack.
# The workload (inside node, timed there, start-up excluded): ITERS times allocate a Buffer
# of 4 KiB with Buffer.allocUnsafeSlow and drop it, with no explicit gc(): dead Buffers stay
# live until V8 collects them, as in a real service (the trace tables hold them all). ROUNDS
# interleaved rounds; the median per configuration and its ratio to no tool are printed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=library.sh
source "$here/library.sh"
# shellcheck source=trace_check.sh
source "$here/trace_check.sh"
ROUNDS=${ROUNDS:-5}
ITERS=${ITERS:-100000}
lib=$(skull_mem_library trace_node.sh)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/skull-mem-tracenode.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/workload.js" <<JS
const iters = Number(process.argv[2]);
let keep = null;
const start = process.hrtime.bigint();
for (let i = 0; i < iters; i++) {
  keep = Buffer.allocUnsafeSlow(4096);
  keep[0] = i & 0xff;
}
const ns = Number(process.hrtime.bigint() - start) / iters;
console.log('RESULT ns_per_buffer=' + ns.toFixed(1));
JS

run_one() {
    local config=$1 out
    case $config in
    node) out=$(env -u LD_PRELOAD node "$tmp/workload.js" "$ITERS") ;;
    skull-mem) out=$(env LD_PRELOAD="$lib" node "$tmp/workload.js" "$ITERS") ;;
    traced-sampled) out=$(env LD_PRELOAD="$lib" SKULL_MEM_TRACE=524288 node "$tmp/workload.js" "$ITERS") ;;
    traced-all) out=$(env LD_PRELOAD="$lib" SKULL_MEM_TRACE=all node "$tmp/workload.js" "$ITERS") ;;
    heaptrack) out=$(env -u LD_PRELOAD heaptrack -o "$tmp/ht.data" node "$tmp/workload.js" "$ITERS" 2>&1); rm -f "$tmp"/ht.data* ;;
    esac
    grep '^RESULT ' <<<"$out" | sed 's/.*ns_per_buffer=//'
}

configs=(node skull-mem traced-sampled traced-all)
if command -v heaptrack >/dev/null 2>&1; then configs+=(heaptrack); else echo "heaptrack: skipped, not on PATH"; fi
: > "$tmp/times"
for round in $(seq "$ROUNDS"); do
    for config in "${configs[@]}"; do
        echo "$config $(run_one "$config")" >> "$tmp/times"
    done
done
# Drops of tracing all: one more run, read at its exit (benches/trace_check.sh).
if check=$(trace_check "$tmp" "$lib" node "$tmp/workload.js" "$ITERS" </dev/null); then
    read -r allocs drops _ <<<"$check"
else
    allocs=unknown drops=unknown
fi
echo "node Buffer workload: $ITERS x Buffer.allocUnsafeSlow(4096), median of $ROUNDS rounds"
echo "traced-all check run: $allocs allocations traced, drops $drops"
printf '%-16s %14s %10s\n' config ns/buffer ratio
for config in "${configs[@]}"; do
    echo "$config $(awk -v c="$config" '$1 == c { print $2 }' "$tmp/times" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
done > "$tmp/medians"
awk -v drops="$drops" '{ med[$1] = $2; order[NR] = $1 } END {
    for (i = 1; i <= NR; i++) { c = order[i]; printf "%-16s %14.1f %9.2fx\n", c, med[c], med[c] / med["node"] }
    printf "sampled/off = %.3fx (target <= 1.05x)", med["traced-sampled"] / med["skull-mem"]
    if ("heaptrack" in med) printf "; all costs %.2f of heaptrack'"'"'s overhead (target <= 0.33)", (med["traced-all"] - med["node"]) / (med["heaptrack"] - med["node"])
    printf " (drops %s%s)", drops, (drops != "0" ? ": does not count" : "")
    printf "\n"
}' "$tmp/medians"
