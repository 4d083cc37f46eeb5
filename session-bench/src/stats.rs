//! Percentiles, medians and the spread of a few values.

/// The `p`-th percentile (0 < p <= 100) of sorted samples, by the
/// nearest-rank method: the smallest sample such that at least `p` percent of
/// the samples are less than or equal to it. `None` for no samples.
///
/// ```
/// use session_bench::stats::percentile;
///
/// let samples = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
/// assert_eq!(percentile(&samples, 50.0), Some(50));
/// assert_eq!(percentile(&samples, 99.0), Some(100));
/// assert_eq!(percentile(&[] as &[u32], 50.0), None);
/// ```
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    // Nearest rank: ceil(p/100 * n), 1-based; at least the first sample.
    // The epsilon keeps 99.9% of 1000 at 999 despite binary fractions.
    let rank = (p * sorted.len() as f64 / 100.0 - 1e-9).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The median of some values (the mean of the two middle ones for an even
/// count). `None` for no values; NaNs sort last.
///
/// ```
/// use session_bench::stats::median;
///
/// assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
/// assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
/// ```
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// How a few values (one figure per round) spread: the median between the
/// lowest, the quartiles and the highest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The lowest value.
    pub min: f64,
    /// The lower quartile: the median of the values below the median.
    pub q1: f64,
    /// The median.
    pub median: f64,
    /// The upper quartile: the median of the values above the median.
    pub q3: f64,
    /// The highest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (any order); `None` for no values. The
    /// quartiles are the medians of the lower and upper halves, the middle
    /// value of an odd count left out of both (Tukey's hinges), so that
    /// they are values of the run, or means of two, never extrapolated.
    ///
    /// ```
    /// use session_bench::stats::Spread;
    ///
    /// let spread = Spread::of(&[0.75, 1.5, 0.5, 1.0, 1.25]).unwrap();
    /// assert_eq!((spread.min, spread.median, spread.max), (0.5, 1.0, 1.5));
    /// assert_eq!((spread.q1, spread.q3), (0.625, 1.375));
    /// assert!(Spread::of(&[]).is_none());
    /// ```
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut sorted = values.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let (first, last) = (*sorted.first()?, *sorted.last()?);
        let half = sorted.len() / 2;
        let lower = &sorted[..half];
        let upper = &sorted[sorted.len() - half..];
        let middle = median(&sorted)?;
        Some(Spread {
            min: first,
            q1: median(lower).unwrap_or(middle),
            median: middle,
            q3: median(upper).unwrap_or(middle),
            max: last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_uses_nearest_rank() {
        let samples: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&samples, 50.0), Some(500));
        assert_eq!(percentile(&samples, 99.0), Some(990));
        assert_eq!(percentile(&samples, 99.9), Some(999));
        assert_eq!(percentile(&samples, 100.0), Some(1000));
        // Below the first rank is the first sample, never an index panic.
        assert_eq!(percentile(&samples, 0.0), Some(1));
    }

    #[test]
    fn percentile_of_few_samples() {
        assert_eq!(percentile(&[7u32], 50.0), Some(7));
        assert_eq!(percentile(&[7u32], 99.0), Some(7));
        assert_eq!(percentile(&[1u32, 2], 50.0), Some(1));
        assert_eq!(percentile(&[1u32, 2], 51.0), Some(2));
        assert_eq!(percentile(&[5u32, 9, 12], 99.0), Some(12));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[9.0, 1.0, 5.0]), Some(5.0));
        assert_eq!(median(&[1.0, 9.0, 5.0, 3.0]), Some(4.0));
    }

    #[test]
    fn spread_of_odd_even_and_single_counts() {
        let one = Spread::of(&[2.0]).unwrap();
        assert_eq!(
            (one.min, one.q1, one.median, one.q3, one.max),
            (2.0, 2.0, 2.0, 2.0, 2.0)
        );
        let even = Spread::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(
            (even.min, even.q1, even.median, even.q3, even.max),
            (1.0, 1.5, 2.5, 3.5, 4.0)
        );
        let odd = Spread::of(&[5.0, 1.0, 4.0, 2.0, 3.0, 7.0, 6.0]).unwrap();
        assert_eq!((odd.q1, odd.median, odd.q3), (2.0, 4.0, 6.0));
        // One wild round moves the extremes, not the median.
        let wild = Spread::of(&[1.0, 1.1, 0.9, 1.0, 30.0]).unwrap();
        assert_eq!((wild.median, wild.max), (1.0, 30.0));
    }
}
