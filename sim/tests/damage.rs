//! Damage stays local (FORMAT.md §14 and §16.2): one damaged record of a simulated trial, under
//! the trial's own domain rules, fails its partition from there on and the records that cite it
//! (or cite what fails in turn), and nothing else. Above all not the registry: a patient record
//! in partition 0 that cites the damaged record fails with a reference failure naming it, and
//! the other partitions keep their verified counts.

use std::collections::BTreeSet;
use tl_domain::TrialRules;
use tl_ledger::verify::{verify_ledger, PartitionInput};
use tl_ledger::Report;
use tl_schemas::{Record, Subject, TrialId};
use tl_sim::{simulate, SimConfig};

type Parts = Vec<Vec<Vec<u8>>>;

fn simulated(dir: &std::path::Path) -> (TrialId, [u8; 32], Parts) {
    let trial = TrialId::new("damage-test").unwrap();
    let ledger = dir.join("ledger");
    let (_, keys) = simulate(&ledger, &SimConfig::new(trial.clone(), 11, 60)).unwrap();
    let parts = tl_ledger::log::read_embedded_for_verify(&ledger)
        .unwrap()
        .into_iter()
        .map(|p| p.records)
        .collect();
    (trial, keys.root.key.public_key(), parts)
}

fn verify(trial: &TrialId, root: [u8; 32], parts: &Parts) -> Report {
    let inputs: Vec<PartitionInput> = parts.iter().cloned().map(PartitionInput::clean).collect();
    verify_ledger(trial, root, &inputs, TrialRules)
}

/// Each partition's verified count: its records before its own first failure.
fn counts(report: &Report, parts: &Parts) -> Vec<u64> {
    (0..parts.len())
        .map(|p| {
            report
                .failures
                .iter()
                .find(|f| f.partition == p as u32)
                .map_or(parts[p].len() as u64, |f| f.seq)
        })
        .collect()
}

/// What the damage must reach, per FORMAT.md: partition `k` fails at `f`; in the replay, every
/// record citing `k/f` fails (it no longer decodes), and for damage in partition 0 every record
/// relying on a registry position beyond `f`; then every record before its partition's replay
/// failure that cites a failing record fails too, repeatedly. Returns each partition's
/// expected verified count (the records before its first failure).
fn expected(records: &[Vec<Record>], k: usize, f: u64) -> Vec<u64> {
    let replay_fails = |q: usize, r: &Record| {
        let b = &r.body;
        (k == 0 && q != 0 && b.registry_seq > f)
            || b.submission
                .submission
                .cites
                .iter()
                .any(|c| (c.partition as usize, c.seq) == (k, f))
    };
    let mut replayed: Vec<u64> = records.iter().map(|r| r.len() as u64).collect();
    replayed[k] = f;
    for (q, rs) in records.iter().enumerate().filter(|(q, _)| *q != k) {
        if let Some(i) = rs.iter().position(|r| replay_fails(q, r)) {
            replayed[q] = i as u64;
        }
    }
    let mut invalid: BTreeSet<(usize, u64)> = (0..records.len())
        .filter(|&q| replayed[q] < records[q].len() as u64)
        .map(|q| (q, replayed[q]))
        .collect();
    loop {
        let mut more = Vec::new();
        for (q, rs) in records.iter().enumerate() {
            for (i, r) in rs.iter().enumerate().take(replayed[q] as usize) {
                let cites = &r.body.submission.submission.cites;
                if !invalid.contains(&(q, i as u64))
                    && cites
                        .iter()
                        .any(|c| invalid.contains(&(c.partition as usize, c.seq)))
                {
                    more.push((q, i as u64));
                }
            }
        }
        if more.is_empty() {
            break;
        }
        invalid.extend(more);
    }
    (0..records.len())
        .map(|q| {
            invalid
                .iter()
                .filter(|(p, _)| *p == q)
                .map(|(_, s)| *s)
                .min()
                .unwrap_or(replayed[q])
        })
        .collect()
}

/// The record to damage in partition `k`: a non-registry record that another partition cites
/// (so the damage has somewhere to spread), preferably partition 0 (the case of the defect),
/// among the last few such the one whose damage reaches least; without one, the last
/// non-registry record.
fn target(records: &[Vec<Record>], k: usize) -> Option<u64> {
    let cites_of = |q: usize| -> BTreeSet<u64> {
        records[q]
            .iter()
            .flat_map(|r| r.body.submission.submission.cites.iter())
            .filter(|c| c.partition as usize == k)
            .map(|c| c.seq)
            .collect()
    };
    let by_0 = if k == 0 { BTreeSet::new() } else { cites_of(0) };
    let cited: BTreeSet<u64> = (0..records.len())
        .filter(|q| *q != k)
        .flat_map(cites_of)
        .collect();
    let non_registry =
        |s: &u64| records[k][*s as usize].body.submission.submission.subject != Subject::Trial;
    let reach = |f: u64| -> u64 {
        let cut = expected(records, k, f);
        cut.iter()
            .zip(records)
            .map(|(c, r)| r.len() as u64 - c)
            .sum()
    };
    let candidates: Vec<u64> = cited
        .iter()
        .rev()
        .copied()
        .filter(non_registry)
        .take(12)
        .collect();
    let preferred: Vec<u64> = by_0
        .iter()
        .rev()
        .copied()
        .filter(non_registry)
        .take(12)
        .collect();
    let pool = if preferred.is_empty() {
        candidates
    } else {
        preferred
    };
    pool.into_iter()
        .min_by_key(|&f| (reach(f), std::cmp::Reverse(f)))
        .or_else(|| (0..records[k].len() as u64).rev().find(non_registry))
}

#[test]
fn damage_to_one_record_reaches_only_its_partition_and_what_cites_it() {
    // given a simulated trial that verifies
    let dir = tempfile::tempdir().unwrap();
    let (trial, root, parts) = simulated(dir.path());
    let clean = verify(&trial, root, &parts);
    assert!(clean.ok, "{:?}", clean.failures);
    let before = counts(&clean, &parts);
    let records: Vec<Vec<Record>> = parts
        .iter()
        .map(|p| p.iter().map(|b| tl_schemas::decode(b).unwrap()).collect())
        .collect();
    let mut cited_by_partition_0 = 0;
    for k in 0..parts.len() {
        let Some(f) = target(&records, k) else {
            continue;
        };
        // when one record of partition k is damaged (cut in half: it no longer decodes)
        let mut damaged = parts.clone();
        let bytes = &mut damaged[k][f as usize];
        bytes.truncate(bytes.len() / 2);
        let report = verify(&trial, root, &damaged);
        // then partition k fails there, and every other partition keeps its count unless it
        // cites what failed, in which case it fails at that record with a reference failure
        let want = expected(&records, k, f);
        let got = counts(&report, &parts);
        assert_eq!(got, want, "damage at {k}/{f}: {:#?}", report.failures);
        let own = report
            .failures
            .iter()
            .find(|x| x.partition == k as u32)
            .unwrap();
        assert_eq!((own.seq, own.reason), (f, "malformed"), "{own}");
        for x in report.failures.iter().filter(|x| x.partition != k as u32) {
            let registry = k == 0 && x.reason == "registry-seq";
            assert!(
                registry || x.reason.starts_with("reference-"),
                "damage at {k}/{f} reached {x}"
            );
        }
        for (q, (b, a)) in before.iter().zip(&got).enumerate() {
            if want[q] == *b {
                assert_eq!(a, b, "damage at {k}/{f} changed partition {q}");
            }
        }
        if k != 0 && report.failures.iter().any(|x| x.partition == 0) {
            let x = &report.failures[0];
            assert!(x.detail.contains(&format!("cited record {k}/")), "{x}");
            cited_by_partition_0 += 1;
        }
    }
    // the case the defect was about: a partition-0 record citing the damaged record
    assert!(
        cited_by_partition_0 > 0,
        "no damaged record was cited from partition 0"
    );
}
