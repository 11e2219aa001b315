/*
 * malloc_pair.c — the workload of the skull-mem overhead benchmark (see benches/README.md).
 *
 * The same binary is run with plain glibc, with LD_PRELOAD=libskull_mem.so and under
 * heaptrack; benches/run.sh compares the figures. All timing is done inside the program
 * with clock_gettime(CLOCK_MONOTONIC), so process start-up, the preload's initialisation
 * and heaptrack's own start-up are not counted.
 *
 *   malloc_pair pair  THREADS ITERS        p = malloc(64); write; free(p)   ITERS times per thread
 *   malloc_pair batch THREADS ITERS [K]    ITERS times: K mallocs of 64 bytes, then K frees in
 *                                          allocation order (FIFO, so reuse is not LIFO)
 *   malloc_pair live  COUNT [SIZE]         COUNT live blocks of SIZE (64) bytes; reports RSS growth
 *
 * Each mode prints exactly one line starting with "RESULT " made of key=value fields, so the
 * runner can pick it out of heaptrack's own output:
 *   RESULT mode=pair threads=2 pairs_per_thread=... ns_per_pair=18.41 ... skull_active=1
 * The timed work is done in 5 equal chunks; before each, all threads wait at a barrier and
 * are released together. A chunk's time is wall time from the first thread's start to the
 * last thread's end, divided by the pairs ONE thread did in it: with 2 threads on 2 idle
 * cores a perfectly scalable allocator shows the same figure as with 1 thread.
 * ns_per_pair is the best chunk (short bursts of noise from other processes filtered out),
 * mean_ns_per_pair the whole timed work. skull_active: 1 = libskull_mem.so loaded and
 * counting, 0 = loaded but inactive, -1 = not loaded.
 *
 * Build: gcc -O2 -pthread -o malloc_pair malloc_pair.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BLOCK_SIZE 64
#define MAX_THREADS 64
#define MAX_BATCH 4096
#define WARMUP_PAIRS 10000

/* Keeps the compiler from proving the block unused and deleting the malloc/free pair
 * (gcc -O2 does delete `free(malloc(64))`). */
#define USE_POINTER(p) __asm__ __volatile__("" : : "r"(p) : "memory")

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *msg) {
    fprintf(stderr, "malloc_pair: %s\n", msg);
    exit(2);
}

/* 1 when libskull_mem.so is loaded and counting, 0 when it is loaded but says it is not
 * active, -1 when it is not loaded at all. Resolved by dlsym so the binary runs without it. */
static int skull_active(void) {
    int (*is_active)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "skull_is_active");
    if (!is_active) return -1;
    return is_active();
}

#define CHUNKS 5

struct worker {
    pthread_t tid;
    const char *mode;
    long iters; /* per chunk */
    int batch;
    pthread_barrier_t *start;
    uint64_t t0[CHUNKS], t1[CHUNKS];
    unsigned long sink;
};

static void run_pairs(long iters, unsigned long *sink) {
    for (long i = 0; i < iters; i++) {
        char *p = malloc(BLOCK_SIZE);
        if (!p) die("malloc returned NULL");
        *(volatile char *)p = (char)i; /* the block is really written */
        USE_POINTER(p);
        free(p);
    }
    *sink += (unsigned long)iters;
}

static void run_batch(long iters, int k, unsigned long *sink) {
    void *blocks[MAX_BATCH];
    for (long i = 0; i < iters; i++) {
        for (int j = 0; j < k; j++) {
            char *p = malloc(BLOCK_SIZE);
            if (!p) die("malloc returned NULL");
            *(volatile char *)p = (char)j;
            blocks[j] = p;
        }
        USE_POINTER(blocks);
        for (int j = 0; j < k; j++) free(blocks[j]); /* FIFO: first allocated, first freed */
    }
    *sink += (unsigned long)iters * (unsigned long)k;
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    int is_batch = strcmp(w->mode, "batch") == 0;
    /* Warm-up outside the timed region: the thread's arena / tcache and the preload's
     * per-thread counter block get created here, not in the measurement. */
    if (is_batch)
        run_batch(WARMUP_PAIRS / w->batch + 1, w->batch, &w->sink);
    else
        run_pairs(WARMUP_PAIRS, &w->sink);
    /* The timed work is split into CHUNKS equal chunks, all threads starting each chunk
     * together; the best chunk filters out bursts of noise from other processes. */
    for (int c = 0; c < CHUNKS; c++) {
        pthread_barrier_wait(w->start);
        w->t0[c] = now_ns();
        if (is_batch)
            run_batch(w->iters, w->batch, &w->sink);
        else
            run_pairs(w->iters, &w->sink);
        w->t1[c] = now_ns();
    }
    return NULL;
}

static int timed_mode(const char *mode, int argc, char **argv) {
    if (argc < 4) die("usage: malloc_pair pair|batch THREADS ITERS [K]");
    int threads = atoi(argv[2]);
    long iters = atol(argv[3]);
    int k = argc > 4 ? atoi(argv[4]) : 64;
    if (threads < 1 || threads > MAX_THREADS) die("THREADS must be 1..64");
    if (iters < 1) die("ITERS must be positive");
    if (k < 1 || k > MAX_BATCH) die("K must be 1..4096");
    long chunk_iters = (iters + CHUNKS - 1) / CHUNKS;
    int is_batch = strcmp(mode, "batch") == 0;

    struct worker w[MAX_THREADS];
    pthread_barrier_t start;
    /* +1: the main thread releases the workers once all of them are warmed up. */
    if (pthread_barrier_init(&start, NULL, (unsigned)threads + 1) != 0) die("barrier");
    for (int i = 0; i < threads; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].mode = mode;
        w[i].iters = chunk_iters;
        w[i].batch = k;
        w[i].start = &start;
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) die("pthread_create");
    }
    for (int c = 0; c < CHUNKS; c++) pthread_barrier_wait(&start);
    for (int i = 0; i < threads; i++) pthread_join(w[i].tid, NULL);
    pthread_barrier_destroy(&start);

    /* A chunk's wall time runs from the first thread's start to the last thread's end. */
    double pairs_per_chunk = (double)chunk_iters * (is_batch ? k : 1);
    double best = 0, total = 0;
    for (int c = 0; c < CHUNKS; c++) {
        uint64_t first = w[0].t0[c], last = w[0].t1[c];
        for (int i = 1; i < threads; i++) {
            if (w[i].t0[c] < first) first = w[i].t0[c];
            if (w[i].t1[c] > last) last = w[i].t1[c];
        }
        double wall = (double)(last - first);
        total += wall;
        if (c == 0 || wall < best) best = wall;
    }
    printf("RESULT mode=%s threads=%d pairs_per_thread=%.0f chunks=%d batch=%d wall_ms=%.3f "
           "ns_per_pair=%.3f mean_ns_per_pair=%.3f skull_active=%d\n",
           mode, threads, pairs_per_chunk * CHUNKS, CHUNKS, is_batch ? k : 1, total / 1e6,
           best / pairs_per_chunk, total / (pairs_per_chunk * CHUNKS), skull_active());
    return 0;
}

/* Resident set size in bytes, from the second field of /proc/self/statm. */
static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) die("cannot open /proc/self/statm");
    long size = 0, resident = 0;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) die("cannot parse /proc/self/statm");
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static int live_mode(int argc, char **argv) {
    long count = argc > 2 ? atol(argv[2]) : 1000000;
    long size = argc > 3 ? atol(argv[3]) : BLOCK_SIZE;
    if (count < 1 || size < 1) die("usage: malloc_pair live COUNT [SIZE]");
    /* The pointer array is mmapped and touched before the first RSS reading, so it is
     * neither counted by the allocator under test nor part of the growth. */
    size_t arr_bytes = (size_t)count * sizeof(void *);
    void **blocks = mmap(NULL, arr_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED) die("mmap");
    memset(blocks, 0, arr_bytes);
    /* A few allocations first so that one-time set-up (arena, preload state) is done. */
    for (int i = 0; i < 1000; i++) free(malloc((size_t)size));

    long before = rss_bytes();
    uint64_t t0 = now_ns();
    for (long i = 0; i < count; i++) {
        char *p = malloc((size_t)size);
        if (!p) die("malloc returned NULL");
        memset(p, 1, (size_t)size); /* every byte touched: the block is really resident */
        blocks[i] = p;
    }
    uint64_t t1 = now_ns();
    long after = rss_bytes();
    USE_POINTER(blocks);

    double per_block = (double)(after - before) / (double)count;
    printf("RESULT mode=live blocks=%ld block_size=%ld rss_growth_bytes=%ld "
           "bytes_per_block=%.2f overhead_vs_request=%.2f ns_per_malloc=%.3f skull_active=%d\n",
           count, size, after - before, per_block, per_block - (double)size,
           (double)(t1 - t0) / (double)count, skull_active());
    for (long i = 0; i < count; i++) free(blocks[i]);
    munmap(blocks, arr_bytes);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr,
                "usage: malloc_pair pair THREADS ITERS\n"
                "       malloc_pair batch THREADS ITERS [K=64]\n"
                "       malloc_pair live [COUNT=1000000] [SIZE=64]\n");
        return 2;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "pair") == 0 || strcmp(mode, "batch") == 0) return timed_mode(mode, argc, argv);
    if (strcmp(mode, "live") == 0) return live_mode(argc, argv);
    die("unknown mode (pair, batch or live)");
    return 2;
}
