//! What skull-mem measured, in the formats other tools read: pprof heap profiles
//! ([`pprof`], on the messages of [`profile`]) from the traced stacks ([`heap`]) or from the
//! per-scope counters (either, for a scrape: [`scrape`]), one self-contained HTML page of
//! flame graphs ([`html`]), and Prometheus text and OpenMetrics of every measured process
//! ([`metrics`]).

pub mod heap;
pub mod html;
pub mod metrics;
pub mod pprof;
pub mod profile;
pub mod scrape;
