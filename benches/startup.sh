#!/usr/bin/env bash
# benches/startup.sh — start-up of a preloaded /bin/true against plain /bin/true: what the
# segment's creation and the first allocation cost a short-lived process (issue 11).
#
# Configurations, interleaved round by round in the same run (the noise of a shared machine
# falls on all alike); each round spawns /bin/true SPAWNS times from one bash loop, whose own
# fork cost is common to all:
#   plain      /bin/true without the library
#   skull-mem  preloaded with SKULL_MEM_LIB (default <repo>/target/release/libskull_mem.so)
#   baseline   preloaded with BASELINE_LIB, when set (for example the library of the previous
#              layout, to compare segment creation before and after)
# Each preloaded process makes its segment in a fresh directory (SKULL_MEM_DIR) of this run,
# with the stale-file clean-up of every start included (the directory holds only this run's
# files, removed as the processes exit).
#
# Settings: ROUNDS (default 7), SPAWNS (default 300).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
lib=${SKULL_MEM_LIB:-$root/target/release/libskull_mem.so}
baseline=${BASELINE_LIB:-}
ROUNDS=${ROUNDS:-7}
SPAWNS=${SPAWNS:-300}
[ -f "$lib" ] || { echo "startup.sh: $lib not built (cargo build --release -p skull-mem-preload)" >&2; exit 1; }
dir=$(mktemp -d)
chmod 700 "$dir"
trap 'rm -rf "$dir"' EXIT

# Prints the microseconds one spawn of /bin/true took, averaged over SPAWNS, with `$1` preloaded
# (empty: none).
per_spawn_us() {
    local preload=$1 start end
    start=$(date +%s%N)
    for ((i = 0; i < SPAWNS; i++)); do
        LD_PRELOAD=$preload SKULL_MEM_DIR=$dir /bin/true
    done
    end=$(date +%s%N)
    echo $(((end - start) / SPAWNS / 1000))
}

configs=(plain skull-mem)
[ -n "$baseline" ] && configs+=(baseline)
declare -A samples
for ((round = 0; round < ROUNDS; round++)); do
    for config in "${configs[@]}"; do
        case $config in
            plain) us=$(per_spawn_us "") ;;
            skull-mem) us=$(per_spawn_us "$lib") ;;
            baseline) us=$(per_spawn_us "$baseline") ;;
        esac
        samples[$config]+="$us "
    done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
plain=$(echo "${samples[plain]}" | median)
printf '%-10s %12s %8s   (%s rounds of %s spawns; median; machine shared and busy)\n' \
    config "us/spawn" ratio "$ROUNDS" "$SPAWNS"
for config in "${configs[@]}"; do
    m=$(echo "${samples[$config]}" | median)
    printf '%-10s %12s %8s\n' "$config" "$m" "$(awk -v a="$m" -v b="$plain" 'BEGIN {printf "%.2f", a / b}')"
done
