/*
 * edge.c — edge semantics of the malloc family, comparable with and without the preload.
 *
 * usage: edge CASE
 * The skull_* functions are resolved with dlsym, so the same binary runs without
 * libskull_mem.so. Each case runs inside scope "edge" between two snapshots and records its
 * observable behaviour (NULL or not, errno, return codes) as `sem.KEY=VALUE` lines, which must
 * be identical with and without the preload. With the preload, the counter deltas follow with
 * prefix "d.". Nothing is printed inside the measured window.
 */
#define SKT_DLSYM
#include <limits.h>
#include <malloc.h>
#include <stdint.h>

#include "sk_test.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_memalign(size_t, size_t);

#define MAXSEM 256
static struct {
    const char *key;
    long long v;
} sem[MAXSEM];
static int nsem;
static skt_snap s0, s1;

static void rec(const char *key, long long v)
{
    if (nsem < MAXSEM) {
        sem[nsem].key = key;
        sem[nsem].v = v;
        nsem++;
    }
}

#define GIB ((size_t)1 << 30)

static void case_malloc0(void)
{
    void *p = malloc(0);
    void *q = malloc(0);
    rec("p_nonnull", p != NULL);
    rec("q_nonnull", q != NULL);
    rec("unique", p != q);
    free(p);
    free(q);
}

static void case_free_null(void)
{
    errno = 1234;
    free(NULL);
    free(NULL);
    free(NULL);
    rec("errno", errno);
}

static void case_realloc_null(void)
{
    errno = 1234;
    char *p = realloc(NULL, 100);
    rec("nonnull", p != NULL);
    rec("errno", errno);
    if (p) {
        memset(p, 1, 100);
        free(p);
    }
    char *q = realloc(NULL, 0); /* glibc: like malloc(0) */
    rec("zero_nonnull", q != NULL);
    free(q);
}

static void case_realloc_zero(void)
{
    char *p = malloc(100);
    memset(p, 2, 100);
    errno = 1234;
    char *q = realloc(p, 0);
    rec("returns_null", q == NULL);
    rec("errno", errno);
    if (q)
        free(q);
}

static void case_calloc_overflow(void)
{
    errno = 0;
    void *p = calloc(SIZE_MAX / 2, 3);
    rec("a_null", p == NULL);
    rec("a_errno", errno);
    errno = 0;
    void *q = calloc((size_t)1 << 33, (size_t)1 << 33);
    rec("b_null", q == NULL);
    rec("b_errno", errno);
    free(p);
    free(q);
}

static const size_t zero_sizes[] = {1, 16, 24, 100, 1000, 4000, 4096, 10000, 100000, 200000, 1 << 20};
#define NZS (sizeof zero_sizes / sizeof zero_sizes[0])

static void case_calloc_zeroes(void)
{
    void *blocks[NZS];
    long long nonzero = 0;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < NZS; i++) {
            blocks[i] = malloc(zero_sizes[i]);
            memset(blocks[i], 0xab, zero_sizes[i]);
        }
        for (size_t i = 0; i < NZS; i++)
            free(blocks[i]);
        for (size_t i = 0; i < NZS; i++) {
            unsigned char *p = calloc(1, zero_sizes[i]);
            for (size_t k = 0; k < zero_sizes[i]; k++)
                nonzero += p[k] != 0;
            memset(p, 0xcd, zero_sizes[i]);
            blocks[i] = p;
        }
        for (size_t i = 0; i < NZS; i++)
            free(blocks[i]);
    }
    rec("nonzero_bytes", nonzero);
}

static void case_posix_memalign_invalid(void)
{
    static const size_t aligns[] = {0, 1, 2, 3, 4, 12, 24, 48, 100};
    static const char *keys[] = {"rc_0", "rc_1", "rc_2", "rc_3", "rc_4", "rc_12", "rc_24", "rc_48", "rc_100"};
    static const char *ekeys[] = {"errno_0",  "errno_1",  "errno_2",  "errno_3",  "errno_4",
                                  "errno_12", "errno_24", "errno_48", "errno_100"};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        void *p = (void *)0x1;
        errno = 1234;
        int rc = posix_memalign(&p, aligns[i], 64);
        rec(keys[i], rc);
        rec(ekeys[i], errno);
        if (rc == 0)
            free(p);
    }
}

static void case_memalign_huge(void)
{
    errno = 0;
    void *p = memalign(SIZE_MAX, 10);
    rec("memalign_null", p == NULL);
    rec("memalign_errno", errno);
    errno = 0;
    void *q = aligned_alloc(SIZE_MAX, 10);
    rec("aligned_alloc_null", q == NULL);
    rec("aligned_alloc_errno", errno);
    errno = 0;
    void *r = memalign(SIZE_MAX / 2 + 2, 10);
    rec("memalign_half_null", r == NULL);
    rec("memalign_half_errno", errno);
    free(p);
    free(q);
    free(r);
}

static void case_errno_preserved(void)
{
    void *p;
#define KEEP(key, stmt)                                                                         \
    do {                                                                                        \
        errno = 1234;                                                                           \
        stmt;                                                                                   \
        rec(key, errno);                                                                        \
    } while (0)
    KEEP("malloc", p = malloc(100));
    KEEP("realloc_grow", p = realloc(p, 100000));
    KEEP("realloc_shrink", p = realloc(p, 10));
    KEEP("usable", (void)malloc_usable_size(p));
    KEEP("free", free(p));
    KEEP("calloc", p = calloc(10, 10));
    KEEP("free_calloc", free(p));
    KEEP("malloc_big", p = malloc(1 << 20));
    KEEP("free_big", free(p));
    KEEP("calloc_big", p = calloc(1 << 10, 1 << 10));
    KEEP("free_calloc_big", free(p));
    KEEP("reallocarray", p = reallocarray(NULL, 10, 10));
    KEEP("free_reallocarray", free(p));
    KEEP("posix_memalign", (void)posix_memalign(&p, 64, 100));
    KEEP("free_posix_memalign", free(p));
    KEEP("aligned_alloc", p = aligned_alloc(64, 128));
    KEEP("free_aligned_alloc", free(p));
    KEEP("memalign", p = memalign(4096, 100));
    KEEP("free_memalign", free(p));
    KEEP("valloc", p = valloc(100));
    KEEP("free_valloc", free(p));
    KEEP("pvalloc", p = pvalloc(100));
    KEEP("free_pvalloc", free(p));
    KEEP("free_null", free(NULL));
#undef KEEP
}

static void case_huge(void)
{
    size_t five = 5 * GIB, six = 6 * GIB;
    unsigned char *p = malloc(five);
    rec("malloc_nonnull", p != NULL);
    if (p) {
        p[0] = 1;
        p[five - 1] = 2;
        unsigned char *q = realloc(p, six);
        rec("realloc_nonnull", q != NULL);
        if (q) {
            rec("realloc_kept", q[0] == 1 && q[five - 1] == 2);
            q[six - 1] = 3;
            p = q;
        }
        free(p);
    }
    unsigned char *c = calloc(5, GIB);
    rec("calloc_nonnull", c != NULL);
    if (c) {
        rec("calloc_zero", c[0] == 0 && c[five / 2] == 0 && c[five - 1] == 0);
        c[0] = 1;
        c[five - 1] = 1;
        free(c);
    }
    void *a = NULL;
    int rc = posix_memalign(&a, 4096, five);
    rec("posix_memalign_rc", rc);
    if (rc == 0) {
        rec("posix_memalign_aligned", ((uintptr_t)a & 4095) == 0);
        ((unsigned char *)a)[0] = 1;
        ((unsigned char *)a)[five - 1] = 1;
        rec("usable_ge", malloc_usable_size(a) >= five);
        free(a);
    }
}

static void case_malloc_max(void)
{
    void *p;
#define FAIL(key, ekey, expr)                                                                  \
    do {                                                                                        \
        errno = 0;                                                                              \
        p = (expr);                                                                             \
        rec(key, p == NULL);                                                                    \
        rec(ekey, errno);                                                                       \
        if (p)                                                                                  \
            free(p);                                                                            \
    } while (0)
    FAIL("malloc_max_null", "malloc_max_errno", malloc(SIZE_MAX));
    FAIL("malloc_max8_null", "malloc_max8_errno", malloc(SIZE_MAX - 8));
    FAIL("calloc_max8_null", "calloc_max8_errno", calloc(1, SIZE_MAX - 8));
    FAIL("aligned_alloc_null", "aligned_alloc_errno", aligned_alloc(64, SIZE_MAX - 100));
    FAIL("memalign_null", "memalign_errno", memalign(64, SIZE_MAX - 100));
    FAIL("valloc_null", "valloc_errno", valloc(SIZE_MAX - 100));
    FAIL("pvalloc_null", "pvalloc_errno", pvalloc(SIZE_MAX - 100));
    FAIL("reallocarray_null", "reallocarray_errno", reallocarray(NULL, SIZE_MAX / 2, 3));
#undef FAIL
    void *q = NULL;
    errno = 0;
    int rc = posix_memalign(&q, 64, SIZE_MAX - 100);
    rec("posix_memalign_rc", rc);
    rec("posix_memalign_errno", errno);
    /* A failed realloc leaves the old block alone. */
    char *b = malloc(10);
    memset(b, 7, 10);
    errno = 0;
    char *r = realloc(b, SIZE_MAX - 8);
    rec("realloc_null", r == NULL);
    rec("realloc_errno", errno);
    if (r)
        b = r;
    rec("realloc_kept", b[0] == 7 && b[9] == 7);
    errno = 0;
    r = reallocarray(b, SIZE_MAX / 2, 3);
    rec("reallocarray_old_null", r == NULL);
    rec("reallocarray_old_errno", errno);
    if (r)
        b = r;
    rec("reallocarray_kept", b[0] == 7 && b[9] == 7);
    free(b);
}

static void *usable_blocks[4096];

static void case_usable_size(void)
{
    int n = 0;
    long long short_count = 0;
    for (size_t s = 0; s < 3000; s += 7) {
        char *p = malloc(s);
        size_t u = malloc_usable_size(p);
        short_count += u < s;
        memset(p, 1, u);
        usable_blocks[n++] = p;
    }
    for (size_t s = 1; s < 2000; s += 97) {
        void *p = NULL;
        if (posix_memalign(&p, 256, s) == 0) {
            size_t u = malloc_usable_size(p);
            short_count += u < s;
            memset(p, 2, u);
            usable_blocks[n++] = p;
        }
        p = memalign(64, s);
        size_t u = malloc_usable_size(p);
        short_count += u < s;
        memset(p, 3, u);
        usable_blocks[n++] = p;
    }
    for (int i = 0; i < n; i++)
        free(usable_blocks[i]);
    rec("too_short", short_count);
    rec("null", (long long)malloc_usable_size(NULL));
    rec("blocks", n);
}

static void case_foreign_free(void)
{
    /* Blocks that glibc hands out directly: skull-mem never saw them. */
    void *a = __libc_malloc(100);
    void *b = __libc_calloc(10, 10);
    void *c = __libc_memalign(64, 100);
    void *d = __libc_malloc(1 << 20);
    rec("nonnull", a && b && c && d);
    free(a);
    free(b);
    free(c);
    free(d);
    /* A foreign block whose neighbour before it is all zero / all ones. */
    unsigned char *z = __libc_malloc(24);
    unsigned char *y = __libc_malloc(24);
    memset(z, 0, 24);
    free(y);
    free(z);
    z = __libc_malloc(40);
    y = __libc_malloc(40);
    memset(z, 0xff, 40);
    free(y);
    free(z);
    rec("survived", 1);
}


static void case_zero_sizes(void)
{
    void *p[8];
    p[0] = calloc(0, 10);
    p[1] = calloc(10, 0);
    if (posix_memalign(&p[2], 64, 0) != 0)
        p[2] = NULL;
    p[3] = aligned_alloc(64, 0);
    p[4] = memalign(64, 0);
    p[5] = valloc(0);
    p[6] = reallocarray(NULL, 0, 8);
    p[7] = realloc(NULL, 0);
    int nonnull = 0, distinct = 1;
    for (int i = 0; i < 8; i++) {
        nonnull += p[i] != NULL;
        for (int j = 0; j < i; j++)
            distinct &= p[i] != p[j];
    }
    rec("nonnull", nonnull);
    rec("distinct", distinct);
    rec("aligned", ((uintptr_t)p[2] % 64 == 0) && ((uintptr_t)p[3] % 64 == 0) &&
                       ((uintptr_t)p[4] % 64 == 0) && ((uintptr_t)p[5] % 4096 == 0));
    for (int i = 0; i < 8; i++)
        free(p[i]);
}

/* Valid but enormous alignments: glibc fails them with ENOMEM (or EINVAL); the interposer's
 * alignment arithmetic must not overflow. */
static void case_align_extreme(void)
{
    void *p = NULL;
    errno = 0;
    int rc = posix_memalign(&p, (size_t)1 << 40, 10);
    rec("posix_2_40_rc", rc);
    if (rc == 0)
        free(p);
    p = NULL;
    errno = 0;
    rc = posix_memalign(&p, SIZE_MAX / 2 + 1, 10);
    rec("posix_2_63_rc", rc);
    if (rc == 0)
        free(p);
    errno = 0;
    p = memalign(SIZE_MAX / 2 + 1, 10);
    rec("memalign_2_63_null", p == NULL);
    rec("memalign_2_63_errno", errno);
    free(p);
    errno = 0;
    p = aligned_alloc(SIZE_MAX / 2 + 1, 10);
    rec("aligned_alloc_2_63_null", p == NULL);
    rec("aligned_alloc_2_63_errno", errno);
    free(p);
    errno = 0;
    p = memalign(4096, SIZE_MAX - 4096);
    rec("memalign_big_size_null", p == NULL);
    rec("memalign_big_size_errno", errno);
    free(p);
    errno = 0;
    p = memalign((size_t)1 << 62, (size_t)1 << 62);
    rec("memalign_2_62_null", p == NULL);
    rec("memalign_2_62_errno", errno);
    free(p);
}

/* realloc and malloc_usable_size of a block skull-mem did not allocate. */
static void case_foreign_realloc(void)
{
    unsigned char *p = __libc_malloc(100);
    memset(p, 9, 100);
    rec("usable_ge", malloc_usable_size(p) >= 100);
    unsigned char *q = realloc(p, 100000);
    rec("nonnull", q != NULL);
    int kept = 1;
    for (int i = 0; q && i < 100; i++)
        kept &= q[i] == 9;
    rec("kept", kept);
    if (q) {
        memset(q, 1, 100000);
        rec("usable_after", malloc_usable_size(q) >= 100000);
    }
    free(q);
}

static const struct {
    const char *name;
    void (*fn)(void);
} cases[] = {
    {"malloc0", case_malloc0},
    {"free_null", case_free_null},
    {"realloc_null", case_realloc_null},
    {"realloc_zero", case_realloc_zero},
    {"calloc_overflow", case_calloc_overflow},
    {"calloc_zeroes", case_calloc_zeroes},
    {"posix_memalign_invalid", case_posix_memalign_invalid},
    {"memalign_huge", case_memalign_huge},
    {"errno_preserved", case_errno_preserved},
    {"huge", case_huge},
    {"malloc_max", case_malloc_max},
    {"usable_size", case_usable_size},
    {"foreign_free", case_foreign_free},
    {"zero_sizes", case_zero_sizes},
    {"align_extreme", case_align_extreme},
    {"foreign_realloc", case_foreign_realloc},
};

int main(int argc, char **argv)
{
    skt_init();
    if (argc < 2)
        skt_die("usage: edge CASE");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(cases[i].name, argv[1]) != 0)
            continue;
        skull_scope_id id = skt_scope("edge", "module");
        skt_take(&s0);
        skull_scope_id prev = skt_enter(id);
        cases[i].fn();
        skt_leave(prev);
        skt_take(&s1);
        printf("active=%d\n", skt_active);
        for (int k = 0; k < nsem; k++)
            printf("sem.%s=%lld\n", sem[k].key, sem[k].v);
        skt_print_delta("d.", &s0, &s1);
        return 0;
    }
    skt_die("unknown case");
    return 1;
}
