//! Shared helpers of the benches (included with `#[path]`): medians, /proc, N.

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

/// `N` from the environment (`GORO_BENCH_N`) or the default; in test mode (no
/// `--bench`, see [`bench_mode`]) at most 1,000, so that `cargo test --all-targets`
/// only checks that the benchmark runs.
pub fn n_or(default: u64) -> u64 {
    match std::env::var("GORO_BENCH_N").ok().and_then(|v| v.parse().ok()) {
        Some(n) => n,
        None if bench_mode() => default,
        None => default.min(1_000),
    }
}

/// Prints one result line in the format the Go peers use: `name value unit`.
pub fn report(name: &str, value: f64, unit: &str) {
    println!("{name} {value:.1} {unit}");
}

/// Whether `cargo bench` started this binary: it passes `--bench`, while
/// `cargo test --all-targets` runs harness-less bench targets without arguments.
pub fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// N for the peers (may, tokio, parking_lot): `n` under `cargo bench`, at most 1,000 in
/// test mode, where the peers only have to run once, quickly.
pub fn peer_n(n: u64) -> u64 {
    if bench_mode() {
        n
    } else {
        n.min(1_000)
    }
}

/// Worker threads of the peers' runtimes: goro's default procs (`GORO_MAXPROCS`, else
/// the available parallelism), so that every column runs on as many threads.
pub fn procs() -> usize {
    std::env::var("GORO_MAXPROCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&p: &usize| p > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |p| p.get()))
}

/// How many may coroutines can be alive at once here, rounded down to a thousand: may
/// (through `generator`) maps every stack on its own and `mprotect`s a guard page in
/// it, two entries of `/proc/self/maps` per coroutine, and `mmap` fails with ENOMEM
/// (a panic in `may::go!`) once the process holds `vm.max_map_count` entries (65,530 by
/// default). 2,000 entries are left for the rest of the process.
pub fn may_max_tasks() -> u64 {
    let max_maps: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65_530);
    (max_maps.saturating_sub(mappings() + 2_000) / 2 / 1_000 * 1_000) as u64
}

/// Runs a may peer scenario under a watchdog and returns its result.
///
/// may 0.3 can lose a wake-up and then hang for good: seen here once under
/// `cargo test --all-targets` (debug build), in `may::sync::spsc` — may's workers idle in
/// `epoll_wait`, the main thread blocked in `JoinHandle::join`. A peer's hang must not
/// hang the suite, so if `f` has not returned after 60 s (test mode) or 600 s (bench
/// mode), the watchdog says so on stderr, naming the scenario, and ends the process
/// with status 0: nothing of goro's failed, and the scenarios after it are skipped
/// (callers run their may scenarios last).
pub fn may_peer<R>(name: &str, f: impl FnOnce() -> R) -> R {
    let limit = Duration::from_secs(if bench_mode() { 600 } else { 60 });
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let name = name.to_owned();
    let dog = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
            eprintln!(
                "{name}: the may peer did not finish in {limit:?} (a lost wake-up inside \
                 may, not a goro failure); skipping the rest of this binary"
            );
            std::process::exit(0);
        }
    });
    let r = f();
    drop(done);
    dog.join().unwrap();
    r
}

/// Runs this bench binary again, with the same arguments and `var=val` in its
/// environment, and waits for it; its lines go to the same stdout. For peers that need a
/// fresh process: may's worker count is fixed once its scheduler has started.
pub fn rerun_with(var: &str, val: &str) {
    let exe = std::env::current_exe().unwrap();
    let st = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(var, val)
        .status()
        .unwrap();
    assert!(st.success(), "{var}={val}: {st}");
}
