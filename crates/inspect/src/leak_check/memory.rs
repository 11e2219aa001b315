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

/// Whether `process_vm_readv` works in this process at all (a seccomp filter may refuse it):
/// without it nothing could be read, and every block would look lost.
pub(crate) fn can_read_own() -> bool {
    let probe = [0x5au8; 16];
    let mut copy = [0u8; 16];
    read_own(probe.as_ptr() as u64, &mut copy) == copy.len() && copy == probe
}

/// Most ranges one `read_own_many` call reads (the kernel's `IOV_MAX`).
pub(crate) const MAX_RANGES: usize = 1024;

/// Copies the ranges `(address, length)` of this process's memory, one after the other, into
/// the start of `buffer` (long enough for all) in one system call; whether all were read (else
/// the caller reads them one by one, to skip only what is no longer mapped).
pub(crate) fn read_own_many(ranges: &[(u64, usize)], buffer: &mut [u8]) -> bool {
    let mut local = [libc::iovec {
        iov_base: core::ptr::null_mut(),
        iov_len: 0,
    }; MAX_RANGES];
    let mut remote = local;
    let mut offset = 0;
    let count = ranges.len().min(MAX_RANGES);
    for (index, &(address, length)) in ranges[..count].iter().enumerate() {
        if offset + length > buffer.len() {
            return false;
        }
        local[index] = libc::iovec {
            iov_base: buffer[offset..].as_mut_ptr().cast(),
            iov_len: length,
        };
        remote[index] = libc::iovec {
            iov_base: address as *mut libc::c_void,
            iov_len: length,
        };
        offset += length;
    }
    // SAFETY: each local iovec lies inside `buffer` (checked above), which is writable; the
    // kernel checks the remote ones and reports a short read instead of faulting.
    let read = unsafe {
        libc::process_vm_readv(
            libc::getpid(),
            local.as_ptr(),
            count as libc::c_ulong,
            remote.as_ptr(),
            count as libc::c_ulong,
            0,
        )
    };
    count == ranges.len() && usize::try_from(read).is_ok_and(|read| read == offset)
}
