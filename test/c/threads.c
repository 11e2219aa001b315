/*
 * threads.c — T threads allocating and freeing across each other.
 *
 * usage: threads T M
 * Thread i (0 <= i < T) works in scope "t<i>" and makes M allocations, j in 0..M:
 *   size(i, j) = 1 + (j * 131 + i * 17) % 1024
 *   j % 4 == 1: calloc(size, 1), else malloc(size)
 *   j % 3 == 0: freed at once by thread i (same scope)
 *   otherwise:  passed through a preallocated single-producer single-consumer ring to thread
 *               (i + 1) % T, which frees it in its own scope (a cross-scope free).
 * The rings are static arrays: nothing in the measured window allocates but the pattern.
 * Prints the program's own bookkeeping as book.t<i>.* and the counter deltas with prefix "d.".
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "sk_test.h"

#define MAXT 16
#define RING 1024

struct item {
    unsigned char *p;
    size_t size;
};

struct ring {
    _Alignas(64) _Atomic size_t head; /* consumer position */
    _Alignas(64) _Atomic size_t tail; /* producer position */
    struct item slots[RING];
};

struct book {
    unsigned long long alloc_bytes, alloc_blocks, malloc_calls, calloc_calls;
    unsigned long long cross_bytes, cross_blocks, free_calls, local_frees, received;
    int bad;
};

static struct ring rings[MAXT];
static struct book books[MAXT];
static skull_scope_id scopes[MAXT];
static int nthreads;
static size_t m;
static _Atomic int ready;
static _Atomic int go;
static skt_snap s0, s1;

static int drain(int me)
{
    struct ring *r = &rings[(me + nthreads - 1) % nthreads];
    struct book *bk = &books[me];
    int sender = (me + nthreads - 1) % nthreads;
    int got = 0;
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    while (head != tail) {
        struct item it = r->slots[head % RING];
        if (it.p[0] != (unsigned char)sender)
            bk->bad = 1;
        free(it.p);
        bk->free_calls++;
        bk->received++;
        head++;
        got++;
    }
    atomic_store_explicit(&r->head, head, memory_order_release);
    return got;
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    struct book *bk = &books[me];
    struct ring *out = &rings[me];
    skull_scope_id prev = skt_enter(scopes[me]);
    atomic_fetch_add(&ready, 1);
    while (!atomic_load(&go))
        sched_yield();

    for (size_t j = 0; j < m; j++) {
        size_t size = 1 + (j * 131 + (size_t)me * 17) % 1024;
        unsigned char *p;
        if (j % 4 == 1) {
            p = calloc(size, 1);
            bk->calloc_calls++;
        } else {
            p = malloc(size);
            bk->malloc_calls++;
        }
        if (!p) {
            bk->bad = 2;
            break;
        }
        p[0] = (unsigned char)me;
        if (size > 1)
            p[size - 1] = (unsigned char)j;
        bk->alloc_bytes += size;
        bk->alloc_blocks++;
        if (j % 3 == 0) {
            free(p);
            bk->free_calls++;
            bk->local_frees++;
        } else {
            for (;;) {
                size_t tail = atomic_load_explicit(&out->tail, memory_order_relaxed);
                size_t head = atomic_load_explicit(&out->head, memory_order_acquire);
                if (tail - head < RING) {
                    out->slots[tail % RING] = (struct item){p, size};
                    atomic_store_explicit(&out->tail, tail + 1, memory_order_release);
                    break;
                }
                if (!drain(me))
                    sched_yield();
            }
            bk->cross_bytes += size;
            bk->cross_blocks++;
        }
        if ((j & 15) == 0)
            drain(me);
    }
    /* Everything the previous thread sends us: the blocks it does not free itself. */
    unsigned long long expect = m - (m + 2) / 3;
    while (bk->received < expect)
        if (!drain(me))
            sched_yield();
    skt_leave(prev);
    return NULL;
}

int main(int argc, char **argv)
{
    skt_init();
    nthreads = argc > 1 ? atoi(argv[1]) : 4;
    m = argc > 2 ? strtoul(argv[2], NULL, 10) : 150000;
    if (nthreads < 2 || nthreads > MAXT)
        skt_die("bad thread count");
    for (int i = 0; i < nthreads; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        scopes[i] = skt_scope(name, "module");
    }
    pthread_t th[MAXT];
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0)
            skt_die("pthread_create");
    while (atomic_load(&ready) < nthreads)
        sched_yield();
    skt_take(&s0);
    atomic_store(&go, 1);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    skt_take(&s1);

    int bad = 0;
    for (int i = 0; i < nthreads; i++) {
        struct book *b = &books[i];
        bad |= b->bad;
        printf("book.t%d.alloc_bytes=%llu\nbook.t%d.alloc_blocks=%llu\n", i, b->alloc_bytes, i,
               b->alloc_blocks);
        printf("book.t%d.malloc_calls=%llu\nbook.t%d.calloc_calls=%llu\n", i, b->malloc_calls, i,
               b->calloc_calls);
        printf("book.t%d.cross_bytes=%llu\nbook.t%d.cross_blocks=%llu\n", i, b->cross_bytes, i,
               b->cross_blocks);
        printf("book.t%d.free_calls=%llu\nbook.t%d.received=%llu\n", i, b->free_calls, i,
               b->received);
    }
    printf("bad=%d\n", bad);
    skt_print_delta("d.", &s0, &s1);
    return 0;
}
