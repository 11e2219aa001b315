// A C++ program traced from start-up (SKULL_MEM_TRACE=all): keeps one std::string of 100
// characters, says "ready" and waits for "end". libstdc++ allocates its exception emergency
// pool (72,704 bytes on 64-bit Linux) in its own initializer, which runs before
// libskull_mem.so's constructor readies tracing: the one live block of scope `init`, counted
// and not traced. No stdio (its buffers would be more blocks): write(2) and read(2) only.
#include <string>
#include <unistd.h>

static void say(const char *text, size_t len) {
    if (write(1, text, len) != static_cast<ssize_t>(len)) _exit(3);
}

int main() {
    std::string *kept = new std::string(100, 'x');
    say("ready\n", 6);
    char c;
    while (read(0, &c, 1) == 1 && c != '\n') {
    }
    delete kept;
    return 0;
}
