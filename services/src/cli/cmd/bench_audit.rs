//! `trial-ledger bench --audit`: the audit tools, measured in one run on this machine, on the
//! default demo ledger (made fresh in the benchmark's folder) or on `--data DIR`.
//!
//! The figures:
//! * **reference**: SHA-256 interior-node hashes (`merkle::node_hash`) per second on one core,
//!   the unit every proof is made of; a proof of `k` hashes cannot be checked faster than
//!   that rate divided by `k`;
//! * **inclusion proofs** generated ([`MerkleTree::inclusion_proof`]) and verified
//!   ([`verify_inclusion`]) per second, for every leaf of the largest partition, one core;
//! * **consistency proofs** generated and verified per second, from every size `1 .. n` to the
//!   partition's size `n`, one core;
//! * **trail**: the time to produce one patient's decision trail with an inclusion proof of
//!   every record (checked), for every enrolled patient, on the verified and decoded ledger
//!   ([`VerifiedLedger::trail`]): mean, median and the slowest; and the first trail, which also
//!   builds the Merkle trees of the partitions it touches;
//! * **loading**: what `trail` pays once per run before any trail: reading the ledger, full
//!   verification (the price of refusing a trail from a ledger that does not verify) and
//!   decoding.

use super::bench::{best_of, print_machine, rate, secs, Table, WorkDir};
use super::trail::VerifiedLedger;
use crate::cli::BenchArgs;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tl_domain::TrialRules;
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::merkle::{node_hash, verify_consistency, verify_inclusion, MerkleTree};
use tl_ledger::trust::TrustFile;
use tl_ledger::verify_ledger;
use tl_schemas::clinical::clinical_type;
use tl_schemas::{Hash32, Subject, TrialId};

/// The trail target of the audit issue.
const TRAIL_TARGET: Duration = Duration::from_millis(50);

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// Runs `bench --audit`.
pub fn run(a: &BenchArgs) -> Result<ExitCode> {
    let workdir = WorkDir::new(a.dir.as_deref())?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let data = match &a.data {
        Some(d) => d.clone(),
        None => make_demo(&workdir)?,
    };
    let trust = super::read_trust(&data)?;
    let root = trust.root_key().map_err(anyhow::Error::msg)?;
    let trial = trust.trial();
    let dir = super::ledger_dir(&data);
    print_machine(
        &format!("trial-ledger bench --audit: ledger {}", dir.display()),
        cores,
    );
    let (ledger, loading) = load(&dir, &trial, root)?;
    let trails = measure_trails(&ledger)?;
    let proofs = measure_proofs(&ledger);

    let mut table = Table::default();
    proofs.write(&mut table);
    trails.write(&mut table);
    loading.write(&mut table);
    table.print();
    println!();
    let slowest = trails.slowest().0;
    let verdict = if slowest <= TRAIL_TARGET {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "trail target: one patient's trail in under {} ms on a verified ledger: {verdict} (slowest {} ms). A cold `trail` command adds the one-off load above ({} ms), nearly all of it full verification.",
        TRAIL_TARGET.as_millis(),
        ms(slowest),
        ms(loading.load_time)
    );
    workdir.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// Makes the default demo ledger (and its trust file) in the benchmark's folder.
fn make_demo(workdir: &WorkDir) -> Result<PathBuf> {
    let d = workdir.path.join("demo");
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    let trial = TrialId::new("drup-demo")?;
    let config =
        tl_sim::SimConfig::new(trial.clone(), tl_sim::DEFAULT_SEED, tl_sim::DEFAULT_TREATED);
    println!(
        "making the default demo ledger ({} treated patients, seed {}) in {} ...",
        tl_sim::DEFAULT_TREATED,
        tl_sim::DEFAULT_SEED,
        d.display()
    );
    let (report, _) = tl_sim::simulate(&super::ledger_dir(&d), &config)?;
    TrustFile::new(&trial, report.root_public_key, config.partitions)
        .write(&super::trust_path(&d))?;
    Ok(d)
}

/// What `trail` pays once per run: read, verify, decode (each timed on its own as well).
struct Loading {
    read_time: Duration,
    verify_time: Duration,
    load_time: Duration,
    records_total: u64,
}

/// Reads and verifies the ledger (timed), then loads it as `trail` does (timed).
fn load(dir: &Path, trial: &TrialId, root: [u8; 32]) -> Result<(VerifiedLedger, Loading)> {
    let t = Instant::now();
    let inputs = read_embedded_for_verify(dir)?;
    let read_time = t.elapsed();
    let t = Instant::now();
    let report = verify_ledger(trial, root, &inputs, TrialRules);
    let verify_time = t.elapsed();
    if let Some(f) = report.first_failure() {
        bail!("the ledger does not verify: {f}");
    }
    drop(inputs);
    let t = Instant::now();
    let ledger = match VerifiedLedger::load(dir, trial, root)? {
        Ok(l) => l,
        Err(r) => bail!("the ledger does not verify: {:?}", r.first_failure()),
    };
    let load_time = t.elapsed();
    let records_total = ledger.report.records_total;
    let loading = Loading {
        read_time,
        verify_time,
        load_time,
        records_total,
    };
    Ok((ledger, loading))
}

impl Loading {
    fn write(&self, table: &mut Table) {
        table.row(
            "load: read the ledger",
            ms(self.read_time),
            "ms",
            format!("{} records", self.records_total),
        );
        table.row(
            "load: full verification",
            ms(self.verify_time),
            "ms",
            "verify_ledger: what `trail` pays once before any trail".into(),
        );
        table.row(
            "load: read + verify + decode",
            ms(self.load_time),
            "ms",
            "VerifiedLedger::load, the whole of `trail`'s fixed cost".into(),
        );
    }
}

/// One trail per enrolled patient: `(time, patient index, records)` each, the first measured
/// again warm; and the first (cold) time.
struct TrailTimes {
    patients: Vec<Subject>,
    times: Vec<(Duration, usize, usize)>,
    first_trail: Duration,
}

/// Times the trail of every enrolled patient.
fn measure_trails(ledger: &VerifiedLedger) -> Result<TrailTimes> {
    let mut patients: Vec<Subject> = Vec::new();
    for part in ledger.parts() {
        for e in part {
            let sub = &e.record.body.submission.submission;
            if sub.envelope.event_type == clinical_type::PATIENT_ENROLLED
                && !patients.contains(&sub.subject)
            {
                patients.push(sub.subject.clone());
            }
        }
    }
    if patients.is_empty() {
        bail!("the ledger has no enrolled patient to make a trail of");
    }
    let mut times: Vec<(Duration, usize, usize)> = Vec::with_capacity(patients.len());
    for (i, s) in patients.iter().enumerate() {
        let t = Instant::now();
        let trail = match ledger.trail(s)? {
            Ok(t) => t,
            Err(m) => bail!("{m}"),
        };
        times.push((t.elapsed(), i, trail.records.len()));
    }
    // The first trail built the trees of the partitions it touched: measure it again warm.
    let first_trail = times[0].0;
    let t = Instant::now();
    let _ = ledger.trail(&patients[0])?;
    times[0].0 = t.elapsed();
    Ok(TrailTimes {
        patients,
        times,
        first_trail,
    })
}

impl TrailTimes {
    /// The slowest trail: time, patient index, records.
    fn slowest(&self) -> (Duration, usize, usize) {
        *self.times.iter().max_by_key(|t| t.0).expect("some")
    }

    fn write(&self, table: &mut Table) {
        let times = &self.times;
        let mut sorted: Vec<Duration> = times.iter().map(|t| t.0).collect();
        sorted.sort();
        let mean = sorted.iter().sum::<Duration>() / sorted.len() as u32;
        let median = sorted[sorted.len() / 2];
        let (slowest, slowest_i, slowest_len) = self.slowest();
        let mean_len = times.iter().map(|t| t.2).sum::<usize>() as f64 / times.len() as f64;
        table.row(
            "trail, one patient (mean)",
            ms(mean),
            "ms",
            format!(
                "VerifiedLedger::trail with a checked inclusion proof per record; {} enrolled patients, {mean_len:.0} records per trail on average",
                self.patients.len()
            ),
        );
        table.row(
            "trail, one patient (median)",
            ms(median),
            "ms",
            String::new(),
        );
        table.row(
            "trail, slowest patient",
            ms(slowest),
            "ms",
            format!("{} ({slowest_len} records)", self.patients[slowest_i]),
        );
        let (longest_t, longest_i, longest_len) = *times.iter().max_by_key(|t| t.2).expect("some");
        table.row(
            "trail, longest",
            ms(longest_t),
            "ms",
            format!("{} ({longest_len} records)", self.patients[longest_i]),
        );
        table.row(
            "trail, first (builds trees)",
            ms(self.first_trail),
            "ms",
            "the first trail also builds the Merkle trees of the partitions it touches".into(),
        );
    }
}

/// Proof figures on the largest partition, best runs, one core.
struct ProofTimes {
    partition: usize,
    size: u64,
    build: Duration,
    hash_time: Duration,
    inclusion: Timed,
    consistency: Timed,
}

/// Proofs generated and verified: how many, the time of each phase, mean hashes per proof.
struct Timed {
    count: usize,
    generate: Duration,
    verify: Duration,
    mean_path: f64,
}

/// Times tree building, node hashing, and inclusion and consistency proofs on the largest
/// partition.
fn measure_proofs(ledger: &VerifiedLedger) -> ProofTimes {
    let (partition, part) = ledger
        .parts()
        .iter()
        .enumerate()
        .max_by_key(|(_, v)| v.len())
        .expect("a partition");
    let leaves: Vec<Hash32> = part.iter().map(|e| e.hash).collect();
    let mut tree = MerkleTree::new();
    let (build, _) = best_of(|| {
        let t = Instant::now();
        tree = MerkleTree::from_leaves(leaves.iter().copied());
        t.elapsed()
    });
    // Reference: interior-node hashes per second, one core.
    let mut acc = leaves[0];
    let (hash_time, _) = best_of(|| {
        let t = Instant::now();
        for l in &leaves {
            acc = node_hash(&acc, l);
        }
        t.elapsed()
    });
    std::hint::black_box(acc);
    ProofTimes {
        partition,
        size: leaves.len() as u64,
        build,
        hash_time,
        inclusion: time_inclusion(&tree, &leaves),
        consistency: time_consistency(&tree, leaves.len() as u64),
    }
}

/// An inclusion proof of every leaf, generated and verified.
fn time_inclusion(tree: &MerkleTree, leaves: &[Hash32]) -> Timed {
    let n = leaves.len() as u64;
    let root_n = tree.root();
    let mut inclusion = Vec::new();
    let (generate, _) = best_of(|| {
        let t = Instant::now();
        inclusion = (0..n)
            .map(|i| tree.inclusion_proof(i, n).expect("in range"))
            .collect();
        t.elapsed()
    });
    let (verify, _) = best_of(|| {
        let t = Instant::now();
        for (i, pr) in inclusion.iter().enumerate() {
            verify_inclusion(&leaves[i], i as u64, n, &pr.path, &root_n).expect("verifies");
        }
        t.elapsed()
    });
    Timed {
        count: inclusion.len(),
        generate,
        verify,
        mean_path: inclusion.iter().map(|p| p.path.len()).sum::<usize>() as f64
            / inclusion.len() as f64,
    }
}

/// A consistency proof from every size `1 .. n` to `n`, generated and verified.
fn time_consistency(tree: &MerkleTree, n: u64) -> Timed {
    let root_n = tree.root();
    let roots: Vec<Hash32> = (1..n).map(|m| tree.root_at(m).expect("in range")).collect();
    let mut consistency = Vec::new();
    let (generate, _) = best_of(|| {
        let t = Instant::now();
        consistency = (1..n)
            .map(|m| tree.consistency_proof(m, n).expect("in range"))
            .collect();
        t.elapsed()
    });
    let (verify, _) = best_of(|| {
        let t = Instant::now();
        for (k, pr) in consistency.iter().enumerate() {
            verify_consistency(pr.first_size, n, &roots[k], &root_n, &pr.path).expect("verifies");
        }
        t.elapsed()
    });
    Timed {
        count: consistency.len(),
        generate,
        verify,
        mean_path: consistency.iter().map(|p| p.path.len()).sum::<usize>() as f64
            / consistency.len().max(1) as f64,
    }
}

impl ProofTimes {
    fn write(&self, table: &mut Table) {
        let (p, n) = (self.partition, self.size);
        let (inc, con) = (&self.inclusion, &self.consistency);
        let hash_rate = n as f64 / secs(self.hash_time);
        table.row(
            "reference: node hashes, 1 core",
            rate(n as usize, self.hash_time),
            "hashes/s",
            "merkle::node_hash, SHA-256 of 65 bytes".into(),
        );
        table.row(
            "tree build",
            ms(self.build),
            "ms",
            format!("MerkleTree::from_leaves, partition {p}: {n} records"),
        );
        table.row(
            "inclusion proofs generated",
            rate(inc.count, inc.generate),
            "proofs/s",
            format!(
                "every leaf of partition {p}, 1 core; {:.1} hashes per proof",
                inc.mean_path
            ),
        );
        table.row(
            "inclusion proofs verified",
            rate(inc.count, inc.verify),
            "proofs/s",
            format!(
                "verify_inclusion, 1 core; the reference allows about {:.0}/s ({:.1} hashes each)",
                hash_rate / inc.mean_path,
                inc.mean_path
            ),
        );
        table.row(
            "consistency proofs generated",
            rate(con.count, con.generate),
            "proofs/s",
            format!(
                "from every size 1..{n} to {n}, 1 core; {:.1} hashes per proof",
                con.mean_path
            ),
        );
        table.row(
            "consistency proofs verified",
            rate(con.count, con.verify),
            "proofs/s",
            "verify_consistency, 1 core; it recomputes both roots from the path (up to twice its hashes)"
                .to_string(),
        );
    }
}
