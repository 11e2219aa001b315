/*
 * thread_rename.c — what a thread's rename costs (issue 12, native threads): the preloaded
 * library wraps pthread_setname_np and prctl(PR_SET_NAME) so that the thread's `thread:<name>`
 * pseudo-scope follows the new name (one more prctl(PR_GET_NAME) system call and a look-up in
 * the scope table). Also times a thread's start and first allocation, where the pseudo-scope
 * is found the first time (gettid, getpid, PR_GET_NAME, the table).
 *
 * usage: thread_rename N THREADS
 * The renames run on a thread of their own that has allocated (not the main thread, which
 * has no pseudo-scope): each one switches its pseudo-scope between two names.
 * Prints "setname_ns=<ns per pthread_setname_np> prctl_ns=<ns per prctl> thread_us=<us per
 * thread started, malloc(64)+free in it, joined>", each the best of 5 chunks.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *first_alloc(void *arg)
{
    (void)arg;
    free(malloc(64));
    return NULL;
}

static long n;
static double best_setname = 1e300, best_prctl = 1e300;

static void *renames(void *arg)
{
    (void)arg;
    free(malloc(64));
    for (int chunk = 0; chunk < 5; chunk++) {
        double t0 = now();
        for (long i = 0; i < n; i++)
            pthread_setname_np(pthread_self(), (i & 1) ? "bench-a" : "bench-b");
        double t1 = now();
        for (long i = 0; i < n; i++)
            prctl(PR_SET_NAME, (i & 1) ? "bench-a" : "bench-b", 0, 0, 0);
        double t2 = now();
        if ((t1 - t0) / n < best_setname)
            best_setname = (t1 - t0) / n;
        if ((t2 - t1) / n < best_prctl)
            best_prctl = (t2 - t1) / n;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    n = atol(argv[1]);
    long threads = atol(argv[2]);
    double best_thread = 1e300;
    pthread_t renamer;
    if (pthread_create(&renamer, NULL, renames, NULL) != 0)
        return 1;
    pthread_join(renamer, NULL);
    for (int chunk = 0; chunk < 5; chunk++) {
        double t2 = now();
        for (long i = 0; i < threads; i++) {
            pthread_t t;
            if (pthread_create(&t, NULL, first_alloc, NULL) != 0)
                return 1;
            pthread_join(t, NULL);
        }
        double t3 = now();
        if ((t3 - t2) / threads / 1000 < best_thread)
            best_thread = (t3 - t2) / threads / 1000;
    }
    printf("setname_ns=%.0f prctl_ns=%.0f thread_us=%.1f\n", best_setname, best_prctl, best_thread);
    return 0;
}
