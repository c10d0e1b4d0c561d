//! goro-macros: the `#[goro::main]` attribute (built with the scheduler).
