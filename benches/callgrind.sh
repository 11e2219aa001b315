#!/usr/bin/env bash
# benches/callgrind.sh — instructions per malloc+free pair, with plain glibc, with the
# floor interposer (benches/floor.c), and with libskull_mem.so preloaded with its cache off
# (uncached, SKULL_MEM_CACHE=0) and on, counted by valgrind's callgrind (exact, unlike wall
# time on a noisy machine). Start-up is removed by difference: the 1-thread "pair" loop is run with
# N and 2N pairs and (count(2N) - count(N)) / N is the cost of one pair. Also lists, per
# function, the instructions per pair in the preload case (callgrind_annotate).
#
# Settings: SKULL_MEM_LIB (as in run.sh), PAIRS (default 100000).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=library.sh
source "$here/library.sh"
PAIRS=${PAIRS:-100000}

for tool in valgrind callgrind_annotate gcc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "callgrind.sh: $tool not found (apt-get install valgrind gcc)" >&2
        exit 1
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/skull-mem-callgrind.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
bin="$tmp/malloc_pair"
gcc -O2 -g -Wall -pthread -o "$bin" "$here/malloc_pair.c" -ldl

lib=$(skull_mem_library callgrind.sh)
cp "$lib" "$tmp/libskull_mem.so"
lib="$tmp/libskull_mem.so"
floor_lib="$tmp/libfloor.so"
gcc -O2 -fno-plt -fPIC -shared -o "$floor_lib" "$here/floor.c"

# profile CONFIG N : writes $tmp/CONFIG.N.out
profile() {
    local config=$1 n=$2 preload=()
    [[ $config == skull-mem ]] && preload=(env LD_PRELOAD="$lib")
    [[ $config == uncached ]] && preload=(env LD_PRELOAD="$lib" SKULL_MEM_CACHE=0)
    [[ $config == floor ]] && preload=(env LD_PRELOAD="$floor_lib")
    "${preload[@]}" valgrind --tool=callgrind --callgrind-out-file="$tmp/$config.$n.out" \
        "$bin" pair 1 "$n" >"$tmp/$config.$n.log" 2>&1
    if [[ $config != glibc && $config != floor ]] && ! grep -q 'skull_active=1' "$tmp/$config.$n.log"; then
        echo "callgrind.sh: the preload is not active under valgrind" >&2
        exit 1
    fi
}

for config in glibc floor uncached skull-mem; do
    profile "$config" "$PAIRS"
    profile "$config" "$((2 * PAIRS))"
done

python3 - "$tmp" "$PAIRS" <<'EOF'
import re, subprocess, sys
tmp, n = sys.argv[1], int(sys.argv[2])

def functions(path):
    out = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    d = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$", line)
        if m:
            d[m.group(2)] = d.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
    return d

per_pair = {}
for config in ("glibc", "floor", "uncached", "skull-mem"):
    a = functions(f"{tmp}/{config}.{n}.out")
    b = functions(f"{tmp}/{config}.{2 * n}.out")
    per_pair[config] = {k: (b.get(k, 0) - a.get(k, 0)) / n for k in set(a) | set(b)}

g = per_pair["glibc"]["PROGRAM TOTALS"]
f = per_pair["floor"]["PROGRAM TOTALS"]
u = per_pair["uncached"]["PROGRAM TOTALS"]
s = per_pair["skull-mem"]["PROGRAM TOTALS"]
print(f"instructions per malloc(64)+free pair, 1 thread (callgrind, ({2 * n} - {n} pairs) / {n}):")
print(f"  glibc      {g:8.1f}")
print(f"  floor      {f:8.1f}   (+{f - g:.1f}, {f / g:.2f}x: interposition alone, benches/floor.c)")
print(f"  uncached   {u:8.1f}   ({u - g:+.1f}, {u / g:.2f}x: SKULL_MEM_CACHE=0, every call forwarded)")
print(f"  skull-mem  {s:8.1f}   ({s - g:+.1f}, {s / g:.2f}x: as shipped, with the per-thread cache)")
print()
print("skull-mem: instructions per pair by function (self cost, callgrind_annotate):")
rows = sorted(((v, k) for k, v in per_pair["skull-mem"].items() if k != "PROGRAM TOTALS"),
              reverse=True)
for v, k in rows:
    if v >= 0.5:
        print(f"  {v:8.1f}  {k}")
EOF
