/* A target for the symbolizer tests. It prints `name 0xaddress` lines, then `ready`, and waits
 * on stdin so the test can read its maps. MARK comments name the lines the tests expect.
 * argv[1], when given, is a shared library to dlopen that exports plugin_entry. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

/* Returns its return address, as the tracer's capture inside malloc would. */
__attribute__((noinline)) void *capture(void) {
    return __builtin_return_address(0);
}

/* Called once and static: gcc -O2 inlines it into leak_here, -O0 does not. */
static void *inlinable(void) {
    void *ra = capture(); /* MARK:inlinable_call */
    sink = ra;
    return ra;
}

__attribute__((noinline)) void *leak_here(void) { /* MARK:leak_here_entry */
    void *ra = inlinable(); /* MARK:leak_here_call */
    sink = ra;
    return ra;
}

int main(int argc, char **argv) {
    printf("leak_here_ra %p\n", leak_here());
    printf("leak_here_fn %p\n", (void *)leak_here);
    printf("capture_fn %p\n", (void *)capture);
    printf("libc_malloc %p\n", dlsym(RTLD_DEFAULT, "malloc"));
    void *vdso = dlopen("linux-vdso.so.1", RTLD_LAZY | RTLD_NOLOAD);
    printf("vdso_clock_gettime %p\n", vdso ? dlsym(vdso, "__vdso_clock_gettime") : NULL);
    if (argc > 1) {
        void *plugin = dlopen(argv[1], RTLD_NOW);
        if (!plugin) {
            fprintf(stderr, "dlopen: %s\n", dlerror());
            return 1;
        }
        void *(*entry)(void) = (void *(*)(void))dlsym(plugin, "plugin_entry");
        printf("plugin_ra %p\n", entry());
        printf("plugin_fn %p\n", (void *)entry);
    }
    printf("ready\n");
    fflush(stdout);
    getchar();
    return 0;
}
