/*
 * switch_words.c — switching scopes by storing into skull_scope_switch_words.
 *
 * Main registers sw_a and sw_b. Between two snapshots it switches to sw_a with the words and
 * allocates 1000 and 2000 bytes (the second on the fast path), switches to sw_b and allocates
 * 3000, then runs a thread that switches its own words to sw_b, allocates and frees 4000
 * bytes, checks that main's words are not its own, and goes back to its home scope. Main then goes back to core with the
 * words; everything is freed after the second snapshot.
 */
#include <pthread.h>

#include "sk_test.h"

static skull_scope_id scope_a, scope_b;
static skull_scope_id thread_home, thread_current;
static int thread_own_words;
static uint32_t *main_words;
/* Static: a snapshot has room for SKT_MAX_SCOPES entries. */
static skt_snap s0, s1, s2;

static void word_switch(uint32_t *words, skull_scope_id id)
{
    words[1] = id;
    words[0] = 0;
}

static void *thread_body(void *arg)
{
    (void)arg;
    uint32_t *words = skull_scope_switch_words();
    thread_own_words = words != main_words;
    thread_home = skull_scope_current();
    word_switch(words, scope_b);
    void *x = malloc(4000);
    *(volatile char *)x = 1;
    free(x);
    thread_current = skull_scope_current();
    /* Back home: what the thread's exit frees is not sw_b's. */
    word_switch(words, thread_home);
    return NULL;
}

int main(void)
{
    skt_init();
    scope_a = skull_scope_register("sw_a", "module");
    scope_b = skull_scope_register("sw_b", "module");
    main_words = skull_scope_switch_words();
    skt_take(&s0);
    word_switch(main_words, scope_a);
    skull_scope_id in_a = skull_scope_current();
    void *p = malloc(1000);
    void *q = malloc(2000);
    word_switch(main_words, scope_b);
    void *r = malloc(3000);
    skull_scope_id in_b = skull_scope_current();
    /* skull_scope_enter sees the stored scope as the previous one. */
    skull_scope_id entered_from = skull_scope_enter(scope_a);
    skull_scope_leave(entered_from);
    skull_scope_id after_leave = skull_scope_current();
    word_switch(main_words, 0);
    skt_take(&s1);
    /* After the snapshot: pthread_create allocates in main's scope (core by now). */
    pthread_t t;
    if (pthread_create(&t, NULL, thread_body, NULL) != 0 || pthread_join(t, NULL) != 0)
        skt_die("pthread");
    skt_take(&s2);
    printf("sw.a=%u\nsw.b=%u\n", scope_a, scope_b);
    printf("sw.in_a=%u\nsw.in_b=%u\nsw.entered_from=%u\nsw.after_leave=%u\n", in_a, in_b,
           entered_from, after_leave);
    printf("sw.thread_own_words=%d\nsw.thread_home_not_b=%d\nsw.thread_current=%u\n",
           thread_own_words, thread_home != scope_b, thread_current);
    skt_print_delta("main.", &s0, &s1);
    skt_print_delta("thread.", &s1, &s2);
    free(p);
    free(q);
    free(r);
    return 0;
}
