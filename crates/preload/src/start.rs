//! Start-up: the load-time constructor, and the `__libc_start_main` hook that marks the
//! start of `main`, so allocations before it are charged to `init`.

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use skull_mem_core::{region, thread};

type MainFn = unsafe extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) -> c_int;
type StartMainFn = unsafe extern "C" fn(
    MainFn,
    c_int,
    *mut *mut c_char,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *mut c_void,
) -> c_int;

static REAL_MAIN: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static INTERPOSING: AtomicBool = AtomicBool::new(false);

/// Whether our `malloc` is the one the process resolves (false when the library was
/// `dlopen`ed rather than preloaded, or the program brings its own malloc).
pub fn interposing() -> bool {
    INTERPOSING.load(Ordering::Relaxed)
}

extern "C" fn on_load() {
    region::get_or_map();
    // SAFETY: a plain symbol lookup in the global scope.
    let resolved = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"malloc".as_ptr()) };
    let ours = crate::exports::malloc as *const c_void;
    INTERPOSING.store(
        std::ptr::eq(resolved as *const c_void, ours),
        Ordering::Relaxed,
    );
}

#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn() = on_load;

unsafe extern "C" fn main_hook(
    argc: c_int,
    argv: *mut *mut c_char,
    envp: *mut *mut c_char,
) -> c_int {
    thread::main_started();
    let main = REAL_MAIN.load(Ordering::Relaxed);
    // SAFETY: set below to the program's `main` before glibc calls this hook.
    let main = unsafe { core::mem::transmute::<*mut c_void, MainFn>(main) };
    // SAFETY: calling the program's main with the arguments glibc prepared.
    unsafe { main(argc, argv, envp) }
}

/// glibc's program entry, wrapped so that `main_hook` runs first.
///
/// # Safety
/// Called once by the program's `_start`, with glibc's arguments.
#[no_mangle]
pub unsafe extern "C" fn __libc_start_main(
    main: MainFn,
    argc: c_int,
    argv: *mut *mut c_char,
    init: *mut c_void,
    fini: *mut c_void,
    rtld_fini: *mut c_void,
    stack_end: *mut c_void,
) -> c_int {
    // SAFETY: a plain symbol lookup past our own library.
    let real = unsafe { libc::dlsym(libc::RTLD_NEXT, c"__libc_start_main".as_ptr()) };
    if real.is_null() {
        // Without glibc's entry the program cannot start at all; say why.
        const MESSAGE: &[u8] = b"skull-mem: glibc's __libc_start_main was not found\n";
        // SAFETY: writing a static buffer to stderr, then ending the process.
        unsafe {
            libc::write(2, MESSAGE.as_ptr() as *const c_void, MESSAGE.len());
            libc::_exit(127)
        }
    }
    REAL_MAIN.store(main as *mut c_void, Ordering::Relaxed);
    // SAFETY: `real` is glibc's `__libc_start_main`, which has this signature.
    let real = unsafe { core::mem::transmute::<*mut c_void, StartMainFn>(real) };
    // SAFETY: forwarding the program's own arguments with our hook in place of main.
    unsafe { real(main_hook, argc, argv, init, fini, rtld_fini, stack_end) }
}
