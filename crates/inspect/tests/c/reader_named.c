/*
 * reader_named.c — threads that native code names, charged to `thread:<name>` pseudo-scopes.
 *
 * usage: reader_named
 *        reader_named many N
 * Without arguments: eight threads, each allocating with malloc and keeping its blocks unless said otherwise:
 *   alpha:   names itself "alpha" (pthread_setname_np) before its first allocation, then
 *            mallocs 3 blocks of 100 bytes and frees one of them.
 *   beta:    mallocs 2 blocks of 50 bytes under the name it was born with (the process's,
 *            "reader_named"), renames itself "beta" with prctl(PR_SET_NAME), mallocs 4 blocks
 *            of 70 bytes and frees one 50-byte block of before the rename.
 *   plain:   never named: mallocs 1 block of 33 bytes.
 *   pool-17, pool-18: each names itself and mallocs 1 block of 10 bytes.
 *   delta:   names itself, enters scope "work" before its first allocation, mallocs 5 bytes,
 *            leaves, mallocs 7 bytes.
 *   eta:     named "eta" by the main thread (pthread_setname_np of another thread) before it
 *            allocates; then mallocs 9 bytes.
 *   forker:  names itself, mallocs 3 bytes, forks; the child (whose main thread it is) prints
 *            "fork.child.current=<id>" and ends with _exit; the thread waits for it.
 * The main thread prints "main.current=<id>", then "ready" once every thread is done, and
 * waits for a line; the threads stay alive until then.
 * With "many N": N threads, one after the other, each named "u<i>" (i from 0) and mallocing
 * 1 block of 24 bytes, kept; then "ready" and a line as above.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "reader_common.h"

#define THREADS 8

static skull_scope_id work;
static pthread_barrier_t named, done, release;

static void *keep(size_t size)
{
    void *p = malloc(size);
    if (!p)
        rc_die("malloc");
    return p;
}

static void name_self(const char *name)
{
    if (pthread_setname_np(pthread_self(), name) != 0)
        rc_die("pthread_setname_np");
}

static void *worker(void *arg)
{
    long which = (long)arg;
    void *held[2];
    switch (which) {
    case 0:
        name_self("alpha");
        keep(100);
        keep(100);
        free(keep(100));
        break;
    case 1:
        held[0] = keep(50);
        held[1] = keep(50);
        (void)held[1];
        if (prctl(PR_SET_NAME, "beta", 0, 0, 0) != 0)
            rc_die("prctl");
        for (int i = 0; i < 4; i++)
            keep(70);
        free(held[0]);
        break;
    case 2:
        keep(33);
        break;
    case 3:
        name_self("pool-17");
        keep(10);
        break;
    case 4:
        name_self("pool-18");
        keep(10);
        break;
    case 5: {
        name_self("delta");
        skull_scope_id prev = skull_scope_enter(work);
        if (prev == SKULL_SCOPE_INVALID)
            rc_die("enter");
        keep(5);
        skull_scope_leave(prev);
        keep(7);
        break;
    }
    case 6:
        pthread_barrier_wait(&named);
        keep(9);
        break;
    case 7: {
        name_self("forker");
        keep(3);
        pid_t child = fork();
        if (child < 0)
            rc_die("fork");
        if (child == 0) {
            char line[64];
            snprintf(line, sizeof line, "fork.child.current=%u\n", skull_scope_current());
            rc_say(line);
            _exit(0);
        }
        int status;
        if (waitpid(child, &status, 0) != child || status != 0)
            rc_die("fork child");
        break;
    }
    }
    pthread_barrier_wait(&done);
    pthread_barrier_wait(&release);
    return NULL;
}

static void *unique(void *arg)
{
    char name[16];
    snprintf(name, sizeof name, "u%ld", (long)arg);
    name_self(name);
    keep(24);
    return NULL;
}

static int many(long n)
{
    for (long i = 0; i < n; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, unique, (void *)i) != 0)
            rc_die("pthread_create");
        pthread_join(thread, NULL);
    }
    rc_say("ready\n");
    rc_wait_line(0);
    return 0;
}

int main(int argc, char **argv)
{
    pthread_t threads[THREADS];
    char line[64];
    if (argc == 3 && strcmp(argv[1], "many") == 0)
        return many(atol(argv[2]));
    work = rc_scope("work", "module");
    pthread_barrier_init(&named, NULL, 2);
    pthread_barrier_init(&done, NULL, THREADS + 1);
    pthread_barrier_init(&release, NULL, THREADS + 1);
    for (long t = 0; t < THREADS; t++)
        if (pthread_create(&threads[t], NULL, worker, (void *)t) != 0)
            rc_die("pthread_create");
    if (pthread_setname_np(threads[6], "eta") != 0)
        rc_die("pthread_setname_np eta");
    pthread_barrier_wait(&named);
    pthread_barrier_wait(&done);
    snprintf(line, sizeof line, "main.current=%u\n", skull_scope_current());
    rc_say(line);
    rc_say("ready\n");
    rc_wait_line(0);
    pthread_barrier_wait(&release);
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    return 0;
}
