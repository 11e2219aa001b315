/*
 * reader_pattern.c — known allocations in three scopes, read from outside by the tests.
 *
 * Phase 1 (then prints "ready" and waits for a line on stdin):
 *   alpha: 10 x malloc(100), 4 x calloc(5, 20), malloc(50) realloc'd to 200,
 *          2 x posix_memalign(64, 300), aligned_alloc(128, 256), memalign(32, 40),
 *          valloc(100), pvalloc(100)
 *   beta:  3 x malloc(1000) kept, 5 x malloc(64) freed in beta, reallocarray(NULL, 10, 12)
 *   gamma: frees 2 of alpha's malloc(100) blocks and 1 of its calloc blocks, free(NULL),
 *          2 x malloc(77), realloc of alpha's 200-byte block to 300
 * Phase 2 (then prints "ready2" and waits again; then returns from main):
 *   alpha: 7 x malloc(4096); beta frees its 3 x 1000 blocks;
 *   a new scope delta (tool): 3 x calloc(10, 10)
 * Nothing is freed at the end: the tests count what stays live.
 */
#include <malloc.h>

#include "reader_common.h"

static void *a100[10], *acal[4], *aal[8], *b1000[3], *b64[5], *barr, *g77[2], *arealloc;
static void *a4096[7], *dcal[3];

int main(void)
{
    skull_scope_id alpha = rc_scope("alpha", "module");
    skull_scope_id beta = rc_scope("beta", "service");
    skull_scope_id gamma = rc_scope("gamma", "route");

    skull_scope_id prev = skull_scope_enter(alpha);
    for (int i = 0; i < 10; i++)
        a100[i] = malloc(100);
    for (int i = 0; i < 4; i++)
        acal[i] = calloc(5, 20);
    arealloc = realloc(malloc(50), 200);
    if (posix_memalign(&aal[0], 64, 300) || posix_memalign(&aal[1], 64, 300))
        rc_die("posix_memalign");
    aal[2] = aligned_alloc(128, 256);
    aal[3] = memalign(32, 40);
    aal[4] = valloc(100);
    aal[5] = pvalloc(100);

    skull_scope_enter(beta);
    for (int i = 0; i < 3; i++)
        b1000[i] = malloc(1000);
    for (int i = 0; i < 5; i++)
        b64[i] = malloc(64);
    for (int i = 0; i < 5; i++)
        free(b64[i]);
    barr = reallocarray(NULL, 10, 12);

    skull_scope_enter(gamma);
    free(a100[0]);
    free(a100[1]);
    free(acal[0]);
    free(NULL);
    g77[0] = malloc(77);
    g77[1] = malloc(77);
    arealloc = realloc(arealloc, 300);
    skull_scope_leave(prev);

    for (int i = 0; i < 10; i++)
        if (!a100[i])
            rc_die("malloc");
    if (!acal[3] || !arealloc || !aal[2] || !aal[3] || !aal[4] || !aal[5] || !barr || !g77[1])
        rc_die("allocation failed");

    rc_say("ready\n");
    rc_wait_line(0);

    prev = skull_scope_enter(alpha);
    for (int i = 0; i < 7; i++)
        a4096[i] = malloc(4096);
    skull_scope_enter(beta);
    for (int i = 0; i < 3; i++)
        free(b1000[i]);
    skull_scope_id delta = rc_scope("delta", "tool");
    skull_scope_enter(delta);
    for (int i = 0; i < 3; i++)
        dcal[i] = calloc(10, 10);
    skull_scope_leave(prev);
    if (!a4096[6] || !dcal[2])
        rc_die("allocation failed");

    rc_say("ready2\n");
    rc_wait_line(0);
    return 0;
}
