/* benches/unique_stacks.c — a process with N distinct allocation stacks (argv[1], default
 * 100,000; at most 1,594,323), each leaking one 16-byte block: every stack is a path of
 * `levels` calls through one of three functions, 11 levels up to 3^11 = 177,147 stacks (22
 * frames) and as many more as N needs, up to 13 (3^13 = 1,594,323 paths, 26 frames; with
 * main and what calls it, within the 32 frames recorded). Prints "ready <pid>" once they are
 * allocated, then waits for stdin to close. For benches/trace_report.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MIN_LEVELS 11
#define MAX_LEVELS 13

static void **kept;
static long kept_count;

__attribute__((noinline)) static void step(int level, long path);

__attribute__((noinline)) static void via_a(int level, long path) { step(level, path); __asm__ volatile(""); }
__attribute__((noinline)) static void via_b(int level, long path) { step(level, path); __asm__ volatile(""); }
__attribute__((noinline)) static void via_c(int level, long path) { step(level, path); __asm__ volatile(""); }

__attribute__((noinline)) static void step(int level, long path) {
    if (level == 0) {
        kept[kept_count++] = malloc(16);
        return;
    }
    switch (path % 3) {
    case 0: via_a(level - 1, path / 3); break;
    case 1: via_b(level - 1, path / 3); break;
    default: via_c(level - 1, path / 3); break;
    }
    __asm__ volatile("");
}

int main(int argc, char **argv) {
    long stacks = argc > 1 ? atol(argv[1]) : 100000;
    int levels = MIN_LEVELS;
    long paths = 177147;
    while (paths < stacks && levels < MAX_LEVELS) {
        levels++;
        paths *= 3;
    }
    if (stacks < 1 || stacks > paths) {
        fprintf(stderr, "unique_stacks: from 1 to %ld stacks\n", paths);
        return 2;
    }
    kept = calloc((size_t)stacks, sizeof *kept);
    for (long path = 0; path < stacks; path++) step(levels, path);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char line[8];
    while (fgets(line, sizeof line, stdin)) {
    }
    return 0;
}
