/*
 * scopefull.c — registering scopes until the table is full.
 *
 * Registers "s<i>" (kind "module") for i = 0, 1, ... until skull_scope_register returns
 * SKULL_SCOPE_INVALID or LIMIT names were tried. Prints full.registered (how many succeeded),
 * full.first_invalid (the i that failed, or -1), whether re-registering s0 and the last name
 * still return their ids, whether another new name is refused, the snapshot count, and the
 * counters of an allocation made in the last scope.
 */
#include "sk_test.h"

#define LIMIT 200000

int main(void)
{
    skt_init();
    char name[32];
    skull_scope_id first = SKULL_SCOPE_INVALID, last = SKULL_SCOPE_INVALID;
    long registered = 0, first_invalid = -1;
    for (long i = 0; i < LIMIT; i++) {
        snprintf(name, sizeof name, "s%ld", i);
        skull_scope_id id = skull_scope_register(name, "module");
        if (id == SKULL_SCOPE_INVALID) {
            first_invalid = i;
            break;
        }
        if (i == 0)
            first = id;
        last = id;
        registered++;
    }
    printf("full.registered=%ld\nfull.first_invalid=%ld\n", registered, first_invalid);
    printf("full.s0_again=%d\n", skull_scope_register("s0", "module") == first);
    snprintf(name, sizeof name, "s%ld", registered - 1);
    printf("full.last_again=%d\n", skull_scope_register(name, "module") == last);
    printf("full.new_refused=%d\n",
           skull_scope_register("one-more-scope", "module") == SKULL_SCOPE_INVALID);
    size_t count = skull_snapshot(NULL, 0, sizeof(struct skull_scope_stats));
    printf("full.snapshot_count=%zu\n", count);
    struct skull_scope_stats *all = calloc(count + 1, sizeof *all);
    size_t count2 = skull_snapshot(all, count + 1, sizeof *all);
    printf("full.snapshot_count2=%zu\n", count2);

    skull_scope_id prev = skull_scope_enter(last);
    void *p = malloc(4321);
    skull_scope_leave(prev);
    skull_snapshot(all, count + 1, sizeof *all);
    for (size_t i = 0; i < count2; i++)
        if (all[i].id == last)
            printf("full.last_alloc_bytes=%llu\nfull.last_name=%s\n",
                   (unsigned long long)all[i].counters[SKULL_ALLOC_BYTES], all[i].name);
    free(p);
    free(all);
    return 0;
}
