/*
 * forkthreads.c — fork while other threads are allocating.
 *
 * usage: forkthreads FORKS
 * Three background threads malloc/free in scope "ft_bg" without pause. Main forks FORKS
 * times; each child (under a 20 s alarm, so a deadlock shows as SIGALRM) allocates and frees
 * 10 blocks of 100 bytes in scope "ft_child", checks its own counter deltas, renders a report
 * and exits 0 when everything matched (1-4 otherwise). Prints forks.ok, forks.failed and
 * the first failing status.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "sk_test.h"

static _Atomic int stop;
static skull_scope_id bg_scope, child_scope;
static skt_snap c0, c1;
static char report[1 << 16];

static void *background(void *arg)
{
    size_t seed = (size_t)(uintptr_t)arg;
    void *keep[64] = {0};
    skt_enter(bg_scope);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t slot = (seed >> 33) % 64;
        free(keep[slot]);
        keep[slot] = malloc(1 + (seed >> 40) % 3000);
    }
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    return NULL;
}

static int child(void)
{
    alarm(20);
    skt_take(&c0);
    skull_scope_id prev = skt_enter(child_scope);
    void *b[10];
    for (int i = 0; i < 10; i++)
        b[i] = malloc(100);
    for (int i = 0; i < 10; i++)
        free(b[i]);
    skt_leave(prev);
    skt_take(&c1);
    const struct skull_scope_stats *x = skt_find(&c0, child_scope);
    const struct skull_scope_stats *y = skt_find(&c1, child_scope);
    if (!x || !y)
        return 1;
    if (y->counters[SKULL_ALLOC_BLOCKS] - x->counters[SKULL_ALLOC_BLOCKS] != 10 ||
        y->counters[SKULL_FREED_BLOCKS] - x->counters[SKULL_FREED_BLOCKS] != 10 ||
        y->counters[SKULL_ALLOC_BYTES] - x->counters[SKULL_ALLOC_BYTES] != 1000 ||
        y->counters[SKULL_FREE_CALLS] - x->counters[SKULL_FREE_CALLS] != 10)
        return 2;
    if (skull_report(report, sizeof report, SKULL_REPORT_TEXT) == 0)
        return 3;
    if (!strstr(report, "ft_child"))
        return 4;
    return 0;
}

int main(int argc, char **argv)
{
    skt_init();
    int forks = argc > 1 ? atoi(argv[1]) : 50;
    bg_scope = skt_scope("ft_bg", "module");
    child_scope = skt_scope("ft_child", "module");
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, background, (void *)(uintptr_t)(i + 1));
    int ok = 0, failed = 0, first_bad = 0;
    fflush(stdout);
    for (int k = 0; k < forks; k++) {
        pid_t pid = fork();
        if (pid < 0)
            skt_die("fork");
        if (pid == 0)
            _exit(child());
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            ok++;
        } else {
            failed++;
            if (!first_bad)
                first_bad = status;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    printf("forks.ok=%d\nforks.failed=%d\nforks.first_bad_status=%d\n", ok, failed, first_bad);
    return 0;
}
