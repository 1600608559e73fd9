//! The scan pipeline: `scan` orchestrates one run, `judge` judges a monitor's profile against its
//! checks, `learned` gives undecided rows their learned verdicts from the store's history, `persist`
//! writes a monitor's results in one transaction, `discover` runs the metadata cycle of a
//! `discover:` monitor.

pub mod discover;
mod judge;
pub mod learned;
pub mod persist;
pub mod scan;

pub use scan::scan;
