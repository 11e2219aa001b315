/*
 * report_self.c — known work, then this process's own report (skull_report) twice, the
 * second written to the file argv[1]; then it stops itself (SIGSTOP) so that the test reads
 * the same paused process from outside and compares the two texts.
 *
 * The report buffer is static and the file is written with open/write/close, so nothing
 * after the report allocates: the outside reader must see the figures the report printed.
 */
#include <fcntl.h>
#include <signal.h>

#include "reader_common.h"

static char report[1 << 16];

int main(int argc, char **argv)
{
    if (argc != 2)
        rc_die("usage: report_self FILE");
    skull_scope_id cache = skull_scope_register("session-cache", "service");
    skull_scope_id parser = skull_scope_register("parser", "module");
    skull_scope_id outer = skull_scope_enter(cache);
    void *kept[40];
    for (int i = 0; i < 40; i++)
        kept[i] = malloc(100 + 10 * i);
    skull_scope_leave(outer);
    outer = skull_scope_enter(parser);
    for (int i = 0; i < 20; i++)
        free(kept[i]); /* cross-scope frees, credited back to session-cache */
    void *big = malloc(1 << 20);
    skull_scope_leave(outer);

    /* The first report touches the pages the second one needs (code, stack, heap). */
    skull_report(report, sizeof report, SKULL_REPORT_TEXT);
    size_t len = skull_report(report, sizeof report, SKULL_REPORT_TEXT);
    if (len >= sizeof report)
        rc_die("report_self: the report does not fit");

    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        rc_die("report_self: cannot create the report file");
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, report + done, len - done);
        if (n <= 0)
            rc_die("report_self: cannot write the report file");
        done += (size_t)n;
    }
    close(fd);
    raise(SIGSTOP);
    free(big);
    return 0;
}
