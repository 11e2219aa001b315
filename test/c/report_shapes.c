/*
 * Leaks of known shapes, for the report tests (test/trace-reports.test.ts). Built with -g -O0,
 * so that the two calls of malloc in `pair` keep two return addresses and `descend` keeps its frames.
 *
 * Prints "ready <pid>", then for each line on stdin does what the line says and prints "done":
 *   sampled  leaks 20,000,000 bytes as 200,000 blocks of 100 bytes from small_blocks and
 *            20,000,000 bytes as 200 blocks of 100,000 bytes from large_blocks;
 *   pair     leaks 20 blocks of 48 bytes from one line with two calls of malloc on it;
 *   deep     leaks 5 blocks of 64 bytes at the bottom of a 40-deep recursion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void **kept;
static size_t kept_count, kept_cap;

__attribute__((noinline)) static void keep(void *block) {
    if (kept_count == kept_cap) {
        kept_cap = kept_cap ? kept_cap * 2 : 1024;
        kept = realloc(kept, kept_cap * sizeof *kept);
    }
    kept[kept_count++] = block;
}

__attribute__((noinline)) static void small_blocks(void) {
    for (int i = 0; i < 200000; i++) keep(malloc(100)); /* SMALL_LINE */
}

__attribute__((noinline)) static void large_blocks(void) {
    for (int i = 0; i < 200; i++) keep(malloc(100000)); /* LARGE_LINE */
}

__attribute__((noinline)) static void pair(void) {
    for (int i = 0; i < 10; i++) { keep(malloc(48)); keep(malloc(48)); } /* PAIR_LINE */
}

__attribute__((noinline)) static int descend(int depth) {
    if (depth == 0) {
        for (int i = 0; i < 5; i++) keep(malloc(64)); /* DEEP_LINE */
        return 0;
    }
    /* Not a tail call: each level keeps its frame. */
    return descend(depth - 1) + 1;
}

int main(void) {
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char line[32];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "sampled", 7) == 0) {
            small_blocks();
            large_blocks();
        } else if (strncmp(line, "pair", 4) == 0) {
            pair();
        } else if (strncmp(line, "deep", 4) == 0) {
            descend(40);
        }
        printf("done\n");
        fflush(stdout);
    }
    return 0;
}
