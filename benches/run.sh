#!/usr/bin/env bash
# benches/run.sh — overhead of libskull_mem.so (tracing off) against plain glibc, and of
# heaptrack for comparison. See benches/README.md for what each figure means.
#
# Every configuration is measured in the same run, interleaved round by round, so that the
# noise of a shared 2-core machine falls on all of them alike; the table shows the median
# (and the minimum) of the rounds.
#
# Settings (environment):
#   SKULL_MEM_LIB   the library to preload (default: <repo>/target/release/libskull_mem.so,
#                   built with `cargo build --release -p skull-mem-preload` when missing)
#   CONFIGS         which configurations to run (default: "glibc floor uncached skull-mem
#                   heaptrack"; floor = benches/floor.c, an interposer that only calls libc and
#                   returns; uncached = skull-mem with its per-thread cache off, SKULL_MEM_CACHE=0;
#                   also traced-sampled and traced-all, skull-mem tracing from the start with
#                   SKULL_MEM_TRACE=524288 or =all, which benches/trace.sh runs)
#   ROUNDS          rounds of the timed modes (default 7)
#   THREADS_LIST    thread counts (default "1 2")
#   PAIR_ITERS      malloc+free pairs per thread in the "pair" mode (default 2000000)
#   BATCH_ITERS     batches per thread in the "batch" mode, of BATCH_K blocks each (default 30000)
#   BATCH_K         blocks per batch (default 64)
#   SPILL_K         blocks per batch in the "spill" mode (default 1024: 88 KiB, more than the
#                   cache's 32 KiB, so most blocks go to and come from libc)
#   SPILL_ITERS     batches per thread in the "spill" mode (default 2000)
#   LIVE_BLOCKS     live 64-byte blocks in the memory measurement (default 1000000)
#   LIVE_ROUNDS     rounds of the memory measurement (default 3)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=library.sh
source "$here/library.sh"

CONFIGS=${CONFIGS:-"glibc floor uncached skull-mem heaptrack"}
ROUNDS=${ROUNDS:-7}
THREADS_LIST=${THREADS_LIST:-"1 2"}
PAIR_ITERS=${PAIR_ITERS:-2000000}
BATCH_ITERS=${BATCH_ITERS:-30000}
BATCH_K=${BATCH_K:-64}
SPILL_K=${SPILL_K:-1024}
SPILL_ITERS=${SPILL_ITERS:-2000}
LIVE_BLOCKS=${LIVE_BLOCKS:-1000000}
LIVE_ROUNDS=${LIVE_ROUNDS:-3}
MODES="pair batch spill"

has_config() { [[ " $CONFIGS " == *" $1 "* ]]; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/skull-mem-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- the workload -------------------------------------------------------------------------
bin="$tmp/malloc_pair"
gcc -O2 -Wall -pthread -o "$bin" "$here/malloc_pair.c" -ldl

# --- the configurations -------------------------------------------------------------------
configs=(glibc)

floor_lib="$tmp/libfloor.so"
if has_config floor; then
    gcc -O2 -fno-plt -fPIC -shared -o "$floor_lib" "$here/floor.c"
    configs+=(floor)
fi

lib=""
lib_source=""
if has_config skull-mem || has_config uncached || has_config traced-sampled || has_config traced-all; then
    lib_source=$(skull_mem_library run.sh)
    # Measure a snapshot, so that a rebuild of target/ during the run cannot change it.
    lib="$tmp/libskull_mem.so"
    cp "$lib_source" "$lib"
    # A preload that is silently not loaded would measure glibc twice and show a ratio of 1.0.
    check=$(LD_PRELOAD="$lib" "$bin" pair 1 1000 | grep '^RESULT ' || true)
    if [[ "$check" != *"skull_active=1"* ]]; then
        echo "run.sh: $lib is not active when preloaded (got: ${check:-no output})" >&2
        exit 1
    fi
    for config in uncached skull-mem traced-sampled traced-all; do
        if has_config $config; then configs+=($config); fi
    done
fi

heaptrack_note=""
if has_config heaptrack; then
    if command -v heaptrack >/dev/null 2>&1; then
        configs+=(heaptrack)
    else
        heaptrack_note="heaptrack: skipped, not on PATH (install it with: apt-get install heaptrack)"
    fi
fi

# run_one CONFIG ARGS... : runs the workload once in CONFIG and prints its RESULT line.
run_one() {
    local config=$1 out
    shift
    case $config in
    glibc) out=$(env -u LD_PRELOAD "$bin" "$@") ;;
    floor) out=$(env LD_PRELOAD="$floor_lib" "$bin" "$@") ;;
    skull-mem) out=$(env LD_PRELOAD="$lib" "$bin" "$@") ;;
    uncached) out=$(env LD_PRELOAD="$lib" SKULL_MEM_CACHE=0 "$bin" "$@") ;;
    # Tracing from the start (SKULL_MEM_TRACE): a Poisson sample every 512 KiB, or everything.
    traced-sampled) out=$(env LD_PRELOAD="$lib" SKULL_MEM_TRACE=524288 "$bin" "$@") ;;
    traced-all) out=$(env LD_PRELOAD="$lib" SKULL_MEM_TRACE=all "$bin" "$@") ;;
    heaptrack)
        out=$(env -u LD_PRELOAD heaptrack -o "$tmp/heaptrack.data" "$bin" "$@" 2>&1)
        rm -f "$tmp"/heaptrack.data*
        ;;
    *) echo "run.sh: unknown config $config" >&2; return 1 ;;
    esac
    local line
    line=$(grep '^RESULT ' <<<"$out" || true)
    if [[ -z "$line" ]]; then
        echo "run.sh: no RESULT line from $config $*:" >&2
        echo "$out" >&2
        return 1
    fi
    echo "$line"
}

# mode_args MODE THREADS : sets `args`, the workload's arguments for MODE on THREADS threads.
mode_args() {
    case $1 in
    pair) args=(pair "$2" "$PAIR_ITERS") ;;
    batch) args=(batch "$2" "$BATCH_ITERS" "$BATCH_K") ;;
    spill) args=(batch "$2" "$SPILL_ITERS" "$SPILL_K") ;;
    esac
}

# field NAME LINE : the value of NAME=... in a RESULT line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# stats FILE KEY : "median min" of the values recorded under KEY ("config mode threads").
stats() {
    local values
    values=$(awk -v k="$2" '{ key = $1 " " $2 " " $3; if (key == k) print $4 }' "$1" | sort -g)
    awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan nan"; exit }
        med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        print med, v[1]
    }' <<<"$values"
}

# --- the run ------------------------------------------------------------------------------
start=$(date +%s)
echo "skull-mem malloc overhead benchmark"
echo "  machine:  $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "  libc:     $(ldd --version 2>&1 | head -1)"
echo "  library:  ${lib_source:-(not measured)}"
if [[ " ${configs[*]} " == *" heaptrack "* ]]; then
    echo "  heaptrack: $(heaptrack --version 2>&1 | head -1)"
fi
[[ -n "$heaptrack_note" ]] && echo "  $heaptrack_note"
echo "  workload: pair = malloc(64)+write+free x $PAIR_ITERS per thread;" \
    "batch = $BATCH_K x malloc(64) then $BATCH_K frees in FIFO order, x $BATCH_ITERS per thread;" \
    "spill = the same with $SPILL_K blocks, x $SPILL_ITERS"
echo "  rounds:   $ROUNDS, interleaved (configs: ${configs[*]}); each run times 5 chunks and keeps"
echo "            the best; the table shows the median and the minimum of that over the rounds"
echo

timed="$tmp/timed.txt"
: >"$timed"
for ((round = 1; round <= ROUNDS; round++)); do
    # Alternate the order of the configurations so none always runs first or last.
    order=("${configs[@]}")
    if ((round % 2 == 0)); then
        order=()
        for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[i]}"); done
    fi
    for threads in $THREADS_LIST; do
        for mode in $MODES; do
            mode_args "$mode" "$threads"
            for config in "${order[@]}"; do
                line=$(run_one "$config" "${args[@]}")
                echo "$config $mode $threads $(field ns_per_pair "$line")" >>"$timed"
            done
        done
    done
    printf '\r  round %d/%d done (%ds)' "$round" "$ROUNDS" "$(($(date +%s) - start))" >&2
done
echo >&2

printf '%-6s %-10s %7s %14s %10s %16s %13s\n' mode config threads "ns/pair(med)" "ns/pair(min)" "ratio vs glibc" "ratio(min)"
printf '%s\n' "-----------------------------------------------------------------------------------"
for mode in $MODES; do
    for threads in $THREADS_LIST; do
        read -r base_med base_min < <(stats "$timed" "glibc $mode $threads")
        for config in "${configs[@]}"; do
            read -r med min < <(stats "$timed" "$config $mode $threads")
            awk -v mode="$mode" -v c="$config" -v t="$threads" -v med="$med" -v min="$min" \
                -v bmed="$base_med" -v bmin="$base_min" 'BEGIN {
                printf "%-6s %-10s %7s %14.2f %12.2f %15.2fx %12.2fx\n", mode, c, t, med, min, med / bmed, min / bmin
            }'
        done
    done
done

# Drops of tracing all, one more run per mode and thread count read at its exit
# (benches/trace_check.sh): a traced figure with drops does not count (benches/trace.sh).
if [[ " ${configs[*]} " == *" traced-all "* ]]; then
    # shellcheck source=trace_check.sh
    source "$here/trace_check.sh"
    echo
    for mode in $MODES; do
        for threads in $THREADS_LIST; do
            mode_args "$mode" "$threads"
            if check=$(trace_check "$tmp" "$lib" "$bin" "${args[@]}" </dev/null); then
                read -r allocs drops _ <<<"$check"
                echo "traced-all drops $mode $threads $drops ($allocs allocations traced)"
            else
                echo "traced-all drops $mode $threads unknown"
            fi
        done
    done
fi

# The target: ratio <= 1.15 on one thread, and no worse on two (pair mode). The verdict takes
# the worse of the ratio of medians and the ratio of minimums: noise in one glibc round can
# make the median ratio look better than the code is, and the minimums are the least noisy.
if [[ " ${configs[*]} " == *" skull-mem "* ]]; then
    echo
    for threads in $THREADS_LIST; do
        read -r base_med base_min < <(stats "$timed" "glibc pair $threads")
        read -r med min < <(stats "$timed" "skull-mem pair $threads")
        awk -v t="$threads" -v med="$med" -v bmed="$base_med" -v min="$min" -v bmin="$base_min" 'BEGIN {
            r = med / bmed
            rmin = min / bmin
            worse = (r > rmin ? r : rmin)
            printf "target (pair, %s thread%s): skull-mem/glibc = %.2fx (of minimums %.2fx), target <= 1.15x: %s\n",
                t, (t == 1 ? "" : "s"), r, rmin, (worse <= 1.15 ? "met" : "NOT met")
        }'
    done
    # What part of the overhead is interposition itself (floor.c), what part skull-mem's
    # counting (uncached), and what the cache takes off again.
    if [[ " ${configs[*]} " == *" floor "* && " ${configs[*]} " == *" uncached "* ]]; then
        for threads in $THREADS_LIST; do
            read -r base_med _ < <(stats "$timed" "glibc pair $threads")
            read -r floor_med _ < <(stats "$timed" "floor pair $threads")
            read -r uncached_med _ < <(stats "$timed" "uncached pair $threads")
            read -r med _ < <(stats "$timed" "skull-mem pair $threads")
            awk -v t="$threads" -v g="$base_med" -v f="$floor_med" -v u="$uncached_med" -v s="$med" 'BEGIN {
                printf "  of which (pair, %s thread%s): interposition alone (floor) %+.2f ns;" \
                    " headers and counting %+.2f ns (uncached %.2fx); the cache %+.2f ns\n",
                    t, (t == 1 ? "" : "s"), f - g, u - f, u / g, s - u
            }'
        done
    fi
fi

# --- memory overhead per live block -------------------------------------------------------
echo
echo "memory: RSS growth for $LIVE_BLOCKS live blocks of 64 bytes (median of $LIVE_ROUNDS rounds)"
live="$tmp/live.txt"
: >"$live"
mem_configs=(glibc)
[[ " ${configs[*]} " == *" skull-mem "* ]] && mem_configs+=(skull-mem)
for ((round = 1; round <= LIVE_ROUNDS; round++)); do
    for config in "${mem_configs[@]}"; do
        line=$(run_one "$config" live "$LIVE_BLOCKS" 64)
        echo "$config live 1 $(field bytes_per_block "$line")" >>"$live"
    done
done
printf '%-10s %16s %22s\n' config "bytes/block" "overhead vs glibc"
read -r glibc_bpb _ < <(stats "$live" "glibc live 1")
for config in "${mem_configs[@]}"; do
    read -r bpb _ < <(stats "$live" "$config live 1")
    awk -v c="$config" -v b="$bpb" -v g="$glibc_bpb" 'BEGIN {
        printf "%-10s %16.2f %19.2f B\n", c, b, b - g
    }'
done
echo "(bytes/block = RSS growth / blocks: 64 requested + the allocator's own chunk overhead" \
    "+ skull-mem's header; the design expects the header to cost 16 bytes)"
echo
echo "total time: $(($(date +%s) - start))s"
