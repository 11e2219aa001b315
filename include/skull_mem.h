/*
 * skull_mem.h — the C ABI of libskull_mem.so.
 *
 * Preload the library into any program (LD_PRELOAD=/path/libskull_mem.so) and every
 * malloc-family call is counted and charged to the calling thread's current *scope*.
 * A program that wants its own scopes includes this header and links with -lskull_mem
 * (or resolves the functions with dlsym(RTLD_DEFAULT, ...) so it also runs without us).
 *
 * Stability rules: names start with `skull_`; enum values never change meaning, new ones
 * are only appended; structs passed across the ABI start with their size and version.
 * The counter list below is checked against the Rust one by a layout test.
 */
#ifndef SKULL_MEM_H
#define SKULL_MEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when a function's meaning or a struct's layout changes incompatibly. */
#define SKULL_ABI_VERSION 1u

/* Identifies a scope; ids are small and dense, starting at 0. */
typedef uint32_t skull_scope_id;

#define SKULL_SCOPE_CORE 0u      /* the main thread outside a user scope, after main starts;
                                    other threads charge thread:<name> (README) */
#define SKULL_SCOPE_INIT 1u      /* allocations made before main */
#define SKULL_SCOPE_SELF 2u      /* skull-mem's own memory: reports, bindings, its block caches */
#define SKULL_SCOPE_INVALID UINT32_MAX

#define SKULL_NAME_MAX 48u       /* bytes for a scope name, including the NUL */
#define SKULL_KIND_MAX 16u       /* bytes for a scope kind, including the NUL */

/* Per-scope counters, summed over all threads. Monotonic: derived values such as
 * used bytes are differences of two counters. */
enum skull_counter {
    SKULL_ALLOC_BYTES = 0,          /* bytes requested by blocks this scope allocated */
    SKULL_FREED_BYTES = 1,          /* bytes of this scope's blocks freed, by any scope */
    SKULL_ALLOC_BLOCKS = 2,         /* blocks allocated */
    SKULL_FREED_BLOCKS = 3,         /* blocks of this scope freed, by any scope */
    SKULL_MALLOC_CALLS = 4,
    SKULL_CALLOC_CALLS = 5,
    SKULL_REALLOC_CALLS = 6,
    SKULL_REALLOCARRAY_CALLS = 7,
    SKULL_FREE_CALLS = 8,           /* free() calls made while this scope was current */
    SKULL_POSIX_MEMALIGN_CALLS = 9,
    SKULL_ALIGNED_ALLOC_CALLS = 10,
    SKULL_MEMALIGN_CALLS = 11,
    SKULL_VALLOC_CALLS = 12,
    SKULL_PVALLOC_CALLS = 13,
    SKULL_FAILED_ALLOCS = 14,       /* allocation calls that returned NULL */
    SKULL_CROSS_FREED_BLOCKS = 15,  /* this scope's blocks freed while another scope was current */
    SKULL_CROSS_FREED_BYTES = 16,
    SKULL_OVERHEAD_BYTES = 17,      /* header and alignment bytes added to this scope's blocks */
    SKULL_OVERHEAD_FREED_BYTES = 18,
    SKULL_FOREIGN_FREES = 19,       /* frees of pointers skull-mem did not allocate (passed to libc) */
    SKULL_COUNTER_COUNT = 20
};

#define SKULL_SCOPE_STATS_VERSION 1u

/* One scope's figures in a snapshot. */
struct skull_scope_stats {
    uint32_t struct_size;           /* sizeof(struct skull_scope_stats) as the library knows it */
    uint32_t struct_version;        /* SKULL_SCOPE_STATS_VERSION */
    skull_scope_id id;
    uint32_t reserved;
    char name[SKULL_NAME_MAX];      /* NUL-terminated */
    char kind[SKULL_KIND_MAX];      /* NUL-terminated: module, service, route, core, init, ... */
    uint64_t used_bytes;            /* ALLOC_BYTES - FREED_BYTES */
    uint64_t live_blocks;           /* ALLOC_BLOCKS - FREED_BLOCKS */
    uint64_t peak_used_bytes;       /* highest used_bytes any snapshot has seen */
    uint64_t counters[SKULL_COUNTER_COUNT];
};

/* Report formats for skull_report. */
enum skull_report_format {
    SKULL_REPORT_TEXT = 0,          /* the table `skull-mem memory <pid>` prints */
    SKULL_REPORT_JSON = 1           /* the same figures as JSON with stable field names */
};

/* The library's version string, e.g. "0.1.0". */
const char *skull_version(void);

/* SKULL_ABI_VERSION of the loaded library. */
uint32_t skull_abi_version(void);

/* 1 when the interposer is counting this process's allocations, else 0. */
int skull_is_active(void);

/* Registers a scope, or returns the id of the scope already registered with the same
 * name and kind. Returns SKULL_SCOPE_INVALID when a string is NULL, empty or too long,
 * or the scope table is full. Never allocates. */
skull_scope_id skull_scope_register(const char *name, const char *kind);

/* Makes `id` the calling thread's current scope and returns the previous one, to be
 * handed back to skull_scope_leave. An unknown id changes nothing and returns
 * SKULL_SCOPE_INVALID. */
skull_scope_id skull_scope_enter(skull_scope_id id);

/* Restores the scope returned by the matching skull_scope_enter. */
void skull_scope_leave(skull_scope_id previous);

/* The calling thread's current scope. */
skull_scope_id skull_scope_current(void);

/* The calling thread's two scope switch words, for runtimes that cannot afford a call per
 * switch (Node's context hooks): storing a scope id returned by skull_scope_register or
 * skull_scope_current in word 1, then 0 in word 0, makes it the thread's current scope,
 * as skull_scope_enter does but without checking the id. Only the calling thread may
 * store, never while it is inside a call of this library; valid until the thread exits. */
uint32_t *skull_scope_switch_words(void);

/* Copies every scope's figures into `buf` (up to `cap` entries, each `entry_size` bytes,
 * normally sizeof(struct skull_scope_stats)) and returns the number of scopes, which may
 * be larger than `cap`. Never allocates. */
size_t skull_snapshot(struct skull_scope_stats *buf, size_t cap, size_t entry_size);

/* Renders the report in `format` into `buf` like snprintf: writes at most `cap` bytes
 * including a terminating NUL and returns the full length without the NUL. The text is
 * what `skull-mem memory <pid>` prints of this process right after the call returns. */
size_t skull_report(char *buf, size_t cap, int format);

#ifdef __cplusplus
}
#endif

#endif /* SKULL_MEM_H */
