/* Allocates argv[1] blocks of argv[2] bytes while tracing is off, says "ready" and waits for a
 * line (the test switches tracing on meanwhile), then allocates 10 blocks of 32 bytes, says
 * "traced" and waits for "end". The test expects the leak report to say that the first
 * blocks, and only they, are not traced. So nothing else is allocated: no stdio (its
 * buffers would be more untraced blocks), the pointers kept in static arrays. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BLOCKS 100000

static void *early[MAX_BLOCKS];
static void *late[10];

static void say(const char *text) {
    size_t len = strlen(text);
    if (write(1, text, len) != (ssize_t)len) _exit(3);
}

static void wait_line(void) {
    char c;
    while (read(0, &c, 1) == 1 && c != '\n') {
    }
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    long blocks = atol(argv[1]);
    size_t size = (size_t)atol(argv[2]);
    if (blocks < 0 || blocks > MAX_BLOCKS) return 2;
    for (long i = 0; i < blocks; i++) early[i] = malloc(size);
    say("ready\n");
    wait_line();
    for (int i = 0; i < 10; i++) late[i] = malloc(32);
    say("traced\n");
    wait_line();
    for (long i = 0; i < blocks; i++) free(early[i]);
    for (int i = 0; i < 10; i++) free(late[i]);
    return 0;
}
