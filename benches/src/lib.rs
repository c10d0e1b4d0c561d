//! Shared helpers of the goro benchmarks (the scenarios live in `benches/benches/`).
