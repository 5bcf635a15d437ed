//! The deciding services are replayable: a fresh matcher and cohort engine, fed a simulated
//! ledger from the start, make exactly the decisions the ledger holds (same submission ids,
//! subjects, payloads and citations, in the same order) and have nothing left to submit; and
//! they decide the same whether the ledger is read in one pass or followed as it grows, in
//! polls of any size.

use tl_domain::deciders::{
    CohortEngineService, DecidingService, Decision, Follower, LedgerRecord, MatcherService,
    RecordFeed,
};
use tl_schemas::clinical::clinical_type as ct;
use tl_schemas::{Envelope, Reference, Role, Subject, SubmissionId, TrialId};
use tl_sim::{simulate, SimConfig};

/// A ledger's partitions in memory, of which only the first `visible` records in merged
/// order can be read (a follower polling a ledger that grows).
struct Snapshot {
    parts: Vec<Vec<Vec<u8>>>,
    visible: Vec<u64>,
}

impl RecordFeed for Snapshot {
    fn partition_count(&self) -> u32 {
        self.parts.len() as u32
    }
    fn len(&self, p: u32) -> u64 {
        self.visible[p as usize]
    }
    fn read(&self, p: u32, from: u64, max: usize) -> Result<Vec<Vec<u8>>, tl_ledger::Error> {
        let end = self.visible[p as usize] as usize;
        Ok(self.parts[p as usize][(from as usize).min(end)..end]
            .iter()
            .take(max)
            .cloned()
            .collect())
    }
}

type Key = (SubmissionId, Subject, Envelope, Vec<Reference>);

fn key(d: &Decision) -> Key {
    (
        d.submission_id,
        d.subject.clone(),
        d.envelope.clone(),
        d.cites.clone(),
    )
}

/// Replays the ledger through fresh services, revealing it in polls of `chunk` records (in
/// merged order); returns every decision made and what is still pending at the end.
fn replay(parts: &[Vec<Vec<u8>>], order: &[(u32, u64)], chunk: usize) -> (Vec<Key>, usize) {
    let mut feed = Snapshot {
        parts: parts.to_vec(),
        visible: vec![0; parts.len()],
    };
    let mut follower = Follower::new();
    let mut matcher = MatcherService::new();
    let mut engine = CohortEngineService::new();
    let mut made = Vec::new();
    for batch in order.chunks(chunk) {
        for &(p, seq) in batch {
            feed.visible[p as usize] = seq + 1;
        }
        for r in follower.poll(&feed).unwrap() {
            made.extend(matcher.apply(&r).iter().map(key));
            made.extend(engine.apply(&r).iter().map(key));
        }
    }
    (made, matcher.pending().len() + engine.pending().len())
}

#[test]
fn the_same_ledger_gives_the_same_decisions() {
    // given a simulated trial whose decisions the services made as it ran
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let config = SimConfig::new(TrialId::new("replay-test").unwrap(), 7, 120);
    let (report, keys) = simulate(&ledger, &config).unwrap();
    let parts: Vec<Vec<Vec<u8>>> = tl_ledger::log::read_embedded_for_verify(&ledger)
        .unwrap()
        .into_iter()
        .map(|p| p.records)
        .collect();
    // the decisions in the ledger, in merged order, each signed by its service's key
    let mut all: Vec<LedgerRecord> = parts
        .iter()
        .flatten()
        .map(|b| LedgerRecord::decode(b).unwrap())
        .collect();
    all.sort_by_key(|r| {
        let b = &r.record.body;
        (b.ordering_time, b.partition, b.seq)
    });
    let order: Vec<(u32, u64)> = all
        .iter()
        .map(|r| (r.record.body.partition, r.record.body.seq))
        .collect();
    let mut in_ledger = Vec::new();
    for r in &all {
        let s = &r.record.body.submission.submission;
        let role = match s.envelope.event_type {
            ct::MATCH_PROPOSED => Role::Matcher,
            ct::SLOT_ASSIGNED | ct::SLOT_REFUSED | ct::COHORT_STAGE_DECIDED => Role::CohortEngine,
            _ => continue,
        };
        let signer = match role {
            Role::Matcher => &keys.matcher,
            _ => &keys.cohort_engine,
        };
        assert_eq!(s.author, signer.key.key_id(), "signed by the {role:?} key");
        in_ledger.push((
            s.submission_id,
            s.subject.clone(),
            s.envelope.clone(),
            s.cites.clone(),
        ));
    }
    assert!(
        report.by_type["CohortStageDecided"] > 10,
        "{:?}",
        report.by_type
    );
    assert!(report.by_type["SlotAssigned"] >= 120);

    // when fresh services replay it in one pass
    let (made, pending) = replay(&parts, &order, usize::MAX);
    // then they make exactly the decisions in the ledger, and nothing is left to submit
    assert_eq!(made.len(), in_ledger.len());
    assert!(
        made == in_ledger,
        "a replayed decision differs from the ledger's"
    );
    assert_eq!(pending, 0);

    // and following the ledger as it grows, in polls of 1 or 97 records, decides the same
    for chunk in [1, 97] {
        let (again, pending) = replay(&parts, &order, chunk);
        assert!(again == made, "polls of {chunk} decided differently");
        assert_eq!(pending, 0);
    }
}
