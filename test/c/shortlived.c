/*
 * shortlived.c — many short-lived threads, each doing a known number of allocations.
 *
 * usage: shortlived T K BATCH [HOLD]
 * T threads in total, at most BATCH alive at once. With HOLD=1 the threads of a batch wait for
 * each other (a barrier) after allocating, so BATCH threads are alive and counting at once. Thread t enters scope "short" and makes K
 * allocations, k in 0..K: size(t, k) = 1 + (t * 31 + k * 7) % 500, with calloc(size, 1) for
 * k == 1 and malloc(size) otherwise. It frees blocks 0..K-1 itself and hands the last one to
 * main, which frees it in scope core after joining (a cross-scope free). Only the worker
 * bodies enter "short", so whatever pthread_create/exit allocate lands in other scopes.
 * Prints book.* and the deltas with prefix "d.".
 */
#include <pthread.h>

#include "sk_test.h"

#define MAXT 100000
#define MAXK 64

static void *last_block[MAXT];
static skull_scope_id short_scope;
static size_t k_per_thread;
static skt_snap s0, s1;
static _Atomic int bad;
static int hold;
static pthread_barrier_t barrier;

static void *worker(void *arg)
{
    size_t t = (size_t)(uintptr_t)arg;
    void *blocks[MAXK];
    skull_scope_id prev = skt_enter(short_scope);
    for (size_t k = 0; k < k_per_thread; k++) {
        size_t size = 1 + (t * 31 + k * 7) % 500;
        blocks[k] = k == 1 ? calloc(size, 1) : malloc(size);
        if (!blocks[k])
            bad = 1;
        else
            memset(blocks[k], (int)k, size);
    }
    if (hold)
        pthread_barrier_wait(&barrier);
    for (size_t k = 0; k + 1 < k_per_thread; k++)
        free(blocks[k]);
    last_block[t] = blocks[k_per_thread - 1];
    skt_leave(prev);
    return NULL;
}

int main(int argc, char **argv)
{
    skt_init();
    size_t total = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
    k_per_thread = argc > 2 ? strtoul(argv[2], NULL, 10) : 8;
    size_t batch = argc > 3 ? strtoul(argv[3], NULL, 10) : 32;
    hold = argc > 4 ? atoi(argv[4]) : 0;
    if (total > MAXT || k_per_thread < 2 || k_per_thread > MAXK || batch == 0 || batch > 4096)
        skt_die("bad arguments");
    short_scope = skt_scope("short", "module");
    static pthread_t th[4096];

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);

    skt_take(&s0);
    size_t created = 0;
    while (created < total) {
        size_t n = total - created < batch ? total - created : batch;
        if (hold)
            pthread_barrier_init(&barrier, NULL, (unsigned)n);
        for (size_t i = 0; i < n; i++)
            if (pthread_create(&th[i], &attr, worker, (void *)(uintptr_t)(created + i)) != 0)
                skt_die("pthread_create");
        for (size_t i = 0; i < n; i++)
            pthread_join(th[i], NULL);
        if (hold)
            pthread_barrier_destroy(&barrier);
        created += n;
    }
    for (size_t t = 0; t < total; t++)
        free(last_block[t]);
    skt_take(&s1);

    printf("bad=%d\nbook.threads=%zu\n", (int)bad, created);
    skt_print_delta("d.", &s0, &s1);
    return 0;
}
