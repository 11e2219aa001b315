//! Reading this process's own memory without trusting that it is still mapped: at exit,
//! other threads may still run and unmap what the scan is about to read (a large block
//! freed, a thread stack released), so every read goes through `process_vm_readv`, which
//! fails with an error where a plain load would fault.

/// Copies this process's memory at `address` into `buffer`; the number of bytes read (short
/// or 0 where the range stops being mapped).
pub(crate) fn read_own(address: u64, buffer: &mut [u8]) -> usize {
    let local = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: buffer.len(),
    };
    let remote = libc::iovec {
        iov_base: address as *mut libc::c_void,
        iov_len: buffer.len(),
    };
    // SAFETY: `local` describes `buffer`, which is writable for its length; the kernel
    // checks `remote` and reports what it could not read instead of faulting.
    let read = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    usize::try_from(read).unwrap_or(0)
}
