/*
 * 200,000 distinct stacks and 2,000,000 live blocks, for the trace tables' scale test.
 *
 * Stack i is a path of LEVELS calls through step_a and step_b, chosen by the bits of i: each
 * frame's return address says which function it is in and which one it calls, so the
 * 200,000 paths are 200,000 distinct stacks (of LEVELS + 5 frames: leaf, the steps, main and
 * libc's start-up). At the end of each path, leaf() keeps BLOCKS blocks of 1 + (i * BLOCKS
 * + k) % 100 bytes. Output is written with write(2), never stdio, so the program's only
 * other block is the array keeping the others (STACKS * BLOCKS pointers).
 *
 * Prints "ready" when everything is allocated, then waits for a line on stdin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STACKS 200000UL
#define BLOCKS 10UL
#define LEVELS 18

static void **kept;
static size_t kept_count;

__attribute__((noinline)) static void leaf(unsigned long path) {
    for (unsigned long k = 0; k < BLOCKS; k++) {
        kept[kept_count++] = malloc(1 + (path * BLOCKS + k) % 100);
    }
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void step_a(unsigned long path, int level);
__attribute__((noinline)) static void step_b(unsigned long path, int level);

/* The next frame of path `path` after `level` steps: a distinct call site per bit. */
#define NEXT(path, level)                                                                      \
    do {                                                                                       \
        if ((level) == LEVELS)                                                                 \
            leaf(path);                                                                        \
        else if (((path) >> (level)) & 1)                                                      \
            step_b(path, (level) + 1);                                                         \
        else                                                                                   \
            step_a(path, (level) + 1);                                                         \
        __asm__ volatile("" ::: "memory");                                                     \
    } while (0)

static void step_a(unsigned long path, int level) { NEXT(path, level); }
static void step_b(unsigned long path, int level) { NEXT(path, level); }

static void say(const char *text) {
    char line[64];
    int len = snprintf(line, sizeof line, "%s\n", text);
    if (write(1, line, (size_t)len) != len) _exit(1);
}

int main(void) {
    kept = malloc(STACKS * BLOCKS * sizeof *kept);
    for (unsigned long i = 0; i < STACKS; i++) {
        NEXT(i, 0);
    }
    say("ready");
    char line[16];
    if (read(0, line, sizeof line) < 0) return 1;
    return 0;
}
