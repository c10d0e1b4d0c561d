//! Deadlock detection: `all goroutines are asleep - deadlock!`.
//!
//! # Design
//! A runtime is deadlocked when every P is idle (so no goroutine runs), no goroutine
//! is runnable, no timer is pending, no registered plain thread is running, and no
//! other non-runtime thread is running or runnable in the kernel's view
//! (external.rs). Then nothing can ever wake any parked goroutine. If some `run`/
//! `block_on` call is waiting for a main goroutine that is parked, that call fails
//! with Go's message and a list of the blocked goroutines (`goroutine 1 [chan
//! receive]:`); `run` then panics on its thread.
//!
//! The check runs when the last P goes idle (m.rs, `handoff_p`), when the last
//! running registered plain thread parks or exits (park.rs, external.rs), and when
//! sysmon fired the last pending timer while every P is idle (sysmon.rs); while only
//! an unregistered thread keeps the condition from holding, sysmon runs it again
//! every 50 ms. A false report would kill a correct
//! program, so the condition is checked twice under `Sched::lock`, 5 ms apart, and
//! `Sched::progress` (bumped by every spawn and every `ready`) must not have moved.
//! Goroutines left behind by a finished `run` are parked forever but no longer make
//! anyone fail: without a waiting main goroutine there is nobody to report to.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::g::{self, Status, G};
use super::park::Unparker;
use super::Sched;
use crate::lockorder::{self, Level};

/// Where the deadlock report of one `run` call goes: the message, and the waiting
/// `run`'s park handle (the same generation its main goroutine's packet holds).
#[derive(Default)]
pub(crate) struct Report {
    inner: Mutex<ReportState>,
}

#[derive(Default)]
struct ReportState {
    msg: Option<String>,
    waiter: Option<Unparker>,
}

impl Report {
    /// The detector: stores the message and wakes the waiting `run`, if it waits.
    fn deliver(&self, msg: String) {
        let waiter = {
            let mut st = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            st.msg = Some(msg);
            st.waiter.take()
        };
        if let Some(u) = waiter {
            u.unpark();
        }
    }

    /// The waiting `run`, before it parks: registers its handle, or returns the
    /// message if the report came first.
    pub(crate) fn watch(&self, u: Unparker) -> Option<String> {
        let mut st = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match st.msg.take() {
            Some(m) => Some(m),
            None => {
                st.waiter = Some(u);
                None
            }
        }
    }

    /// The waiting `run`, after it woke: the message, if the report woke it.
    pub(crate) fn take(&self) -> Option<String> {
        let mut st = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        st.waiter = None;
        st.msg.take()
    }
}

/// An active `run`/`block_on`: its main goroutine and where to send the report.
pub(crate) struct RunEntry {
    pub(crate) main: &'static G,
    pub(crate) main_id: u64,
    pub(crate) report: Arc<Report>,
}

/// Every runtime ever created (for checks triggered by plain threads).
static ALL: Mutex<Vec<&'static Sched>> = Mutex::new(Vec::new());

pub(crate) fn register_sched(s: &'static Sched) {
    lockorder::lock(&ALL, Level::Registry).push(s);
}

/// A registered plain thread parked and no registered thread runs: check every
/// runtime whose Ps are all idle.
pub(crate) fn check_all() {
    let all: Vec<&'static Sched> = lockorder::lock(&ALL, Level::Registry).clone();
    for s in all {
        if s.npidle.load(Ordering::SeqCst) == s.procs {
            check(s);
        }
    }
}

fn runs(s: &Sched) -> lockorder::Guard<'_, Vec<RunEntry>> {
    lockorder::lock(&s.runs, Level::Runs)
}

/// Whether the deadlock condition holds now (see the module docs).
#[derive(PartialEq, Eq)]
enum Condition {
    No,
    Yes,
    /// Everything says deadlock but an unregistered thread runs: ask again later.
    Unknown,
}

fn condition(s: &'static Sched) -> Condition {
    if super::external::running() > 0
        || s.ntimers.load(Ordering::SeqCst) > 0
        || s.npless.load(Ordering::SeqCst) > 0
    {
        // A plain thread, a timer, or a goroutine running without a P (a hog or a
        // blocking call whose P was handed off) can still wake someone.
        return Condition::No;
    }
    let l = s.lock();
    if l.pidle.len() != s.procs || !l.inject.is_empty() || s.ps.iter().any(|p| p.has_work()) {
        return Condition::No;
    }
    drop(l);
    if !runs(s).iter().any(main_parked) {
        return Condition::No;
    }
    if super::external::unknown_thread_active() {
        return Condition::Unknown;
    }
    Condition::Yes
}

/// How long sysmon waits before it checks again while an unregistered thread runs.
const RECHECK: Duration = Duration::from_millis(50);

fn main_parked(r: &RunEntry) -> bool {
    r.main.id() == r.main_id && r.main.status() == Status::Waiting
}

/// Checks `s` for a deadlock and reports it to the waiting `run` calls.
pub(crate) fn check(s: &'static Sched) {
    if s.shutdown.load(Ordering::Relaxed) {
        return;
    }
    match condition(s) {
        Condition::No => return,
        Condition::Unknown => return super::sysmon::recheck_deadlock(s, RECHECK),
        Condition::Yes => {}
    }
    let progress = s.activity();
    std::thread::sleep(Duration::from_millis(5));
    match condition(s) {
        Condition::No => return,
        Condition::Unknown => return super::sysmon::recheck_deadlock(s, RECHECK),
        Condition::Yes if s.activity() != progress => return,
        Condition::Yes => {}
    }
    let msg = report(s);
    let failed: Vec<RunEntry> = {
        let mut r = runs(s);
        let (dead, live): (Vec<RunEntry>, Vec<RunEntry>) = r.drain(..).partition(main_parked);
        *r = live;
        dead
    };
    for r in failed {
        r.report.deliver(msg.clone());
    }
}

/// Most goroutines listed in one report.
const REPORT_MAX: usize = 1000;

/// `all goroutines are asleep - deadlock!` and the blocked goroutines of `s`.
pub(crate) fn report(s: &'static Sched) -> String {
    let mut blocked: Vec<(u64, &'static str)> = Vec::new();
    g::for_each(|g| {
        if std::ptr::eq(g.sched.load(Ordering::Acquire), s) && g.status() == Status::Waiting {
            blocked.push((g.id(), g.wait_reason().as_str()));
        }
    });
    blocked.sort_unstable();
    let mut msg = String::from("all goroutines are asleep - deadlock!\n");
    for (id, why) in blocked.iter().take(REPORT_MAX) {
        let _ = write!(msg, "\ngoroutine {id} [{why}]:\n");
    }
    if blocked.len() > REPORT_MAX {
        let _ = write!(msg, "\n... and {} more goroutines\n", blocked.len() - REPORT_MAX);
    }
    msg
}

/// Every live goroutine of `s` with its state: `goroutine 7 [chan receive]:`.
pub(crate) fn dump(s: &'static Sched) -> String {
    let mut all: Vec<(u64, &'static str)> = Vec::new();
    g::for_each(|g| {
        if std::ptr::eq(g.sched.load(Ordering::Acquire), s) {
            let state = match g.status() {
                Status::Dead => return,
                Status::Runnable => "runnable",
                Status::Running => "running",
                Status::Waiting => g.wait_reason().as_str(),
            };
            all.push((g.id(), state));
        }
    });
    all.sort_unstable();
    let mut msg = String::new();
    for (id, state) in all {
        let _ = write!(msg, "goroutine {id} [{state}]:\n\n");
    }
    msg
}
