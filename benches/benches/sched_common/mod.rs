//! Shared helpers of the scheduler benches (included with `#[path]`): medians, /proc.

#![allow(dead_code)]

use std::time::Duration;

/// Median of `runs` measurements of `f` (each returns the time for `per` operations),
/// in ns per operation.
pub fn median_ns(runs: usize, per: u64, mut f: impl FnMut() -> Duration) -> f64 {
    let mut v: Vec<f64> = (0..runs).map(|_| f().as_nanos() as f64 / per as f64).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// A `/proc/self/status` field in bytes (`VmRSS`, `VmPTE`).
pub fn status_bytes(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Number of mappings of this process.
pub fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |s| s.lines().count())
}

/// `N` from the environment (`GORO_BENCH_N`) or the default.
pub fn n_or(default: u64) -> u64 {
    std::env::var("GORO_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Prints one result line in the format the Go peers use: `name value unit`.
pub fn report(name: &str, value: f64, unit: &str) {
    println!("{name} {value:.1} {unit}");
}
