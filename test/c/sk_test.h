/*
 * sk_test.h — helpers shared by the C test programs of skull-mem.
 *
 * Snapshots go into static buffers (skull_snapshot never allocates), so a program can take one
 * before and one after a known allocation pattern without disturbing the counters, and print
 * the differences afterwards as `PREFIXscope.COUNTER=value` lines that the Rust tests parse.
 *
 * By default the skull_* functions are called directly (link with -lskull_mem). Define
 * SKT_DLSYM before including this file to resolve them with dlsym(RTLD_DEFAULT, ...) instead,
 * so the same binary also runs without the library (skt_active is then 0 and nothing is printed
 * for the counters).
 */
#ifndef SK_TEST_H
#define SK_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skull_mem.h"

#define SKT_MAX_SCOPES 1024
#define SKT_FN static __attribute__((unused))

typedef struct {
    size_t n;
    struct skull_scope_stats s[SKT_MAX_SCOPES];
} skt_snap;

static const char *const skt_counter_names[SKULL_COUNTER_COUNT] = {
    "ALLOC_BYTES",          "FREED_BYTES",           "ALLOC_BLOCKS",        "FREED_BLOCKS",
    "MALLOC_CALLS",         "CALLOC_CALLS",          "REALLOC_CALLS",       "REALLOCARRAY_CALLS",
    "FREE_CALLS",           "POSIX_MEMALIGN_CALLS",  "ALIGNED_ALLOC_CALLS", "MEMALIGN_CALLS",
    "VALLOC_CALLS",         "PVALLOC_CALLS",         "FAILED_ALLOCS",       "CROSS_FREED_BLOCKS",
    "CROSS_FREED_BYTES",    "OVERHEAD_BYTES",        "OVERHEAD_FREED_BYTES", "FOREIGN_FREES",
};

static size_t (*skt_snapshot_fn)(struct skull_scope_stats *, size_t, size_t);
static skull_scope_id (*skt_register_fn)(const char *, const char *);
static skull_scope_id (*skt_enter_fn)(skull_scope_id);
static void (*skt_leave_fn)(skull_scope_id);
static skull_scope_id (*skt_current_fn)(void);
static size_t (*skt_report_fn)(char *, size_t, int);
static int skt_active;

SKT_FN void skt_die(const char *what)
{
    /* write(2) only: no stdio, no allocation. */
    ssize_t r = write(2, "sk_test: ", 9);
    r = write(2, what, strlen(what));
    r = write(2, "\n", 1);
    (void)r;
    _exit(99);
}

SKT_FN void skt_init(void)
{
#ifdef SKT_DLSYM
    skt_snapshot_fn = (size_t(*)(struct skull_scope_stats *, size_t, size_t))dlsym(RTLD_DEFAULT, "skull_snapshot");
    skt_register_fn = (skull_scope_id(*)(const char *, const char *))dlsym(RTLD_DEFAULT, "skull_scope_register");
    skt_enter_fn = (skull_scope_id(*)(skull_scope_id))dlsym(RTLD_DEFAULT, "skull_scope_enter");
    skt_leave_fn = (void (*)(skull_scope_id))dlsym(RTLD_DEFAULT, "skull_scope_leave");
    skt_current_fn = (skull_scope_id(*)(void))dlsym(RTLD_DEFAULT, "skull_scope_current");
    skt_report_fn = (size_t(*)(char *, size_t, int))dlsym(RTLD_DEFAULT, "skull_report");
    skt_active = skt_snapshot_fn && skt_register_fn && skt_enter_fn && skt_leave_fn && skt_current_fn;
#else
    skt_snapshot_fn = skull_snapshot;
    skt_register_fn = skull_scope_register;
    skt_enter_fn = skull_scope_enter;
    skt_leave_fn = skull_scope_leave;
    skt_current_fn = skull_scope_current;
    skt_report_fn = skull_report;
    skt_active = 1;
#endif
}

/* Registers a scope; dies when the library refuses it. Returns 0 when inactive. */
SKT_FN skull_scope_id skt_scope(const char *name, const char *kind)
{
    if (!skt_active)
        return 0;
    skull_scope_id id = skt_register_fn(name, kind);
    if (id == SKULL_SCOPE_INVALID)
        skt_die("skull_scope_register returned SKULL_SCOPE_INVALID");
    return id;
}

SKT_FN skull_scope_id skt_enter(skull_scope_id id)
{
    return skt_active ? skt_enter_fn(id) : 0;
}

SKT_FN void skt_leave(skull_scope_id prev)
{
    if (skt_active)
        skt_leave_fn(prev);
}

SKT_FN void skt_take(skt_snap *s)
{
    if (!skt_active) {
        s->n = 0;
        return;
    }
    size_t n = skt_snapshot_fn(s->s, SKT_MAX_SCOPES, sizeof(struct skull_scope_stats));
    if (n > SKT_MAX_SCOPES)
        skt_die("more scopes than SKT_MAX_SCOPES");
    s->n = n;
}

SKT_FN const struct skull_scope_stats *skt_find(const skt_snap *s, skull_scope_id id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->s[i].id == id)
            return &s->s[i];
    return NULL;
}

SKT_FN const struct skull_scope_stats *skt_find_name(const skt_snap *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->s[i].name, name) == 0)
            return &s->s[i];
    return NULL;
}

/* Prints, for every scope in `after`, `PREFIXname.COUNTER=after-before` for all counters,
 * plus USED (delta of used_bytes) and LIVE (delta of live_blocks). */
SKT_FN void skt_print_delta(const char *prefix, const skt_snap *before, const skt_snap *after)
{
    for (size_t i = 0; i < after->n; i++) {
        const struct skull_scope_stats *b = &after->s[i];
        const struct skull_scope_stats *a = skt_find(before, b->id);
        for (int c = 0; c < SKULL_COUNTER_COUNT; c++) {
            long long d = (long long)(b->counters[c] - (a ? a->counters[c] : 0));
            printf("%s%s.%s=%lld\n", prefix, b->name, skt_counter_names[c], d);
        }
        printf("%s%s.USED=%lld\n", prefix, b->name,
               (long long)(b->used_bytes - (a ? a->used_bytes : 0)));
        printf("%s%s.LIVE=%lld\n", prefix, b->name,
               (long long)(b->live_blocks - (a ? a->live_blocks : 0)));
    }
}

/* Prints the absolute figures of every scope: `PREFIXname.COUNTER=value`, USED, LIVE, PEAK,
 * ID and KIND. */
SKT_FN void skt_print_abs(const char *prefix, const skt_snap *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct skull_scope_stats *b = &s->s[i];
        for (int c = 0; c < SKULL_COUNTER_COUNT; c++)
            printf("%s%s.%s=%llu\n", prefix, b->name, skt_counter_names[c],
                   (unsigned long long)b->counters[c]);
        printf("%s%s.USED=%llu\n", prefix, b->name, (unsigned long long)b->used_bytes);
        printf("%s%s.LIVE=%llu\n", prefix, b->name, (unsigned long long)b->live_blocks);
        printf("%s%s.PEAK=%llu\n", prefix, b->name, (unsigned long long)b->peak_used_bytes);
        printf("%s%s.ID=%u\n", prefix, b->name, (unsigned)b->id);
        printf("%s%s.KIND=%s\n", prefix, b->name, b->kind);
    }
}

#endif /* SK_TEST_H */
