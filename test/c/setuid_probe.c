/*
 * setuid_probe.c — a program the test installs set-user-ID root, to show that the library
 * ignores the caller's SKULL_MEM_* variables there. Resolves skull_report with dlsym, so it
 * needs no link to the library (it is preloaded by name). Prints "ready <pid>", waits for a
 * line on stdin, then prints its own memory table, which says whether tracing is on.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "skull_mem.h"

int main(void) {
    __typeof__(skull_report) *report = (__typeof__(skull_report) *)dlsym(RTLD_DEFAULT, "skull_report");
    if (!report) {
        fprintf(stderr, "setuid_probe: skull_report not found: the library is not loaded\n");
        return 2;
    }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 3;
    static char text[1 << 16];
    report(text, sizeof text, SKULL_REPORT_TEXT);
    fputs(text, stdout);
    return 0;
}
