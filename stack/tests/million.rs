//! A million stacks under the default `vm.max_map_count`: address space, mappings and
//! memory per stack.

mod common;

use std::time::Instant;

use common::{map_lines, status_bytes};
use goro_stack::{PooledStack, Stack, DEFAULT_STACK_SIZE};

const COUNT: usize = 1_000_000;

#[test]
fn million_stacks_fit_the_map_count() {
    if goro_stack::running_on_valgrind() {
        eprintln!("skipped under valgrind: {COUNT} stacks is too large");
        return;
    }
    let t0 = Instant::now();
    let (maps0, rss0, pte0) = (map_lines(), status_bytes("VmRSS"), status_bytes("VmPTE"));
    let mut stacks = Vec::with_capacity(COUNT);
    for i in 0..COUNT {
        let s =
            PooledStack::acquire(DEFAULT_STACK_SIZE).unwrap_or_else(|e| panic!("stack {i}: {e}"));
        // SAFETY: one byte below the top lies inside the stack we own.
        unsafe { s.top().sub(64).write(1) };
        stacks.push(s);
    }
    let t_acquire = t0.elapsed();
    let (maps1, rss1, pte1) = (map_lines(), status_bytes("VmRSS"), status_bytes("VmPTE"));
    let st = goro_stack::stats();
    let vec_bytes = COUNT * std::mem::size_of::<PooledStack>();
    let rss_per = (rss1 - rss0).saturating_sub(vec_bytes) as f64 / COUNT as f64;
    let pte_per = (pte1 - pte0) as f64 / COUNT as f64;
    eprintln!(
        "{COUNT} stacks in {t_acquire:?}: maps +{} lines ({maps0} -> {maps1}), {} arenas, {} GiB reserved, \
         VmRSS {:.0} B/stack + VmPTE {:.0} B/stack, guard mode {:?}",
        maps1 - maps0,
        st.arenas,
        st.reserved_bytes >> 30,
        rss_per,
        pte_per,
        st.guard_mode
    );
    assert!(maps1 - maps0 < 1000, "maps grew by {} lines", maps1 - maps0);
    assert!(st.slots_in_use >= COUNT);
    assert!(rss_per + pte_per < 6000.0, "{rss_per} + {pte_per} bytes per stack");

    let t1 = Instant::now();
    drop(stacks);
    let t_release = t1.elapsed();
    let st = goro_stack::stats();
    assert!(st.slots_pooled >= COUNT, "{st:?}");
    goro_stack::scavenge();
    let rss2 = status_bytes("VmRSS");
    eprintln!(
        "released in {t_release:?}; after scavenge RSS {} MiB (peak {} MiB)",
        rss2 >> 20,
        rss1 >> 20
    );
    assert!(rss2 < rss1 / 4, "scavenge left {rss2} bytes resident");
    assert!(t0.elapsed().as_secs() < 60);
}
