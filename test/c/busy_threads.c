/* Eight threads allocate and free blocks of many sizes, then the program prints a checksum
 * of what they wrote and exits with code 5: its output and exit code must be the same with
 * and without skull-mem, whatever the state of the segment directory. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 8
#define ROUNDS 2000

static void *work(void *arg) {
    unsigned long seed = (unsigned long)arg + 1, sum = 0;
    for (int round = 0; round < ROUNDS; round++) {
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        size_t size = 1 + (seed >> 33) % 4096;
        unsigned char *block = malloc(size);
        memset(block, (int)(round & 0xff), size);
        sum += block[size - 1] + size;
        free(block);
    }
    return (void *)sum;
}

int main(void) {
    pthread_t threads[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, work, (void *)i);
    unsigned long total = 0;
    for (int i = 0; i < THREADS; i++) {
        void *sum;
        pthread_join(threads[i], &sum);
        total += (unsigned long)sum;
    }
    printf("checksum %lu\n", total);
    return 5;
}
