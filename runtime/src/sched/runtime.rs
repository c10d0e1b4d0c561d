//! `Runtime`, `RuntimeBuilder`, `run` and the lazily created default runtime.
//!
//! # Design
//! `run(f)` uses one process-wide default runtime, created on first use from the
//! environment (`GORO_MAXPROCS`, `GORO_STACK_SIZE`, `GORO_SCHEDTRACE`; env.rs). Any
//! number of threads may call `run` at once (cargo runs tests in parallel threads):
//! each call starts its own main goroutine on the shared runtime and parks its thread
//! until that goroutine returns. Goroutines still alive afterwards stay where they are.
//! `Runtime::builder()` makes independent runtimes with their own Ps and Ms; dropping
//! one stops its idle threads (its scheduler state is leaked: G records may still
//! point to it).
//!
//! A main goroutine's panic is re-raised on the calling thread; a deadlock
//! (deadlock.rs) becomes a panic with Go's message there.

use std::io;
use std::panic;
use std::sync::{Arc, Once, OnceLock};

use super::deadlock::{self, RunEntry};
use super::m::current_m;
use super::spawn;
use super::Sched;
use crate::env::Config;

/// A goroutine runtime: Ps, Ms and their goroutines.
#[derive(Debug)]
pub struct Runtime {
    sched: &'static Sched,
    /// Whether dropping this value shuts the runtime down (not the default runtime).
    owned: bool,
}

impl std::fmt::Debug for Sched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sched").field("procs", &self.procs).finish()
    }
}

/// Configures a [`Runtime`]: `Runtime::builder().procs(4).stack_size(1 << 20).build()`.
#[derive(Debug, Default, Clone)]
pub struct RuntimeBuilder {
    procs: Option<usize>,
    stack_size: Option<usize>,
    max_threads: Option<usize>,
}

impl RuntimeBuilder {
    /// Number of Ps (goroutines running in parallel); default: `GORO_MAXPROCS`, else
    /// the available parallelism.
    pub fn procs(mut self, n: usize) -> Self {
        self.procs = Some(n);
        self
    }

    /// Default maximum stack size of the runtime's goroutines (a power of two from
    /// 16 KiB to 1 GiB); default: `GORO_STACK_SIZE`, else 256 KiB.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Most OS threads (Ms) the runtime may create, default 10,000 (Go's
    /// `debug.SetMaxThreads`). Threads beyond `procs` appear while goroutines sit in
    /// blocking calls or hog their thread; needing more than the limit is a fatal
    /// error that names it. `build` rejects 0.
    pub fn max_threads(mut self, n: usize) -> Self {
        self.max_threads = Some(n);
        self
    }

    /// Creates the runtime. No thread starts until the first goroutine does.
    ///
    /// What the builder leaves unset comes from the environment, as for the default
    /// runtime (`GORO_MAXPROCS`, `GORO_STACK_SIZE`); a bad value there is an error
    /// naming the variable.
    pub fn build(self) -> io::Result<Runtime> {
        let env = match (self.procs, self.stack_size) {
            (Some(_), Some(_)) => None,
            _ => Some(
                crate::env::Config::from_env()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?,
            ),
        };
        let procs = self.procs.or(env.as_ref().map(|c| c.procs)).unwrap_or(1);
        if procs == 0 || procs > 1 << 16 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("goro: procs {procs} is out of range (1 ..= 65536)"),
            ));
        }
        let stack = goro_stack::validate_stack_size(
            self.stack_size
                .or(env.as_ref().map(|c| c.stack_size))
                .unwrap_or(goro_stack::DEFAULT_STACK_SIZE),
        )?;
        let max_threads = self.max_threads.unwrap_or(super::MAX_THREADS);
        if max_threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "goro: max_threads 0 is out of range (at least 1)".to_string(),
            ));
        }
        Ok(Runtime { sched: new_sched(procs, stack, max_threads), owned: true })
    }
}

fn new_sched(procs: usize, stack: usize, max_threads: usize) -> &'static Sched {
    install_panic_hook();
    let s = Sched::new(procs, stack, max_threads);
    deadlock::register_sched(s);
    s
}

impl Runtime {
    /// A builder for an explicitly configured runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Runs `f` as the main goroutine of this runtime and blocks the calling thread
    /// (or parks the calling goroutine) until it returns; re-raises its panic.
    ///
    /// # Panics
    /// With `all goroutines are asleep - deadlock!` and the list of blocked
    /// goroutines when the main goroutine can never be woken.
    #[track_caller]
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        block_on(self.sched, f)
    }

    /// Number of Ps of this runtime.
    pub fn procs(&self) -> usize {
        self.sched.procs
    }

    /// Statistics of this runtime.
    pub fn stats(&self) -> crate::stats::Stats {
        crate::stats::of(self.sched)
    }

    /// Starts a goroutine on this runtime.
    pub fn spawn<F, T>(&self, f: F) -> spawn::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match spawn::spawn_on(self.sched, self.sched.stack_size, f) {
            Ok(h) => h,
            Err(e) => panic!("goro: cannot spawn goroutine: {e}"),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.owned {
            self.sched.shutdown();
        }
    }
}

#[track_caller]
fn block_on<F, T>(sched: &'static Sched, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if let Some(m) = current_m() {
        if std::ptr::eq(m.sched, sched) && !m.curg_ptr().is_null() {
            // Already a goroutine of this runtime: just call it.
            return f();
        }
    }
    let (g, h) = match spawn::create(sched, sched.stack_size, f) {
        Ok(x) => x,
        Err(e) => panic!("goro: cannot start the main goroutine: {e}"),
    };
    let report = Arc::new(deadlock::Report::default());
    let id = h.id();
    crate::lockorder::lock(&sched.runs, crate::lockorder::Level::Runs).push(RunEntry {
        main: g,
        main_id: id,
        report: Arc::clone(&report),
    });
    spawn::make_runnable(g);
    let out = h.wait_main(&report);
    crate::lockorder::lock(&sched.runs, crate::lockorder::Level::Runs).retain(|r| r.main_id != id);
    match out {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => panic::resume_unwind(p),
        Err(msg) => panic!("{msg}"),
    }
}

static DEFAULT: OnceLock<&'static Sched> = OnceLock::new();

/// The default runtime's scheduler (created from the environment on first use).
///
/// # Panics
/// If an environment variable has a bad value (the message names it and the value).
pub(crate) fn default_sched() -> &'static Sched {
    DEFAULT.get_or_init(|| {
        let cfg = match Config::from_env() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let s = new_sched(cfg.procs, cfg.stack_size, super::MAX_THREADS);
        if let Some(ms) = cfg.schedtrace_ms {
            crate::stats::start_schedtrace(s, ms);
        }
        s
    })
}

/// Runs `f` as a main goroutine on the default runtime (starting it if needed) and
/// blocks the calling thread until it returns; re-raises its panic.
///
/// May be called from many threads at once and repeatedly. Goroutines still alive
/// when `f` returns keep running (or stay parked).
///
/// # Panics
/// With `all goroutines are asleep - deadlock!` and the blocked goroutines when the
/// main goroutine can never be woken; if the environment configures the runtime
/// badly (`GORO_MAXPROCS=abc`), with a message naming the variable and the value.
#[track_caller]
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    block_on(default_sched(), f)
}

/// Installs (once) a panic hook that names the goroutine: `goroutine 7 panicked at
/// src/main.rs:3:5:` followed by the message. Panics on plain threads go to the
/// previous hook unchanged.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| match super::current_id() {
            Some(id) => {
                let name = spawn::current_name().map(|n| format!(" ('{n}')")).unwrap_or_default();
                eprintln!("goroutine {id}{name} {info}");
            }
            None => prev(info),
        }));
    });
}
