/*
 * A program that leaks at a known place, for the tracing tests. Built with -g -O2 (so
 * without frame pointers, and with `remember` inlined into `leak_here`).
 *
 * Prints "ready <pid>", then for each line on stdin runs a round: ROUND times, leak_here()
 * keeps a 1000-byte block forever and churn() allocates and frees 100 bytes; then prints
 * "done <round>". With the argument "many N" a round leaks N blocks of 16 bytes instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROUND 100

static void **kept;
static size_t kept_count, kept_cap;

static inline void remember(size_t size) {
    void *block = malloc(size); /* LEAK_LINE */
    memset(block, 7, size);
    if (kept_count == kept_cap) {
        kept_cap = kept_cap ? kept_cap * 2 : 1024;
        kept = realloc(kept, kept_cap * sizeof *kept);
    }
    kept[kept_count++] = block;
}

__attribute__((noinline)) void leak_here(size_t size) {
    remember(size); /* CALLER_LINE */
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void churn(void) {
    char *volatile p = malloc(100);
    p[0] = 1;
    free(p);
}

int main(int argc, char **argv) {
    long many = argc > 2 && strcmp(argv[1], "many") == 0 ? atol(argv[2]) : 0;
    char line[16];
    int round = 0;
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        if (many) {
            for (long i = 0; i < many; i++) leak_here(16);
        } else {
            for (int i = 0; i < ROUND; i++) {
                leak_here(1000);
                churn();
            }
        }
        printf("done %d\n", ++round);
        fflush(stdout);
    }
    return 0;
}
