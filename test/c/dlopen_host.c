/* Loads the library named by argv[1] with dlopen, prints "ready <pid>", and for each line on
 * stdin calls its plugin_leak(40) and prints "done". */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    void *library = dlopen(argv[1], RTLD_NOW);
    if (!library) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    void (*leak)(int) = (void (*)(int))dlsym(library, "plugin_leak");
    if (!leak) return 1;
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char line[16];
    while (fgets(line, sizeof line, stdin)) {
        leak(40);
        printf("done\n");
        fflush(stdout);
    }
    return 0;
}
