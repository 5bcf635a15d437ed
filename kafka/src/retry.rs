//! Bounded retries of the calls that fail while a cluster settles.
//!
//! Right after topics are created, or while a broker restarts, leadership moves: a metadata
//! or watermark request can meet `NotLeaderForPartition` or `LeaderNotAvailable` although
//! nothing is wrong. Such errors are [`is_transient`]; the one-shot calls of this crate
//! (watermarks, metadata) retry them with a doubling backoff until the configured timeout,
//! and only then report the last error. Everything else fails at once.

use crate::Error;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::time::{Duration, Instant};

/// First pause between two tries; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between two tries, so a settled cluster is noticed quickly.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// True for error codes that mean "the cluster is settling, ask again": leadership or a
/// coordinator is moving, a request timed out, a broker connection dropped, or a topic created
/// moments ago is not yet known to the broker that answered (`UnknownTopicOrPartition`; a
/// topic that really is missing is found by the callers' own existence checks, which run
/// before these calls).
pub fn is_transient(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::NotLeaderForPartition
            | C::LeaderNotAvailable
            | C::PreferredLeaderNotAvailable
            | C::UnknownTopicOrPartition
            | C::UnknownLeaderEpoch
            | C::FencedLeaderEpoch
            | C::RequestTimedOut
            | C::OperationTimedOut
            | C::NotCoordinator
            | C::CoordinatorNotAvailable
            | C::CoordinatorLoadInProgress
            | C::NetworkException
            | C::BrokerTransportFailure
            | C::BrokerNotAvailable
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::OffsetNotAvailable
            | C::KafkaStorageError
    )
}

/// True when `e` carries a transient code ([`is_transient`]).
pub fn is_transient_error(e: &KafkaError) -> bool {
    e.rdkafka_error_code().is_some_and(is_transient)
}

/// Calls `f` until it succeeds, fails with an error that is not transient, or `budget` has
/// passed; the error is then reported as operation `op`.
pub(crate) fn retrying<T>(
    op: &'static str,
    budget: Duration,
    mut f: impl FnMut() -> Result<T, KafkaError>,
) -> Result<T, Error> {
    let deadline = Instant::now() + budget;
    let mut pause = FIRST_BACKOFF;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if is_transient_error(&e) && Instant::now() + pause < deadline => {
                tracing::debug!(op, error = %e, ?pause, "transient Kafka error; trying again");
                std::thread::sleep(pause);
                pause = (pause * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(Error::kafka(op, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn meta(code: RDKafkaErrorCode) -> KafkaError {
        KafkaError::MetadataFetch(code)
    }

    #[test]
    fn a_leader_election_is_waited_out() {
        let calls = Cell::new(0);
        let got = retrying("fetch_watermarks", Duration::from_secs(5), || {
            calls.set(calls.get() + 1);
            if calls.get() < 3 {
                Err(meta(RDKafkaErrorCode::NotLeaderForPartition))
            } else {
                Ok(7)
            }
        });
        assert_eq!(got.unwrap(), 7);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn a_lasting_transient_error_is_reported_once_the_budget_is_spent() {
        let calls = Cell::new(0);
        let started = Instant::now();
        let got: Result<(), _> = retrying("fetch_watermarks", Duration::from_millis(700), || {
            calls.set(calls.get() + 1);
            Err(meta(RDKafkaErrorCode::LeaderNotAvailable))
        });
        assert!(matches!(
            got,
            Err(Error::Kafka {
                op: "fetch_watermarks",
                ..
            })
        ));
        assert!(calls.get() >= 2, "retried {} times", calls.get());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn an_authorisation_failure_is_not_retried() {
        let calls = Cell::new(0);
        let got: Result<(), _> = retrying("fetch_metadata", Duration::from_secs(5), || {
            calls.set(calls.get() + 1);
            Err(meta(RDKafkaErrorCode::TopicAuthorizationFailed))
        });
        assert!(got.is_err());
        assert_eq!(calls.get(), 1);
    }
}
