//! sysmon: the runtime's background thread. For now it owns timer sleeping.
//!
//! # Design
//! Ps run their own due timers whenever they schedule; sysmon covers the rest. It
//! sleeps on a futex until the earliest deadline over all Ps' heaps (no timeout when
//! there is no timer: no periodic wake-ups), fires whatever is due (a fired `sleep`
//! readies its goroutine through the global queue and `wakep`), and sleeps again.
//! So an idle M never sleeps with a timeout, and a timer fires on time even while
//! every P is busy with goroutines that do not yield.
//!
//! Adding a timer earlier than sysmon's current `sleep_until` bumps `sysmon_word`
//! and wakes it. Lost wake-ups are excluded Dekker-style: the adder pushes the timer
//! and then reads `sleep_until` (SeqCst); sysmon stores `sleep_until` and then
//! re-reads every heap's earliest deadline (SeqCst) before it sleeps on the word
//! value it read before computing.
//!
//! It also re-runs deadlock detection when asked to (deadlock.rs: an unregistered
//! thread kept the condition from holding).
//!
//! Later (DESIGN.md §4-6): retaking Ps from blocking calls and hogs, netpoll.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::idle::{futex_wait, futex_wake};
use super::Sched;
use crate::timer::nanotime;

fn earliest(s: &Sched) -> u64 {
    s.ps.iter().map(|p| p.timers.next_when()).min().unwrap_or(u64::MAX)
}

fn ensure_started(s: &'static Sched) {
    if !s.sysmon_started.load(Ordering::Acquire) && !s.sysmon_started.swap(true, Ordering::AcqRel) {
        let r = std::thread::Builder::new().name("goro-sysmon".into()).spawn(move || run(s));
        if r.is_err() {
            crate::fatal!("newosproc: cannot create the sysmon thread");
        }
    }
}

/// A timer for `when` was added to one of `s`'s Ps.
pub(crate) fn note_timer(s: &'static Sched, when: u64) {
    ensure_started(s);
    if when < s.sleep_until.load(Ordering::SeqCst) {
        wake(s);
    }
}

/// Asks sysmon to run deadlock detection again after `after`.
pub(crate) fn recheck_deadlock(s: &'static Sched, after: Duration) {
    let at = nanotime() + after.as_nanos() as u64;
    let prev = s.deadlock_recheck.load(Ordering::SeqCst);
    if prev == 0 || at < prev {
        s.deadlock_recheck.store(at, Ordering::SeqCst);
    }
    ensure_started(s);
    wake(s);
}

/// Wakes sysmon so it recomputes its deadline.
pub(crate) fn wake(s: &Sched) {
    s.sysmon_word.fetch_add(1, Ordering::SeqCst);
    futex_wake(&s.sysmon_word);
}

fn run(s: &'static Sched) {
    super::external::exempt();
    super::external::runtime_thread_start();
    loop {
        if s.shutdown.load(Ordering::Acquire) {
            super::external::runtime_thread_exit();
            return;
        }
        let seq = s.sysmon_word.load(Ordering::SeqCst);
        let now = nanotime();
        for p in s.ps.iter() {
            if p.timers.next_when() <= now {
                p.timers.run_due(now, s);
            }
        }
        let recheck = s.deadlock_recheck.load(Ordering::SeqCst);
        if recheck != 0 && recheck <= now {
            s.deadlock_recheck.store(0, Ordering::SeqCst);
            super::deadlock::check(s);
            continue;
        }
        let timers = earliest(s);
        s.sleep_until.store(timers, Ordering::SeqCst);
        if earliest(s) < timers {
            continue;
        }
        let next = if recheck != 0 { timers.min(recheck) } else { timers };
        let timeout = if next == u64::MAX {
            None
        } else {
            let now = nanotime();
            if next <= now {
                continue;
            }
            Some(Duration::from_nanos(next - now))
        };
        futex_wait(&s.sysmon_word, seq, timeout);
        s.sleep_until.store(0, Ordering::SeqCst);
    }
}
