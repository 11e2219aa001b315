# benches/library.sh — sourced by the bench scripts: `skull_mem_library NAME` prints the
# absolute path of the library to preload: $SKULL_MEM_LIB (which must be a file), else the
# shipped file npm/linux-x64-gnu/libskull_mem.so (what `npm run build` makes: linked for the
# glibc baseline and stripped), else target/release/libskull_mem.so, built with cargo when
# missing. NAME prefixes the error.
skull_mem_library() {
    local name=$1 repo
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    local shipped=$repo/npm/linux-x64-gnu/libskull_mem.so
    local lib=${SKULL_MEM_LIB:-$repo/target/release/libskull_mem.so}
    if [[ -z "${SKULL_MEM_LIB:-}" && -f "$shipped" ]]; then lib=$shipped; fi
    if [[ ! -f "$lib" ]]; then
        if [[ -n "${SKULL_MEM_LIB:-}" ]]; then
            echo "$name: SKULL_MEM_LIB=$lib is not a file" >&2
            return 1
        fi
        echo "building $lib (cargo build --release -p skull-mem-preload)..." >&2
        (cd "$repo" && cargo build --release -p skull-mem-preload) >&2 || return 1
    fi
    echo "$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")"
}
