/*
 * hostile.c — a program whose names try to take over the terminal of whoever reads it: its
 * scope names and kinds, its thread name (and so /proc/<pid>/comm) hold escape sequences,
 * newlines, DEL, a C1 CSI and bidi overrides; the test also gives it such arguments and
 * compiles it from a file and to an executable whose names hold them, so frames do too.
 *
 * Prints "ready <pid>", then for each line on stdin allocates a round in the scopes and
 * prints "done <round>": in each of the three scopes, KEEP blocks of 1000 bytes kept and
 * one of 100 bytes freed again.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "skull_mem.h"

#define KEEP 4

static const char *const names[3][2] = {
    {"\033]0;OWNED\007\033[2J", "service"},
    {"line1\nline2\r\tx\x7f", "\033[31mroute"},
    {"evil\xe2\x80\xaetxt.exe\xe2\x81\xa6x\xe2\x81\xa9\xc2\x9b" "31m", "module"},
};

__attribute__((noinline)) static void allocate_in(skull_scope_id scope) {
    skull_scope_id outer = skull_scope_enter(scope);
    for (int i = 0; i < KEEP; i++) {
        char *volatile block = malloc(1000);
        block[0] = 1; /* kept until exit */
    }
    char *volatile churned = malloc(100); /* volatile: the pair is not optimised away */
    churned[0] = 1;
    free(churned);
    skull_scope_leave(outer);
}

int main(void) {
    skull_scope_id scopes[3];
    for (int i = 0; i < 3; i++) {
        scopes[i] = skull_scope_register(names[i][0], names[i][1]);
        if (scopes[i] == SKULL_SCOPE_INVALID) {
            fprintf(stderr, "hostile: cannot register scope %d\n", i);
            return 2;
        }
    }
    prctl(PR_SET_NAME, "\033[2J\xe2\x80\xaethr", 0, 0, 0);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char line[16];
    int round = 0;
    while (fgets(line, sizeof line, stdin)) {
        for (int i = 0; i < 3; i++) allocate_in(scopes[i]);
        printf("done %d\n", ++round);
        fflush(stdout);
    }
    return 0;
}
