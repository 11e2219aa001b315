/*
 * reader_setuid.c — a process that changes its user id after its segment exists, as a
 * daemon dropping root does: allocates (the segment is made as root), switches to uid/gid
 * 65534, then mallocs 6 x 500 bytes in scope "dropped", prints "ready" and waits for a line.
 */
#include "reader_common.h"

#include <grp.h>

static void *kept[6];

int main(void)
{
    skull_scope_id dropped = rc_scope("dropped", "service");
    free(malloc(10));
    if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0)
        rc_die("cannot drop to uid 65534");
    skull_scope_id prev = skull_scope_enter(dropped);
    for (int i = 0; i < 6; i++)
        kept[i] = malloc(500);
    skull_scope_leave(prev);
    if (!kept[5])
        rc_die("malloc");
    rc_say("ready\n");
    rc_wait_line(0);
    return 0;
}
