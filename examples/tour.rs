//! A tour of goro: `cargo run --release --example tour`.
//!
//! Each section shows one capability. It grows with the project.

use std::time::Instant;

use goro::coroutine::{Coroutine, CoroutineResult, Yielder};

fn main() {
    generator();
    switch_cost();
    lazy_stacks();
}

/// A generator: a coroutine that yields the Fibonacci numbers below a bound.
fn generator() {
    println!("== 1. A generator on a goro stack");
    let mut fib = Coroutine::new(|y: &Yielder<u64, u64>, bound: u64| {
        let (mut a, mut b) = (0u64, 1u64);
        let mut count = 0;
        while a < bound {
            y.suspend(a);
            (a, b) = (b, a + b);
            count += 1;
        }
        count
    });
    let mut values = Vec::new();
    let mut input = 1000;
    let count = loop {
        match fib.resume(input) {
            CoroutineResult::Yield(v) => values.push(v),
            CoroutineResult::Return(n) => break n,
        }
        input = 0; // only the first resume's input reaches the function
    };
    println!("   fibonacci below 1000: {values:?}");
    println!("   the coroutine returned its count: {count}\n");
}

/// What a switch costs: resume + suspend, round trips per second.
fn switch_cost() {
    println!("== 2. The cost of a context switch");
    let mut co = Coroutine::new(|y: &Yielder<u64, u64>, mut x: u64| loop {
        x = y.suspend(x.wrapping_mul(3));
    });
    const N: u64 = 5_000_000;
    let mut acc = 0u64;
    let start = Instant::now();
    for i in 0..N {
        if let CoroutineResult::Yield(v) = co.resume(i) {
            acc = acc.wrapping_add(v);
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / N as f64;
    println!(
        "   {N} round trips (resume + suspend = 2 switches): {ns:.2} ns each (checksum {acc})"
    );
    println!("   the routine saves rbx rbp r12-r15, MXCSR and the x87 control word (x86_64),");
    println!("   or x19-x28, fp, lr, d8-d15 and FPCR (aarch64); see asm/src/arch/*.S");
    println!("   (for real numbers: cargo bench -p goro-benches --bench coroutine)\n");
}

/// Stacks are reserved, not committed: 10,000 suspended coroutines cost about a page each.
fn lazy_stacks() {
    println!("== 3. Lazily committed stacks");
    let before = rss_kib();
    let mut cos: Vec<Coroutine<(), u32, ()>> = (0..10_000u32)
        .map(|i| {
            Coroutine::new(move |y: &Yielder<(), u32>, ()| {
                y.suspend(i);
            })
        })
        .collect();
    for co in &mut cos {
        co.resume(());
    }
    let after = rss_kib();
    let stats = goro::stack::stats();
    println!("   10,000 suspended coroutines, 256 KiB maximum stack each");
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "   resident memory grew by {} KiB: {:.1} KiB per coroutine",
            a.saturating_sub(b),
            (a.saturating_sub(b)) as f64 / 10_000.0
        );
    }
    println!(
        "   stack pool: {} arenas, {} MiB of address space reserved, {} stacks in use, guards by {:?}",
        stats.arenas,
        stats.reserved_bytes >> 20,
        stats.slots_in_use,
        stats.guard_mode
    );
    drop(cos);
    println!("   dropping them unwinds each stack and returns it to the pool\n");
}

/// VmRSS of this process in KiB, from /proc/self/status.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
