/*
 * Threads that allocate, free and reallocate while everything is traced, in the patterns
 * that reuse a live-table slot a free left claimed (`KeptSlot`, crates/core/src/trace/live.rs):
 * a block freed and the next one malloc hands out at its address (malloc's per-thread cache
 * gives the block freed last first), blocks freed by another thread than the one that made
 * them, and reallocs that shrink a block where it is.
 *
 * THREADS threads each run ROUNDS rounds of: 8 blocks of 16 + 24 i bytes; the first 4 freed
 * in reverse and made again at once (their addresses come back); the fifth shrunk by realloc;
 * the sixth and seventh posted to the next thread, which frees them; the rest freed. Then each
 * thread keeps KEEP blocks of KEPT_SIZE bytes. When all are joined, main frees what is left in
 * the mailboxes, says "ready" and waits for a line on stdin. Output by write(2), never stdio.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS 20000
#define KEEP 100
#define KEPT_SIZE 1000

/* What a thread is sent to free: a ring as long as all it can be sent. */
struct mailbox {
    pthread_mutex_t lock;
    void *blocks[2 * ROUNDS];
    size_t head, tail;
};

static struct mailbox mailboxes[THREADS];
static void *kept[THREADS][KEEP];

static void post(int to, void *block) {
    struct mailbox *box = &mailboxes[to];
    pthread_mutex_lock(&box->lock);
    box->blocks[box->tail++ % (2 * ROUNDS)] = block;
    pthread_mutex_unlock(&box->lock);
}

static void drain(int own) {
    struct mailbox *box = &mailboxes[own];
    pthread_mutex_lock(&box->lock);
    while (box->head != box->tail) free(box->blocks[box->head++ % (2 * ROUNDS)]);
    pthread_mutex_unlock(&box->lock);
}

static void *churn(void *arg) {
    int self = (int)(long)arg;
    for (int round = 0; round < ROUNDS; round++) {
        char *block[8];
        for (int i = 0; i < 8; i++) block[i] = malloc(16 + 24 * i);
        for (int i = 3; i >= 0; i--) free(block[i]);
        for (int i = 0; i < 4; i++) block[i] = malloc(16 + 24 * i);
        block[4] = realloc(block[4], 40);
        post((self + 1) % THREADS, block[5]);
        post((self + 1) % THREADS, block[6]);
        drain(self);
        for (int i = 0; i < 5; i++) free(block[i]);
        free(block[7]);
    }
    for (int k = 0; k < KEEP; k++) kept[self][k] = malloc(KEPT_SIZE);
    return NULL;
}

static void say(const char *text) {
    char line[64];
    int len = snprintf(line, sizeof line, "%s\n", text);
    if (write(1, line, (size_t)len) != len) _exit(1);
}

int main(void) {
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_mutex_init(&mailboxes[t].lock, NULL);
    for (long t = 0; t < THREADS; t++) {
        if (pthread_create(&threads[t], NULL, churn, (void *)t) != 0) return 1;
    }
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < THREADS; t++) drain(t);
    say("ready");
    char line[16];
    if (read(0, line, sizeof line) < 0) return 1;
    return 0;
}
