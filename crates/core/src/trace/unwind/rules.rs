//! How to step from a frame to its caller's, read from the unwind tables (`.eh_frame`) of the
//! code at an address: the slow path of stack capture, taken once per code address (the
//! answer is cached, see `cache.rs`).
//!
//! The object that holds the address and its `.eh_frame_hdr` come from glibc's
//! `_dl_find_object` (2.35 and later), which takes no lock and does not allocate, so it may run
//! inside malloc. gimli reads the tables in place, with its rule storage on the stack
//! (`RuleStorage`), also without allocating.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, LittleEndian, Pointer, ReaderOffset, Register,
    RegisterRule, UnwindContext, UnwindContextStorage, UnwindSection, UnwindTableRow,
};

/// DWARF register numbers on x86-64.
const RSP: Register = Register(7);
const RBP: Register = Register(6);
const RETURN_ADDRESS: Register = Register(16);

/// How to go from a frame to its caller's, for the code at one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// From the tables: the frame's CFA (the stack pointer before the call that made it) is
    /// `rbp` or `rsp` plus `cfa_offset`; the return address is at CFA - 8; the caller's `rbp`
    /// was saved at CFA - `rbp_saved_below`, or is still in `rbp` when that is 0.
    Tables {
        from_rbp: bool,
        cfa_offset: u32,
        rbp_saved_below: u32,
    },
    /// The tables say there is no return address: the outermost frame (`_start`, the start of
    /// a thread).
    Outermost,
    /// Follow the frame pointer: the tables of the loaded object that holds the address do
    /// not cover it (V8's builtins, embedded in node's own code), or describe it in a form
    /// this walker does not evaluate (a DWARF expression, as in functions that realign their
    /// stack, which keep a frame pointer). Holds as long as the object stays loaded.
    FramePointer,
    /// Follow the frame pointer: no loaded object holds the address (code generated at run
    /// time, such as V8's JIT code). May change: a library may be loaded there later.
    Generated,
}

type DlFindObject = unsafe extern "C" fn(*mut c_void, *mut DlFindObjectResult) -> c_int;

/// glibc's `struct dl_find_object` (dlfcn.h).
#[repr(C)]
struct DlFindObjectResult {
    flags: u64,
    map_start: *mut c_void,
    map_end: *mut c_void,
    link_map: *mut c_void,
    eh_frame: *mut c_void,
    reserved: [u64; 7],
}

/// `_dl_find_object`, looked up at load time (0 on glibc older than 2.35, where tables are
/// not used and every step follows the frame pointer).
static DL_FIND_OBJECT: AtomicUsize = AtomicUsize::new(0);

/// Looks up glibc's `_dl_find_object`. Call once, outside malloc (dlsym may allocate).
pub fn prime() {
    // SAFETY: a plain symbol lookup in the global scope.
    let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_dl_find_object".as_ptr()) };
    DL_FIND_OBJECT.store(found as usize, Ordering::Release);
}

/// Register rules kept on the stack while a table's program runs: x86-64 code describes at
/// most its 6 callee-saved registers and the return address, so 16 is ample; a table that
/// needs more is an error, and the walk follows the frame pointer there.
struct RuleStorage;

impl<T: ReaderOffset> UnwindContextStorage<T> for RuleStorage {
    type Rules = [(Register, RegisterRule<T>); 16];
    type Stack = [UnwindTableRow<T, Self>; 4];
}

/// The step for the code at `pc` (for a return address, pass the address minus one, which
/// lies inside the call).
pub fn step_for(pc: usize) -> Step {
    let find = DL_FIND_OBJECT.load(Ordering::Acquire);
    if find == 0 {
        return Step::Generated;
    }
    // SAFETY: `find` is glibc's `_dl_find_object`, which has this signature.
    let find = unsafe { core::mem::transmute::<usize, DlFindObject>(find) };
    // SAFETY: an all-zero `dl_find_object` is a valid out-parameter.
    let mut object: DlFindObjectResult = unsafe { core::mem::zeroed() };
    // SAFETY: `object` is a valid out-parameter; any address may be asked about.
    if unsafe { find(pc as *mut c_void, &mut object) } != 0 {
        return Step::Generated;
    }
    if object.eh_frame.is_null() {
        return Step::FramePointer;
    }
    table_row_step(pc, object.eh_frame as usize).unwrap_or(Step::FramePointer)
}

/// The step the tables of the object whose `.eh_frame_hdr` is at `eh_frame_hdr_addr` give
/// for `pc`; `None` when they do not cover it.
fn table_row_step(pc: usize, eh_frame_hdr_addr: usize) -> Option<Step> {
    // SAFETY: the loaded `.eh_frame_hdr` of the object that holds `pc`, code that is on this
    // thread's stack, so the object stays loaded while we read.
    let hdr = unsafe { eh_frame_hdr(eh_frame_hdr_addr)? };
    let bases = BaseAddresses::default().set_eh_frame_hdr(eh_frame_hdr_addr as u64);
    let parsed = hdr.parse(&bases, 8).ok()?;
    let Pointer::Direct(eh_frame_addr) = parsed.eh_frame_ptr() else {
        return None;
    };
    let table = parsed.table()?;
    let Pointer::Direct(fde_addr) = table.lookup(pc as u64, &bases).ok()? else {
        return None;
    };
    // The FDE's length word: the section is read up to the end of this FDE (its CIE lies
    // before it), so nothing past what the tables describe is touched.
    if fde_addr < eh_frame_addr {
        return None;
    }
    // SAFETY: the search table points at an FDE inside the loaded `.eh_frame`.
    let fde_len = unsafe { (fde_addr as *const u32).read_unaligned() };
    if fde_len == 0 || fde_len == u32::MAX {
        return None;
    }
    let len = (fde_addr - eh_frame_addr) as usize + 4 + fde_len as usize;
    // SAFETY: `.eh_frame` is mapped from its start through the end of this FDE.
    let section = unsafe { core::slice::from_raw_parts(eh_frame_addr as *const u8, len) };
    let eh_frame = EhFrame::new(section, LittleEndian);
    let bases = bases.set_eh_frame(eh_frame_addr);
    let fde = table
        .fde_for_address(&eh_frame, &bases, pc as u64, EhFrame::cie_from_offset)
        .ok()?;
    let mut context = UnwindContext::<usize, RuleStorage>::new_in();
    let row = fde
        .unwind_info_for_address(&eh_frame, &bases, &mut context, pc as u64)
        .ok()?;
    Some(step_of_row(row))
}

/// The `.eh_frame_hdr` at `addr` with its search table, when it has the layout every x86-64
/// linker writes (a pc-relative section pointer, a 4-byte count, 4-byte data-relative rows).
///
/// # Safety
/// `addr` is the start of a loaded `.eh_frame_hdr`.
unsafe fn eh_frame_hdr(
    addr: usize,
) -> Option<EhFrameHdr<gimli::EndianSlice<'static, LittleEndian>>> {
    const PCREL_SDATA4: u8 = 0x1b;
    const UDATA4: u8 = 0x03;
    const DATAREL_SDATA4: u8 = 0x3b;
    // SAFETY: the header's first 12 bytes (version, 3 encodings, section pointer, count).
    let head = unsafe { core::slice::from_raw_parts(addr as *const u8, 12) };
    if head[..4] != [1, PCREL_SDATA4, UDATA4, DATAREL_SDATA4] {
        return None;
    }
    let count = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
    // SAFETY: the table of `count` rows of two 4-byte values follows the header.
    let whole = unsafe { core::slice::from_raw_parts(addr as *const u8, 12 + count * 8) };
    Some(EhFrameHdr::new(whole, LittleEndian))
}

fn step_of_row<S: UnwindContextStorage<usize>>(row: &UnwindTableRow<usize, S>) -> Step {
    match row.register(RETURN_ADDRESS) {
        Some(RegisterRule::Undefined) => return Step::Outermost,
        Some(RegisterRule::Offset(-8)) => {}
        _ => return Step::FramePointer,
    }
    let (from_rbp, cfa_offset) = match *row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } if register == RSP => (false, offset),
        CfaRule::RegisterAndOffset { register, offset } if register == RBP => (true, offset),
        _ => return Step::FramePointer,
    };
    let rbp_saved_below = match row.register(RBP) {
        None | Some(RegisterRule::SameValue) => 0,
        Some(RegisterRule::Offset(offset)) if offset < 0 => offset.unsigned_abs(),
        _ => return Step::FramePointer,
    };
    match (u32::try_from(cfa_offset), u32::try_from(rbp_saved_below)) {
        (Ok(cfa_offset), Ok(rbp_saved_below)) if cfa_offset >= 8 => Step::Tables {
            from_rbp,
            cfa_offset,
            rbp_saved_below,
        },
        _ => Step::FramePointer,
    }
}
