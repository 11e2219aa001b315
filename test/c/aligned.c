/*
 * aligned.c — aligned allocations at every power of two from 16 B to 2 MiB.
 *
 * Scope "al_posix":   posix_memalign(&p, 1<<s, 1000 + s)  for s in 4..=21
 * Scope "al_aligned": aligned_alloc(1<<s, 1<<s)          for s in 4..=21
 * Scope "al_memalign": memalign(1<<s, 1000 + s)           for s in 4..=21
 * Scope "al_npot" (non-power-of-two alignments are rounded up):
 *   memalign(24, 100), memalign(100, 100), memalign(3000, 10), memalign(17, 10),
 *   aligned_alloc(48, 96)
 * Scope "al_small" (alignment <= 16: plain blocks):
 *   memalign(0, 10), memalign(1, 10), memalign(8, 10), posix_memalign(8, 10),
 *   aligned_alloc(8, 16), aligned_alloc(16, 16), posix_memalign(16, 10)
 * Every block is checked for alignment, filled up to its size and to malloc_usable_size,
 * all blocks of a scope are kept live together, then freed in the same scope.
 * Prints "bad=0" when every check passed, then deltas with prefix "d.".
 */
#include <malloc.h>
#include <stdint.h>

#include "sk_test.h"

static skt_snap s0, s1;
static void *live[64];
static int nlive;
static int bad;

static void check(void *p, size_t size, size_t align, const char *what)
{
    if (!p || ((uintptr_t)p % align) != 0) {
        bad = 1;
        fprintf(stderr, "%s: size %zu align %zu -> %p\n", what, size, align, p);
        return;
    }
    memset(p, 0xa5, size);
    size_t u = malloc_usable_size(p);
    if (u < size) {
        bad = 1;
        fprintf(stderr, "%s: usable %zu < size %zu\n", what, u, size);
        return;
    }
    memset(p, 0x3c, u);
    live[nlive++] = p;
}

static void free_live(void)
{
    for (int i = 0; i < nlive; i++)
        free(live[i]);
    nlive = 0;
}

int main(void)
{
    skt_init();
    skull_scope_id sp = skt_scope("al_posix", "module");
    skull_scope_id sa = skt_scope("al_aligned", "module");
    skull_scope_id sm = skt_scope("al_memalign", "module");
    skull_scope_id sn = skt_scope("al_npot", "module");
    skull_scope_id ss = skt_scope("al_small", "module");

    skt_take(&s0);
    skull_scope_id prev = skt_enter(sp);
    for (int s = 4; s <= 21; s++) {
        void *p = NULL;
        int rc = posix_memalign(&p, (size_t)1 << s, 1000 + s);
        check(rc == 0 ? p : NULL, 1000 + s, (size_t)1 << s, "posix_memalign");
    }
    free_live();
    skt_enter(sa);
    for (int s = 4; s <= 21; s++)
        check(aligned_alloc((size_t)1 << s, (size_t)1 << s), (size_t)1 << s, (size_t)1 << s,
              "aligned_alloc");
    free_live();
    skt_enter(sm);
    for (int s = 4; s <= 21; s++)
        check(memalign((size_t)1 << s, 1000 + s), 1000 + s, (size_t)1 << s, "memalign");
    free_live();
    skt_enter(sn);
    check(memalign(24, 100), 100, 32, "memalign 24");
    check(memalign(100, 100), 100, 128, "memalign 100");
    check(memalign(3000, 10), 10, 4096, "memalign 3000");
    check(memalign(17, 10), 10, 32, "memalign 17");
    check(aligned_alloc(48, 96), 96, 64, "aligned_alloc 48");
    free_live();
    skt_enter(ss);
    void *p = NULL;
    check(memalign(0, 10), 10, 16, "memalign 0");
    check(memalign(1, 10), 10, 16, "memalign 1");
    check(memalign(8, 10), 10, 16, "memalign 8");
    check(posix_memalign(&p, 8, 10) == 0 ? p : NULL, 10, 16, "posix_memalign 8");
    check(aligned_alloc(8, 16), 16, 16, "aligned_alloc 8");
    check(aligned_alloc(16, 16), 16, 16, "aligned_alloc 16");
    check(posix_memalign(&p, 16, 10) == 0 ? p : NULL, 10, 16, "posix_memalign 16");
    free_live();
    skt_leave(prev);
    skt_take(&s1);

    printf("bad=%d\n", bad);
    skt_print_delta("d.", &s0, &s1);
    return 0;
}
