//! The deciding services are replayable: a fresh matcher and cohort engine, fed a simulated
//! ledger from the start, make exactly the decisions the ledger holds (same submission ids,
//! subjects, payloads and citations, in the same order) and have nothing left to submit; and
//! they decide the same whether the ledger is read in one pass or followed as it grows, in
//! polls of any size; and, on a log whose partitions become visible unevenly (Kafka),
//! `Follower::poll_settled` still hands the records out in the merged order.

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

/// A simulated ledger's partitions and its records in merged order.
fn simulated(
    dir: &std::path::Path,
    patients: u32,
) -> (
    tl_sim::SimReport,
    tl_sim::SimKeys,
    Vec<Vec<Vec<u8>>>,
    Vec<LedgerRecord>,
) {
    let ledger = dir.join("ledger");
    let config = SimConfig::new(TrialId::new("replay-test").unwrap(), 7, patients);
    let (report, keys) = simulate(&ledger, &config).unwrap();
    let parts: Vec<Vec<Vec<u8>>> = tl_ledger::log::read_embedded_for_verify(&ledger)
        .unwrap()
        .into_iter()
        .map(|p| p.records)
        .collect();
    let mut all: Vec<LedgerRecord> = parts
        .iter()
        .flatten()
        .map(|b| LedgerRecord::decode(b).unwrap())
        .collect();
    all.sort_by_key(|r| {
        let b = &r.record.body;
        (b.ordering_time, b.partition, b.seq)
    });
    (report, keys, parts, all)
}

fn place(r: &LedgerRecord) -> (u32, u64) {
    (r.record.body.partition, r.record.body.seq)
}

#[test]
fn the_same_ledger_gives_the_same_decisions() {
    // given a simulated trial whose decisions the services made as it ran
    let dir = tempfile::tempdir().unwrap();
    let (report, keys, parts, all) = simulated(dir.path(), 120);
    // the decisions in the ledger, in merged order, each signed by its service's key
    let order: Vec<(u32, u64)> = all.iter().map(place).collect();
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

/// How a reader on Kafka polls: plainly, or holding records until their place is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Polling {
    Plain,
    Settled,
}

/// A small deterministic generator (xorshift64), for the visibility pattern.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Follows a ledger committed in transactions (runs of the merged order) the way a Kafka
/// reader sees it: each partition is fetched on its own, so a poll sees some partitions up to
/// their committed end and others behind, and the committed ends are checked partition by
/// partition while further transactions commit. Returns the records in the order handed out
/// and the decisions made.
fn follow_unevenly(
    parts: &[Vec<Vec<u8>>],
    order: &[(u32, u64)],
    polling: Polling,
    seed: u64,
) -> (Vec<(u32, u64)>, Vec<Key>) {
    let n = parts.len();
    let mut rng = Rng(seed);
    let mut feed = Snapshot {
        parts: parts.to_vec(),
        visible: vec![0; n],
    };
    let mut committed = vec![0u64; n];
    let mut next_txn = 0usize;
    let mut commit = |rng: &mut Rng, committed: &mut Vec<u64>, txns: u64| {
        for _ in 0..txns {
            let size = 1 + rng.below(12) as usize;
            for &(p, seq) in order.iter().skip(next_txn).take(size) {
                committed[p as usize] = seq + 1;
            }
            next_txn = (next_txn + size).min(order.len());
        }
    };
    // Reads every partition to its committed end, one after the other, while transactions
    // commit in between.
    let read_to_ends =
        |rng: &mut Rng,
         committed: &mut Vec<u64>,
         visible: &mut Vec<u64>,
         commit: &mut dyn FnMut(&mut Rng, &mut Vec<u64>, u64)| {
            let start = rng.below(n as u64) as usize;
            for i in 0..n {
                let p = (start + i) % n;
                let txns = rng.below(2);
                commit(rng, committed, txns);
                visible[p] = committed[p];
            }
        };
    let mut follower = Follower::new();
    let mut matcher = MatcherService::new();
    let mut engine = CohortEngineService::new();
    let mut seen = Vec::new();
    let mut made = Vec::new();
    while seen.len() < order.len() {
        let txns = rng.below(4);
        commit(&mut rng, &mut committed, txns);
        // what the fetches brought so far: some partitions are behind
        for (visible, &end) in feed.visible.iter_mut().zip(&committed) {
            if rng.below(2) == 0 {
                *visible = end;
            }
        }
        let records = match polling {
            Polling::Plain => follower.poll(&feed).unwrap(),
            Polling::Settled => {
                read_to_ends(&mut rng, &mut committed, &mut feed.visible, &mut commit);
                let settled = feed.visible.clone();
                read_to_ends(&mut rng, &mut committed, &mut feed.visible, &mut commit);
                follower.poll_settled(&feed, &settled).unwrap()
            }
        };
        for r in records {
            seen.push(place(&r));
            made.extend(matcher.apply(&r).iter().map(key));
            made.extend(engine.apply(&r).iter().map(key));
        }
    }
    (seen, made)
}

#[test]
fn a_follower_on_unevenly_visible_partitions_keeps_the_merged_order() {
    // given a simulated trial, and the decisions fresh services make reading it in one pass
    let dir = tempfile::tempdir().unwrap();
    let (_, _, parts, all) = simulated(dir.path(), 60);
    let order: Vec<(u32, u64)> = all.iter().map(place).collect();
    let (made, _) = replay(&parts, &order, usize::MAX);
    for seed in [1, 2, 3] {
        // when the ledger is followed as a Kafka reader sees it, partitions visible unevenly
        let (seen, again) = follow_unevenly(&parts, &order, Polling::Settled, seed);
        // then poll_settled hands out every record once, in the merged order, and the
        // services decide exactly as in one pass
        assert!(
            seen == order,
            "seed {seed}: records out of the merged order"
        );
        assert!(again == made, "seed {seed}: decided differently");
        // while plain polls on the same visibility pattern do not keep the order (the hazard
        // poll_settled exists for)
        let (plain, _) = follow_unevenly(&parts, &order, Polling::Plain, seed);
        assert_eq!(plain.len(), order.len());
        assert!(
            plain != order,
            "seed {seed}: the pattern is not uneven enough"
        );
    }
}

/// The digest (`tl_sim::digest::ledger_digest`) of the ledger of
/// `SimConfig::new("digest-test", 2016, 200)` as today's main made it before protocol format 2
/// existed (`sim/tests/determinism.rs` pinned it then). A format-1 simulation reproduces that
/// ledger byte for byte.
const MAIN_BEFORE_FORMAT_2: &str =
    "c2aa3f88658f01ea155b197335c349d2c4d59c6ceba5e747b4fa980526651654";

#[test]
fn given_a_ledger_of_main_before_format_2_when_the_cohort_engine_replays_it_then_every_decision_is_already_recorded(
) {
    // given the ledger main made before format 2: a format-1 catalogue, no stated conventions
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let mut config = SimConfig::new(TrialId::new("digest-test").unwrap(), 2016, 200);
    config.protocol_format = tl_schemas::clinical::DOCUMENT_FORMAT_COHORT_CATALOGUE;
    simulate(&ledger, &config).unwrap();
    let digest = hex::encode(tl_sim::digest::ledger_digest(&ledger).unwrap());
    assert_eq!(
        digest, MAIN_BEFORE_FORMAT_2,
        "not the ledger of main before format 2"
    );
    let parts: Vec<Vec<Vec<u8>>> = tl_ledger::log::read_embedded_for_verify(&ledger)
        .unwrap()
        .into_iter()
        .map(|p| p.records)
        .collect();
    let mut all: Vec<LedgerRecord> = parts
        .iter()
        .flatten()
        .map(|b| LedgerRecord::decode(b).unwrap())
        .collect();
    all.sort_by_key(|r| {
        let b = &r.record.body;
        (b.ordering_time, b.partition, b.seq)
    });
    let recorded: Vec<Key> = all
        .iter()
        .filter(|r| {
            matches!(
                r.event_type(),
                ct::MATCH_PROPOSED
                    | ct::SLOT_ASSIGNED
                    | ct::SLOT_REFUSED
                    | ct::COHORT_STAGE_DECIDED
            )
        })
        .map(|r| {
            let s = &r.record.body.submission.submission;
            (
                s.submission_id,
                s.subject.clone(),
                s.envelope.clone(),
                s.cites.clone(),
            )
        })
        .collect();
    let stages = all
        .iter()
        .filter(|r| r.event_type() == ct::COHORT_STAGE_DECIDED)
        .count();
    assert!(stages > 10, "{stages} stage decisions");

    // when today's matcher and cohort engine replay it from the start
    let order: Vec<(u32, u64)> = all.iter().map(place).collect();
    let (made, pending) = replay(&parts, &order, usize::MAX);

    // then they decide exactly what is recorded (the format-1 definitions: a strict day 112),
    // and have nothing new to submit
    assert_eq!(made.len(), recorded.len());
    assert!(
        made == recorded,
        "a replayed decision differs from the ledger's"
    );
    assert_eq!(pending, 0);
}

/// `DecidingService::may_decide_on` lets the simulator on Kafka keep records in flight and
/// its services behind the ledger: given a simulated ledger read in merged order by services
/// that read on only when the predicate (asked with their state so far) announces that a
/// record may make them decide, or at a protocol amendment (as the simulator does), then
/// every decision is made on an announced record, never on one read later, and most records
/// are not announced.
#[test]
fn services_behind_the_ledger_decide_only_on_records_the_predicate_announced() {
    // given a simulated trial and a matcher and a cohort engine at its start
    let dir = tempfile::tempdir().unwrap();
    let (_, _, _, all) = simulated(dir.path(), 60);
    let mut matcher = MatcherService::new();
    let mut engine = CohortEngineService::new();
    let mut unread: Vec<&LedgerRecord> = Vec::new();
    let (mut announced, mut decided) = (0, 0);
    for r in &all {
        // when each record is announced or not by the services as they are (behind)
        let s = &r.record.body.submission.submission;
        let says = matcher.may_decide_on(&s.subject, &s.envelope)
            || engine.may_decide_on(&s.subject, &s.envelope);
        announced += usize::from(says);
        unread.push(r);
        let amendment = s.envelope.event_type == tl_schemas::events::event_type::PROTOCOL_AMENDED;
        if !(says || amendment) {
            continue;
        }
        // then, reading on, only the announced record makes them decide
        for u in unread.drain(..) {
            let made = matcher.apply(u).len() + engine.apply(u).len();
            decided += made;
            assert!(
                made == 0 || std::ptr::eq(u, r),
                "a decision on an unannounced record at {:?} ({})",
                place(u),
                u.event_type()
            );
        }
    }
    for u in unread {
        let made = matcher.apply(u).len() + engine.apply(u).len();
        assert_eq!(
            made,
            0,
            "a decision on an unannounced record at {:?}",
            place(u)
        );
    }
    assert!(decided > 100, "decisions made: {decided}");
    assert!(
        announced * 3 < all.len(),
        "announced {announced} of {} records",
        all.len()
    );
}
