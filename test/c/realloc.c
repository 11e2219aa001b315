/*
 * realloc.c — realloc growth and shrink, in place and moved.
 *
 * Each scenario runs in its own scope: allocate a block of `a` bytes, fill it, realloc it to
 * `b` bytes, check the common prefix survived, free it. Prints
 *   inplace.NAME=1|0  a.NAME=..  b.NAME=..
 * and the deltas with prefix "d.". Blocks that stop an in-place growth ("guards") are
 * allocated in scope "r_guard" and freed there.
 *
 * Scope "r_loop": one block, sizes size(k) = 1 + (k * 7919) % 5000 for k in 0..=STEPS;
 * malloc(size(0)) then realloc to size(k) for k in 1..=STEPS, then free; a guard of 32 bytes is
 * allocated before every step with k % 3 == 0. Prints loop.moved= and loop.inplace=.
 */
#include <malloc.h>
#include <stdint.h>

#include "sk_test.h"

#define STEPS 2000

static skt_snap s0, s1;
static void *guards[STEPS + 16];
static int nguards;
static skull_scope_id guard_scope;
static int bad;

struct result {
    const char *name;
    size_t a, b;
    int inplace;
};
static struct result results[16];
static int nresults;

static void guard(size_t n)
{
    skull_scope_id prev = skt_enter(guard_scope);
    guards[nguards++] = malloc(n);
    skt_leave(prev);
}

static int prefix_ok(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

/* kind 0: malloc(a); kind 1: posix_memalign(256, a). with_guard: allocate a guard after. */
static void scenario(const char *name, int kind, size_t a, size_t b, int with_guard)
{
    skull_scope_id id = skt_scope(name, "module");
    skull_scope_id prev = skt_enter(id);
    void *p = NULL;
    if (kind == 0)
        p = malloc(a);
    else if (posix_memalign(&p, 256, a) != 0)
        p = NULL;
    if (!p) {
        bad = 1;
        skt_leave(prev);
        return;
    }
    if (b == 0) /* grow to what the block can already hold */
        b = malloc_usable_size(p) > a ? malloc_usable_size(p) : a + 1;
    memset(p, 0x77, a);
    if (with_guard)
        guard(100);
    void *q = realloc(p, b);
    if (!q) {
        bad = 2;
    } else {
        if (!prefix_ok(q, a < b ? a : b, 0x77))
            bad = 3;
        memset(q, 0x11, b);
        free(q);
    }
    results[nresults].name = name;
    results[nresults].a = a;
    results[nresults].b = b;
    results[nresults].inplace = q == p;
    nresults++;
    skt_leave(prev);
}

static size_t loop_size(size_t k)
{
    return 1 + (k * 7919) % 5000;
}

int main(void)
{
    skt_init();
    guard_scope = skt_scope("r_guard", "module");
    skull_scope_id loop_scope = skt_scope("r_loop", "module");
    /* Register all scenario scopes before the window (registering never allocates anyway). */
    skt_take(&s0);

    scenario("r_shrink_small", 0, 1000, 100, 0);
    scenario("r_grow_usable", 0, 100, 0, 0);
    scenario("r_grow_blocked", 0, 100, 100000, 1);
    scenario("r_grow_mmap", 0, 1 << 20, 4 << 20, 1);
    scenario("r_shrink_mmap", 0, 4 << 20, 2 << 20, 0);
    scenario("r_shrink_mmap_small", 0, 4 << 20, 100, 0);
    scenario("r_grow_aligned", 1, 100, 5000, 1);
    scenario("r_shrink_aligned", 1, 5000, 100, 0);

    long moved = 0, inplace = 0;
    skull_scope_id prev = skt_enter(loop_scope);
    unsigned char *p = malloc(loop_size(0));
    if (!p)
        skt_die("malloc failed");
    memset(p, 0, loop_size(0));
    for (size_t k = 1; k <= STEPS; k++) {
        if (k % 3 == 0)
            guard(32);
        size_t old = loop_size(k - 1), nw = loop_size(k);
        unsigned char *q = realloc(p, nw);
        if (!q)
            skt_die("realloc failed");
        if (!prefix_ok(q, old < nw ? old : nw, (unsigned char)(k - 1)))
            bad = 4;
        if (q == p)
            inplace++;
        else
            moved++;
        memset(q, (unsigned char)k, nw);
        p = q;
    }
    free(p);
    skt_leave(prev);

    prev = skt_enter(guard_scope);
    for (int i = 0; i < nguards; i++)
        free(guards[i]);
    skt_leave(prev);
    skt_take(&s1);

    printf("bad=%d\n", bad);
    printf("loop.moved=%ld\nloop.inplace=%ld\nloop.steps=%d\nguards=%d\n", moved, inplace, STEPS,
           nguards);
    for (int i = 0; i < nresults; i++)
        printf("inplace.%s=%d\na.%s=%zu\nb.%s=%zu\n", results[i].name, results[i].inplace,
               results[i].name, results[i].a, results[i].name, results[i].b);
    skt_print_delta("d.", &s0, &s1);
    return 0;
}
