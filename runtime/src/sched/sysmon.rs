//! sysmon: the runtime's background thread: timers, time slices, hog and
//! blocking-call hand-offs.
//!
//! # Design
//! Ps run their own due timers whenever they schedule; sysmon covers the rest. It
//! sleeps on a futex until the earliest deadline over all Ps' heaps (no timeout when
//! there is no timer: no periodic wake-ups), fires what is due on Ps that do not run
//! goroutines (a fired `sleep` readies its goroutine through the global queue and
//! `wakep`), and sleeps again. A due timer of a P that runs goroutines is left to that
//! P for `TIMER_GRACE` (its M fires it at its next schedule and the woken goroutine
//! goes to that P's `runnext`, next in line, instead of the global queue, which a busy
//! P looks at once per 61 schedules); sysmon fires it only once it is that late (a P
//! that does not schedule). So an idle M never sleeps with a timeout, and a timer
//! fires on time, or at most `TIMER_GRACE` late, even while every P is busy with
//! goroutines that do not yield.
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
//! While some P is busy it also runs Go's `retake` (preempt.rs has the protocol):
//! it watches each P's ownership word and `schedtick`; a P on the same time slice
//! for 10 ms with other work waiting gets `preempt_at` (the goroutine yields at its
//! next safe point); 1 ms later, still there and no idle P, the P goes to another M
//! (the hog keeps its thread); a slice over 1 ms old whose thread sleeps in the
//! kernel (an unwrapped blocking call) loses its P as soon as that is seen twice; a P in `blocking` is handed off from the second look
//! 20 us after it entered (stamped by `blocking`) if work waits or nobody idles to
//! pick new work up, or after 10 ms.
//! It sleeps 20 us between passes, doubling after 50 quiet passes up to 10 ms, and
//! wakes exactly when a watched slice or grace period ends. With every P idle it
//! sleeps for timers only (no periodic wake-ups); taking an idle P wakes it.
//!
//! Later (DESIGN.md §7): netpoll.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::idle::{futex_wait, futex_wake};
use super::own as p;
use super::{preempt, Sched};
use crate::timer::nanotime;

/// Whether `p`'s timer due at `when` is left to `p` at `now` (module docs): `p` runs
/// goroutines and the timer is less than `TIMER_GRACE` late.
fn left_to_p(p: &super::p::P, when: u64, now: u64) -> bool {
    now - when < TIMER_GRACE && p.own.load(Ordering::Acquire) & p::STATE == p::RUNNING
}

/// When sysmon has to fire timers next: the earliest deadline over all Ps, where a
/// due timer left to its P counts at the end of its grace.
fn timers_due(s: &Sched, now: u64) -> u64 {
    s.ps.iter()
        .map(|p| {
            let when = p.timers.next_when();
            if when <= now && left_to_p(p, when, now) {
                when + TIMER_GRACE
            } else {
                when
            }
        })
        .min()
        .unwrap_or(u64::MAX)
}

pub(crate) fn ensure_started(s: &'static Sched) {
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

/// A goroutine entered `blocking` while work waits: sysmon should look at its P
/// within about 20 us.
pub(crate) fn nudge(s: &'static Sched) {
    ensure_started(s);
    s.sysmon_nudged.store(true, Ordering::Release);
    wake(s);
}

/// Wakes sysmon so it recomputes its deadline.
pub(crate) fn wake(s: &Sched) {
    s.sysmon_word.fetch_add(1, Ordering::SeqCst);
    futex_wake(&s.sysmon_word);
}

/// Sysmon's first (and shortest) sleep while Ps are busy (Go: 20 us).
const MIN_DELAY: u64 = 20_000;
/// How long (ns) a due timer is left to its P while that P runs goroutines (module
/// docs). 100,000 goroutines sleeping 0–10 ms on 2 Ps (the timers bench): with no
/// grace, sysmon fired 45 % of the timers and the woken goroutines queued in the
/// global queue.
const TIMER_GRACE: u64 = 200_000;
/// Its longest sleep while Ps are busy and nothing needs it (Go: 10 ms).
const MAX_DELAY: u64 = 10_000_000;
/// Quiet passes (nothing preempted or retaken) before the sleep starts doubling.
const QUIET_PASSES: u32 = 50;
/// How long a P may sit in `blocking` before sysmon takes it even when idle Ps
/// could pick up new work (Go: 10 ms).
const SYSCALL_MAX: u64 = 10_000_000;

/// Sysmon's view of one P.
#[derive(Clone, Copy, Default)]
struct Watch {
    /// The ownership word and schedtick last seen: a change means a new owner, state
    /// or time slice.
    word: u64,
    tick: u64,
    /// When sysmon first saw this (word, tick) (nanotime).
    since: u64,
    /// When sysmon asked the slice to end (0: not yet).
    asked: u64,
    /// When sysmon first saw the owner's thread asleep in the kernel during this
    /// slice (0: not seen).
    blocked: u64,
}

/// A slice with work waiting behind it is checked for a thread blocked in the kernel
/// (an unwrapped blocking call) once it is this old.
const BLOCKED_AFTER: u64 = 1_000_000;
/// ... and is taken once the thread was seen asleep twice this far apart.
const BLOCKED_CONFIRM: u64 = 100_000;

/// Preempts goroutines past their slice and retakes Ps from hogs and blocking calls
/// (Go's `retake`). Returns whether it did anything, and when it needs to look again.
fn retake(s: &'static Sched, watch: &mut [Watch], now: u64) -> (bool, u64) {
    let slice = preempt::SLICE.as_nanos() as u64;
    let grace = preempt::HOG_GRACE.as_nanos() as u64;
    let mut acted = false;
    let mut next = u64::MAX;
    for (p, wt) in s.ps.iter().zip(watch.iter_mut()) {
        let w = p.own.load(Ordering::Acquire);
        let state = w & p::STATE;
        if state == p::IDLE || state == p::REVOKING {
            wt.word = w;
            continue;
        }
        let tick = p.schedtick.load(Ordering::Relaxed);
        if state == p::SYSCALL {
            // `blocking` stamped when it started: no need to wait for a second look.
            if wt.word != w {
                let entered = p.syscall_when.load(Ordering::Relaxed);
                *wt = Watch { word: w, tick, since: entered.min(now), asked: 0, blocked: 0 };
            }
            if now - wt.since < MIN_DELAY {
                next = next.min(wt.since + MIN_DELAY);
                continue;
            }
            let idle_help =
                s.nmspinning.load(Ordering::SeqCst) + s.npidle.load(Ordering::SeqCst) > 0;
            if !p.has_work() && idle_help && now - wt.since < SYSCALL_MAX {
                next = next.min(wt.since + SYSCALL_MAX);
                continue;
            }
            if preempt::retake_syscall(s, p, w) {
                acted = true;
            }
            continue;
        }
        let waiting = p.has_work() || s.inject_len.load(Ordering::Relaxed) > 0;
        if wt.word != w || wt.tick != tick {
            *wt = Watch { word: w, tick, since: now, asked: 0, blocked: 0 };
            next = next.min(now + if waiting { BLOCKED_AFTER } else { slice });
            continue;
        }
        // RUNNING: the same time slice since `wt.since`. A goroutine asleep in the
        // kernel (an unwrapped blocking call: `std::thread::sleep`, a read, a std
        // lock) cannot reach a safe point: with work waiting and nobody else to run
        // it, its P goes at once rather than after the slice.
        if waiting && now - wt.since >= BLOCKED_AFTER && s.npidle.load(Ordering::SeqCst) == 0 {
            if owner_asleep(p) {
                if wt.blocked == 0 {
                    wt.blocked = now;
                } else if now - wt.blocked >= BLOCKED_CONFIRM && preempt::retake_hog(s, p, w) {
                    acted = true;
                    continue;
                }
                next = next.min(now + BLOCKED_CONFIRM);
            } else {
                wt.blocked = 0;
            }
        } else if waiting {
            next = next.min(wt.since + BLOCKED_AFTER);
        }
        if now - wt.since < slice {
            next = next.min(wt.since + slice);
            continue;
        }
        if !waiting {
            continue;
        }
        if wt.asked == 0 {
            preempt::request_preempt(p, tick);
            wt.asked = now;
            acted = true;
            next = next.min(now + grace);
        } else if now - wt.asked < grace {
            next = next.min(wt.asked + grace);
        } else if s.npidle.load(Ordering::SeqCst) == 0 {
            // Still no safe point: a hog (or an unwrapped blocking call). Nobody else
            // can run the waiting work, so its P goes to another M.
            if preempt::retake_hog(s, p, w) {
                acted = true;
            } else {
                next = next.min(now + MIN_DELAY);
            }
        }
    }
    (acted, next)
}

/// Whether the OS thread of the M holding `p` sleeps in the kernel right now.
fn owner_asleep(p: &'static super::p::P) -> bool {
    let owner = p.m.load(Ordering::Acquire);
    if owner.is_null() {
        return false;
    }
    // SAFETY: Ms are never freed (m.rs leaks them); `p.m` points to one.
    let tid = unsafe { (*owner).tid.load(Ordering::Relaxed) };
    matches!(super::external::thread_state(tid), Some('S' | 'D'))
}

fn run(s: &'static Sched) {
    super::external::exempt();
    super::external::runtime_thread_start();
    // Sleeps of 20 us should not be stretched by the default 50 us timer slack.
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong) };
    let mut watch = vec![Watch::default(); s.procs];
    let mut delay = MIN_DELAY;
    let mut quiet = 0u32;
    loop {
        if s.shutdown.load(Ordering::Acquire) {
            super::external::runtime_thread_exit();
            return;
        }
        let seq = s.sysmon_word.load(Ordering::SeqCst);
        s.stats_sysmon_wakeups.fetch_add(1, Ordering::Relaxed);
        let now = nanotime();
        let mut fired = 0;
        for p in s.ps.iter() {
            let when = p.timers.next_when();
            if when <= now && !left_to_p(p, when, now) {
                fired += p.timers.run_due(now, s);
            }
        }
        if fired > 0
            && s.ntimers.load(Ordering::SeqCst) == 0
            && s.npidle.load(Ordering::SeqCst) == s.procs
        {
            // The last pending timer fired on this thread and woke nobody (a dropped
            // `after` channel): no P going idle will follow to run the check.
            super::deadlock::check(s);
        }
        let recheck = s.deadlock_recheck.load(Ordering::SeqCst);
        if recheck != 0 && recheck <= now {
            s.deadlock_recheck.store(0, Ordering::SeqCst);
            super::deadlock::check(s);
            continue;
        }
        let (acted, watch_next) = retake(s, &mut watch, now);
        if acted || s.sysmon_nudged.swap(false, Ordering::AcqRel) {
            delay = MIN_DELAY;
            quiet = 0;
        } else if quiet < QUIET_PASSES {
            quiet += 1;
        } else {
            delay = (delay * 2).min(MAX_DELAY);
        }
        let timers = timers_due(s, now);
        s.sleep_until.store(timers, Ordering::SeqCst);
        if timers_due(s, now) < timers {
            continue;
        }
        let mut next = if recheck != 0 { timers.min(recheck) } else { timers };
        let busy = s.npidle.load(Ordering::SeqCst) < s.procs;
        if busy {
            next = next.min(now + delay).min(watch_next);
        } else {
            // Every P is idle: nothing to preempt or retake until one is taken
            // (`M::take_p` wakes us), so sleep for timers only.
            s.sysmon_idle.store(true, Ordering::SeqCst);
            if s.npidle.load(Ordering::SeqCst) < s.procs {
                s.sysmon_idle.store(false, Ordering::SeqCst);
                continue;
            }
            delay = MIN_DELAY;
            quiet = 0;
        }
        let timeout = if next == u64::MAX {
            None
        } else {
            let now = nanotime();
            if next <= now {
                s.sysmon_idle.store(false, Ordering::SeqCst);
                continue;
            }
            Some(Duration::from_nanos(next - now))
        };
        futex_wait(&s.sysmon_word, seq, timeout);
        s.sysmon_idle.store(false, Ordering::SeqCst);
        s.sleep_until.store(0, Ordering::SeqCst);
    }
}
