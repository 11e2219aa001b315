/*
 * reader_threads.c — usage: reader_threads THREADS SCOPES
 *
 * Registers SCOPES scopes "s000".."sNNN" (kind module). Thread t (0-based) then, for k in
 * 0..6, enters scope (t * 37 + k * 11) % SCOPES and mallocs k + 1 blocks of
 * 8 * (t + 1) + k bytes, kept; for k > 0, while in that scope, it also frees the first
 * block it allocated at step k - 1 (a cross-scope free). Every thread first does one
 * malloc/free pair outside any user scope, so its attachment costs nothing to user scopes.
 * When every thread is done, the main thread prints "ready" and waits for a line on stdin;
 * the threads stay alive until then. Then they exit, main prints "done" and waits for
 * another line.
 */
#include <pthread.h>

#include "reader_common.h"

#define STEPS 6
#define MAX_THREADS 256
#define MAX_SCOPES 500

static int nthreads, nscopes;
static skull_scope_id ids[MAX_SCOPES];
static pthread_barrier_t done, release;
static void *blocks[MAX_THREADS][STEPS][STEPS];

static void *worker(void *arg)
{
    long t = (long)arg;
    free(malloc(1));
    for (int k = 0; k < STEPS; k++) {
        int s = (int)((t * 37 + k * 11) % nscopes);
        skull_scope_id prev = skull_scope_enter(ids[s]);
        if (prev == SKULL_SCOPE_INVALID)
            rc_die("enter");
        for (int j = 0; j <= k; j++) {
            blocks[t][k][j] = malloc((size_t)(8 * (t + 1) + k));
            if (!blocks[t][k][j])
                rc_die("malloc");
        }
        if (k > 0)
            free(blocks[t][k - 1][0]);
        skull_scope_leave(prev);
    }
    pthread_barrier_wait(&done);
    pthread_barrier_wait(&release);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        rc_die("usage: reader_threads THREADS SCOPES");
    nthreads = atoi(argv[1]);
    nscopes = atoi(argv[2]);
    if (nthreads < 1 || nthreads > MAX_THREADS || nscopes < 1 || nscopes > MAX_SCOPES)
        rc_die("bad arguments");
    for (int s = 0; s < nscopes; s++) {
        char name[16];
        snprintf(name, sizeof name, "s%03d", s);
        ids[s] = rc_scope(name, "module");
    }
    pthread_barrier_init(&done, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&release, NULL, (unsigned)nthreads + 1);
    pthread_t tids[MAX_THREADS];
    for (long t = 0; t < nthreads; t++)
        if (pthread_create(&tids[t], NULL, worker, (void *)t) != 0)
            rc_die("pthread_create");
    pthread_barrier_wait(&done);
    rc_say("ready\n");
    rc_wait_line(0);
    pthread_barrier_wait(&release);
    for (int t = 0; t < nthreads; t++)
        pthread_join(tids[t], NULL);
    rc_say("done\n");
    rc_wait_line(0);
    return 0;
}
