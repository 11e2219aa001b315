/*
 * scope.c — the scope API, snapshots and reports.
 *
 * usage: scope api | scope snapshot | scope report | scope report_null
 * Every run also has a constructor that allocates CTOR_BYTES before main, between two
 * snapshots (printed with prefix "ctor.").
 */
#include <pthread.h>

#include "sk_test.h"

#define CTOR_BYTES 12345

static skt_snap c0, c1, s0, s1, s2;
static void *ctor_block;
static unsigned ctor_current;

__attribute__((constructor)) static void before_main(void)
{
    skt_init();
    ctor_current = skull_scope_current();
    skt_take(&c0);
    ctor_block = malloc(CTOR_BYTES);
    skt_take(&c1);
}

static skull_scope_id thread_scope;
static skull_scope_id thread_seen_before, thread_seen_after;

static void *thread_body(void *arg)
{
    (void)arg;
    thread_seen_before = skull_scope_current();
    skull_scope_enter(thread_scope);
    thread_seen_after = skull_scope_current();
    return NULL;
}

static void run_api(void)
{
    char n47[48], n48[49], k15[16], k16[17];
    memset(n47, 'a', 47);
    n47[47] = 0;
    memset(n48, 'b', 48);
    n48[48] = 0;
    memset(k15, 'k', 15);
    k15[15] = 0;
    memset(k16, 'q', 16);
    k16[16] = 0;

    printf("api.current_at_main=%u\n", (unsigned)skull_scope_current());
    skull_scope_id a1 = skull_scope_register("alpha", "module");
    skull_scope_id a2 = skull_scope_register("alpha", "module");
    skull_scope_id b = skull_scope_register("beta", "service");
    skull_scope_id alpha_service = skull_scope_register("alpha", "service");
    printf("api.alpha=%u\napi.alpha_again=%u\napi.beta=%u\napi.alpha_service=%u\n", a1, a2, b,
           alpha_service);
    printf("api.null_name=%u\n", skull_scope_register(NULL, "module"));
    printf("api.null_kind=%u\n", skull_scope_register("gamma", NULL));
    printf("api.empty_name=%u\n", skull_scope_register("", "module"));
    printf("api.empty_kind=%u\n", skull_scope_register("gamma", ""));
    skull_scope_id long47 = skull_scope_register(n47, "module");
    printf("api.name47=%u\napi.name47_again=%u\n", long47, skull_scope_register(n47, "module"));
    printf("api.name48=%u\n", skull_scope_register(n48, "module"));
    printf("api.kind15=%u\n", skull_scope_register("delta", k15));
    printf("api.kind16=%u\n", skull_scope_register("epsilon", k16));

    skull_scope_id r1 = skull_scope_enter(a1);
    printf("api.enter_a_returned=%u\napi.current_in_a=%u\n", r1, skull_scope_current());
    skull_scope_id r2 = skull_scope_enter(b);
    printf("api.enter_b_returned=%u\napi.current_in_b=%u\n", r2, skull_scope_current());
    printf("api.enter_unknown=%u\napi.current_after_unknown=%u\n", skull_scope_enter(100000),
           skull_scope_current());
    printf("api.enter_invalid=%u\napi.current_after_invalid=%u\n",
           skull_scope_enter(SKULL_SCOPE_INVALID), skull_scope_current());
    skull_scope_leave(r2);
    printf("api.current_after_leave_b=%u\n", skull_scope_current());

    /* Another thread's scope changes do not touch this thread's. */
    thread_scope = b;
    pthread_t t;
    pthread_create(&t, NULL, thread_body, NULL);
    pthread_join(t, NULL);
    printf("api.thread_after_enter=%u\napi.current_after_thread=%u\n", thread_seen_after,
           skull_scope_current());
    (void)thread_seen_before;

    skull_scope_leave(r1);
    printf("api.current_after_leave_a=%u\n", skull_scope_current());

    /* Allocations in main go to core, not init. */
    skt_take(&s0);
    void *p = malloc(777);
    skt_take(&s1);
    free(p);
    skt_print_delta("main.", &s0, &s1);

    printf("api.is_active=%d\napi.abi=%u\n", skull_is_active(), skull_abi_version());
    const char *v = skull_version();
    printf("api.version=%s\n", v ? v : "(null)");
}

static struct skull_scope_stats guard[4];

static void run_snapshot(void)
{
    size_t sz = sizeof(struct skull_scope_stats);
    skull_scope_id s = skull_scope_register("snapscope", "module");
    skull_scope_id prev = skull_scope_enter(s);
    void *keep = malloc(4000);
    free(malloc(1000));
    skull_scope_leave(prev);

    memset(guard, 0xee, sizeof guard);
    size_t n0 = skull_snapshot(guard, 0, sz);
    int untouched0 = 1;
    for (size_t i = 0; i < sizeof guard; i++)
        untouched0 &= ((unsigned char *)guard)[i] == 0xee;
    size_t n1 = skull_snapshot(guard, 1, sz);
    int untouched1 = 1;
    for (size_t i = sz; i < sizeof guard; i++)
        untouched1 &= ((unsigned char *)guard)[i] == 0xee;
    printf("snap.count_cap0=%zu\nsnap.untouched_cap0=%d\n", n0, untouched0);
    printf("snap.count_cap1=%zu\nsnap.untouched_after_cap1=%d\n", n1, untouched1);
    printf("snap.first_id=%u\nsnap.first_name=%s\n", guard[0].id, guard[0].name);

    /* Taking a snapshot allocates nothing anywhere. */
    skt_take(&s0);
    skt_take(&s1);
    skt_take(&s2);
    skt_print_delta("nosnapalloc.", &s0, &s2);

    int invariants = 1, sizes = 1;
    for (size_t i = 0; i < s1.n; i++) {
        const struct skull_scope_stats *e = &s1.s[i];
        invariants &= e->used_bytes == e->counters[SKULL_ALLOC_BYTES] - e->counters[SKULL_FREED_BYTES];
        invariants &= e->live_blocks == e->counters[SKULL_ALLOC_BLOCKS] - e->counters[SKULL_FREED_BLOCKS];
        invariants &= e->peak_used_bytes >= e->used_bytes;
        sizes &= e->struct_size == sz && e->struct_version == SKULL_SCOPE_STATS_VERSION;
    }
    printf("snap.count=%zu\nsnap.invariants=%d\nsnap.struct_sizes=%d\n", s1.n, invariants, sizes);
    skt_print_abs("abs.", &s1);
    free(keep);
}

static char text[1 << 20];
static char json[1 << 20];
static char small[16];

static void run_report(void)
{
    skull_scope_id js = skull_scope_register("jsonscope", "route");
    skull_scope_id caller = skull_scope_register("rep_caller", "module");
    skull_scope_id prev = skull_scope_enter(js);
    void *a = malloc(1000), *b = malloc(2000), *c = malloc(3000), *d = malloc(500);
    free(d);
    skull_scope_leave(prev);

    prev = skull_scope_enter(caller);
    skt_take(&s0);
    size_t tlen = skull_report(text, sizeof text, SKULL_REPORT_TEXT);
    size_t jlen = skull_report(json, sizeof json, SKULL_REPORT_JSON);
    memset(small, 0x7f, sizeof small);
    size_t slen = skull_report(small, 10, SKULL_REPORT_TEXT);
    skull_scope_id cur = skull_scope_current();
    skt_take(&s1);
    skull_scope_leave(prev);

    printf("rep.text_len=%zu\nrep.text_strlen=%zu\n", tlen, strlen(text));
    printf("rep.json_len=%zu\nrep.json_strlen=%zu\n", jlen, strlen(json));
    printf("rep.small_ret=%zu\nrep.small_strlen=%zu\nrep.small_guard=%d\n", slen, strlen(small),
           small[10] == 0x7f && small[15] == 0x7f);
    printf("rep.current_unchanged=%d\n", cur == caller);
    skt_print_delta("repd.", &s0, &s1);
    printf("BEGIN_TEXT\n%s\nEND_TEXT\n", text);
    printf("BEGIN_JSON\n%s\nEND_JSON\n", json);
    free(a);
    free(b);
    free(c);
}

static void run_report_null(void)
{
    size_t n = skull_report(NULL, 0, SKULL_REPORT_TEXT);
    size_t j = skull_report(NULL, 0, SKULL_REPORT_JSON);
    printf("null.text_len=%zu\nnull.json_len=%zu\n", n, j);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "api";
    printf("ctor.current=%u\n", ctor_current);
    printf("ctor.block_nonnull=%d\n", ctor_block != NULL);
    skt_print_delta("ctor.", &c0, &c1);
    if (strcmp(mode, "api") == 0)
        run_api();
    else if (strcmp(mode, "snapshot") == 0)
        run_snapshot();
    else if (strcmp(mode, "report") == 0)
        run_report();
    else if (strcmp(mode, "report_null") == 0)
        run_report_null();
    else
        skt_die("unknown mode");
    free(ctor_block);
    return 0;
}
