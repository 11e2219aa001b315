/*
 * cross.c — blocks allocated in one scope and freed (or reallocated) in another.
 *
 * usage: cross N
 * Scope "x_owner" (A) allocates, in this order, with i in 0..N:
 *   g1: malloc(10 + i)              freed in scope "x_freer" (B)
 *   g2: calloc(i + 1, 3)            freed in B
 *   g3: posix_memalign(64, 30 + i)  freed in B
 *   g4: malloc(20 + i)              reallocated in B to 40 + i, then freed in B
 *   g5: malloc(7)                   freed in A (same scope: not a cross free)
 *   g6: malloc(5 + i)               freed in scope 0 (core)
 * Deltas are printed with prefix "d.".
 */
#include "sk_test.h"

#define MAXN 4096

static void *g[7][MAXN];
static skt_snap s0, s1;

int main(int argc, char **argv)
{
    skt_init();
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
    if (n > MAXN)
        skt_die("N too large");
    skull_scope_id a = skt_scope("x_owner", "module");
    skull_scope_id b = skt_scope("x_freer", "service");
    int bad = 0;

    skt_take(&s0);
    skull_scope_id prev = skt_enter(a);
    for (size_t i = 0; i < n; i++) {
        g[1][i] = malloc(10 + i);
        g[2][i] = calloc(i + 1, 3);
        if (posix_memalign(&g[3][i], 64, 30 + i) != 0)
            bad = 1;
        g[4][i] = malloc(20 + i);
        g[5][i] = malloc(7);
        g[6][i] = malloc(5 + i);
    }
    skull_scope_id in_a = skt_enter(b);
    if (in_a != a)
        bad = 2;
    for (size_t i = 0; i < n; i++) {
        free(g[1][i]);
        free(g[2][i]);
        free(g[3][i]);
        g[4][i] = realloc(g[4][i], 40 + i);
        if (!g[4][i])
            bad = 3;
    }
    for (size_t i = 0; i < n; i++)
        free(g[4][i]);
    skt_leave(in_a);
    for (size_t i = 0; i < n; i++)
        free(g[5][i]);
    skt_leave(prev);
    for (size_t i = 0; i < n; i++)
        free(g[6][i]);
    skt_take(&s1);

    printf("bad=%d\n", bad);
    skt_print_delta("d.", &s0, &s1);
    return 0;
}
