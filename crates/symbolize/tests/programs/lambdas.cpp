// Lambdas, a function template and GCC's -O2 clones (constprop, isra), for the names
// binutils prints: `main::{lambda(unsigned long)#1}::operator()(unsigned long) const`.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

static std::vector<void *> kept;

__attribute__((noinline)) static void keep(void *block) { kept.push_back(block); }

// Called with a constant from every site: GCC clones it as `fill.constprop.0`.
__attribute__((noinline)) static void fill(size_t size, int times) {
    for (int i = 0; i < times; i++) keep(malloc(size));
}

struct Big { long a[8]; };

// A large struct passed by value of which one field is used: an `.isra` clone.
__attribute__((noinline)) static long first(Big big) {
    keep(malloc(big.a[0]));
    return big.a[0];
}

template <typename F> __attribute__((noinline)) void apply(F f, size_t n) { f(n); }

int main(int argc, char **) {
    auto alloc = [](unsigned long n) { keep(malloc(n)); };
    apply(alloc, 16);
    std::function<void(int)> nested = [&](int n) {
        auto inner = [n](unsigned long m) { keep(malloc(m * n)); };
        apply(inner, 8);
    };
    nested(argc);
    fill(32, 3);
    Big big = {{24, 1, 2, 3, 4, 5, 6, 7}};
    first(big);
    std::printf("%zu\n", kept.size());
    return 0;
}
