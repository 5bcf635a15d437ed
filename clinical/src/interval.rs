//! Exact (Clopper-Pearson) confidence intervals for a proportion.
//!
//! For x successes among n, the two-sided interval at confidence 1 - alpha is
//! `[B(alpha/2; x, n - x + 1), B(1 - alpha/2; x + 1, n - x)]`, where `B(p; a, b)` is the p-quantile
//! of the Beta(a, b) distribution; the lower bound is 0 when x = 0 and the upper bound 1 when
//! x = n (Clopper and Pearson, 1934). The quantiles come from `statrs`' Beta distribution.
//!
//! The interval treats the n patients as one binomial sample. It is **not adjusted for the
//! two-stage design**: a cohort that stopped or expanded because of its own results has a
//! sampling distribution the binomial does not describe, so the interval is descriptive.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF};

/// Why an interval cannot be computed: the caller passed counts or a level that describe no
/// proportion.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum IntervalError {
    /// No trials: a proportion of nothing has no interval. Report the figure as not estimable.
    #[error("no patients: the proportion has no interval")]
    Empty,
    /// More successes than trials: the counts are inconsistent; fix the caller's counting.
    #[error("{successes} successes among {trials}: more successes than trials")]
    TooManySuccesses {
        /// The successes given.
        successes: u32,
        /// The trials given.
        trials: u32,
    },
    /// The confidence level is not strictly between 0 and 1 (0.95 is 95 %).
    #[error("confidence {0} is not strictly between 0 and 1")]
    Confidence(f64),
}

/// A proportion with its two-sided exact confidence interval, as fractions (0.526 = 52.6 %).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProportionInterval {
    /// Successes.
    pub successes: u32,
    /// Trials (the denominator).
    pub trials: u32,
    /// successes / trials.
    pub estimate: f64,
    /// The interval's lower bound.
    pub lower: f64,
    /// The interval's upper bound.
    pub upper: f64,
    /// The confidence level (0.95).
    pub confidence: f64,
}

/// The Clopper-Pearson interval of `successes` among `trials` at `confidence` (0.95 for 95 %).
pub fn clopper_pearson(
    successes: u32,
    trials: u32,
    confidence: f64,
) -> Result<ProportionInterval, IntervalError> {
    if trials == 0 {
        return Err(IntervalError::Empty);
    }
    if successes > trials {
        return Err(IntervalError::TooManySuccesses { successes, trials });
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(IntervalError::Confidence(confidence));
    }
    let alpha = 1.0 - confidence;
    let (x, n) = (f64::from(successes), f64::from(trials));
    // Both shapes are >= 1 in each branch taken, so Beta::new cannot fail; map it anyway
    // rather than panic.
    let quantile = |p: f64, a: f64, b: f64| {
        Beta::new(a, b)
            .map(|d| d.inverse_cdf(p))
            .map_err(|_| IntervalError::Confidence(confidence))
    };
    let lower = if successes == 0 {
        0.0
    } else {
        quantile(alpha / 2.0, x, n - x + 1.0)?
    };
    let upper = if successes == trials {
        1.0
    } else {
        quantile(1.0 - alpha / 2.0, x + 1.0, n - x)?
    };
    Ok(ProportionInterval {
        successes,
        trials,
        estimate: x / n,
        lower,
        upper,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Percent, rounded to one decimal as a dossier prints it.
    fn pct(f: f64) -> f64 {
        (f * 1000.0).round() / 10.0
    }

    #[test]
    fn given_the_issue_oracle_counts_when_the_95_interval_is_taken_then_it_matches_to_0_1_point() {
        // given the oracle vectors (scipy.stats.beta.ppf / R binom.test agree on them)
        let cases = [
            (80, 130, 52.6, 69.9),
            (58, 130, 35.9, 53.6),
            (0, 8, 0.0, 36.9),
            (5, 24, 7.1, 42.2),
        ];
        for (x, n, lo, hi) in cases {
            // when the exact 95 % interval is taken
            let ci = clopper_pearson(x, n, 0.95).unwrap();
            // then its bounds, in percent to one decimal, are the oracle's
            assert_eq!((pct(ci.lower), pct(ci.upper)), (lo, hi), "{x}/{n}");
            assert!((ci.estimate - f64::from(x) / f64::from(n)).abs() < 1e-12);
        }
    }

    #[test]
    fn given_all_successes_when_the_interval_is_taken_then_the_upper_bound_is_1() {
        // given 8 of 8; when the interval is taken; then [0.631, 1] (alpha/2 = 0.025 = p^8)
        let ci = clopper_pearson(8, 8, 0.95).unwrap();
        assert_eq!(ci.upper, 1.0);
        assert!((ci.lower - 0.025_f64.powf(1.0 / 8.0)).abs() < 1e-9);
    }

    #[test]
    fn given_bad_counts_when_the_interval_is_taken_then_a_clear_error() {
        // given no trials, too many successes, or a level of 95 instead of 0.95
        // when the interval is taken
        // then each is refused with its reason, no panic
        assert_eq!(clopper_pearson(0, 0, 0.95), Err(IntervalError::Empty));
        assert_eq!(
            clopper_pearson(9, 8, 0.95),
            Err(IntervalError::TooManySuccesses {
                successes: 9,
                trials: 8
            })
        );
        assert_eq!(
            clopper_pearson(1, 8, 95.0),
            Err(IntervalError::Confidence(95.0))
        );
        assert!(clopper_pearson(1, 8, f64::NAN).is_err());
    }
}
