#!/usr/bin/env bash
# benches/trace_report.sh — how long `skull-trace leaks` and `report` take on a process with
# STACKS distinct allocation stacks (default 100,000, at most 1,594,323; benches/unique_stacks.c),
# traced from start-up; with PROGRAM=sharp, on a node:http service that resized REQUESTS
# images with sharp (default 200; benches/sharp_service.mjs), also traced from start-up. Cold: a fresh `skull-trace` process (symbolizer cache empty). Warm: the
# in-process API's second call (the binding keeps one symbolizer). Targets: under 2 s cold,
# under 0.3 s warm. Prints the live blocks recorded and the drops beside the figures: a figure
# with drops is of fewer stacks than asked for. Then the engine alone, without node
# (crates/inspect/examples/leak_report.rs, built here). Needs `npm run build` (dist/ and the
# shipped library).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
stacks=${STACKS:-100000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/skull-mem-report.XXXXXX")
trap 'exec 3>&-; rm -rf "$tmp"' EXIT
mkfifo "$tmp/in"
if [[ ${PROGRAM:-stacks} == sharp ]]; then
    program=(node "$here/sharp_service.mjs" "${REQUESTS:-200}")
else
    gcc -g -O1 -fno-optimize-sibling-calls "$here/unique_stacks.c" -o "$tmp/unique_stacks"
    program=("$tmp/unique_stacks" "$stacks")
fi
node "$root/dist/bin/skull-mem.js" run --dir "$tmp" --trace all -- "${program[@]}" < "$tmp/in" > "$tmp/out" &
exec 3> "$tmp/in"
until grep -q ready "$tmp/out" 2>/dev/null; do sleep 0.1; done
pid=$(awk '/ready/ { print $2 }' "$tmp/out")
trace() { node "$root/dist/bin/skull-trace.js" "$@" --dir "$tmp"; }
seconds() { local start end; start=$(date +%s.%N); "$@" > /dev/null; end=$(date +%s.%N); echo "$end - $start" | bc; }
status=$(trace status "$pid" --json)
recorded=$(node -e 'const s = JSON.parse(process.argv[1]); console.log(`${s.live_blocks} live blocks traced, dropped: ${s.counts.dropped_stacks} stacks, ${s.counts.dropped_blocks} blocks`)' "$status")
if [[ ${PROGRAM:-stacks} == sharp ]]; then
    echo "node:http service that resized ${REQUESTS:-200} images with sharp: $recorded"
else
    echo "process with $stacks distinct stacks: $recorded"
fi
echo "machine: $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg) (busy machines give slower figures)"
node_start=$(seconds node -e '')
echo "node start-up alone: ${node_start} s (included in the cold figures)"
echo "leaks  cold: $(seconds trace leaks "$pid" --top 10) s"
echo "report cold: $(seconds trace report "$pid" --top 10) s"
SKULL_MEM_DIR=$tmp node -e '
  const sm = require(process.argv[1]);
  const pid = Number(process.argv[2]);
  for (const [name, run] of [["leaks", () => sm.leakReport(pid, { top: 10 })], ["report", () => sm.stackReport(pid, 10)]]) {
    const times = [];
    for (let i = 0; i < 3; i++) { const t = process.hrtime.bigint(); run(); times.push(Number(process.hrtime.bigint() - t) / 1e9); }
    console.log(`${name} in process: first ${times[0].toFixed(3)} s, warm ${times[1].toFixed(3)} s, ${times[2].toFixed(3)} s`);
  }' "$root/dist/src/index.js" "$pid"
(cd "$root" && nice cargo build --quiet --release -p skull-mem-inspect --example leak_report)
"$root/target/release/examples/leak_report" "$tmp" "$pid" 3
