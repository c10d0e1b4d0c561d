//! Standalone coroutines, goro against corosensei in the same run.
//!
//! - `switch_round_trip`: one `resume` + one `suspend` of a coroutine that is already
//!   running (two context switches).
//! - `create_run_drop`: create a coroutine, run it to completion, drop it. goro takes its
//!   stack from the per-thread pool; corosensei reuses one stack through
//!   `with_stack`/`into_stack` (its fastest reuse path), and `corosensei_new_stack`
//!   maps a fresh stack every time, for reference.

// criterion_group!/criterion_main! generate undocumented public items.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn switch_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("switch_round_trip");
    g.bench_function("goro", |b| {
        let mut co = goro::coroutine::Coroutine::new(
            |y: &goro::coroutine::Yielder<usize, usize>, mut x: usize| loop {
                x = y.suspend(x + 1);
            },
        );
        b.iter(|| co.resume(black_box(1)))
    });
    g.bench_function("corosensei", |b| {
        let mut co = corosensei::Coroutine::new(
            |y: &corosensei::Yielder<usize, usize>, mut x: usize| loop {
                x = y.suspend(x + 1);
            },
        );
        b.iter(|| co.resume(black_box(1)))
    });
    g.finish();
}

fn create_run_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("create_run_drop");
    g.bench_function("goro", |b| {
        b.iter(|| {
            let mut co = goro::coroutine::Coroutine::new(
                |_: &goro::coroutine::Yielder<usize, ()>, x: usize| x + 1,
            );
            co.resume(black_box(1))
        })
    });
    g.bench_function("corosensei_reused_stack", |b| {
        let mut stack = Some(corosensei::stack::DefaultStack::new(256 * 1024).unwrap());
        b.iter(|| {
            let mut co = corosensei::Coroutine::with_stack(
                stack.take().unwrap(),
                |_: &corosensei::Yielder<usize, ()>, x: usize| x + 1,
            );
            let r = co.resume(black_box(1));
            stack = Some(co.into_stack());
            r
        })
    });
    g.bench_function("corosensei_new_stack", |b| {
        b.iter(|| {
            let mut co =
                corosensei::Coroutine::new(|_: &corosensei::Yielder<usize, ()>, x: usize| x + 1);
            co.resume(black_box(1))
        })
    });
    g.finish();
}

criterion_group!(benches, switch_round_trip, create_run_drop);
criterion_main!(benches);
