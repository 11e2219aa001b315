/*
 * The leak check across fork: the child loses 10 blocks of 32 bytes (at CHILD_LOST_LINE) and
 * ends with exit(0), so its own check fails it with the leak exit code; the parent frees all
 * it allocated, prints "child <pid> status <code>" and returns 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) void *child_loses(void) {
    void *block = malloc(32); /* CHILD_LOST_LINE */
    memset(block, 5, 32);
    return block;
}

int main(void) {
    char *mine = malloc(100);
    memset(mine, 1, 100);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        void *volatile last = NULL;
        for (int i = 0; i < 10; i++) last = child_loses();
        last = NULL;
        exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    printf("child %d status %d\n", (int)child, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    free(mine);
    return 0;
}
