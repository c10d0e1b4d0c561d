//! Stack pool micro-benchmarks: acquire + release of a default-size stack through the
//! per-thread cache (the fast path) and through the global pool (lock + trim).

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use goro_stack::{PooledStack, Stack, DEFAULT_STACK_SIZE};

fn alloc(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack");
    // Warm: the slot exists, its top page is resident, the thread cache holds it.
    drop(PooledStack::acquire(DEFAULT_STACK_SIZE).unwrap());
    g.bench_function("acquire_release_local", |b| {
        b.iter(|| {
            let s = PooledStack::acquire(black_box(DEFAULT_STACK_SIZE)).unwrap();
            black_box(s.top());
        })
    });
    g.bench_function("acquire_release_global", |b| {
        b.iter(|| {
            let s = PooledStack::acquire_global(black_box(DEFAULT_STACK_SIZE)).unwrap();
            black_box(s.top());
            s.release_global();
        })
    });
    g.finish();
}

criterion_group!(benches, alloc);
criterion_main!(benches);
