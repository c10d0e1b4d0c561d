//! `goro::stats()` and `GORO_SCHEDTRACE` (DESIGN.md §11).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::sched::Sched;

/// One P's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcStats {
    /// Goroutines in the local run queue (plus `runnext`).
    pub runq: usize,
    /// Goroutines started on this P with a fresh time slice (Go's schedtick).
    pub schedtick: u64,
    /// Switches to a goroutine on this P (including inherited time slices).
    pub switches: u64,
    /// Of `switches`, those made from the scheduler's own stack; the others went
    /// directly from one goroutine to the next.
    pub scheduler_switches: u64,
    /// Steals this P made from other Ps.
    pub steals: u64,
    /// Timers in this P's heap (including stopped ones not yet removed).
    pub timers: usize,
}

/// A snapshot of a runtime (counters are read without a common lock).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Live goroutines.
    pub goroutines: usize,
    /// Ps (GOMAXPROCS).
    pub procs: usize,
    /// OS threads running goroutines (Ms) created so far and alive.
    pub threads: usize,
    /// Idle Ps.
    pub idle_procs: usize,
    /// Spinning Ms (looking for work).
    pub spinning_threads: usize,
    /// Goroutines in the global run queue.
    pub global_runq: usize,
    /// Pending timers.
    pub timers: usize,
    /// Per-P counters.
    pub per_proc: Vec<ProcStats>,
    /// Ps that sysmon took from goroutines in blocking calls or hogging their thread
    /// and handed to another M.
    pub handoffs: u64,
    /// Goroutines whose time slice ended at a safe point (sent to the global queue).
    pub preemptions: u64,
    /// Goroutines that reached a safe point after their M lost its P, and waited in
    /// the global queue.
    pub pless_requeues: u64,
    /// Goroutines running without a P right now (hogs, blocking calls handed off).
    pub running_without_p: usize,
    /// Passes of the sysmon thread so far (it sleeps for timers only while every P
    /// is idle).
    pub sysmon_wakeups: u64,
    /// Address space reserved for stacks, bytes (all runtimes).
    pub stack_reserved_bytes: usize,
    /// Stacks handed out (all runtimes and coroutines).
    pub stacks_in_use: usize,
    /// Resident bytes of all stacks (measured with `mincore`: a system call per
    /// 64 MiB of stack slots, so this snapshot costs milliseconds with a million
    /// goroutines).
    pub stack_resident_bytes: usize,
}

pub(crate) fn of(s: &'static Sched) -> Stats {
    let st = goro_stack::stats();
    Stats {
        goroutines: s.goroutines(),
        procs: s.procs,
        threads: s.mcount.load(Ordering::Relaxed),
        idle_procs: s.npidle.load(Ordering::Relaxed),
        spinning_threads: s.nmspinning.load(Ordering::Relaxed),
        global_runq: s.inject_len.load(Ordering::Relaxed),
        timers: s.ntimers.load(Ordering::Relaxed),
        per_proc: s
            .ps
            .iter()
            .map(|p| ProcStats {
                runq: p.runq.len() + usize::from(!p.runnext.load(Ordering::Relaxed).is_null()),
                schedtick: p.schedtick.load(Ordering::Relaxed),
                switches: p.switches.load(Ordering::Relaxed),
                scheduler_switches: p.g0_switches.load(Ordering::Relaxed),
                steals: p.steals.load(Ordering::Relaxed),
                timers: p.timers.len(),
            })
            .collect(),
        handoffs: s.stats_handoffs.load(Ordering::Relaxed),
        preemptions: s.stats_preemptions.load(Ordering::Relaxed),
        pless_requeues: s.stats_pless_requeues.load(Ordering::Relaxed),
        running_without_p: s.npless.load(Ordering::Relaxed),
        sysmon_wakeups: s.stats_sysmon_wakeups.load(Ordering::Relaxed),
        stack_reserved_bytes: st.reserved_bytes,
        stacks_in_use: st.slots_in_use,
        stack_resident_bytes: goro_stack::resident_bytes(),
    }
}

/// Statistics of the current goroutine's runtime (or of the default runtime).
pub fn stats() -> Stats {
    of(crate::sched::sched_of_current_or_default())
}

/// Starts the `GORO_SCHEDTRACE` thread: one line per `ms` milliseconds on stderr, in
/// Go's `schedtrace` shape.
pub(crate) fn start_schedtrace(s: &'static Sched, ms: u64) {
    let start = Instant::now();
    let _ = std::thread::Builder::new().name("goro-schedtrace".into()).spawn(move || {
        crate::sched::external::runtime_thread_start();
        loop {
        std::thread::sleep(Duration::from_millis(ms));
        let st = of(s);
        let queues: Vec<String> = st.per_proc.iter().map(|p| p.runq.to_string()).collect();
        eprintln!(
            "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} runqueue={} goroutines={} handoffs={} preemptions={} [{}]",
            start.elapsed().as_millis(),
            st.procs,
            st.idle_procs,
            st.threads,
            st.spinning_threads,
            st.global_runq,
            st.goroutines,
            st.handoffs,
            st.preemptions,
            queues.join(" ")
        );
        }
    });
}

/// A goroutine dump of the current runtime (or the default one): one block per live
/// goroutine, `goroutine 7 [chan receive]:` for parked ones, `[running]` and
/// `[runnable]` for the others (DESIGN.md §11).
pub fn dump() -> String {
    crate::sched::deadlock::dump(crate::sched::sched_of_current_or_default())
}
