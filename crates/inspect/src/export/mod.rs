//! What skull-mem measured, in the formats other tools read: pprof heap profiles
//! ([`pprof`], on the messages of [`profile`]) from the traced stacks ([`heap`]) or from the
//! per-scope counters, and one self-contained HTML page of flame graphs ([`html`]).

pub mod heap;
pub mod html;
pub mod pprof;
pub mod profile;
