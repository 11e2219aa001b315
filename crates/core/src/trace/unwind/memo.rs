//! What the last walk of a thread read, so the next walk from the same place can tell in a
//! few independent loads that it would find the same stack, instead of stepping frame by
//! frame (each step waits for the one before). A loop that allocates, the common case when
//! everything is traced, then pays for one check instead of one walk.
//!
//! Exact, not a guess: a walk is a function of its starting stack pointer, its starting
//! `rbp` (when a step used it), the steps cached for each address (fixed until code is
//! unloaded: `generation`), and the words it read from the stack. When all of those are the
//! same, so is every frame.

use core::sync::atomic::{AtomicU32, Ordering};

/// Stack words a remembered walk may have read: two per frame (return address, saved rbp)
/// for the deepest stack plus skull-mem's own frames. A longer walk is not remembered.
const MAX_READS: usize = 80;

/// Bumped when code is unloaded or the trace tables are emptied (a forked child): remembered
/// walks from before are void, and so are the stack ids they and the threads' stack caches
/// keep.
static GENERATION: AtomicU32 = AtomicU32::new(1);

/// Voids every remembered walk (the cached steps were just forgotten, or the stack ids
/// remembered name nothing now).
pub fn void_all() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The generation now: what a thread's stack cache compares with the one it was filled in.
pub fn generation() -> u32 {
    GENERATION.load(Ordering::Relaxed)
}

/// One walk of a thread.
pub struct WalkMemo {
    /// `GENERATION` when remembered; 0 when nothing is.
    generation: u32,
    /// The walk's frame limit and where it started.
    max_frames: usize,
    pc: usize,
    sp: usize,
    /// The starting `rbp`, when a step used it before reloading it from the stack.
    bp: Option<usize>,
    /// Where each word read lies above `sp` (a known stack is at most 64 MiB), and its value.
    read_offsets: [u32; MAX_READS],
    read_values: [usize; MAX_READS],
    count: usize,
}

impl WalkMemo {
    pub const fn new() -> Self {
        WalkMemo {
            generation: 0,
            max_frames: 0,
            pc: 0,
            sp: 0,
            bp: None,
            read_offsets: [0; MAX_READS],
            read_values: [0; MAX_READS],
            count: 0,
        }
    }

    /// Whether a walk from `pc`, `sp` and `bp` for up to `max_frames` frames would give what
    /// the remembered walk gave.
    ///
    /// # Safety
    /// Call from the thread that made the remembered walk, with `sp` its current stack
    /// pointer: the words read lie above it on the same stack, as they did then.
    #[inline]
    pub unsafe fn unchanged(&self, pc: usize, sp: usize, bp: usize, max_frames: usize) -> bool {
        if self.generation != GENERATION.load(Ordering::Relaxed)
            || self.pc != pc
            || self.sp != sp
            || self.max_frames != max_frames
            || self.bp.is_some_and(|then| then != bp)
        {
            return false;
        }
        let offsets = &self.read_offsets[..self.count];
        let values = &self.read_values[..self.count];
        offsets
            .iter()
            .zip(values)
            .fold(true, |same, (&offset, &value)| {
                let addr = sp + offset as usize;
                // SAFETY: `addr` was read by the walk from this stack pointer on this thread's
                // stack (see the function's contract), so it is still mapped.
                same & (unsafe { (addr as *const usize).read_volatile() } == value)
            })
    }

    /// Starts remembering a walk from `pc` and `sp` for up to `max_frames` frames.
    pub fn start(&mut self, pc: usize, sp: usize, max_frames: usize) {
        self.generation = GENERATION.load(Ordering::Relaxed);
        self.pc = pc;
        self.sp = sp;
        self.max_frames = max_frames;
        self.bp = None;
        self.count = 0;
    }

    /// The walk used its starting `rbp`.
    pub fn used_bp(&mut self, bp: usize) {
        self.bp = Some(bp);
    }

    /// The walk read `value` at `addr`; a walk that reads too much, or below its start or
    /// far above it (off a known stack), is not remembered.
    pub fn read(&mut self, addr: usize, value: usize) {
        let offset = addr
            .checked_sub(self.sp)
            .and_then(|o| u32::try_from(o).ok());
        match (offset, self.count < MAX_READS) {
            (Some(offset), true) => {
                self.read_offsets[self.count] = offset;
                self.read_values[self.count] = value;
                self.count += 1;
            }
            _ => self.forget(),
        }
    }

    /// Remembers nothing (the walk could not be remembered).
    pub fn forget(&mut self) {
        self.generation = 0;
    }
}
