/*
 * reader_fork.c — usage: reader_fork EXEC_TARGET
 *
 * Scope "before": 3 x malloc(111) before fork.
 * Child: in "child_only", 4 x malloc(222) and frees one "before" block; prints
 *   "child ready <pid>", then waits for one byte from the parent: 'x' execs EXEC_TARGET
 *   (same environment), anything else exits normally.
 * Parent: in "parent_only", 5 x malloc(333); prints "parent ready <child pid>"; waits for
 *   a line on stdin ("exec" sends 'x', else 'q'), waits for the child, prints
 *   "child exited <status>", then waits for another line and returns from main.
 */
#include <sys/wait.h>

#include "reader_common.h"

static void *before[3], *mine[5];

int main(int argc, char **argv)
{
    if (argc != 2)
        rc_die("usage: reader_fork EXEC_TARGET");
    skull_scope_id s_before = rc_scope("before", "module");
    skull_scope_id s_parent = rc_scope("parent_only", "module");
    skull_scope_id s_child = rc_scope("child_only", "module");
    skull_scope_id prev = skull_scope_enter(s_before);
    for (int i = 0; i < 3; i++)
        before[i] = malloc(111);
    skull_scope_leave(prev);

    int to_child[2];
    if (pipe(to_child) != 0)
        rc_die("pipe");
    pid_t child = fork();
    if (child < 0)
        rc_die("fork");
    char line[64];
    if (child == 0) {
        close(to_child[1]);
        prev = skull_scope_enter(s_child);
        for (int i = 0; i < 4; i++)
            mine[i] = malloc(222);
        free(before[2]);
        skull_scope_leave(prev);
        snprintf(line, sizeof line, "child ready %d\n", (int)getpid());
        rc_say(line);
        char cmd = 0;
        if (read(to_child[0], &cmd, 1) != 1)
            _exit(4);
        if (cmd == 'x') {
            char *args[] = {argv[1], NULL};
            execv(argv[1], args);
            rc_die("execv");
        }
        return 0;
    }
    close(to_child[0]);
    prev = skull_scope_enter(s_parent);
    for (int i = 0; i < 5; i++)
        mine[i] = malloc(333);
    skull_scope_leave(prev);
    snprintf(line, sizeof line, "parent ready %d\n", (int)child);
    rc_say(line);
    char cmd = rc_wait_line(0) == 'e' ? 'x' : 'q';
    if (write(to_child[1], &cmd, 1) != 1)
        rc_die("write");
    int status = 0;
    if (waitpid(child, &status, 0) != child)
        rc_die("waitpid");
    snprintf(line, sizeof line, "child exited %d\n", status);
    rc_say(line);
    rc_wait_line(0);
    return 0;
}
