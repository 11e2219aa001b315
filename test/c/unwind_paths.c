/*
 * Allocation stacks a stack walker can get wrong, for the tracing tests (built with -g -O2,
 * so without frame pointers):
 * - via_a and via_b reach keep_block with the same stack pointer and differ only in their
 *   return addresses, alternately, so a walker that remembered the last stack by its stack
 *   pointer alone would merge them;
 * - big_frame has a 64 KiB stack frame, larger than small unwind-rule encodings hold.
 *
 * Prints "ready <pid>"; on a line on stdin makes 30 blocks of 64 bytes through via_a and 20
 * of 80 through via_b, interleaved, then 10 of 128 through big_frame, and prints "done".
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void *kept[64]; /* not static: the stores must stay */
int count;

__attribute__((noinline)) void keep_block(size_t size) {
    kept[count++] = malloc(size); /* KEEP_LINE */
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void via_a(void) {
    keep_block(64); /* VIA_A_LINE */
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void via_b(void) {
    keep_block(80); /* VIA_B_LINE */
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void big_frame(void) {
    volatile char buffer[65536];
    buffer[0] = 0;
    keep_block(128 + buffer[0]); /* BIG_LINE */
    __asm__ volatile("" ::: "memory");
}

int main(void) {
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1;
    for (int i = 0; i < 50; i++) {
        if (i % 5 < 3)
            via_a();
        else
            via_b();
    }
    for (int i = 0; i < 10; i++) big_frame();
    printf("done\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
    }
    return 0;
}
