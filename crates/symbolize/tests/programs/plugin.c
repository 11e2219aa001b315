/* A shared library the app dlopens: built with -shared -fPIC -g by the tests. */
static void *volatile plugin_sink;

__attribute__((noinline)) void *plugin_capture(void) {
    return __builtin_return_address(0);
}

void *plugin_entry(void) { /* MARK:plugin_entry */
    void *ra = plugin_capture(); /* MARK:plugin_call */
    plugin_sink = ra;
    return ra;
}
