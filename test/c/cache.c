/*
 * cache.c — the per-thread cache of small freed blocks, seen through the counters.
 *
 * usage: cache N
 * A fresh thread (whose cache starts empty) works in scope "c_user" with 64-byte blocks
 * (class capacity 88 bytes: 72 counted as bytes, 16 as the header). Its first small free
 * arms its cache and goes to libc; then:
 *   keep.  N blocks allocated, written, then freed: the cache keeps as many as its budget
 *          holds (skull-mem's scope gains them), libc takes the rest.
 *   take.  N blocks allocated again: the kept ones come back from the cache (skull-mem's
 *          scope loses them); then a calloc(1, 64), which must not come from the cache and
 *          is checked to be zeroed (zero=1), and a malloc(200), of another class.
 *   Then it frees those N + 2 blocks (the cache keeps what fits) and exits.
 *   exit.  From before the thread started to after it was joined: its cache went back to
 *          libc at exit, so skull-mem's scope ends where it began.
 * The main thread creates the thread in "c_user" and joins it in "core", so that what
 * glibc frees at the join is another scope's and stays out of the main thread's cache.
 * The cache hands blocks back last in, first out: again0 is the index in "keep" of the
 * first block "take" got, lifo how many blocks in a row follow it backwards.
 */
#include <pthread.h>

#include "sk_test.h"

#define MAXN 4096

void *blocks[MAXN];
void *again[MAXN];
static skt_snap s0, s1, s2, s3, s4;
static size_t n;
static skull_scope_id user;
static int zero = 1;
static long again0 = -1;
static long lifo;

static void *worker(void *arg)
{
    (void)arg;
    skull_scope_id prev = skt_enter(user);
    void *first = malloc(64);
    *(volatile char *)first = 1;
    free(first);

    skt_take(&s0);
    for (size_t i = 0; i < n; i++) {
        blocks[i] = malloc(64);
        memset(blocks[i], 0xab, 64);
    }
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    skt_take(&s1);
    for (size_t i = 0; i < n; i++)
        again[i] = malloc(64);
    unsigned char *zeroed = calloc(1, 64);
    void *other = malloc(200);
    skt_take(&s2);

    for (size_t i = 0; i < 64; i++)
        if (zeroed[i] != 0)
            zero = 0;
    for (size_t j = 0; j < n; j++)
        if (again[0] == blocks[j])
            again0 = (long)j;
    while (again0 - lifo >= 0 && (size_t)lifo < n && again[lifo] == blocks[again0 - lifo])
        lifo++;
    for (size_t i = 0; i < n; i++)
        free(again[i]);
    free(zeroed);
    free(other);
    skt_leave(prev);
    return NULL;
}

int main(int argc, char **argv)
{
    skt_init();
    n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
    if (n > MAXN)
        skt_die("N too large");
    user = skt_scope("c_user", "module");

    skt_take(&s3);
    pthread_t t;
    skull_scope_id prev = skt_enter(user);
    if (pthread_create(&t, NULL, worker, NULL) != 0)
        skt_die("pthread_create");
    skt_leave(prev);
    if (pthread_join(t, NULL) != 0)
        skt_die("pthread_join");
    skt_take(&s4);

    printf("zero=%d\nagain0=%ld\nlifo=%ld\n", zero, again0, lifo);
    skt_print_delta("keep.", &s0, &s1);
    skt_print_delta("take.", &s1, &s2);
    skt_print_delta("exit.", &s3, &s4);
    return 0;
}
