/*
 * capture_depth.c — ns per malloc+free pair made DEPTH frames deep (default 40, so that a
 * traced stack is cut at its 32-frame maximum), for benches/trace.sh: run once with tracing
 * off and once with SKULL_MEM_TRACE=all, the difference is the cost of capturing and
 * recording one stack of 32 frames.
 *
 *   capture_depth [DEPTH] [PAIRS] [same|alternate]
 *                                      prints "RESULT depth=... ns_per_pair=..."
 *
 * same: every pair comes from the same call site, the case where skull-mem sees that the
 * stack is the one it captured last and does not walk it again. alternate (the default):
 * pairs come in turn from two call sites, so every capture walks all 32 frames.
 *
 * Build: gcc -O2 -fno-optimize-sibling-calls -o capture_depth capture_depth.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static long pairs = 20000;
static int alternate = 1;

__attribute__((noinline)) static void pair_here(void) {
    char *volatile p = malloc(64);
    p[0] = 1;
    free(p);
}

__attribute__((noinline)) static void pair_there(void) {
    char *volatile p = malloc(64);
    p[0] = 2;
    free(p);
}

__attribute__((noinline)) static double measure(void) {
    double start = now_ns();
    for (long i = 0; i < pairs; i++) {
        if (alternate && (i & 1))
            pair_there();
        else
            pair_here();
    }
    return (now_ns() - start) / pairs;
}

/* Recurses `depth` frames (not a tail call: the result is used after the call). */
__attribute__((noinline)) static double descend(int depth) {
    if (depth == 0) return measure();
    double result = descend(depth - 1);
    __asm__ volatile("" ::: "memory");
    return result;
}

int main(int argc, char **argv) {
    int depth = argc > 1 ? atoi(argv[1]) : 40;
    if (argc > 2) pairs = atol(argv[2]);
    if (argc > 3) alternate = strcmp(argv[3], "same") != 0;
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        double ns = descend(depth);
        if (ns < best) best = ns;
    }
    printf("RESULT depth=%d ns_per_pair=%.1f\n", depth, best);
    return 0;
}
