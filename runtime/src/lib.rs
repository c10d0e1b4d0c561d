//! goro-runtime: standalone coroutines now; the G/M/P scheduler, timers and sysmon
//! follow (DESIGN.md §4-7).

pub mod coroutine;
