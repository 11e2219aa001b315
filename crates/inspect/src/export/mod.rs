//! What skull-mem measured, in the formats other tools read: pprof heap profiles
//! ([`pprof`], on the messages of [`profile`]) from the traced stacks ([`heap`]) or from the
//! per-scope counters.

pub mod heap;
pub mod pprof;
pub mod profile;
