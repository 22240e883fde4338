//! A lock-free latency histogram in microseconds: many client tasks record into it at once (or one
//! thread into its own, merged at the end), and percentiles come out within 1% of the true value,
//! whatever the count of samples (bounded memory).

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two: 128 gives under 0.8% relative error.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Values up to 2^40 µs (12 days) are kept apart; larger ones share the top bucket.
const MAX_BITS: u32 = 40;
const BUCKETS: usize = ((MAX_BITS - SUB_BITS + 1) as usize) * SUB as usize;

/// Counts of latencies by bucket, plus exact count, sum and maximum.
#[derive(Debug)]
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

fn index_of(micros: u64) -> usize {
    if micros < SUB {
        return micros as usize;
    }
    let msb = (63 - micros.leading_zeros()).min(MAX_BITS);
    let shift = msb - SUB_BITS;
    let sub = ((micros >> shift) & (SUB - 1)).min(SUB - 1);
    ((shift as u64 + 1) * SUB + sub).min(BUCKETS as u64 - 1) as usize
}

/// The smallest value that lands in bucket `index`.
fn lower_bound(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let shift = index / SUB - 1;
    (SUB + index % SUB) << shift
}

impl Histogram {
    /// Records one latency.
    pub fn record(&self, micros: u64) {
        if let Some(bucket) = self.buckets.get(index_of(micros)) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(micros, Ordering::Relaxed);
    }

    /// Records one latency into a histogram this thread owns (no atomic operation).
    pub fn record_mut(&mut self, micros: u64) {
        if let Some(bucket) = self.buckets.get_mut(index_of(micros)) {
            *bucket.get_mut() += 1;
        }
        *self.count.get_mut() += 1;
        let max = self.max.get_mut();
        *max = (*max).max(micros);
    }

    /// Adds `other`'s samples into this histogram.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine.get_mut() += theirs.load(Ordering::Relaxed);
        }
        *self.count.get_mut() += other.count();
        let max = self.max.get_mut();
        *max = (*max).max(other.max());
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The largest sample, in µs.
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The value at quantile `q` (0..=1) in µs: the lower bound of the bucket holding it, capped
    /// by the maximum; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return lower_bound(index).min(self.max());
            }
        }
        self.max()
    }
}

/// Microseconds as milliseconds (three decimals, exactly), for the JSON figures.
pub fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        for v in [0, 1, 5, 127] {
            assert_eq!(lower_bound(index_of(v)), v);
        }
    }

    #[test]
    fn buckets_are_within_one_percent() {
        for v in [128u64, 1000, 4321, 99_999, 1_234_567, 987_654_321] {
            let low = lower_bound(index_of(v));
            assert!(low <= v && (v - low) * 100 <= v, "{v} -> {low}");
        }
    }

    #[test]
    fn quantiles_of_one_to_a_thousand() {
        let h = Histogram::default();
        for v in 1..=1000 {
            h.record(v);
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.max(), 1000);
        let p50 = h.quantile(0.5);
        assert!((496..=500).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((984..=990).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 1000_u64.min(lower_bound(index_of(1000))));
    }

    #[test]
    fn owned_records_and_merges_match_shared_records() {
        let shared = Histogram::default();
        let (mut low, mut high) = (Histogram::default(), Histogram::default());
        for v in 1..=1000 {
            shared.record(v);
            if v <= 500 {
                low.record_mut(v);
            } else {
                high.record_mut(v);
            }
        }
        low.merge(&high);
        assert_eq!(low.count(), 1000);
        assert_eq!(low.max(), 1000);
        for q in [0.0, 0.5, 0.99, 1.0] {
            assert_eq!(low.quantile(q), shared.quantile(q), "q {q}");
        }
    }

    #[test]
    fn empty_histogram_reads_zero() {
        assert_eq!(Histogram::default().quantile(0.99), 0);
    }
}
