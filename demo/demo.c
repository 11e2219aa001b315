/*
 * The skull-mem demo: a small "server" with three components, one of which leaks.
 *
 * Each tick it handles a batch of requests:
 *   - http-parser (module): parses each request into a buffer and frees it: no growth.
 *   - thumbnailer (route /thumbnail): renders into a big aligned buffer, frees it; its
 *     1 KiB output is handed to session-cache, which frees it when the next one arrives
 *     (a cross-scope free, credited back to thumbnailer).
 *   - session-cache (service): keeps one entry per request and never evicts: it keeps
 *     growing, which the table shows.
 *
 * Run it with `npm run demo` (or `skull-mem demo`): it runs under the preloaded library with
 * tracing on, prints one line per tick, ends with the Skull Memory Measurement table, and
 * (with `--hold`, as `skull-mem demo` runs it) waits for a line on stdin, so that the demo
 * command can print the leak report naming the line that leaks.
 * With `--ticks N --pause-ms M` it runs longer, so that `skull-mem memory <pid>` can watch it.
 * The table it prints is the one `skull-mem memory <pid>` prints of it while it holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "skull_mem.h"

#define REQUESTS_PER_TICK 100

struct entry {
    struct entry *next;
    char *thumbnail;
    char key[48];
};

static skull_scope_id parser_scope, thumbnailer_scope, cache_scope;
static struct entry *cache_head;

/* Parses a request into a temporary buffer: allocates and frees within the scope. */
static size_t parse_request(int id) {
    skull_scope_id outer = skull_scope_enter(parser_scope);
    char *buf = malloc(2048);
    int len = snprintf(buf, 2048, "GET /thumbnail?id=%d HTTP/1.1\r\nHost: demo\r\n\r\n", id);
    free(buf);
    skull_scope_leave(outer);
    return (size_t)len;
}

/* Renders a thumbnail: a 64 KiB page-aligned scratch buffer, and a 1 KiB result. */
static char *render_thumbnail(int id) {
    skull_scope_id outer = skull_scope_enter(thumbnailer_scope);
    void *scratch = NULL;
    if (posix_memalign(&scratch, 4096, 64 * 1024) == 0) {
        memset(scratch, id & 0xff, 64 * 1024);
        free(scratch);
    }
    char *result = malloc(1024);
    memset(result, id & 0xff, 1024);
    skull_scope_leave(outer);
    return result;
}

/* Caches the session: the entry stays forever (the leak). Only the newest entry keeps its
 * thumbnail; the previous one is dropped here, in the cache's scope. */
static void remember(int id, char *thumbnail) {
    skull_scope_id outer = skull_scope_enter(cache_scope);
    struct entry *entry = calloc(1, sizeof *entry); /* the leak: never evicted */
    snprintf(entry->key, sizeof entry->key, "session-%d", id);
    entry->thumbnail = thumbnail;
    entry->next = cache_head;
    if (cache_head) {
        free(cache_head->thumbnail); /* allocated by thumbnailer: credited back to it */
        cache_head->thumbnail = NULL;
    }
    cache_head = entry;
    skull_scope_leave(outer);
}

static unsigned long long used_by(skull_scope_id scope) {
    struct skull_scope_stats stats[64];
    size_t n = skull_snapshot(stats, 64, sizeof stats[0]);
    for (size_t i = 0; i < n && i < 64; i++) {
        if (stats[i].id == scope) return stats[i].used_bytes;
    }
    return 0;
}

int main(int argc, char **argv) {
    int ticks = 5;
    int pause_ms = 100;
    int hold = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--hold") == 0) hold = 1;
        else if (i + 1 < argc && strcmp(argv[i], "--ticks") == 0) ticks = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--pause-ms") == 0) pause_ms = atoi(argv[++i]);
    }
    if (!skull_is_active()) {
        fprintf(stderr, "demo: libskull_mem.so is not preloaded; run it with `skull-mem demo`\n");
        return 1;
    }
    parser_scope = skull_scope_register("http-parser", "module");
    thumbnailer_scope = skull_scope_register("/thumbnail", "route");
    cache_scope = skull_scope_register("session-cache", "service");

    printf("skull-mem demo, pid %d: %d ticks of %d requests\n", (int)getpid(), ticks, REQUESTS_PER_TICK);
    int id = 0;
    for (int tick = 1; tick <= ticks; tick++) {
        size_t parsed = 0;
        for (int r = 0; r < REQUESTS_PER_TICK; r++, id++) {
            parsed += parse_request(id);
            remember(id, render_thumbnail(id));
        }
        printf("tick %d: parsed %zu bytes; session-cache holds %llu bytes\n", tick, parsed,
               used_by(cache_scope));
        fflush(stdout);
        struct timespec pause = {pause_ms / 1000, (long)(pause_ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
    }

    static char report[1 << 16];
    size_t len = skull_report(report, sizeof report, SKULL_REPORT_TEXT);
    fwrite(report, 1, len < sizeof report ? len : sizeof report - 1, stdout);
    if (hold) {
        /* read(2), not stdio: reading stdin would allocate its buffer, and the table above
         * is what `skull-mem memory <pid>` prints while the demo holds. */
        char line[8];
        printf("demo: holding\n");
        fflush(stdout);
        if (read(0, line, sizeof line) <= 0) return 0;
    }
    return 0;
}
