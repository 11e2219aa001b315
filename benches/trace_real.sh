#!/usr/bin/env bash
# benches/trace_real.sh — tracing every allocation on programs nobody here wrote, against
# heaptrack, side by side in one run: gcc's cc1 compiling a generated C file, python3 running an
# allocation-heavy script (PYTHONMALLOC=malloc: every object through malloc), the TypeScript compiler checking this repository (node), and the
# trace tables' scale program (200,000 stacks, 2,000,000 live blocks). Per workload and
# configuration (no tool, skull-mem tracing off, sampled every 512 KiB, tracing all, heaptrack):
# wall and CPU seconds (median of ROUNDS), the ratio to no tool, and tracing all's overhead as a
# share of heaptrack's (target <= 0.33). Drops come from one more traced-all run of the same
# workload, read as each of its processes exits (tests/c/stop_at_exit.c); a figure with drops
# does not count. Also the trace memory that run took and heaptrack's trace file size, and per
# process the tables' bytes per live block (live table / blocks live at exit) and per unique
# stack (trie nodes and index / nodes; a node is one frame of a stack, shared by the stacks
# that go through it).
# Sampled against off is also given per round (each round runs every configuration once, the
# order turning by one each round so that no configuration always follows the same one): the
# median and range of the rounds' ratios, wall and CPU. On a shared machine a round's two runs
# see about the same load, where medians taken apart may come from a quiet and a busy moment.
# With INSTRUCTIONS=1, each workload also runs once with tracing off and once sampled under
# valgrind's cachegrind, which counts the instructions executed: a figure the machine's load
# does not move (a program's own variation still does: V8 compiles and collects on its own
# threads when it gets to it), given whole and for the code in skull-mem's and gimli's sources.
# Settings: ROUNDS (3), FUNCTIONS (generated C functions, 10000; compiled at -O0), WORKLOADS
# (default "cc1 python tsc scale"), CONFIGS (default "none off sampled all heaptrack"; e.g.
# "off sampled" with more ROUNDS measures sampling alone; the traced-all check run is made only
# when "all" is among them).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=library.sh
source "$here/library.sh"
# shellcheck source=trace_check.sh
source "$here/trace_check.sh"
ROUNDS=${ROUNDS:-3}
FUNCTIONS=${FUNCTIONS:-10000}
lib=$(skull_mem_library trace_real.sh)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/skull-mem-tracereal.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [[ ${INSTRUCTIONS:-0} == 1 ]]; then
    command -v valgrind >/dev/null 2>&1 || { echo "valgrind: not on PATH (apt-get install valgrind)" >&2; exit 1; }
fi
command -v heaptrack >/dev/null 2>&1 || { echo "heaptrack: not on PATH (apt-get install heaptrack)" >&2; exit 1; }

gcc -std=gnu11 -O1 -g -o "$tmp/trace_scale" "$root/crates/inspect/tests/c/trace_scale.c"
for ((f = 0; f < FUNCTIONS; f++)); do
    printf 'int f%d(int a, int b) { int s = a * %d; for (int i = 0; i < b; i++) { s += sink(i ^ %d) * (a + i); if (s > %d) s -= b; } return s + f%d(b, a); }\n' \
        "$f" "$f" "$f" "$f" "$((f > 0 ? f - 1 : 0))"
done | sed '1i int sink(int);' > "$tmp/big.c"
cat > "$tmp/alloc.py" <<'PY'
d = {}
for i in range(300000):
    d[str(i)] = [i, str(i) * 3, (i, i + 1)]
kept = [bytes(i % 500) for i in range(200000)]
for i in range(0, 300000, 2):
    del d[str(i)]
PY

# The workloads, as argument lists of the program itself (no shell between: heaptrack and the
# preload see the program); `scale` reads one line from stdin before it exits.
export PYTHONMALLOC=malloc
cc1=$(gcc -print-prog-name=cc1)
workload() {
    case $1 in
    cc1) args=("$cc1" -quiet -O0 "$tmp/big.c" -o "$tmp/big.s") ;;
    python) args=(/usr/bin/python3 "$tmp/alloc.py") ;;
    tsc) args=(node "$root/node_modules/typescript/bin/tsc" --noEmit -p "$root") ;;
    scale) args=("$tmp/trace_scale") ;;
    esac
}

# Wall and CPU (user + system) seconds of one run of workload $1 under configuration $2.
timed() {
    local name=$1 config=$2 env=()
    case $config in
    none) env=(env -u LD_PRELOAD) ;;
    off) env=(env LD_PRELOAD="$lib") ;;
    sampled) env=(env LD_PRELOAD="$lib" SKULL_MEM_TRACE=524288) ;;
    all) env=(env LD_PRELOAD="$lib" SKULL_MEM_TRACE=all) ;;
    heaptrack) env=(env -u LD_PRELOAD heaptrack -o "$tmp/ht.$name") ;;
    esac
    workload "$name"
    echo go | /usr/bin/time -f '%e %U %S' -o "$tmp/time" "${env[@]}" "${args[@]}" >/dev/null 2>&1
    tail -1 "$tmp/time" | awk '{ printf "%s %.2f\n", $1, $2 + $3 }'
}

# Drops and trace memory of a traced-all run of workload $1, summed over its processes
# (benches/trace_check.sh); fails when none could be read.
checked() {
    workload "$1"
    echo go | trace_check "$tmp" "$lib" "${args[@]}"
}

# Instructions of one run of workload $1 under configuration $2 (off or sampled): all of
# them, and those in skull-mem's and gimli's source files (by cachegrind's file of each line).
counted() {
    local name=$1 config=$2 env=(env LD_PRELOAD="$lib")
    [[ $config == sampled ]] && env+=(SKULL_MEM_TRACE=524288)
    workload "$name"
    echo go | "${env[@]}" valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$tmp/cg" "${args[@]}" >/dev/null 2>&1
    awk -v crates="$root/crates/" '/^fl=/ { own = index($0, crates) || index($0, "/gimli-") }
        /^[0-9]/ { all += $2; if (own) mine += $2 } END { printf "%.0f %.0f\n", all, mine }' "$tmp/cg"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

read -r -a configs <<< "${CONFIGS:-none off sampled all heaptrack}"
echo "trace_real: $ROUNDS rounds, median; machine: $(nproc) cores, shared (figures move with the load)"
for name in ${WORKLOADS:-cc1 python tsc scale}; do
    : > "$tmp/times"
    for round in $(seq "$ROUNDS"); do
        for ((i = 0; i < ${#configs[@]}; i++)); do
            config=${configs[(i + round) % ${#configs[@]}]}
            echo "$config $(timed "$name" "$config") $round" >> "$tmp/times"
        done
    done
    echo
    heaptrack_bytes=$( (stat -c %s "$tmp"/ht."$name"* 2>/dev/null || true) | awk '{ s += $1 } END { print s + 0 }')
    rm -f "$tmp"/ht."$name"*
    drops=0
    if [[ " ${configs[*]} " != *" all "* ]]; then
        echo "$name: (no traced-all check run: \"all\" is not among CONFIGS)"
    elif ! check=$(checked "$name"); then
        drops=unknown
        echo "$name: the traced-all check run could not be read: its drops are not known"
    else
        read -r allocs drops memory max_memory per_block blocks per_node nodes <<< "$check"
        echo "$name: traced-all check run: $allocs allocations traced, drops $drops; trace memory $memory bytes (largest process $max_memory); heaptrack trace file $heaptrack_bytes bytes"
        echo "  tables: $per_block bytes per live block ($blocks live at exit), $per_node bytes per stack node ($nodes nodes)"
    fi
    printf '  %-10s %8s %8s %8s %8s\n' config wall cpu wall/none cpu/none
    for config in "${configs[@]}"; do
        wall=$(awk -v c="$config" '$1 == c { print $2 }' "$tmp/times" | median)
        cpu=$(awk -v c="$config" '$1 == c { print $3 }' "$tmp/times" | median)
        echo "$config $wall $cpu"
    done > "$tmp/medians"
    awk -v drops="$drops" '{ w[$1] = $2; c[$1] = $3; order[NR] = $1 } END {
        for (i = 1; i <= NR; i++) {
            k = order[i]; printf "  %-10s %8.2f %8.2f", k, w[k], c[k]
            if ("none" in w) printf " %7.2fx %7.2fx", w[k] / w["none"], c[k] / c["none"]
            printf "\n"
        }
        if (("none" in w) && ("all" in w) && ("heaptrack" in w)) {
            hw = w["heaptrack"] - w["none"]; hc = c["heaptrack"] - c["none"]
            printf "  all: overhead %.2f of heaptrack'"'"'s wall, %.2f of its CPU (target <= 0.33; drops %s%s)\n", \
                (w["all"] - w["none"]) / hw, (c["all"] - c["none"]) / hc, drops, drops != "0" ? ": does not count" : ""
        }
    }' "$tmp/medians"
    # Per round, sampled over off: the median and range of the rounds' ratios.
    awk '$1 == "off" || $1 == "sampled" { w[$1, $4] = $2; c[$1, $4] = $3; rounds[$4] = 1 } END {
        for (r in rounds) if ((("off", r) in w) && (("sampled", r) in w)) print w["sampled", r] / w["off", r], c["sampled", r] / c["off", r]
    }' "$tmp/times" > "$tmp/ratios"
    if [[ -s $tmp/ratios ]]; then
        wall=$(awk '{ print $1 }' "$tmp/ratios" | median)
        cpu=$(awk '{ print $2 }' "$tmp/ratios" | median)
        read -r wall_min wall_max < <(awk '{ print $1 }' "$tmp/ratios" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo, hi }')
        printf '  sampled/off per round (%d rounds): wall median %.3fx (%.3f-%.3f), CPU median %.3fx (target <= 1.05x)\n' \
            "$(wc -l < "$tmp/ratios")" "$wall" "$wall_min" "$wall_max" "$cpu"
    fi
    if [[ ${INSTRUCTIONS:-0} == 1 ]]; then
        read -r off_all off_own < <(counted "$name" off)
        read -r sampled_all sampled_own < <(counted "$name" sampled)
        awk -v a="$off_all" -v ao="$off_own" -v b="$sampled_all" -v bo="$sampled_own" 'BEGIN {
            printf "  instructions (cachegrind): off %.0f (skull-mem %.0f), sampled %.0f (skull-mem %.0f): sampled/off %.4fx, skull-mem'"'"'s added %.2f%% of off\n",
                a, ao, b, bo, b / a, 100 * (bo - ao) / a }'
    fi
done
