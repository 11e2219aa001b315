//! What an object about to be unloaded looks like (path, build id, load bias, mapped ranges),
//! read from the loader's program headers by `dl_iterate_phdr`, then recorded into the
//! segment (`skull_mem_core::trace::modules`) once `dlclose` really unloaded it. Without
//! allocating: the caller may be anywhere, and the record is a fixed-size copy.

use core::ffi::{c_char, c_int, c_void, CStr};

use skull_mem_core::trace::modules::{MappedRange, BUILD_ID_BYTES, PATH_BYTES, RANGES};

/// The first fields of glibc's `struct link_map` (`<link.h>`), which `dlinfo` gives.
#[repr(C)]
struct LinkMapHead {
    l_addr: usize,
    l_name: *const c_char,
}

/// `NT_GNU_BUILD_ID`, the type of the note holding the build id.
const NT_GNU_BUILD_ID: u32 = 3;

/// A loaded object, as copied before it is unloaded.
#[derive(Clone, Copy)]
pub(crate) struct Object {
    bias: usize,
    found: bool,
    path: [u8; PATH_BYTES],
    path_len: usize,
    build_id: [u8; BUILD_ID_BYTES],
    build_id_len: usize,
    ranges: [MappedRange; RANGES],
    ranges_len: usize,
}

impl Object {
    /// The object behind a `dlopen` handle; `None` when the loader does not know it.
    ///
    /// # Safety
    /// `handle` came from `dlopen` and has not been closed.
    pub(crate) unsafe fn of_handle(handle: *mut c_void) -> Option<Object> {
        let mut map: *mut LinkMapHead = core::ptr::null_mut();
        // SAFETY: RTLD_DI_LINKMAP stores a `struct link_map *` through the pointer given.
        let status = unsafe {
            libc::dlinfo(
                handle,
                libc::RTLD_DI_LINKMAP,
                &mut map as *mut *mut LinkMapHead as *mut c_void,
            )
        };
        if status != 0 || map.is_null() {
            return None;
        }
        let mut object = Object {
            // SAFETY: the loader's link map of a loaded object; its first field is `l_addr`.
            bias: unsafe { (*map).l_addr },
            found: false,
            path: [0; PATH_BYTES],
            path_len: 0,
            build_id: [0; BUILD_ID_BYTES],
            build_id_len: 0,
            ranges: [MappedRange::default(); RANGES],
            ranges_len: 0,
        };
        // SAFETY: `l_name` is the loader's NUL-terminated name of the object.
        let name = unsafe { (*map).l_name };
        if name.is_null() {
            return None;
        }
        // SAFETY: as above.
        let name = unsafe { CStr::from_ptr(name) }.to_bytes();
        if name.is_empty() {
            return None;
        }
        object.path_len = name.len().min(PATH_BYTES);
        object.path[..object.path_len].copy_from_slice(&name[..object.path_len]);
        // SAFETY: the callback reads only the headers it is given; `object` outlives the call.
        unsafe {
            libc::dl_iterate_phdr(
                Some(copy_headers),
                &mut object as *mut Object as *mut c_void,
            )
        };
        object.found.then_some(object)
    }

    /// Whether an object with this bias and path is still loaded (`dlclose` only unloads
    /// the last reference).
    pub(crate) fn still_loaded(&self) -> bool {
        let mut probe = Object {
            found: false,
            ranges_len: 0,
            build_id_len: 0,
            ..*self
        };
        // SAFETY: as in `of_handle`.
        unsafe {
            libc::dl_iterate_phdr(Some(copy_headers), &mut probe as *mut Object as *mut c_void)
        };
        probe.found
    }

    /// Records the object into the segment's table of unloaded objects.
    pub(crate) fn record(&self) {
        if let Some(region) = skull_mem_core::region::get() {
            region.unloaded.record(
                &self.path[..self.path_len],
                self.bias as u64,
                &self.build_id[..self.build_id_len],
                &self.ranges[..self.ranges_len],
            );
        }
    }
}

/// `dl_iterate_phdr` callback: copies the ranges and build id of the object `data` names
/// (by bias and path) and stops.
unsafe extern "C" fn copy_headers(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: `data` is the caller's `Object`; `info` describes one loaded object.
    let (object, info) = unsafe { (&mut *(data as *mut Object), &*info) };
    if info.dlpi_addr as usize != object.bias || info.dlpi_name.is_null() {
        return 0;
    }
    // SAFETY: glibc's NUL-terminated name of the object.
    let name = unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes();
    if name[..name.len().min(PATH_BYTES)] != object.path[..object.path_len] {
        return 0;
    }
    object.found = true;
    // SAFETY: glibc passes `dlpi_phnum` program headers at `dlpi_phdr`.
    let headers = unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    for header in headers {
        let start = object.bias as u64 + header.p_vaddr;
        if header.p_type == libc::PT_LOAD && object.ranges_len < RANGES {
            object.ranges[object.ranges_len] = MappedRange {
                start,
                end: start + header.p_memsz,
                offset: header.p_offset,
            };
            object.ranges_len += 1;
        }
        if header.p_type == libc::PT_NOTE {
            // SAFETY: a PT_NOTE segment of a loaded object is mapped, `p_memsz` bytes long.
            let notes =
                unsafe { core::slice::from_raw_parts(start as *const u8, header.p_memsz as usize) };
            if let Some(id) = build_id(notes) {
                object.build_id_len = id.len().min(BUILD_ID_BYTES);
                object.build_id[..object.build_id_len].copy_from_slice(&id[..object.build_id_len]);
            }
        }
    }
    1
}

/// The GNU build id among ELF notes (4-byte aligned: name size, desc size, type, name, desc).
fn build_id(mut notes: &[u8]) -> Option<&[u8]> {
    let word = |bytes: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let align = |n: usize| (n + 3) & !3;
    while notes.len() >= 12 {
        let name_size = word(notes, 0)? as usize;
        let desc_size = word(notes, 4)? as usize;
        let kind = word(notes, 8)?;
        let desc_at = 12 + align(name_size);
        let next = desc_at + align(desc_size);
        let name = notes.get(12..12 + name_size)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
            return notes.get(desc_at..desc_at + desc_size);
        }
        notes = notes.get(next..)?;
    }
    None
}
