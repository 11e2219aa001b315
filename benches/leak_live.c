/*
 * benches/leak_live.c — the leak check's benchmark program: allocates BLOCKS blocks of SIZE
 * bytes (argv[1], argv[2]; default 1,000,000 of 1024: 1 GiB), keeps them all in one array (so
 * all are reachable and the scan reads every block), loses every LOSE-th one (argv[3], default
 * 1000) by overwriting its slot, writes one word into each block, and returns from main.
 */
#include <stdio.h>
#include <stdlib.h>

void **blocks; /* not static: the stores must stay */

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 1000000;
    long size = argc > 2 ? atol(argv[2]) : 1024;
    long lose = argc > 3 ? atol(argv[3]) : 1000;
    blocks = malloc(count * sizeof *blocks);
    for (long i = 0; i < count; i++) {
        blocks[i] = malloc(size);
        *(long *)blocks[i] = i;
    }
    for (long i = 0; i < count; i += lose) blocks[i] = NULL;
    printf("%ld blocks of %ld bytes\n", count, size);
    return 0;
}
