# benches/trace_check.sh — sourced by the tracing benches: `trace_check DIR LIB CMD...` runs
# CMD once more with every allocation traced (SKULL_MEM_TRACE=all, LIB preloaded), stops each
# of its processes at its exit (crates/inspect/tests/c/stop_at_exit.c, preloaded first) and
# reads its final trace tables with `skull-trace status`. It prints, summed over the
# processes: traced allocations, drops (stacks and blocks the tables had no room for), trace
# memory used, the largest process's, the tables' bytes per live block and the blocks live
# at exit, the bytes per stack node and the nodes. It fails, saying so, when no process could
# be read: a figure whose drops are not known must not pass for one without drops. DIR is a
# scratch directory of the caller's; CMD's standard input is the caller's.
trace_check() {
    local dir=$1 lib=$2 root
    shift 2
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    local stop=$dir/stop.so stops=$dir/stops segs=$dir/segs statuses=$dir/statuses
    [[ -f $stop ]] || gcc -shared -fPIC -O1 -o "$stop" "$root/crates/inspect/tests/c/stop_at_exit.c"
    rm -rf "$stops" "$segs" && mkdir -p "$stops" "$segs"
    env LD_PRELOAD="$stop:$lib" SKULL_MEM_DIR="$segs" SKULL_MEM_TRACE=all SKULL_TEST_STOP_DIR="$stops" \
        "$@" >/dev/null 2>&1 &
    local top=$! seen=" " pid
    : > "$statuses"
    while :; do
        local running=1
        kill -0 "$top" 2>/dev/null || running=0
        for pid in $(ls "$stops"); do
            [[ $seen == *" $pid "* ]] && continue
            seen+="$pid "
            while [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) != T ]]; do sleep 0.01; done
            if node "$root/dist/bin/skull-trace.js" status "$pid" --json --dir "$segs" >> "$statuses"; then
                echo '@@' >> "$statuses"
            fi
            kill -CONT "$pid"
        done
        ((running)) || break
        sleep 0.05
    done
    wait "$top" || true
    node -e '
        const lines = require("fs").readFileSync(process.argv[1], "utf8").split("@@").map((s) => s.trim()).filter(Boolean).map(JSON.parse);
        if (lines.length === 0) {
            console.error("trace_check: no process of the check run could be read, so its drops are not known");
            process.exit(1);
        }
        const sum = (f) => lines.reduce((a, s) => a + f(s), 0);
        const ratio = (a, b) => (b ? (a / b).toFixed(1) : "-");
        console.log([sum((s) => s.counts.traced_allocs), sum((s) => s.counts.dropped_stacks + s.counts.dropped_blocks),
            sum((s) => s.memory.used), Math.max(...lines.map((s) => s.memory.used)),
            ratio(sum((s) => s.memory.live_bytes), sum((s) => s.live_blocks)), sum((s) => s.live_blocks),
            ratio(sum((s) => s.memory.stack_bytes), sum((s) => s.memory.stack_nodes)), sum((s) => s.memory.stack_nodes)].join(" "));' "$statuses"
}
