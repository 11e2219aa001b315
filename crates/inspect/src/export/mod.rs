//! Exports to the tools people already use: Prometheus and OpenMetrics text (`metrics`).

pub mod metrics;
