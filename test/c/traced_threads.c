/*
 * traced_threads.c — threads that allocate while every allocation is traced
 * (SKULL_MEM_TRACE=all): tracing's per-thread memory must be skull-mem's own, and given back
 * when each thread exits.
 *
 * usage: traced_threads T M
 * The main thread first allocates and frees once (its own tracing memory now exists), then
 * T threads each make M malloc+free pairs of 64 bytes and exit, and are joined. Prints the
 * counter deltas over the threads' lives with prefix "d." (see sk_test.h).
 */
#include <pthread.h>

#include "sk_test.h"

static long pairs;

static void *work(void *arg)
{
    (void)arg;
    for (long i = 0; i < pairs; i++) {
        char *volatile p = malloc(64);
        p[0] = 1;
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        skt_die("usage: traced_threads T M");
    int threads = atoi(argv[1]);
    pairs = atol(argv[2]);
    if (threads < 1 || threads > 64)
        skt_die("T must be 1..64");
    skt_init();
    static skt_snap before, after;
    pthread_t ids[64];
    free(malloc(64));
    skt_take(&before);
    for (int t = 0; t < threads; t++)
        if (pthread_create(&ids[t], NULL, work, NULL) != 0)
            skt_die("pthread_create");
    for (int t = 0; t < threads; t++)
        pthread_join(ids[t], NULL);
    skt_take(&after);
    skt_print_delta("d.", &before, &after);
    return 0;
}
