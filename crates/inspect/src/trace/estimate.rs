//! What sampled figures stand for. Sampling is a Poisson process over allocated bytes with
//! mean `M` (`skull_mem_core::trace`, as jemalloc and Go sample): a block of `s` bytes is
//! sampled with probability `1 − e^(−s/M)`, so each sampled block stands for `1 / that` blocks
//! and `s / (1 − e^(−s/M))` bytes. Those sums are unbiased estimates of what was allocated;
//! their relative error is about `1/√samples`.

use serde::Serialize;

/// How blocks were chosen for tracing: every one, or a Poisson sample by bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// The mean in bytes; 0: every allocation was traced.
    mean: f64,
}

impl Sampling {
    /// The scheme of a sampling mean in bytes (0: every allocation).
    pub fn new(mean_bytes: u64) -> Sampling {
        Sampling {
            mean: mean_bytes as f64,
        }
    }

    /// Whether figures are estimates (a sample) rather than counts.
    pub fn sampled(&self) -> bool {
        self.mean > 0.0
    }

    /// How many blocks of `size` bytes one sampled block of that size stands for.
    /// `size` may be an average (the pprof export scales a stack's allocations by theirs).
    pub fn blocks_per_sample(&self, size: f64) -> f64 {
        if !self.sampled() {
            return 1.0;
        }
        // -expm1(-x) is 1 − e^(−x) without cancellation for the small blocks (x ≪ 1).
        let chance = -(-size.max(1.0) / self.mean).exp_m1();
        1.0 / chance
    }
}

/// A figure summed over traced blocks: exact counts, or estimates from samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    /// Traced (sampled) blocks.
    pub samples: u64,
    /// Their bytes.
    pub sampled_bytes: u64,
    /// The blocks they stand for.
    pub blocks: f64,
    /// The bytes they stand for.
    pub bytes: f64,
}

impl Tally {
    /// Adds `count` traced blocks of `size` bytes each.
    pub fn add(&mut self, sampling: Sampling, size: u64, count: u64) {
        let scale = sampling.blocks_per_sample(size as f64) * count as f64;
        self.samples += count;
        self.sampled_bytes += size * count;
        self.blocks += scale;
        self.bytes += scale * size as f64;
    }

    /// Adds `count` traced blocks of `bytes` bytes in all, each taken to be of their mean size.
    pub fn add_total(&mut self, sampling: Sampling, count: u64, bytes: u64) {
        let mean = bytes as f64 / count.max(1) as f64;
        let scale = sampling.blocks_per_sample(mean.round()) * count as f64;
        self.samples += count;
        self.sampled_bytes += bytes;
        self.blocks += scale;
        self.bytes += scale * mean;
    }

    /// Adds another tally (of the same sampling).
    pub fn merge(&mut self, other: &Tally) {
        self.samples += other.samples;
        self.sampled_bytes += other.sampled_bytes;
        self.blocks += other.blocks;
        self.bytes += other.bytes;
    }

    /// The figures as reported.
    pub fn estimate(&self, sampling: Sampling) -> Estimate {
        Estimate {
            estimated: sampling.sampled(),
            samples: self.samples,
            sampled_bytes: self.sampled_bytes,
            error: if sampling.sampled() && self.samples > 0 {
                1.0 / (self.samples as f64).sqrt()
            } else {
                0.0
            },
        }
    }
}

/// How far a figure is to be trusted (field names stable in `--json`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// Whether `bytes` and `blocks` are estimates from samples rather than counts.
    pub estimated: bool,
    /// Traced blocks behind the figure.
    pub samples: u64,
    /// Their own bytes (what was traced, before scaling).
    pub sampled_bytes: u64,
    /// Rough relative error of an estimate, `1/√samples` (0 when counted, not estimated).
    pub error: f64,
}

impl Estimate {
    /// Exact figures from `blocks` traced blocks of `bytes` bytes in all.
    pub fn exact(blocks: u64, bytes: u64) -> Estimate {
        Estimate {
            estimated: false,
            samples: blocks,
            sampled_bytes: bytes,
            error: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sampled_block_stands_for_its_size_over_its_chance_of_being_sampled() {
        let every = Sampling::new(0);
        assert_eq!(every.blocks_per_sample(100.0), 1.0);
        let sampled = Sampling::new(1000);
        // A block as large as the mean is sampled with chance 1 − 1/e.
        let want = 1.0 / (1.0 - (-1.0f64).exp());
        assert!((sampled.blocks_per_sample(1000.0) - want).abs() < 1e-12);
        // A tiny block stands for mean / size blocks, to first order.
        assert!((sampled.blocks_per_sample(1.0) - 1000.5).abs() < 1e-3);
        let mut tally = Tally::default();
        tally.add(sampled, 1000, 4);
        assert_eq!((tally.samples, tally.sampled_bytes), (4, 4000));
        assert!((tally.bytes - 4000.0 * want).abs() < 1e-9);
        assert_eq!(tally.estimate(sampled).error, 0.5);
        assert_eq!(tally.estimate(every).error, 0.0);
    }
}
