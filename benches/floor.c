/*
 * floor.c — the least an interposer like libskull_mem.so can cost: the "floor" configuration
 * of benches/run.sh (see benches/README.md).
 *
 * skull-mem must run code after libc's malloc returns (to write the header), so its malloc
 * calls __libc_malloc and returns, where a pure forwarder would tail-call it; and it asks
 * libc for 16 more bytes. This library does exactly that and nothing else: no header, no
 * counting. Pointers are returned unchanged, so the rest of the malloc family (calloc,
 * realloc, ...) is left to glibc. Its ratio to glibc is the part of skull-mem's overhead no
 * change to the counting or the header can remove.
 *
 * Build: gcc -O2 -fno-plt -fPIC -shared -o libfloor.so floor.c
 */
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);

__attribute__((visibility("default"))) void *malloc(size_t size) {
    void *raw = __libc_malloc(size + 16);
    /* Keeps gcc from turning the call into a tail call: skull-mem cannot make one. */
    __asm__ __volatile__("" : "+r"(raw));
    return raw;
}

__attribute__((visibility("default"))) void free(void *ptr) {
    __libc_free(ptr);
}
