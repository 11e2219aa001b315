#!/usr/bin/env bash
# benches/segment_mechanism.sh — files with a stale scan (what skull-mem does) against an
# anonymous memfd, for keeping a process's segment so that nothing outlives it (issue 11).
# Measures in one run (see segment_mechanism.c): the start-up cost of each (create, size,
# map, touch, and tear down), the stale scan over a directory of N live segments, whether a
# reader can open a holder's memfd, what finding the segments costs a reader, and what each
# does on a full filesystem. Also what 200 SIGKILLed preloaded processes leave behind
# (SKULL_MEM_LIB, default target/release/libskull_mem.so).
#
# Runs in a private mount namespace over fresh tmpfs mounts (`unshare -m` as root, `unshare
# -rm` otherwise): nothing outside is touched. Settings: ROUNDS (default 5), ITER (default
# 2000), SCAN_N (default "0 100 1000").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lib=${SKULL_MEM_LIB:-$(dirname "$here")/target/release/libskull_mem.so}
[ -f "$lib" ] || { echo "segment_mechanism.sh: $lib not built (cargo build --release -p skull-mem-preload)" >&2; exit 1; }
ROUNDS=${ROUNDS:-5}
ITER=${ITER:-2000}
SCAN_N=${SCAN_N:-0 100 1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -Wall -Wextra -o "$work/segment_mechanism" "$here/segment_mechanism.c"

if [ "$(id -u)" = 0 ]; then unshare=(unshare -m); else unshare=(unshare -rm); fi
ROUNDS=$ROUNDS ITER=$ITER SCAN_N=$SCAN_N BIN="$work/segment_mechanism" WORK="$work" LIB="$lib" \
    "${unshare[@]}" bash -euo pipefail -c '
mount --make-rprivate /
mkdir -p "$WORK/shm" "$WORK/full"
mount -t tmpfs -o size=256m,mode=1777 none "$WORK/shm"
mount -t tmpfs -o size=1m,mode=1777 none "$WORK/full"
median() { tr " " "\n" | grep . | sort -n | awk "{a[NR]=\$1} END {print a[int((NR+1)/2)]}"; }
declare -A samples
for ((round = 0; round < ROUNDS; round++)); do
    for line in $("$BIN" start file "$WORK/shm" "$ITER") $("$BIN" start memfd "$ITER"); do
        samples[${line%%=*}]+="${line#*=} "
    done
    for n in $SCAN_N; do
        line=$("$BIN" scan "$WORK/shm" "$n" $((ITER / 20 + 1)))
        samples[${line%%=*}]+="${line#*=} "
    done
done
echo "# per process start, median of $ROUNDS rounds of $ITER (ns); the machine is shared and busy"
for key in start_file_ns start_memfd_ns; do echo "$key=$(echo "${samples[$key]}" | median)"; done
for n in $SCAN_N; do echo "scan_${n}_ns=$(echo "${samples[scan_${n}_ns]}" | median)"; done
echo "# a reader opening a holder memfd through /proc/<pid>/fd/<n>"
"$BIN" access
echo "# finding the segments: every process fd link (memfd) against one directory read"
"$BIN" discover 20
echo "# on a full 1 MiB tmpfs (the file directory) after filling it"
dd if=/dev/zero of="$WORK/full/fill" bs=4k 2>/dev/null || true
"$BIN" full "$WORK/full"
echo "# 200 preloaded processes SIGKILLed one after the other: files left (memfd: none by construction)"
for ((i = 0; i < 200; i++)); do
    LD_PRELOAD="$LIB" SKULL_MEM_DIR="$WORK/shm" sh -c "kill -9 \$\$" || true
done 2>/dev/null
echo "left_files=$(ls "$WORK/shm" | grep -c "^skull-mem-" || true)"
'
