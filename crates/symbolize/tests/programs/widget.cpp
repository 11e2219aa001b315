// A C++ target: a replaced global operator new records its return address (the call site of a
// new-expression), as the tracer records the caller of malloc. Same protocol as app.c.
#include <cstdio>
#include <cstdlib>
#include <new>

static void *volatile last_new_caller;

void *operator new(std::size_t size) {
    last_new_caller = __builtin_return_address(0);
    void *p = std::malloc(size ? size : 1);
    if (!p) throw std::bad_alloc();
    return p;
}

void operator delete(void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }

namespace shop {
struct Widget {
    int parts[4];
};

template <typename T> struct Factory {
    __attribute__((noinline)) static T *make(int n) {
        T *made = new T[n]; // MARK:factory_new
        return made;
    }
};

__attribute__((noinline)) Widget *make_widget(int id) {
    Widget *w = new Widget{{id, id, id, id}}; // MARK:make_widget_new
    return w;
}
} // namespace shop

int main() {
    shop::Widget *w = shop::make_widget(7);
    std::printf("make_widget_ra %p\n", last_new_caller);
    shop::Widget *many = shop::Factory<shop::Widget>::make(3);
    std::printf("factory_ra %p\n", last_new_caller);
    std::printf("operator_new_fn %p\n", (void *)static_cast<void *(*)(std::size_t)>(&operator new));
    std::printf("ready\n");
    std::fflush(stdout);
    std::getchar();
    delete w;
    delete[] many;
    return 0;
}
