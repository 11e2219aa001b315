/*
 * A program with two known leaks in two scopes, for the pprof and HTML report tests. Built
 * with -g -O2.
 *
 * Prints "ready <pid>", then on the first line on stdin: in scope "parser" (kind "module"),
 * parse_leak() keeps PARSER_BLOCKS blocks of PARSER_SIZE bytes; in scope "cache" (kind
 * "service"), cache_leak() keeps CACHE_BLOCKS blocks of CACHE_SIZE bytes; churn() allocates
 * and frees CHURN blocks of 64 bytes (traced, but none of them live); then prints "done" and waits for stdin to close. The
 * kept pointers live in static arrays, so nothing else is allocated after "ready".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skull_mem.h"

#define PARSER_BLOCKS 50
#define PARSER_SIZE 4096
#define CACHE_BLOCKS 10
#define CACHE_SIZE 2000
#define CHURN 1000

static void *parsed[PARSER_BLOCKS];
static void *cached[CACHE_BLOCKS];

__attribute__((noinline)) void parse_leak(int i) {
    parsed[i] = malloc(PARSER_SIZE); /* PARSER_LINE */
    memset(parsed[i], 1, PARSER_SIZE);
    __asm__ volatile("" ::: "memory");
}

/* Inlined into cache_leak at -O2: the profile's location has two lines, this one first. */
static inline void *cache_block(void) {
    void *block = malloc(CACHE_SIZE); /* CACHE_LINE */
    memset(block, 2, CACHE_SIZE);
    return block;
}

__attribute__((noinline)) void cache_leak(int i) {
    cached[i] = cache_block(); /* CACHE_CALLER_LINE */
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void churn(void) {
    char *volatile p = malloc(64);
    p[0] = 1;
    free(p);
}

int main(void) {
    char line[16];
    skull_scope_id parser = skull_scope_register("parser", "module");
    skull_scope_id cache = skull_scope_register("cache", "service");
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) return 1;
    skull_scope_id previous = skull_scope_enter(parser);
    for (int i = 0; i < PARSER_BLOCKS; i++) parse_leak(i);
    skull_scope_leave(previous);
    previous = skull_scope_enter(cache);
    for (int i = 0; i < CACHE_BLOCKS; i++) cache_leak(i);
    skull_scope_leave(previous);
    for (int i = 0; i < CHURN; i++) churn();
    printf("done\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
    }
    return 0;
}
