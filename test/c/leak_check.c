/*
 * The leak check's C case: 100 blocks of 48 bytes whose only pointer is overwritten (lost, at
 * LOST_LINE), 50 blocks of 64 bytes kept in a global array (still reachable, at KEPT_LINE),
 * everything else freed. With the argument "second", 7 more blocks of 24 bytes are lost at
 * SECOND_LINE, for the suppressions test. Exits with status 0 by returning from main.
 */
#include <stdlib.h>
#include <string.h>

/* Not static: a write-only static array (and its mallocs) could be optimised away. */
void *kept[50];

__attribute__((noinline)) void *lose_one(void) {
    void *block = malloc(48); /* LOST_LINE */
    memset(block, 1, 48);
    return block;
}

__attribute__((noinline)) void *lose_second(void) {
    void *block = malloc(24); /* SECOND_LINE */
    memset(block, 3, 24);
    return block;
}

__attribute__((noinline)) void keep(int i) {
    kept[i] = malloc(64); /* KEPT_LINE */
    memset(kept[i], 2, 64);
}

int main(int argc, char **argv) {
    /* The only pointer to each lost block: overwritten by the next one, then by NULL. */
    void *volatile last = NULL;
    for (int i = 0; i < 100; i++) last = lose_one();
    if (argc > 1 && strcmp(argv[1], "second") == 0)
        for (int i = 0; i < 7; i++) last = lose_second();
    last = NULL;
    for (int i = 0; i < 50; i++) keep(i);
    char *scratch = malloc(4096); /* freed: neither lost nor reachable */
    memset(scratch, 0, 4096);
    free(scratch);
    return 0;
}
