//! Demo logic.
