//! The backoff of a following service while its ledger is unreachable (`project --kafka`, the
//! deciding services on Kafka): how long the outage has lasted and how long to wait before the
//! next attempt, doubling up to [`MAX_BACKOFF`].

use std::time::{Duration, Instant};

/// The longest pause between two attempts while the ledger is unreachable.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// An outage in progress, if any.
#[derive(Debug)]
pub struct Outage {
    /// The pause after the first failed attempt.
    first: Duration,
    /// Since when the ledger has been unreachable, and the pause before the next attempt.
    current: Option<(Instant, Duration)>,
}

impl Outage {
    /// No outage yet; the first failed attempt will pause `first` (at least 1 s), later
    /// ones twice the previous pause, up to [`MAX_BACKOFF`] (or `first`, if longer).
    pub fn new(first: Duration) -> Self {
        Outage {
            first: first.max(Duration::from_secs(1)),
            current: None,
        }
    }

    /// An attempt failed: how long the ledger has been unreachable, and how long to pause.
    pub fn failed(&mut self) -> (Duration, Duration) {
        let (since, pause) = self.current.unwrap_or((Instant::now(), self.first));
        self.current = Some((since, (pause * 2).min(MAX_BACKOFF.max(self.first))));
        (since.elapsed(), pause)
    }

    /// An attempt succeeded: how long the outage lasted, if there was one.
    pub fn recovered(&mut self) -> Option<Duration> {
        self.current.take().map(|(since, _)| since.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_reset_on_recovery() {
        let mut o = Outage::new(Duration::from_millis(100));
        assert_eq!(o.recovered(), None);
        let pauses: Vec<u64> = (0..7).map(|_| o.failed().1.as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
        assert!(o.recovered().is_some());
        assert_eq!(o.failed().1, Duration::from_secs(1));
        // A poll interval longer than the cap is kept.
        let mut slow = Outage::new(Duration::from_secs(60));
        assert_eq!(slow.failed().1, Duration::from_secs(60));
        assert_eq!(slow.failed().1, Duration::from_secs(60));
    }
}
