//! goro-chan: see DESIGN.md. Built in a later issue.
