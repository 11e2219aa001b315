//! Start-up: the load-time constructor, and the `__libc_start_main` hook that marks the
//! start of `main`, so allocations before it are charged to `init`.

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use skull_mem_core::{region, thread, trace};

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
    if let Some(code) = own_code() {
        trace::capture::prime(code);
    }
    // SAFETY: a plain symbol lookup in the global scope.
    let resolved = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"malloc".as_ptr()) };
    let ours = crate::exports::malloc as *const c_void;
    INTERPOSING.store(
        std::ptr::eq(resolved as *const c_void, ours),
        Ordering::Relaxed,
    );
}

/// The executable segment of this library: stack capture skips the frames in it.
fn own_code() -> Option<core::ops::Range<usize>> {
    // SAFETY: a zeroed `Dl_info` is a valid out-parameter.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: `on_load` is code of this library; dladdr only fills `info`.
    if unsafe { libc::dladdr(on_load as *const c_void, &mut info) } == 0 {
        return None;
    }
    let mut search = (info.dli_fbase as usize, on_load as *const () as usize, None);
    // SAFETY: the callback only reads the program headers it is given, and `search` outlives
    // the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(find_code_segment),
            &mut search as *mut (usize, usize, Option<core::ops::Range<usize>>) as *mut c_void,
        )
    };
    search.2
}

unsafe extern "C" fn find_code_segment(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: `data` is `own_code`'s search state; `info` describes one loaded object.
    let (search, info) = unsafe {
        (
            &mut *(data as *mut (usize, usize, Option<core::ops::Range<usize>>)),
            &*info,
        )
    };
    if info.dlpi_addr as usize != search.0 && search.0 != 0 {
        return 0;
    }
    // SAFETY: glibc passes `dlpi_phnum` program headers at `dlpi_phdr`.
    let headers = unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    for header in headers {
        if header.p_type == libc::PT_LOAD && header.p_flags & libc::PF_X != 0 {
            let start = info.dlpi_addr as usize + header.p_vaddr as usize;
            let code = start..start + header.p_memsz as usize;
            if code.contains(&search.1) {
                search.2 = Some(code);
                return 1;
            }
        }
    }
    0
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
