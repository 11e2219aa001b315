#!/usr/bin/env bash
# benches/thread_rename.sh — the cost of following thread names (issue 12): renames through
# pthread_setname_np and prctl(PR_SET_NAME), and a thread's start with its first allocation,
# plain, preloaded with SKULL_MEM_LIB (see library.sh), and preloaded with BASELINE_LIB when set
# (for example main's library, without the wrappers), interleaved round by round in one run.
# Settings: ROUNDS (default 5), RENAMES (default 200000), THREADS (default 2000).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=library.sh
source "$here/library.sh"
lib=$(skull_mem_library thread_rename.sh)
baseline=${BASELINE_LIB:-}
ROUNDS=${ROUNDS:-5}
RENAMES=${RENAMES:-200000}
THREADS=${THREADS:-2000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/skull-mem-rename.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -Wall -pthread -o "$tmp/thread_rename" "$here/thread_rename.c"

echo "thread renames and first allocations; $(nproc) CPUs; library $lib${baseline:+; baseline $baseline}"
configs=(plain skull-mem)
[ -n "$baseline" ] && configs+=(baseline)
for round in $(seq "$ROUNDS"); do
    for config in "${configs[@]}"; do
        case $config in
            plain) preload= ;;
            skull-mem) preload=$lib ;;
            baseline) preload=$baseline ;;
        esac
        printf 'round %s %-10s %s\n' "$round" "$config" \
            "$(SKULL_MEM_DIR=$tmp LD_PRELOAD=$preload "$tmp/thread_rename" "$RENAMES" "$THREADS")"
    done
done
