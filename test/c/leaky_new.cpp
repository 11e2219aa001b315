// A C++ program that leaks through `new` in a member function, for the tracing tests.
// Prints "ready <pid>"; on a line on stdin, Cache::add keeps 50 buffers of 256 bytes and the
// program prints "done".
#include <cstdio>
#include <unistd.h>
#include <vector>

struct Cache {
    std::vector<char *> entries;
    __attribute__((noinline)) void add(int n);
};

void Cache::add(int n) {
    for (int i = 0; i < n; i++) {
        char *entry = new char[256]; // NEW_LINE
        entry[0] = static_cast<char>(i);
        entries.push_back(entry);
    }
}

int main() {
    Cache cache;
    cache.entries.reserve(64);
    std::printf("ready %d\n", static_cast<int>(getpid()));
    std::fflush(stdout);
    char line[16];
    if (std::fgets(line, sizeof line, stdin)) {
        cache.add(50);
        std::printf("done\n");
        std::fflush(stdout);
    }
    while (std::fgets(line, sizeof line, stdin)) {
    }
    return 0;
}
