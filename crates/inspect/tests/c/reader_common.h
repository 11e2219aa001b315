/*
 * reader_common.h — helpers of the C programs the reader tests run under the preload.
 *
 * Output goes through write(2) and input through read(2), one byte at a time, so that
 * pausing and resuming never allocates and never consumes more input than one line.
 */
#ifndef READER_COMMON_H
#define READER_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skull_mem.h"

static __attribute__((unused)) void rc_say(const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = write(1, s, len);
        if (n <= 0)
            _exit(97);
        s += n;
        len -= (size_t)n;
    }
}

static __attribute__((unused)) void rc_die(const char *what)
{
    ssize_t r = write(2, what, strlen(what));
    r = write(2, "\n", 1);
    (void)r;
    _exit(98);
}

/* Blocks until one line arrives on `fd`; returns its first byte ('\n' for an empty line).
 * End of input exits the program with status 3. */
static __attribute__((unused)) char rc_wait_line(int fd)
{
    char first = 0, c;
    for (int at = 0;; at++) {
        ssize_t n = read(fd, &c, 1);
        if (n <= 0)
            _exit(3);
        if (at == 0)
            first = c;
        if (c == '\n')
            return first;
    }
}

static __attribute__((unused)) skull_scope_id rc_scope(const char *name, const char *kind)
{
    skull_scope_id id = skull_scope_register(name, kind);
    if (id == SKULL_SCOPE_INVALID)
        rc_die("skull_scope_register failed");
    return id;
}

#endif
