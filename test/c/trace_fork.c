/*
 * trace_fork.c — a parent and its forked child, whose tracing is switched separately, for the
 * tracing tests.
 *
 * Forks once, then prints "ready <parent pid> <child pid>". For each line on stdin, the parent
 * tells the child through a pipe; each keeps 10 blocks of 100 bytes; once the child has
 * answered, the parent prints "done <round>". The child exits when the parent's end closes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void *kept[1000]; /* not static: the stores must stay */
int count;

__attribute__((noinline)) static void keep_ten(void) {
    for (int i = 0; i < 10 && count < 1000; i++) kept[count++] = malloc(100);
}

int main(void) {
    int to_child[2], to_parent[2];
    if (pipe(to_child) != 0 || pipe(to_parent) != 0) return 1;
    pid_t child = fork();
    if (child < 0) return 1;
    char byte;
    if (child == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        while (read(to_child[0], &byte, 1) == 1) {
            keep_ten();
            if (write(to_parent[1], "k", 1) != 1) return 1;
        }
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    printf("ready %d %d\n", (int)getpid(), (int)child);
    fflush(stdout);
    char line[16];
    int round = 0;
    while (fgets(line, sizeof line, stdin)) {
        keep_ten();
        if (write(to_child[1], "r", 1) != 1 || read(to_parent[0], &byte, 1) != 1) return 1;
        printf("done %d\n", ++round);
        fflush(stdout);
    }
    close(to_child[1]);
    waitpid(child, NULL, 0);
    return 0;
}
