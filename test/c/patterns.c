/*
 * patterns.c — known allocation patterns, one scope per API.
 *
 * usage: patterns N
 * For each API, in its own scope, allocates N blocks of known sizes (formulas below, mirrored
 * by crates/preload/tests/counters.rs), frees the first N/2 of them in the same scope, takes a
 * snapshot (printed as deltas with prefix "mid."), then frees the rest (prefix "end.").
 */
#include <malloc.h>
#include <stdint.h>

#include "sk_test.h"

#define MAXN 4096

static void *blocks[9][MAXN];
static skt_snap s0, s1, s2;
static int bad;

static void check(void *p, size_t size, size_t align, int zero)
{
    if (!p) {
        bad |= 1;
        return;
    }
    if (align && ((uintptr_t)p % align) != 0)
        bad |= 2;
    if (zero)
        for (size_t k = 0; k < size; k++)
            if (((unsigned char *)p)[k] != 0)
                bad |= 4;
    memset(p, 0x5a, size);
}

int main(int argc, char **argv)
{
    skt_init();
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
    if (n > MAXN)
        skt_die("N too large");
    const char *names[9] = {"p_malloc",         "p_calloc",        "p_realloc",
                            "p_reallocarray",   "p_posix_memalign", "p_aligned_alloc",
                            "p_memalign",       "p_valloc",        "p_pvalloc"};
    skull_scope_id ids[9];
    for (int k = 0; k < 9; k++)
        ids[k] = skt_scope(names[k], "module");

    skt_take(&s0);
    for (int k = 0; k < 9; k++) {
        skull_scope_id prev = skt_enter(ids[k]);
        for (size_t i = 0; i < n; i++) {
            void *p = NULL;
            switch (k) {
            case 0:
                p = malloc(8 + 3 * i);
                check(p, 8 + 3 * i, 16, 0);
                break;
            case 1:
                p = calloc(i + 1, 5);
                check(p, 5 * (i + 1), 16, 1);
                break;
            case 2:
                p = realloc(NULL, 16 + i);
                check(p, 16 + i, 16, 0);
                p = realloc(p, 32 + 2 * i);
                if (p)
                    for (size_t b = 0; b < 16 + i; b++)
                        if (((unsigned char *)p)[b] != 0x5a)
                            bad |= 8;
                check(p, 32 + 2 * i, 16, 0);
                break;
            case 3:
                p = reallocarray(NULL, i + 1, 4);
                check(p, 4 * (i + 1), 16, 0);
                p = reallocarray(p, i + 1, 8);
                check(p, 8 * (i + 1), 16, 0);
                break;
            case 4: {
                size_t a = (size_t)8 << (i % 6);
                if (posix_memalign(&p, a, 100 + i) != 0)
                    p = NULL;
                check(p, 100 + i, a, 0);
                break;
            }
            case 5: {
                size_t a = (size_t)16 << (i % 5);
                p = aligned_alloc(a, a * (i % 3 + 1));
                check(p, a * (i % 3 + 1), a, 0);
                break;
            }
            case 6: {
                size_t a = (size_t)1 << (i % 10);
                p = memalign(a, 50 + i);
                check(p, 50 + i, a, 0);
                break;
            }
            case 7:
                p = valloc(100 + i);
                check(p, 100 + i, 4096, 0);
                break;
            case 8:
                p = pvalloc(i * 1000);
                check(p, i == 0 ? 4096 : (i * 1000 + 4095) / 4096 * 4096, 4096, 0);
                break;
            }
            blocks[k][i] = p;
        }
        for (size_t i = 0; i < n / 2; i++)
            free(blocks[k][i]);
        skt_leave(prev);
    }
    skt_take(&s1);
    for (int k = 0; k < 9; k++) {
        skull_scope_id prev = skt_enter(ids[k]);
        for (size_t i = n / 2; i < n; i++)
            free(blocks[k][i]);
        skt_leave(prev);
    }
    skt_take(&s2);

    printf("bad=%d\n", bad);
    skt_print_delta("mid.", &s0, &s1);
    skt_print_delta("end.", &s0, &s2);
    return 0;
}
