/*
 * PLACEHOLDER demo (written by the JS/TS helper so `skull-mem demo` can be tested; the lead
 * replaces it). Registers two scopes, allocates in each, frees across scopes, and prints the
 * report of the preloaded library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "skull_mem.h"

int main(void) {
    skull_scope_id parser = skull_scope_register("parser", "module");
    skull_scope_id cache = skull_scope_register("cache", "service");
    if (parser == SKULL_SCOPE_INVALID || cache == SKULL_SCOPE_INVALID) {
        fprintf(stderr, "demo: cannot register scopes\n");
        return 1;
    }

    skull_scope_id outer = skull_scope_enter(parser);
    char *tokens = malloc(4096);
    skull_scope_leave(outer);

    outer = skull_scope_enter(cache);
    void *entries[16];
    for (int i = 0; i < 16; i++) entries[i] = calloc(1, 1024);
    free(tokens); /* credited back to `parser`, which allocated it */
    skull_scope_leave(outer);

    static char buf[1 << 16];
    size_t len = skull_report(buf, sizeof buf, SKULL_REPORT_TEXT);
    fwrite(buf, 1, len < sizeof buf ? len : sizeof buf - 1, stdout);

    for (int i = 0; i < 16; i++) free(entries[i]);
    return 0;
}
