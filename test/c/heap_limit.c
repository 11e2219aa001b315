/* Allocates 1 MiB blocks (each touched once) until malloc fails, then prints how many it got:
 * under `ulimit -v` the figure shows how much address space is left to the heap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    long got = 0;
    for (;;) {
        char *block = malloc(1 << 20);
        if (!block)
            break;
        block[0] = 1;
        got++;
    }
    printf("heap_mib=%ld\n", got);
    return 0;
}
