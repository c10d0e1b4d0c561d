//! goro-sync: see DESIGN.md. Built in a later issue.
