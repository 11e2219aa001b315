/* A shared library that leaks, loaded with dlopen by dlopen_host.c in the tracing tests.
 * Built with -DBIG_FRAME it leaks 256-byte blocks from a function with a 16 KiB stack frame,
 * so that its unwind rules differ from the plain build's at the same addresses. */
#include <stdlib.h>
#include <string.h>

#ifdef BIG_FRAME
#define BLOCK 256
#else
#define BLOCK 512
#endif

static void *kept[1024];
static int count;

__attribute__((noinline)) void plugin_leak(int n) {
#ifdef BIG_FRAME
    volatile char frame[16384];
    frame[0] = 0;
#endif
    for (int i = 0; i < n && count < 1024; i++) {
        char *block = malloc(BLOCK); /* PLUGIN_LEAK_LINE */
        memset(block, 1, BLOCK);
        kept[count++] = block;
    }
}
