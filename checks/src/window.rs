//! Time buckets: which buckets a scan counts, and what a source counted in each.
//!
//! Buckets are aligned to the unix epoch in UTC: bucket `b` of width `w` covers `[b, b + w)` with
//! `b = floor(t / w) * w`.

use std::collections::HashMap;

/// The buckets a scan counts rows in: `[start, end)` in unix seconds, `bucket` seconds wide. `end` is
/// the start of the current (incomplete) bucket, so the last counted bucket is the last complete one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeWindow {
    pub bucket: i64,
    pub start: i64,
    pub end: i64,
    /// The store already had buckets for this monitor (then `start` is its newest, counted again so
    /// late rows are caught).
    pub continues: bool,
}

impl VolumeWindow {
    /// The window for a monitor given the store's newest bucket: the lookback on the first scan (the
    /// warm start), afterwards only the buckets since the newest stored one.
    pub fn new(now: i64, bucket: i64, lookback: i64, newest_stored: Option<i64>) -> VolumeWindow {
        let bucket = bucket.max(1);
        let end = now.div_euclid(bucket) * bucket;
        let earliest = end - lookback.max(bucket).div_euclid(bucket) * bucket;
        match newest_stored {
            Some(newest) if newest >= earliest => VolumeWindow {
                bucket,
                start: newest.min(end - bucket),
                end,
                continues: true,
            },
            _ => VolumeWindow {
                bucket,
                start: earliest,
                end,
                continues: false,
            },
        }
    }

    /// Every bucket from the first one with data (or the window's start when continuing) to the last
    /// complete one, empty buckets as zero.
    pub fn fill(&self, counted: &[(i64, f64)]) -> Vec<(i64, f64)> {
        let last = self.end - self.bucket;
        let first = if self.continues {
            self.start
        } else {
            counted
                .iter()
                .map(|(b, _)| *b)
                .min()
                .unwrap_or(last)
                .min(last)
        };
        let mut out = Vec::new();
        let mut b = first;
        let by_start: HashMap<i64, f64> = counted.iter().copied().collect();
        while b <= last {
            out.push((b, by_start.get(&b).copied().unwrap_or(0.0)));
            b += self.bucket;
        }
        out
    }
}

/// The bucket a scan at `observed` (unix seconds) reported: the last complete one.
pub fn reported_bucket(observed: i64, bucket: i64) -> i64 {
    let bucket = bucket.max(1);
    observed.div_euclid(bucket) * bucket - bucket
}

/// One bucket as a source counted it.
#[derive(Debug, Clone, PartialEq)]
pub struct CountedBucket {
    /// Bucket start, unix seconds.
    pub start: i64,
    pub rows: f64,
    /// Newest timestamp in the bucket, unix seconds.
    pub newest: Option<i64>,
    /// Non-NULL values per bucketed column, in [`BucketCounts::columns`] order.
    pub non_null: Vec<f64>,
}

impl CountedBucket {
    /// NULLs divided by rows for column `i`; `None` for a bucket without rows.
    pub fn null_rate(&self, i: usize) -> Option<f64> {
        (self.rows > 0.0)
            .then(|| (self.rows - self.non_null.get(i).copied().unwrap_or(0.0)) / self.rows)
    }
}

/// What a source counted per bucket of a window: buckets without rows absent.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketCounts {
    pub window: VolumeWindow,
    pub counted: Vec<CountedBucket>,
    /// The columns whose non-NULL counts every bucket carries, in order.
    pub columns: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_window_is_the_lookback_up_to_the_current_bucket() {
        let w = VolumeWindow::new(10 * 3600 + 120, 3600, 4 * 3600, None);
        assert_eq!(
            w,
            VolumeWindow {
                bucket: 3600,
                start: 6 * 3600,
                end: 10 * 3600,
                continues: false
            }
        );
        // Zeros fill from the first bucket with rows to the last complete one.
        assert_eq!(
            w.fill(&[(7 * 3600, 5.0), (9 * 3600, 2.0)]),
            vec![(7 * 3600, 5.0), (8 * 3600, 0.0), (9 * 3600, 2.0)]
        );
        // No rows at all: only the last complete bucket, as zero.
        assert_eq!(w.fill(&[]), vec![(9 * 3600, 0.0)]);
    }

    #[test]
    fn later_windows_recount_only_from_the_newest_stored_bucket() {
        let w = VolumeWindow::new(12 * 3600 + 5, 3600, 28 * 86400, Some(10 * 3600));
        assert_eq!(
            w,
            VolumeWindow {
                bucket: 3600,
                start: 10 * 3600,
                end: 12 * 3600,
                continues: true
            }
        );
        assert_eq!(
            w.fill(&[(11 * 3600, 4.0)]),
            vec![(10 * 3600, 0.0), (11 * 3600, 4.0)]
        );
        // A stored bucket older than the lookback starts over.
        let w = VolumeWindow::new(100 * 86400, 86400, 7 * 86400, Some(3 * 86400));
        assert!(!w.continues);
        assert_eq!(w.start, 93 * 86400);
    }
}
