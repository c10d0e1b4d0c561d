//! Shared helpers of the channel benches (included with `#[path]`).

#![allow(dead_code)]

use std::time::Duration;

/// Median of `runs` measurements (each the time of `per` operations), in ns per op.
pub fn median_ns(runs: usize, per: u64, mut f: impl FnMut() -> Duration) -> f64 {
    let mut v: Vec<f64> = (0..runs).map(|_| f().as_nanos() as f64 / per as f64).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// `N` from `GORO_BENCH_N`, or the default.
pub fn n_or(default: u64) -> u64 {
    std::env::var("GORO_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One result line, as the Go peers print it: `name value unit`.
pub fn report(name: &str, value: f64, unit: &str) {
    println!("{name} {value:.1} {unit}");
}
