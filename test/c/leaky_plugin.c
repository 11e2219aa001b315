/* A shared library that leaks, loaded with dlopen by dlopen_host.c in the tracing tests. */
#include <stdlib.h>
#include <string.h>

static void *kept[1024];
static int count;

__attribute__((noinline)) void plugin_leak(int n) {
    for (int i = 0; i < n && count < 1024; i++) {
        char *block = malloc(512); /* PLUGIN_LEAK_LINE */
        memset(block, 1, 512);
        kept[count++] = block;
    }
}
