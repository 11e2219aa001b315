/*
 * leak_threads.c — 4 threads each lose 5 blocks of 100 bytes (the pointer is dropped), churn
 * 1,000 malloc/free pairs, and exit; main joins them. Exactly 20 blocks are lost.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
static void *work(void *arg) {
    (void)arg;
    for (int i = 0; i < 5; i++) { volatile char *p = malloc(100); memset((char *)p, 1, 100); p = NULL; }
    for (int i = 0; i < 1000; i++) free(malloc(64 + i % 64));
    return NULL;
}
int main(void) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, work, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    memset(t, 0, sizeof t);
    return 0;
}
