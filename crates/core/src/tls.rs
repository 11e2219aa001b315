//! The allocator's thread-local state, reached in two instructions.
//!
//! In a shared library, Rust's `thread_local!` uses the general-dynamic TLS model: every
//! access calls `__tls_get_addr`, twice per malloc/free pair, which measured as the largest
//! part of the interposer's cost. A library that is preloaded sits in the static TLS block,
//! so the initial-exec model is valid: the state is at a fixed offset from the thread
//! pointer (`%fs:0`), read from the GOT once per access. Stable Rust cannot ask for that
//! model, so on x86-64 Linux the state is defined and addressed in assembly; elsewhere it
//! falls back to `thread_local!`.

/// Bytes of the thread-local state, `thread::ThreadState`.
pub(crate) const STATE_SIZE: usize = 88 + crate::cache::THREAD_CACHE_SIZE;

/// The thread-local state's storage: `STATE_SIZE` bytes laid out as `thread::ThreadState`,
/// whose initial value is `{ current: null, scope_bits: 0, fast_below: 0,
/// scope: SCOPE_INVALID, slot: 0, sets: null, status: NEW, home: SCOPE_INVALID (unknown), trace: all
/// zero, cache: all zero }`.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    core::arch::global_asm!(
        ".pushsection .tdata,\"awT\",@progbits",
        ".p2align 3",
        // Global so inlined accesses from other crates link, hidden so it is never
        // exported or interposed: each linked copy of the core has its own state.
        ".globl skull_mem_thread_state",
        ".hidden skull_mem_thread_state",
        ".type skull_mem_thread_state,@object",
        ".size skull_mem_thread_state, {size}",
        "skull_mem_thread_state:",
        ".quad 0",
        ".quad 0",
        ".quad 0",
        ".long 0xffffffff",
        ".long 0",
        ".quad 0",
        // `status` and its padding, then `home`.
        ".long 0",
        ".long 0xffffffff",
        ".zero {rest}",
        ".popsection",
        size = const super::STATE_SIZE,
        rest = const super::STATE_SIZE - 48,
    );

    /// Address of the calling thread's state.
    #[inline(always)]
    pub fn state_addr() -> *mut u8 {
        let addr: *mut u8;
        // SAFETY: reads the thread pointer and adds the symbol's static-TLS offset from
        // the GOT (initial-exec); both loads are always valid in a running thread. Both
        // words are fixed for the thread's life (the GOT is relocated before any code
        // runs), so the asm is declared `nomem`: within one call of a function the result
        // never changes, and the compiler may compute it once instead of after each store.
        unsafe {
            core::arch::asm!(
                "mov {addr}, qword ptr fs:[0]",
                "add {addr}, qword ptr [rip + skull_mem_thread_state@GOTTPOFF]",
                addr = out(reg) addr,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        addr
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    use core::cell::UnsafeCell;

    #[repr(C, align(8))]
    struct Storage(UnsafeCell<[u32; super::STATE_SIZE / 4]>);

    thread_local! {
        static STATE: Storage = const {
            let mut words = [0; super::STATE_SIZE / 4];
            // `scope`, the seventh word, and `home`, the twelfth, start as SCOPE_INVALID.
            words[6] = u32::MAX;
            words[11] = u32::MAX;
            Storage(UnsafeCell::new(words))
        };
    }

    /// Address of the calling thread's state.
    #[inline(always)]
    pub fn state_addr() -> *mut u8 {
        STATE.with(|state| state.0.get() as *mut u8)
    }
}

pub(crate) use imp::state_addr;
