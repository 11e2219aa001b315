//! The tracing control word: written by `skull-trace` into the segment header, read by every
//! allocation with one relaxed load.

/// Deepest stack recorded.
pub const MAX_DEPTH: usize = 32;

const ENABLED: u64 = 1;
const DEPTH_SHIFT: u32 = 1;
const DEPTH_MASK: u64 = 0x3f;
/// Only the scopes of the segment header's `trace_scopes` bitmap are traced.
const SCOPED: u64 = 1 << 7;
const SAMPLE_SHIFT: u32 = 8;
const SAMPLE_MASK: u64 = (1 << 40) - 1;
/// The largest sample size the control word holds (`options::TRACE_SAMPLE_BYTES`).
pub const MAX_SAMPLE_BYTES: u64 = SAMPLE_MASK;

/// What tracing does, as encoded in the control word (0 = off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceConfig {
    /// Frames to record, 1 to `MAX_DEPTH`.
    pub depth: usize,
    /// Mean bytes between samples (Poisson by bytes); 0 traces every allocation.
    pub sample_bytes: u64,
    /// Whether only the scopes of the header's `trace_scopes` bitmap are traced.
    pub scoped: bool,
}

impl TraceConfig {
    /// The control word that turns tracing on with this configuration.
    pub fn encode(&self) -> u64 {
        let depth = self.depth.clamp(1, MAX_DEPTH) as u64;
        let scoped = if self.scoped { SCOPED } else { 0 };
        ENABLED
            | scoped
            | (depth << DEPTH_SHIFT)
            | ((self.sample_bytes & SAMPLE_MASK) << SAMPLE_SHIFT)
    }

    /// The configuration of a control word, or `None` when tracing is off.
    #[inline]
    pub fn decode(word: u64) -> Option<TraceConfig> {
        if word & ENABLED == 0 {
            return None;
        }
        let depth = ((word >> DEPTH_SHIFT) & DEPTH_MASK) as usize;
        Some(TraceConfig {
            depth: depth.clamp(1, MAX_DEPTH),
            sample_bytes: (word >> SAMPLE_SHIFT) & SAMPLE_MASK,
            scoped: word & SCOPED != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_round_trip_and_zero_is_off() {
        for config in [
            TraceConfig {
                depth: 32,
                sample_bytes: 0,
                scoped: false,
            },
            TraceConfig {
                depth: 8,
                sample_bytes: 512 * 1024,
                scoped: true,
            },
        ] {
            assert_eq!(TraceConfig::decode(config.encode()), Some(config));
        }
        assert_eq!(TraceConfig::decode(0), None);
        let clamped = TraceConfig {
            depth: 99,
            sample_bytes: 1,
            scoped: false,
        };
        assert_eq!(
            TraceConfig::decode(clamped.encode()).unwrap().depth,
            MAX_DEPTH
        );
    }
}
