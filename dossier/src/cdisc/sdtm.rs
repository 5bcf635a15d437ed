//! The SDTM domains (SDTMIG 3.4) and their SUPP-- datasets.

use super::ct;
use super::dataset::{
    date, int, mm, opt_date, reference_text, txt, yn, Column, DataType as T, Dataset, Origin as O,
    Standard, Value,
};
use super::subject::{Study, Subject};
use std::collections::HashMap;
use tl_projections::facts::partial_date;
use tl_schemas::clinical::{clinical_type as ct_, *};
use tl_schemas::{decode, Reference};

/// Where each ledger record landed in SDTM, for the ADaM datasets' `SRCDOM`/`SRCVAR`/`SRCSEQ`.
#[derive(Default)]
pub(crate) struct Index {
    /// A record's primary SDTM row: domain, the date variable, `--SEQ`.
    pub by_record: HashMap<Reference, (&'static str, &'static str, i64)>,
    /// A scan's `SUMDIAM` row in TR: `TRSEQ`.
    pub tr_sum: HashMap<Reference, i64>,
    /// An adverse event's AE row: (USUBJID, AE id) -> `AESEQ`.
    pub ae: HashMap<(String, u32), i64>,
}

impl Index {
    fn note(&mut self, r: Reference, domain: &'static str, var: &'static str, seq: i64) {
        self.by_record.entry(r).or_insert((domain, var, seq));
    }
}

fn c(name: &'static str, label: &'static str, t: T, o: O) -> Column {
    Column::new(name, label, t, o)
}

/// STUDYID, DOMAIN, USUBJID and --SEQ.
fn ids(seq: Option<&'static str>, seq_label: &'static str) -> Vec<Column> {
    let mut v = vec![
        c("STUDYID", "Study Identifier", T::Text, O::Assigned).key(1),
        c("DOMAIN", "Domain Abbreviation", T::Text, O::Assigned),
        c("USUBJID", "Unique Subject Identifier", T::Text, O::Assigned).key(2),
    ];
    if let Some(s) = seq {
        v.push(c(s, seq_label, T::Integer, O::Derived).key(3));
    }
    v
}

fn head(s: &Study, domain: &str, sub: &Subject, seq: i64) -> Vec<Value> {
    vec![txt(&s.studyid), txt(domain), txt(&sub.usubjid), int(seq)]
}

/// Builds every SDTM domain (each followed by its SUPP-- dataset) into `out`; returns where
/// the records landed.
pub(crate) fn build(s: &Study, out: &mut Vec<Dataset>) -> Index {
    let mut index = Index::default();
    let domains = [
        ts(s),
        dm(s),
        ds(s, &mut index),
        ex(s, &mut index),
        ae(s, &mut index),
        tu(s),
        tr(s, &mut index),
        rs(s, &mut index),
        ss(s, &mut index),
        gf(s),
    ];
    for d in domains {
        let supp = supp(s, &d);
        out.push(d);
        out.push(supp);
    }
    index
}

/// TS: the trial's design as the protocol's catalogue states it for the scope's cohorts.
fn ts(s: &Study) -> Dataset {
    let mut cols = vec![
        c("STUDYID", "Study Identifier", T::Text, O::Assigned).key(1),
        c("DOMAIN", "Domain Abbreviation", T::Text, O::Assigned),
        c("TSSEQ", "Sequence Number", T::Integer, O::Derived).key(3),
    ];
    cols.extend([
        c(
            "TSPARMCD",
            "Trial Summary Parameter Short Name",
            T::Text,
            O::Assigned,
        )
        .key(2),
        c("TSPARM", "Trial Summary Parameter", T::Text, O::Assigned),
        c("TSVAL", "Parameter Value", T::Text, O::Protocol),
    ]);
    let mut d = Dataset::new(
        "TS",
        "Trial Summary",
        Standard::Sdtm,
        "TRIAL DESIGN",
        "One record per trial summary parameter value",
        cols,
    );
    let Some((_, protocol)) = s.protocol() else {
        return d;
    };
    let mut drugs: Vec<&str> = s.cohorts.iter().map(|c| c.drug.as_str()).collect();
    drugs.sort_unstable();
    drugs.dedup();
    let planned: u32 = s.cohorts.iter().map(|c| u32::from(c.stage2_size)).sum();
    let mut params: Vec<(&str, &str, String)> = vec![
        ("STYPE", "Study Type", "INTERVENTIONAL".into()),
        (
            "TPHASE",
            "Trial Phase Classification",
            "PHASE II TRIAL".into(),
        ),
        ("RANDOM", "Trial is Randomized", "N".into()),
        ("ADAPT", "Adaptive Design", "Y".into()),
        (
            "NARMS",
            "Planned Number of Arms",
            s.cohorts.len().to_string(),
        ),
        ("PLANSUB", "Planned Number of Subjects", planned.to_string()),
    ];
    params.extend(
        drugs
            .into_iter()
            .map(|t| ("TRT", "Investigational Therapy or Treatment", t.to_string())),
    );
    for (i, (code, name, value)) in params.into_iter().enumerate() {
        d.push(
            vec![
                txt(&s.studyid),
                txt("TS"),
                int(i as i64 + 1),
                txt(code),
                txt(name),
                txt(value),
            ],
            vec![protocol],
        );
    }
    d
}

/// DM: one row per patient, with only what the ledger holds.
fn dm(s: &Study) -> Dataset {
    let mut cols = ids(None, "");
    cols.extend([
        c(
            "SUBJID",
            "Subject Identifier for the Study",
            T::Text,
            O::Collected,
        ),
        c(
            "RFSTDTC",
            "Subject Reference Start Date/Time",
            T::Date,
            O::Derived,
        )
        .comment("The first dose (RFXSTDTC); missing for a patient not treated."),
        c(
            "RFENDTC",
            "Subject Reference End Date/Time",
            T::Date,
            O::Derived,
        )
        .comment("The last dose on or before the cut-off."),
        c(
            "RFXSTDTC",
            "Date/Time of First Study Treatment",
            T::Date,
            O::Derived,
        ),
        c(
            "RFXENDTC",
            "Date/Time of Last Study Treatment",
            T::Date,
            O::Derived,
        ),
        c(
            "RFICDTC",
            "Date/Time of Informed Consent",
            T::Date,
            O::Collected,
        ),
        c("DTHDTC", "Date/Time of Death", T::Date, O::Collected),
        c("DTHFL", "Subject Death Flag", T::Text, O::Derived).codelist("NY"),
        c("SITEID", "Study Site Identifier", T::Text, O::Collected),
        c("AGE", "Age", T::Integer, O::Collected)
            .comment("Not recorded by the ledger (PatientRegistered v1 has no age): missing."),
        c("AGEU", "Age Units", T::Text, O::Assigned),
        c("SEX", "Sex", T::Text, O::Assigned)
            .codelist("SEX")
            .comment(
                "Not recorded by the ledger: every subject is U (unknown). Recording sex needs a \
             new PatientRegistered event version.",
            ),
        c("RACE", "Race", T::Text, O::Collected).comment("Not recorded by the ledger: missing."),
        c("ETHNIC", "Ethnicity", T::Text, O::Collected)
            .comment("Not recorded by the ledger: missing."),
        c("ARMCD", "Planned Arm Code", T::Text, O::Assigned)
            .comment("The cohort id the patient was given a slot in."),
        c("ARM", "Description of Planned Arm", T::Text, O::Protocol)
            .comment("The cohort's rule in words (biomarker; tumour type; drug)."),
        c("ACTARMCD", "Actual Arm Code", T::Text, O::Derived)
            .comment("The cohort id for a treated patient; NOTTRT when never dosed."),
        c("ACTARM", "Description of Actual Arm", T::Text, O::Derived),
        c("COUNTRY", "Country", T::Text, O::Collected)
            .comment("Not recorded by the ledger: missing."),
    ]);
    let mut d = Dataset::new(
        "DM",
        "Demographics",
        Standard::Sdtm,
        "SPECIAL PURPOSE",
        "One record per subject",
        cols,
    );
    for sub in &s.subjects {
        let f = &sub.facts;
        let first = f.doses.iter().min_by_key(|x| x.administered_on);
        let last = f.doses.iter().max_by_key(|x| x.administered_on);
        let arm = tl_domain::matcher::rule_text(sub.cohort);
        let cohort_id = sub.cohort.cohort_id.to_string();
        let treated = first.is_some();
        let mut sources: Vec<Reference> = [
            f.registered.as_ref().map(|(_, r)| *r),
            f.consented.as_ref().map(|(_, r)| *r),
            sub.cohort_ref(),
            first.map(|x| x.at),
            last.map(|x| x.at),
            f.death.as_ref().map(|(_, r)| *r),
        ]
        .into_iter()
        .flatten()
        .collect();
        sources.dedup();
        if sources.is_empty() {
            continue;
        }
        d.push(
            vec![
                txt(&s.studyid),
                txt("DM"),
                txt(&sub.usubjid),
                txt(sub.name.as_str()),
                opt_date(first.map(|x| x.administered_on)),
                opt_date(last.map(|x| x.administered_on)),
                opt_date(first.map(|x| x.administered_on)),
                opt_date(last.map(|x| x.administered_on)),
                opt_date(f.consented.as_ref().map(|(d, _)| *d)),
                opt_date(f.death.as_ref().map(|((d, _, _), _)| *d)),
                f.death.as_ref().map_or(Value::Null, |_| txt("Y")),
                f.registered
                    .as_ref()
                    .map_or(Value::Null, |((_, _, site), _)| txt(site)),
                Value::Null,
                Value::Null,
                txt("U"),
                Value::Null,
                Value::Null,
                txt(&cohort_id),
                txt(&arm),
                txt(if treated {
                    cohort_id.as_str()
                } else {
                    "NOTTRT"
                }),
                txt(if treated { arm.as_str() } else { "Not Treated" }),
                Value::Null,
            ],
            sources,
        );
    }
    d
}

/// DS: consent, withdrawal of consent, end of treatment and death.
fn ds(s: &Study, index: &mut Index) -> Dataset {
    let mut cols = ids(Some("DSSEQ"), "Sequence Number");
    cols.extend([
        c(
            "DSTERM",
            "Reported Term for the Disposition Event",
            T::Text,
            O::Collected,
        ),
        c(
            "DSDECOD",
            "Standardized Disposition Term",
            T::Text,
            O::Assigned,
        ),
        c(
            "DSCAT",
            "Category for Disposition Event",
            T::Text,
            O::Assigned,
        ),
        c(
            "DSSCAT",
            "Subcategory for Disposition Event",
            T::Text,
            O::Assigned,
        ),
        c(
            "DSSTDTC",
            "Start Date/Time of Disposition Event",
            T::Date,
            O::Collected,
        ),
    ]);
    let mut d = Dataset::new(
        "DS",
        "Disposition",
        Standard::Sdtm,
        "EVENTS",
        "One record per disposition status or protocol milestone per subject",
        cols,
    );
    for sub in &s.subjects {
        let mut seq = 0;
        for r in sub.records {
            let p = r.payload.as_slice();
            let row: Option<(String, &str, &str, &str, tl_schemas::Date)> = match r.event_type {
                ct_::CONSENT_RECORDED => decode::<ConsentRecorded>(p).ok().map(|e| {
                    (
                        format!("INFORMED CONSENT OBTAINED (FORM {})", e.form_version),
                        "INFORMED CONSENT OBTAINED",
                        "PROTOCOL MILESTONE",
                        "",
                        e.consented_on,
                    )
                }),
                ct_::CONSENT_WITHDRAWN => decode::<ConsentWithdrawn>(p).ok().map(|e| {
                    let term = if e.reason.is_empty() {
                        "CONSENT WITHDRAWN".to_string()
                    } else {
                        e.reason
                    };
                    let scat = "STUDY PARTICIPATION";
                    (
                        term,
                        "WITHDRAWAL BY SUBJECT",
                        "DISPOSITION EVENT",
                        scat,
                        e.withdrawn_on,
                    )
                }),
                ct_::TREATMENT_ENDED => decode::<TreatmentEnded>(p).ok().map(|e| {
                    let decod = ct::end_reason(e.reason);
                    let term = if e.detail.is_empty() {
                        decod.to_string()
                    } else {
                        e.detail
                    };
                    (
                        term,
                        decod,
                        "DISPOSITION EVENT",
                        "END OF TREATMENT",
                        e.ended_on,
                    )
                }),
                ct_::DEATH_RECORDED => decode::<DeathRecorded>(p).ok().map(|e| {
                    let scat = "STUDY PARTICIPATION";
                    (e.cause, "DEATH", "DISPOSITION EVENT", scat, e.died_on)
                }),
                _ => None,
            };
            let Some((term, decod, cat, scat, on)) = row else {
                continue;
            };
            seq += 1;
            index.note(r.at, "DS", "DSSTDTC", seq);
            let mut v = head(s, "DS", sub, seq);
            let scat = if scat.is_empty() {
                Value::Null
            } else {
                txt(scat)
            };
            v.extend([txt(term), txt(decod), txt(cat), scat, date(on)]);
            d.push(v, vec![r.at]);
        }
    }
    d
}

/// EX: one row per dose given, as corrected.
fn ex(s: &Study, index: &mut Index) -> Dataset {
    let mut cols = ids(Some("EXSEQ"), "Sequence Number");
    cols.extend([
        c("EXTRT", "Name of Treatment", T::Text, O::Collected),
        c("EXDOSE", "Dose", T::Decimal, O::Collected).comment(
            "The recorded dose_milli / 1000, exactly (a correction's value when one applies).",
        ),
        c("EXDOSU", "Dose Units", T::Text, O::Collected),
        c("EXROUTE", "Route of Administration", T::Text, O::Collected)
            .comment("Missing where the ledger records the route as Other."),
        c("VISIT", "Visit Name", T::Text, O::Derived).comment("CYCLE c DAY d, as recorded."),
        c(
            "EXSTDTC",
            "Start Date/Time of Treatment",
            T::Date,
            O::Collected,
        ),
        c(
            "EXENDTC",
            "End Date/Time of Treatment",
            T::Date,
            O::Collected,
        ),
    ]);
    let mut d = Dataset::new(
        "EX",
        "Exposure",
        Standard::Sdtm,
        "INTERVENTIONS",
        "One record per administration per subject",
        cols,
    );
    for sub in &s.subjects {
        let mut seq = 0;
        for r in sub.of_type(ct_::DOSE_ADMINISTERED) {
            let Ok(e) = decode::<DoseAdministered>(&r.payload) else {
                continue;
            };
            seq += 1;
            index.note(r.at, "EX", "EXSTDTC", seq);
            let mut v = head(s, "EX", sub, seq);
            v.extend([
                txt(&e.drug),
                Value::Decimal(milli(e.dose_milli)),
                txt(ct::unit(e.unit).0),
                ct::route(e.route).map_or(Value::Null, txt),
                txt(format!("CYCLE {} DAY {}", e.cycle, e.day)),
                date(e.administered_on),
                date(e.administered_on),
            ]);
            d.push(v, vec![r.at]);
        }
    }
    d
}

/// Thousandths as an exact decimal (`1500` -> `1.5`, `200000` -> `200`).
pub(crate) fn milli(v: u64) -> String {
    let (whole, frac) = (v / 1000, v % 1000);
    if frac == 0 {
        return whole.to_string();
    }
    let f = format!("{frac:03}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// AE: one row per adverse event, as last reported on or before the cut-off.
fn ae(s: &Study, index: &mut Index) -> Dataset {
    let mut cols = ids(Some("AESEQ"), "Sequence Number");
    let flag = |n, l| c(n, l, T::Text, O::Collected).codelist("NY");
    cols.extend([
        c(
            "AESPID",
            "Sponsor-Defined Identifier",
            T::Text,
            O::Collected,
        )
        .comment("The adverse event's id in the ledger (ae_id)."),
        c(
            "AETERM",
            "Reported Term for the Adverse Event",
            T::Text,
            O::Collected,
        ),
        c("AEDECOD", "Dictionary-Derived Term", T::Text, O::Assigned)
            .comment("The CTCAE v5.0 term, as recorded (no MedDRA coding in the ledger)."),
        c("AETOXGR", "Standard Toxicity Grade", T::Text, O::Collected)
            .codelist("AETOXGR")
            .comment("The worst CTCAE v5.0 grade reported (first report and follow-ups)."),
        flag("AESER", "Serious Event"),
        flag("AESDTH", "Results in Death"),
        flag("AESLIFE", "Is Life Threatening"),
        flag("AESHOSP", "Requires or Prolongs Hospitalization"),
        flag("AESDISAB", "Persist or Signif Disability/Incapacity"),
        flag("AESCONG", "Congenital Anomaly or Birth Defect"),
        flag("AESMIE", "Other Medically Important Serious Event"),
        c("AEREL", "Causality", T::Text, O::Collected).codelist("AEREL"),
        c(
            "AEACN",
            "Action Taken with Study Treatment",
            T::Text,
            O::Assigned,
        )
        .codelist("ACN")
        .comment("UNKNOWN: the ledger does not link dose changes to adverse events."),
        c("AEOUT", "Outcome of Adverse Event", T::Text, O::Collected).codelist("OUT"),
        c(
            "AESTDTC",
            "Start Date/Time of Adverse Event",
            T::Date,
            O::Collected,
        ),
        c(
            "AEENDTC",
            "End Date/Time of Adverse Event",
            T::Date,
            O::Collected,
        ),
    ]);
    let mut d = Dataset::new(
        "AE",
        "Adverse Events",
        Standard::Sdtm,
        "EVENTS",
        "One record per adverse event per subject",
        cols,
    );
    for sub in &s.subjects {
        let mut seq = 0;
        for (id, a) in &sub.facts.adverse_events {
            seq += 1;
            if let Some(first) = a.refs.first() {
                index.note(*first, "AE", "AESTDTC", seq);
            }
            index.ae.insert((sub.usubjid.clone(), *id), seq);
            let has = |c: SeriousnessCriterion| yn(a.serious.contains(&c));
            let mut v = head(s, "AE", sub, seq);
            v.extend([
                txt(id.to_string()),
                txt(&a.term),
                txt(&a.term),
                txt(a.worst_grade.to_string()),
                yn(!a.serious.is_empty()),
                has(SeriousnessCriterion::Death),
                has(SeriousnessCriterion::LifeThreatening),
                has(SeriousnessCriterion::Hospitalisation),
                has(SeriousnessCriterion::Disability),
                has(SeriousnessCriterion::CongenitalAnomaly),
                has(SeriousnessCriterion::MedicallyImportant),
                txt(ct::relation(a.attribution)),
                txt("UNKNOWN"),
                txt(ct::outcome(a.outcome)),
                Value::Date(partial_date(&a.onset)),
                opt_date(a.resolved_on),
            ]);
            d.push(v, a.refs.clone());
        }
    }
    d
}

/// The patient's baseline scan (the first one marked baseline, as tl-clinical takes it).
pub(crate) fn baseline<'a>(
    sub: &'a Subject,
) -> Option<(ResponseAssessed, &'a tl_projections::model::SubjectRecord)> {
    sub.of_type(ct_::RESPONSE_ASSESSED).find_map(|r| {
        decode::<ResponseAssessed>(&r.payload)
            .ok()
            .filter(|a| a.baseline)
            .map(|a| (a, r))
    })
}

/// Every scan of the patient, decoded, in ledger order.
pub(crate) fn scans<'a>(
    sub: &'a Subject,
) -> Vec<(ResponseAssessed, &'a tl_projections::model::SubjectRecord)> {
    sub.of_type(ct_::RESPONSE_ASSESSED)
        .filter_map(|r| decode::<ResponseAssessed>(&r.payload).ok().map(|a| (a, r)))
        .collect()
}

/// TU: the target lesions identified at baseline, and new lesions at follow-up.
fn tu(s: &Study) -> Dataset {
    let mut cols = ids(Some("TUSEQ"), "Sequence Number");
    cols.extend([
        c("TULNKID", "Link ID", T::Text, O::Assigned)
            .comment("T<lesion id> for a target lesion (links to TR); NEW<n> for new lesions."),
        c(
            "TUTESTCD",
            "Tumor/Lesion ID Short Name",
            T::Text,
            O::Assigned,
        ),
        c("TUTEST", "Tumor/Lesion ID Test Name", T::Text, O::Assigned),
        c("TUORRES", "Tumor/Lesion ID Result", T::Text, O::Collected),
        c(
            "TUSTRESC",
            "Tumor/Lesion ID Result Std. Format",
            T::Text,
            O::Derived,
        ),
        c(
            "TULOC",
            "Location of the Tumor/Lesion",
            T::Text,
            O::Collected,
        )
        .comment("LYMPH NODE for a nodal target lesion; otherwise not recorded."),
        c("TUEVAL", "Evaluator", T::Text, O::Assigned),
        c(
            "TUDTC",
            "Date/Time of Tumor/Lesion Identification",
            T::Date,
            O::Collected,
        ),
    ]);
    let mut d = Dataset::new(
        "TU",
        "Tumor/Lesion Identification",
        Standard::Sdtm,
        "FINDINGS",
        "One record per identified tumor per subject per assessor",
        cols,
    );
    for sub in &s.subjects {
        let mut seq = 0;
        let mut row = |d: &mut Dataset,
                       link: String,
                       res: &str,
                       loc: Value,
                       on: tl_schemas::Date,
                       at: Reference| {
            seq += 1;
            let mut v = head(s, "TU", sub, seq);
            v.extend([
                txt(link),
                txt("TUMIDENT"),
                txt("Tumor Identification"),
                txt(res),
                txt(res),
                loc,
                txt("INVESTIGATOR"),
                date(on),
            ]);
            d.push(v, vec![at]);
        };
        if let Some((b, r)) = baseline(sub) {
            for t in &b.targets {
                let loc = if t.nodal {
                    txt("LYMPH NODE")
                } else {
                    Value::Null
                };
                row(
                    &mut d,
                    lesion(t.lesion_id),
                    "TARGET",
                    loc,
                    b.assessed_on,
                    r.at,
                );
            }
        }
        let new = scans(sub)
            .into_iter()
            .filter(|(a, _)| !a.baseline && a.new_lesions);
        for (n, (a, r)) in new.enumerate() {
            row(
                &mut d,
                format!("NEW{}", n + 1),
                "NEW",
                Value::Null,
                a.assessed_on,
                r.at,
            );
        }
    }
    d
}

/// The TU/TR link id of a target lesion.
fn lesion(id: u32) -> String {
    format!("T{id:02}")
}

/// TR: each target lesion's measurement at every scan, and the scan's sum of diameters.
fn tr(s: &Study, index: &mut Index) -> Dataset {
    let mut cols = ids(Some("TRSEQ"), "Sequence Number");
    cols.extend([
        c("TRLNKID", "Link ID", T::Text, O::Assigned)
            .comment("T<lesion id> (links to TU); missing on the SUMDIAM row."),
        c(
            "TRTESTCD",
            "Tumor/Lesion Assessment Short Name",
            T::Text,
            O::Assigned,
        )
        .comment(
            "LDIAM (longest diameter), SAXIS (a node's short axis), SUMDIAM (their sum at the \
             scan, RECIST 1.1).",
        ),
        c(
            "TRTEST",
            "Tumor/Lesion Assessment Test Name",
            T::Text,
            O::Assigned,
        ),
        c(
            "TRORRES",
            "Result or Finding in Original Units",
            T::Text,
            O::Collected,
        ),
        c("TRORRESU", "Original Units", T::Text, O::Assigned),
        c(
            "TRSTRESC",
            "Character Result/Finding in Std Format",
            T::Text,
            O::Derived,
        ),
        c(
            "TRSTRESN",
            "Numeric Result/Finding in Standard Units",
            T::Decimal,
            O::Derived,
        )
        .comment("Millimetres, exactly: the recorded diameter_mm10 / 10."),
        c("TRSTRESU", "Standard Units", T::Text, O::Assigned),
        c("TREVAL", "Evaluator", T::Text, O::Assigned),
        c(
            "TRDTC",
            "Date/Time of Tumor/Lesion Assessment",
            T::Date,
            O::Collected,
        ),
    ]);
    let mut d = Dataset::new(
        "TR",
        "Tumor/Lesion Results",
        Standard::Sdtm,
        "FINDINGS",
        "One record per tumor measurement per visit per subject per assessor",
        cols,
    );
    for sub in &s.subjects {
        let mut seq = 0;
        for (a, r) in scans(sub) {
            let mut row = |d: &mut Dataset, link: Value, code: &str, name: &str, mm10: u64| {
                seq += 1;
                let value = mm(mm10);
                let Value::Decimal(text) = &value else {
                    return seq;
                };
                let mut v = head(s, "TR", sub, seq);
                v.extend([
                    link,
                    txt(code),
                    txt(name),
                    txt(text),
                    txt("mm"),
                    txt(text),
                    value.clone(),
                    txt("mm"),
                    txt("INVESTIGATOR"),
                    date(a.assessed_on),
                ]);
                d.push(v, vec![r.at]);
                seq
            };
            for t in &a.targets {
                let (code, name) = if t.nodal {
                    ("SAXIS", "Short Axis")
                } else {
                    ("LDIAM", "Longest Diameter")
                };
                row(
                    &mut d,
                    txt(lesion(t.lesion_id)),
                    code,
                    name,
                    u64::from(t.diameter_mm10),
                );
            }
            if a.targets.is_empty() {
                continue;
            }
            let sum: u64 = a.targets.iter().map(|t| u64::from(t.diameter_mm10)).sum();
            let n = row(&mut d, Value::Null, "SUMDIAM", "Sum of Diameter", sum);
            index.tr_sum.insert(r.at, n);
            // A follow-up scan's primary row is its RS row (rs() overrides this); a baseline
            // scan has none, so its SUMDIAM row is.
            index.note(r.at, "TR", "TRDTC", n);
        }
    }
    d
}

/// RS: the investigator's overall response at each follow-up scan (RECIST 1.1).
fn rs(s: &Study, index: &mut Index) -> Dataset {
    let mut cols = ids(Some("RSSEQ"), "Sequence Number");
    cols.extend([
        c("RSTESTCD", "Assessment Short Name", T::Text, O::Assigned),
        c("RSTEST", "Assessment Name", T::Text, O::Assigned),
        c("RSCAT", "Category for Assessment", T::Text, O::Assigned),
        c(
            "RSORRES",
            "Result or Finding in Original Units",
            T::Text,
            O::Collected,
        ),
        c(
            "RSSTRESC",
            "Character Result/Finding in Std Format",
            T::Text,
            O::Derived,
        )
        .codelist("ONCRSR"),
        c("RSEVAL", "Evaluator", T::Text, O::Assigned).comment(
            "INVESTIGATOR: the response the investigator reported. The response computed from \
             the measurements is in ADRS; there is no blinded central review.",
        ),
        c("RSDTC", "Date/Time of Assessment", T::Date, O::Collected),
    ]);
    let mut d = Dataset::new(
        "RS",
        "Disease Response and Clin Classification",
        Standard::Sdtm,
        "FINDINGS",
        "One record per response assessment per visit per subject per assessor",
        cols,
    );
    for sub in &s.subjects {
        let mut seq = 0;
        for (a, r) in scans(sub).into_iter().filter(|(a, _)| !a.baseline) {
            seq += 1;
            index.by_record.insert(r.at, ("RS", "RSDTC", seq));
            let code = ct::response(tl_clinical::records::response(a.investigator_response)).0;
            let mut v = head(s, "RS", sub, seq);
            v.extend([
                txt("OVRLRESP"),
                txt("Overall Response"),
                txt("RECIST 1.1"),
                txt(code),
                txt(code),
                txt("INVESTIGATOR"),
                date(a.assessed_on),
            ]);
            d.push(v, vec![r.at]);
        }
    }
    d
}

/// SS: survival status: each survival follow-up (alive) and the death.
fn ss(s: &Study, index: &mut Index) -> Dataset {
    let mut cols = ids(Some("SSSEQ"), "Sequence Number");
    cols.extend([
        c("SSTESTCD", "Status Short Name", T::Text, O::Assigned),
        c("SSTEST", "Status Name", T::Text, O::Assigned),
        c(
            "SSORRES",
            "Result or Finding in Original Units",
            T::Text,
            O::Collected,
        ),
        c(
            "SSSTRESC",
            "Character Result/Finding in Std Format",
            T::Text,
            O::Derived,
        ),
        c("SSDTC", "Date/Time of Assessment", T::Date, O::Collected),
    ]);
    let mut d = Dataset::new(
        "SS",
        "Subject Status",
        Standard::Sdtm,
        "FINDINGS",
        "One record per status per visit per subject",
        cols,
    );
    for sub in &s.subjects {
        let mut seq = 0;
        for r in sub.records {
            let p = r.payload.as_slice();
            let (status, on) = match r.event_type {
                ct_::SURVIVAL_STATUS_RECORDED => match decode::<SurvivalStatusRecorded>(p) {
                    Ok(e) => ("ALIVE", e.last_known_alive),
                    Err(_) => continue,
                },
                ct_::DEATH_RECORDED => match decode::<DeathRecorded>(p) {
                    Ok(e) => ("DEAD", e.died_on),
                    Err(_) => continue,
                },
                _ => continue,
            };
            seq += 1;
            index.note(r.at, "SS", "SSDTC", seq);
            let mut v = head(s, "SS", sub, seq);
            v.extend([
                txt("SURVSTAT"),
                txt("Survival Status"),
                txt(status),
                txt(status),
                date(on),
            ]);
            d.push(v, vec![r.at]);
        }
    }
    d
}

/// GF: the genomic finding that matched the patient to the cohort, as the matcher's rule
/// (tl-domain) finds it in the latest sequencing result that satisfies it.
fn gf(s: &Study) -> Dataset {
    let mut cols = ids(Some("GFSEQ"), "Sequence Number");
    cols.extend([
        c(
            "GFTESTCD",
            "Short Name of Genomic Finding",
            T::Text,
            O::Assigned,
        )
        .comment(
            "Sponsor-defined, from the cohort's biomarker rule: SNVINDEL, AMPLIF, FUSION, MSI, \
             TMB.",
        ),
        c("GFTEST", "Name of Genomic Finding", T::Text, O::Assigned),
        c("GFGENSYM", "Genomic Symbol", T::Text, O::Protocol),
        c(
            "GFORRES",
            "Result or Finding in Original Units",
            T::Text,
            O::Derived,
        )
        .comment("The matcher's evidence text for the alteration that satisfied the rule."),
        c(
            "GFSTRESC",
            "Character Result/Finding in Std Format",
            T::Text,
            O::Derived,
        ),
        c("GFREFID", "Reference ID", T::Text, O::Collected).comment("The lab's sample id."),
        c("GFDTC", "Date/Time of Collection", T::Date, O::Collected)
            .comment("The date the sequencing result was reported."),
    ]);
    let mut d = Dataset::new(
        "GF",
        "Genomics Findings",
        Standard::Sdtm,
        "FINDINGS",
        "One record per finding per subject",
        cols,
    );
    for sub in &s.subjects {
        let tumour = sub
            .facts
            .registered
            .as_ref()
            .map(|((_, t, _), _)| t.as_str());
        let found = sub
            .of_type(ct_::SEQUENCING_RESULT_REPORTED)
            .filter_map(|r| {
                let e = decode::<SequencingResultReported>(&r.payload).ok()?;
                let m = tl_domain::matcher::evaluate(sub.cohort, tumour, &e).ok()?;
                Some((e, m, r.at))
            })
            .last();
        let Some((e, m, at)) = found else { continue };
        let (code, name, gene) = finding(&sub.cohort.biomarker);
        let mut sources = vec![at];
        sources.extend(sub.facts.decision.as_ref().map(|(_, r)| *r));
        let mut v = head(s, "GF", sub, 1);
        v.extend([
            txt(code),
            txt(name),
            gene.map_or(Value::Null, txt),
            txt(&m.evidence),
            txt("DETECTED"),
            txt(&e.sample_id),
            date(e.reported_on),
        ]);
        d.push(v, sources);
    }
    d
}

/// GFTESTCD, GFTEST and the gene of a biomarker rule.
fn finding(rule: &BiomarkerRule) -> (&'static str, &'static str, Option<&str>) {
    match rule {
        BiomarkerRule::Alteration { gene, .. } => {
            ("SNVINDEL", "Sequence Variant", Some(gene.as_str()))
        }
        BiomarkerRule::Amplification { gene, .. } => {
            ("AMPLIF", "Gene Amplification", Some(gene.as_str()))
        }
        BiomarkerRule::Fusion { gene, .. } => ("FUSION", "Gene Fusion", Some(gene.as_str())),
        BiomarkerRule::MsiHigh => ("MSI", "Microsatellite Instability", None),
        BiomarkerRule::TmbAtLeast { .. } => ("TMB", "Tumor Mutational Burden", None),
    }
}

/// `QNAM` of a row's n-th record: `LDGREC1` to `LDGREC99`, then `LDG00100` on (QNAM has at
/// most 8 characters).
fn qnam(n: usize) -> String {
    if n < 100 {
        format!("LDGREC{n}")
    } else {
        format!("LDG{n:05}")
    }
}

/// The SUPP-- dataset of a domain: one row per (parent row, ledger record), `QNAM`
/// `LDGREC<n>`, `QVAL` the record's `partition/seq/hash`.
fn supp(s: &Study, parent: &Dataset) -> Dataset {
    let cols = vec![
        c("STUDYID", "Study Identifier", T::Text, O::Assigned).key(1),
        c(
            "RDOMAIN",
            "Related Domain Abbreviation",
            T::Text,
            O::Assigned,
        )
        .key(2),
        c("USUBJID", "Unique Subject Identifier", T::Text, O::Assigned).key(3),
        c("IDVAR", "Identifying Variable", T::Text, O::Assigned).key(4),
        c(
            "IDVARVAL",
            "Identifying Variable Value",
            T::Text,
            O::Assigned,
        )
        .key(5),
        c("QNAM", "Qualifier Variable Name", T::Text, O::Assigned)
            .key(6)
            .comment("LDGREC1, LDGREC2, ...: the n-th ledger record the parent row comes from."),
        c("QLABEL", "Qualifier Variable Label", T::Text, O::Assigned),
        c("QVAL", "Data Value", T::Text, O::Assigned).comment(
            "A ledger record: partition/seq/record-hash (the hash in lower-case hex). The \
             record's signed content is in the dossier's evidence bundle.",
        ),
        c("QORIG", "Origin", T::Text, O::Assigned),
        c("QEVAL", "Evaluator", T::Text, O::Assigned),
    ];
    let name = format!("SUPP{}", parent.name);
    let label = format!("Supplemental Qualifiers for {}", parent.name);
    let mut d = Dataset::new(
        &name,
        &label,
        Standard::Sdtm,
        "RELATIONSHIP",
        "One record per IDVAR, IDVARVAL, and QNAM value per subject",
        cols,
    );
    let usubjid = parent.column_index("USUBJID");
    let seq = parent
        .columns
        .iter()
        .position(|c| c.name.ends_with("SEQ") && c.data_type == T::Integer);
    for row in &parent.rows {
        let subject = usubjid.map_or(Value::Null, |i| row.values[i].clone());
        let (idvar, idval) = match seq {
            Some(i) => match &row.values[i] {
                Value::Int(n) => (txt(parent.columns[i].name), txt(n.to_string())),
                _ => (Value::Null, Value::Null),
            },
            None => (Value::Null, Value::Null),
        };
        for (n, r) in row.sources.iter().enumerate() {
            d.push(
                vec![
                    txt(&s.studyid),
                    txt(&parent.name),
                    subject.clone(),
                    idvar.clone(),
                    idval.clone(),
                    txt(qnam(n + 1)),
                    txt(format!("Ledger Record {}", n + 1)),
                    txt(reference_text(r)),
                    txt("ASSIGNED"),
                    Value::Null,
                ],
                vec![*r],
            );
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_thousandths_when_written_then_exact_decimals_without_trailing_zeros() {
        assert_eq!(milli(200_000), "200");
        assert_eq!(milli(1_500), "1.5");
        assert_eq!(milli(2_405), "2.405");
        assert_eq!(milli(7), "0.007");
        assert_eq!(milli(0), "0");
    }

    #[test]
    fn given_many_records_when_named_then_qnam_stays_within_8_characters() {
        assert_eq!(qnam(1), "LDGREC1");
        assert_eq!(qnam(99), "LDGREC99");
        assert_eq!(qnam(100), "LDG00100");
        assert!((1..100_000).all(|n| qnam(n).len() <= 8));
    }
}
