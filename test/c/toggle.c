/*
 * Two threads allocate and free in scope "work" until a line arrives on stdin, while a test
 * switches tracing on and off from outside; then the program checks the library's counters
 * of "work" against its own bookkeeping and prints both:
 *   mallocs=<n> frees=<n> live=<n> bytes=<n>
 *   skull mallocs=<n> frees=<n> live=<n> bytes=<n>
 * Each thread keeps up to 1000 blocks live (a ring), so traced blocks are freed by the other
 * allocations' churn, sometimes long after tracing was switched off. `frees` is compared with
 * the scope's freed blocks (libc's own frees at thread exit also count as free calls).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "skull_mem.h"

#define RING 1000

static atomic_int stop;
static skull_scope_id work;

struct tally {
    unsigned long mallocs, frees, live, bytes;
};

static void *worker(void *arg) {
    struct tally *t = arg;
    void *ring[RING] = {0};
    size_t sizes[RING] = {0};
    skull_scope_enter(work);
    for (unsigned long i = 0; !atomic_load(&stop); i++) {
        size_t slot = i % RING;
        if (ring[slot]) {
            free(ring[slot]);
            t->frees++;
            t->live--;
            t->bytes -= sizes[slot];
        }
        sizes[slot] = 16 + (i * 7) % 200;
        ring[slot] = malloc(sizes[slot]);
        t->mallocs++;
        t->live++;
        t->bytes += sizes[slot];
    }
    return NULL;
}

int main(void) {
    work = skull_scope_register("work", "module");
    struct tally tallies[2] = {{0}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, worker, &tallies[i]);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1;
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    struct tally all = {0};
    for (int i = 0; i < 2; i++) {
        all.mallocs += tallies[i].mallocs;
        all.frees += tallies[i].frees;
        all.live += tallies[i].live;
        all.bytes += tallies[i].bytes;
    }
    struct skull_scope_stats stats[64];
    size_t n = skull_snapshot(stats, 64, sizeof stats[0]);
    for (size_t i = 0; i < n && i < 64; i++) {
        if (stats[i].id != work) continue;
        printf("mallocs=%lu frees=%lu live=%lu bytes=%lu\n", all.mallocs, all.frees, all.live, all.bytes);
        printf("skull mallocs=%llu frees=%llu live=%llu bytes=%llu\n",
               (unsigned long long)stats[i].counters[SKULL_MALLOC_CALLS],
               (unsigned long long)stats[i].counters[SKULL_FREED_BLOCKS],
               (unsigned long long)stats[i].live_blocks, (unsigned long long)stats[i].used_bytes);
    }
    return 0;
}
