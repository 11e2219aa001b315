/*
 * Preloaded before libskull_mem.so by the trace scale tests, into programs nobody here wrote
 * (gcc's cc1, python3, node): at exit, before the library removes its segment, the process
 * says so by creating $SKULL_TEST_STOP_DIR/<pid> and stops itself, so the test reads its
 * final trace tables, then lets it go on with SIGCONT. A destructor, not an atexit handler:
 * the library's segment is removed by its .fini_array, which runs after the atexit handlers
 * registered before main (those of constructors too), and the destructors of an object
 * earlier in LD_PRELOAD run before those of one after it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char stop_dir[4096];

static void stop(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%d", stop_dir, (int)getpid());
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    raise(SIGSTOP);
}

static int armed;

__attribute__((constructor)) static void arm(void) {
    const char *dir = getenv("SKULL_TEST_STOP_DIR");
    armed = dir && snprintf(stop_dir, sizeof stop_dir, "%s", dir) < (int)sizeof stop_dir;
}

__attribute__((destructor)) static void at_exit(void) {
    if (armed) stop();
}
