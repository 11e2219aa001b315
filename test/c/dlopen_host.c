/* Loads the library named by argv[1] with dlopen, prints "ready <pid>", and for each line on
 * stdin calls its plugin_leak(40) and prints "done". A line "swap" first closes the library
 * and loads the one named by argv[2] in its place (often at the same address); a line "close"
 * only closes it and prints "closed". */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef void (*leak_fn)(int);

static leak_fn load(const char *path, void **library) {
    *library = dlopen(path, RTLD_NOW);
    if (!*library) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return NULL;
    }
    return (leak_fn)dlsym(*library, "plugin_leak");
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    void *library;
    leak_fn leak = load(argv[1], &library);
    if (!leak) return 1;
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char line[16];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "close", 5) == 0) {
            if (dlclose(library) != 0) return 1;
            printf("closed\n");
            fflush(stdout);
            continue;
        }
        if (strncmp(line, "swap", 4) == 0 && argc > 2) {
            if (dlclose(library) != 0) return 1;
            leak = load(argv[2], &library);
            if (!leak) return 1;
        }
        leak(40);
        printf("done\n");
        fflush(stdout);
    }
    return 0;
}
