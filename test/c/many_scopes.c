/*
 * many_scopes.c — registers 200 scopes ("hole-000" .. "hole-199", kind "module"), so the
 * scope table spans several pages of the segment, prints "ready" and waits to be killed.
 * test/ps-full-dir.test.ts finds the page of the last entry by its name.
 */
#include <stdio.h>
#include <unistd.h>
#include "skull_mem.h"

int main(void)
{
    char name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "hole-%03d", i);
        skull_scope_register(name, "module");
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
