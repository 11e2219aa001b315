/*
 * A program that allocates known amounts in named scopes and stops at known points, so that
 * a test can read it from outside with the CLI: after each step it prints "ready <step>" and
 * waits for a line on stdin. With the argument "fork" it forks after step 1; the child
 * allocates in `parser`, prints "child ready <pid>" and waits for a line; the parent prints
 * "parent ready <pid>" and waits for the child to end.
 *
 * Step 1: parser: 10 x malloc(1000); cache: 4 x calloc(1, 4096).
 * Step 2: cache: 6 x calloc(1, 4096); from cache, frees 2 of parser's blocks.
 * Child (fork): parser: 3 x malloc(500).
 *
 * Build it with -O0: gcc removes a malloc/free pair whose memory is never used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "skull_mem.h"

static void wait_line(void) {
    char line[64];
    if (!fgets(line, sizeof line, stdin)) exit(0);
}

static void ready(const char *what) {
    printf("%s\n", what);
    fflush(stdout);
    wait_line();
}

int main(int argc, char **argv) {
    int do_fork = argc > 1 && strcmp(argv[1], "fork") == 0;
    skull_scope_id parser = skull_scope_register("parser", "module");
    skull_scope_id cache = skull_scope_register("cache", "service");
    void *parsed[10];
    void *cached[10];

    skull_scope_id outer = skull_scope_enter(parser);
    for (int i = 0; i < 10; i++) parsed[i] = malloc(1000);
    skull_scope_enter(cache);
    for (int i = 0; i < 4; i++) cached[i] = calloc(1, 4096);
    skull_scope_leave(outer);

    if (do_fork) {
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) {
            skull_scope_id before = skull_scope_enter(parser);
            void *mine[3];
            for (int i = 0; i < 3; i++) mine[i] = malloc(500);
            skull_scope_leave(before);
            printf("child ready %d\n", (int)getpid());
            fflush(stdout);
            wait_line();
            for (int i = 0; i < 3; i++) free(mine[i]);
            return 0;
        }
        /* Only the child reads stdin: the parent waits for it to end. */
        printf("parent ready %d\n", (int)getpid());
        fflush(stdout);
        waitpid(child, NULL, 0);
        return 0;
    }

    ready("ready 1");
    outer = skull_scope_enter(cache);
    for (int i = 4; i < 10; i++) cached[i] = calloc(1, 4096);
    free(parsed[0]);
    free(parsed[1]);
    skull_scope_leave(outer);
    ready("ready 2");
    for (int i = 2; i < 10; i++) free(parsed[i]);
    for (int i = 0; i < 10; i++) free(cached[i]);
    return 0;
}
