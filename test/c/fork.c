/*
 * fork.c — counters of parent and child are independent after fork.
 *
 * usage: fork N M
 * Before fork the parent allocates N blocks of 100 bytes in scope "f_before" (kept live).
 * Child:  enters "f_child", allocates N blocks of 1000 bytes (kept live), frees the parent's
 *         N "f_before" blocks, snapshots, tells the parent, waits for the parent to allocate,
 *         snapshots again. Prints child1.* (its own work) and child2.* (during the parent's
 *         allocations: must be all zero).
 * Parent: after the child's signal snapshots (parent1.*: the child's work must not show), then
 *         enters "f_child" and allocates M blocks of 3000 bytes (parent2.*), signals the child,
 *         waits for it. Prints exit status as parent.child_status.
 * The child's output is flushed before the parent prints anything.
 */
#include <sys/wait.h>

#include "sk_test.h"

#define MAXN 10000

static void *before_blocks[MAXN];
static void *blocks[MAXN];
static skt_snap p0, p1, p2, c0, c1, c2;

static void wait_byte(int fd)
{
    char c;
    if (read(fd, &c, 1) != 1)
        skt_die("read from pipe");
}

static void send_byte(int fd)
{
    if (write(fd, "x", 1) != 1)
        skt_die("write to pipe");
}

int main(int argc, char **argv)
{
    skt_init();
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
    size_t m = argc > 2 ? strtoul(argv[2], NULL, 10) : 50;
    if (n > MAXN || m > MAXN)
        skt_die("bad arguments");
    skull_scope_id before = skt_scope("f_before", "module");
    skull_scope_id x = skt_scope("f_child", "module");
    int c2p[2], p2c[2], done[2];
    if (pipe(c2p) || pipe(p2c) || pipe(done))
        skt_die("pipe");

    skull_scope_id prev = skt_enter(before);
    for (size_t i = 0; i < n; i++)
        before_blocks[i] = malloc(100);
    skt_leave(prev);

    fflush(stdout);
    skt_take(&p0);
    pid_t pid = fork();
    if (pid < 0)
        skt_die("fork");
    if (pid == 0) {
        skt_take(&c0);
        prev = skt_enter(x);
        for (size_t i = 0; i < n; i++)
            blocks[i] = malloc(1000);
        for (size_t i = 0; i < n; i++)
            free(before_blocks[i]);
        skt_leave(prev);
        skt_take(&c1);
        send_byte(c2p[1]);
        wait_byte(p2c[0]);
        skt_take(&c2);
        skt_print_delta("child1.", &c0, &c1);
        skt_print_delta("child2.", &c1, &c2);
        printf("child.current_after_fork=%u\n", (unsigned)prev);
        fflush(stdout);
        send_byte(done[1]);
        _exit(0);
    }
    wait_byte(c2p[0]);
    skt_take(&p1);
    prev = skt_enter(x);
    for (size_t i = 0; i < m; i++)
        blocks[i] = malloc(3000);
    skt_leave(prev);
    skt_take(&p2);
    send_byte(p2c[1]);
    wait_byte(done[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    skt_print_delta("parent1.", &p0, &p1);
    skt_print_delta("parent2.", &p1, &p2);
    printf("parent.child_status=%d\n", status);
    return 0;
}
