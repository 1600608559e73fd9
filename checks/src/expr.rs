//! Check expressions: `metric(column) op value`. (being written)
