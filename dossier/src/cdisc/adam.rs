//! The ADaM datasets (ADaMIG 1.3). Every value comes from tl-clinical's rules through the
//! patient's facts (tl-projections), never from a second implementation of them.

use super::ct;
use super::dataset::{
    date, int, mm, opt_date, reference_text, txt, yn, Column, DataType as T, Dataset, Origin as O,
    Standard, Value,
};
use super::sdtm::{baseline, milli, scans, Index};
use super::subject::{Study, Subject};
use tl_clinical::patient::Supported;
use tl_clinical::records as convert;
use tl_clinical::Observation;
use tl_schemas::clinical::{clinical_type as ct_, *};
use tl_schemas::{decode, Date, PartialDate, Reference};

/// The sponsor-defined `PARAMCD`s of each BDS dataset, with their `PARAM`.
pub(crate) const PARAMS: &[(&str, &[(&str, &str)])] = &[
    (
        "ADEX",
        &[
            ("DOSEMG", "Dose administered (mg)"),
            ("DOSEMGM2", "Dose administered (mg/m2)"),
            ("DOSEMGKG", "Dose administered (mg/kg)"),
            ("DOSEUG", "Dose administered (ug)"),
            ("DOSEIU", "Dose administered (IU)"),
            ("NDOSE", "Number of administrations"),
            (
                "TRTDURD",
                "Treatment duration, first to last dose inclusive (days)",
            ),
        ],
    ),
    (
        "ADRS",
        &[
            (
                "OVRLRESP",
                "Overall response from the measurements (RECIST 1.1)",
            ),
            ("BOR", "Best overall response, confirmed at >= 28 days"),
            ("OBJRESP", "Confirmed objective response (CR or PR)"),
            (
                "CLINBEN",
                "Clinical benefit (confirmed CR/PR, or SD >= 16 weeks)",
            ),
        ],
    ),
    (
        "ADTR",
        &[("SUMDIAM", "Sum of diameters of target lesions (mm)")],
    ),
    (
        "ADTTE",
        &[
            ("PFS", "Progression-free survival (days)"),
            ("OS", "Overall survival (days)"),
            ("DOR", "Duration of response (days)"),
        ],
    ),
];

fn param(dataset: &str, code: &str) -> &'static str {
    PARAMS
        .iter()
        .find(|(d, _)| *d == dataset)
        .and_then(|(_, ps)| ps.iter().find(|(c, _)| *c == code))
        .map_or("", |(_, p)| p)
}

fn c(name: &'static str, label: &'static str, t: T, o: O) -> Column {
    Column::new(name, label, t, o)
}

/// STUDYID, USUBJID, COHORT, TRT01A.
fn ids() -> Vec<Column> {
    vec![
        c("STUDYID", "Study Identifier", T::Text, O::Predecessor).key(1),
        c(
            "USUBJID",
            "Unique Subject Identifier",
            T::Text,
            O::Predecessor,
        )
        .key(2),
        c("COHORT", "Cohort Identifier", T::Text, O::Predecessor)
            .comment("Sponsor-defined: the cohort id (DM.ARMCD)."),
        c(
            "TRT01A",
            "Actual Treatment for Period 01",
            T::Text,
            O::Derived,
        )
        .comment("The cohort's drug, as the protocol's catalogue names it."),
    ]
}

/// SRCDOM, SRCVAR, SRCSEQ, LDGREF: the row's source.
fn provenance() -> Vec<Column> {
    vec![
        c("SRCDOM", "Source Data", T::Text, O::Assigned),
        c("SRCVAR", "Source Variable", T::Text, O::Assigned),
        c("SRCSEQ", "Source Sequence Number", T::Integer, O::Assigned),
        c(
            "LDGREF",
            "Ledger Record of the Source",
            T::Text,
            O::Assigned,
        )
        .comment(
            "Sponsor-defined: the ledger record the source row (SRCDOM, SRCSEQ) comes from, \
             as partition/seq/record-hash (lower-case hex). The record's signed content is in \
             the dossier's evidence bundle; the row's other records are named by the SDTM \
             rows it derives from.",
        ),
    ]
}

fn head(s: &Study, sub: &Subject) -> Vec<Value> {
    vec![
        txt(&s.studyid),
        txt(&sub.usubjid),
        txt(sub.cohort.cohort_id.as_str()),
        txt(&sub.cohort.drug),
    ]
}

/// The provenance values of a row whose primary record is `r`: its SDTM row, if any, else
/// `fallback` (domain, variable) without a sequence number.
fn src(index: &Index, r: Reference, fallback: (&str, &str)) -> [Value; 4] {
    let (dom, var, seq) = match index.by_record.get(&r) {
        Some((d, v, q)) => (*d, *v, int(*q)),
        None => (fallback.0, fallback.1, Value::Null),
    };
    [txt(dom), txt(var), seq, txt(reference_text(&r))]
}

/// Builds every ADaM dataset into `out`.
pub(crate) fn build(s: &Study, index: &Index, out: &mut Vec<Dataset>) {
    out.push(adsl(s, index));
    out.push(adae(s, index));
    out.push(adex(s, index));
    out.push(adrs(s, index));
    out.push(adtr(s, index));
    out.push(adtte(s, index));
}

fn flag(name: &'static str, label: &'static str, comment: &'static str) -> Column {
    c(name, label, T::Text, O::Derived)
        .codelist("NY")
        .comment(comment)
}

/// ADSL: one row per patient of the scope.
fn adsl(s: &Study, index: &Index) -> Dataset {
    let mut cols = ids();
    cols.extend([
        c(
            "SUBJID",
            "Subject Identifier for the Study",
            T::Text,
            O::Predecessor,
        ),
        c("SITEID", "Study Site Identifier", T::Text, O::Predecessor),
        c("AGE", "Age", T::Integer, O::Predecessor).comment("Not recorded: missing."),
        c("SEX", "Sex", T::Text, O::Predecessor)
            .codelist("SEX")
            .comment("Not recorded by the ledger: U for every subject."),
        c("ARM", "Description of Planned Arm", T::Text, O::Predecessor),
        c(
            "ACTARM",
            "Description of Actual Arm",
            T::Text,
            O::Predecessor,
        ),
        c(
            "TRT01P",
            "Planned Treatment for Period 01",
            T::Text,
            O::Derived,
        ),
        c("TUMTYPE", "Tumour Type (OncoTree)", T::Text, O::Collected)
            .comment("Sponsor-defined: the OncoTree code recorded at registration."),
        c(
            "TRTSDT",
            "Date of First Exposure to Treatment",
            T::Date,
            O::Derived,
        ),
        c(
            "TRTEDT",
            "Date of Last Exposure to Treatment",
            T::Date,
            O::Derived,
        ),
        flag(
            "ENRLFL",
            "Enrolled Population Flag",
            "Y: PatientEnrolled recorded.",
        ),
        flag(
            "SAFFL",
            "Safety Population Flag",
            "Y: at least one dose (treated).",
        ),
        flag(
            "EVALFL",
            "Response-Evaluable Population Flag",
            "Sponsor-defined: treated, with a best overall response other than NE.",
        ),
        flag(
            "CBFL",
            "Clinical Benefit Flag",
            "Sponsor-defined: confirmed CR/PR, or SD at or after the protocol's 16-week \
             landmark (tl-clinical).",
        ),
        flag(
            "DTHFL",
            "Subject Death Flag",
            "Y: DeathRecorded on or before the cut-off.",
        ),
        c("DTHDT", "Date of Death", T::Date, O::Derived),
    ]);
    cols.extend(provenance());
    let mut d = Dataset::new(
        "ADSL",
        "Subject-Level Analysis Dataset",
        Standard::Adam,
        "SUBJECT LEVEL ANALYSIS DATASET",
        "One record per subject",
        cols,
    );
    for sub in &s.subjects {
        let f = &sub.facts;
        let Some(primary) = sub.cohort_ref() else {
            continue;
        };
        let o = f.outcome.as_ref();
        let first = f.doses.iter().map(|x| x.administered_on).min();
        let last = f.doses.iter().map(|x| x.administered_on).max();
        let arm = tl_domain::matcher::rule_text(sub.cohort);
        let registered = f.registered.as_ref();
        let mut v = head(s, sub);
        v.extend([
            txt(sub.name.as_str()),
            registered.map_or(Value::Null, |((_, _, site), _)| txt(site)),
            Value::Null,
            txt("U"),
            txt(&arm),
            txt(if o.is_some() {
                arm.as_str()
            } else {
                "Not Treated"
            }),
            txt(&sub.cohort.drug),
            registered.map_or(Value::Null, |((_, t, _), _)| txt(t)),
            opt_date(first),
            opt_date(last),
            yn(f.enrolled.is_some()),
            yn(o.is_some()),
            yn(o.is_some_and(|o| o.evaluable)),
            yn(o.is_some_and(|o| o.benefit.value)),
            yn(f.death.is_some()),
            opt_date(f.death.as_ref().map(|((d, _, _), _)| *d)),
        ]);
        v.extend(src(index, primary, ("DM", "ARMCD")));
        let mut sources = vec![primary];
        sources.extend(registered.map(|(_, r)| *r));
        sources.extend(o.map(|o| o.best.refs.iter().copied()).into_iter().flatten());
        sources.extend(
            o.map(|o| o.benefit.refs.iter().copied())
                .into_iter()
                .flatten(),
        );
        sources.extend(f.death.as_ref().map(|(_, r)| *r));
        d.push(v, dedup(sources));
    }
    d
}

/// The references in first-seen order, each once.
fn dedup(v: Vec<Reference>) -> Vec<Reference> {
    let mut out: Vec<Reference> = Vec::with_capacity(v.len());
    for r in v {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// The last day a partial date can mean.
fn latest(d: &PartialDate) -> Option<Date> {
    match *d {
        PartialDate::Year(y) => Date::from_ymd(i32::from(y), 12, 31),
        PartialDate::YearMonth(y, 12) => Date::from_ymd(i32::from(y), 12, 31),
        PartialDate::YearMonth(y, m) => {
            Date::from_ymd(i32::from(y), m + 1, 1).map(|d| Date(d.0 - 1))
        }
        PartialDate::Full(d) => Some(d),
    }
}

/// ADAE: one row per adverse event of the scope's patients.
fn adae(s: &Study, index: &Index) -> Dataset {
    let mut cols = ids();
    cols.extend([
        c("AESEQ", "Sequence Number", T::Integer, O::Predecessor).key(3),
        c(
            "AETERM",
            "Reported Term for the Adverse Event",
            T::Text,
            O::Predecessor,
        ),
        c(
            "AEDECOD",
            "Dictionary-Derived Term",
            T::Text,
            O::Predecessor,
        ),
        c(
            "AETOXGR",
            "Standard Toxicity Grade",
            T::Text,
            O::Predecessor,
        )
        .codelist("AETOXGR"),
        c(
            "ATOXGRN",
            "Analysis Toxicity Grade (N)",
            T::Integer,
            O::Derived,
        ),
        c("AESER", "Serious Event", T::Text, O::Predecessor).codelist("NY"),
        c("AEREL", "Causality", T::Text, O::Predecessor).codelist("AEREL"),
        flag(
            "ARELFL",
            "Suspected Related Flag",
            "Sponsor-defined: Y when the attribution is possible, probable or definite \
             (tl-clinical's suspected).",
        ),
        c("AEOUT", "Outcome of Adverse Event", T::Text, O::Predecessor).codelist("OUT"),
        c("ASTDT", "Analysis Start Date", T::Date, O::Derived).comment(
            "AESTDTC when it is a full date; missing for a partial onset (no imputation).",
        ),
        c("AENDT", "Analysis End Date", T::Date, O::Derived),
        flag(
            "TRTEMFL",
            "Treatment Emergent Analysis Flag",
            "Y when the onset can be on or after the first dose (a partial onset's last \
             possible day is compared).",
        ),
        flag(
            "AESEVRFL",
            "Grade >= 3 Treatment-Related Flag",
            "Sponsor-defined: worst grade 3 or more and suspected (tl-clinical).",
        ),
    ]);
    cols.extend(provenance());
    let mut d = Dataset::new(
        "ADAE",
        "Adverse Events Analysis Dataset",
        Standard::Adam,
        "OCCURRENCE DATA STRUCTURE",
        "One record per adverse event per subject",
        cols,
    );
    for sub in &s.subjects {
        let first_dose = sub.first_dose();
        for (id, a) in &sub.facts.adverse_events {
            let Some(seq) = index.ae.get(&(sub.usubjid.clone(), *id)) else {
                continue;
            };
            let Some(primary) = a.refs.first() else {
                continue;
            };
            let suspected = convert::attribution(a.attribution).is_suspected();
            let onset = match a.onset {
                PartialDate::Full(d) => Some(d),
                _ => None,
            };
            let emergent = first_dose
                .zip(latest(&a.onset))
                .is_some_and(|(f, l)| l >= f);
            let mut v = head(s, sub);
            v.extend([
                int(*seq),
                txt(&a.term),
                txt(&a.term),
                txt(a.worst_grade.to_string()),
                int(a.worst_grade),
                yn(!a.serious.is_empty()),
                txt(ct::relation(a.attribution)),
                yn(suspected),
                txt(ct::outcome(a.outcome)),
                opt_date(onset),
                opt_date(a.resolved_on),
                yn(emergent),
                yn(a.grade3_related),
            ]);
            v.extend(src(index, *primary, ("AE", "AETERM")));
            d.push(v, a.refs.clone());
        }
    }
    d
}

/// ADEX: each dose, and per patient the number of doses and the treatment duration.
fn adex(s: &Study, index: &Index) -> Dataset {
    let mut cols = ids();
    cols.extend(bds_param("ADEX"));
    cols.extend([
        c("AVAL", "Analysis Value", T::Decimal, O::Derived),
        c("ASTDT", "Analysis Start Date", T::Date, O::Derived),
    ]);
    cols.extend(provenance());
    let mut d = Dataset::new(
        "ADEX",
        "Exposure Analysis Dataset",
        Standard::Adam,
        "BASIC DATA STRUCTURE",
        "One record per subject per parameter per administration",
        cols,
    );
    for sub in &s.subjects {
        let doses: Vec<(DoseAdministered, Reference)> = sub
            .of_type(ct_::DOSE_ADMINISTERED)
            .filter_map(|r| {
                decode::<DoseAdministered>(&r.payload)
                    .ok()
                    .map(|e| (e, r.at))
            })
            .collect();
        for (e, at) in &doses {
            let code = format!("DOSE{}", ct::unit(e.unit).1);
            let mut v = head(s, sub);
            v.extend([
                txt(&code),
                txt(param("ADEX", &code)),
                Value::Decimal(milli(e.dose_milli)),
                date(e.administered_on),
            ]);
            v.extend(src(index, *at, ("EX", "EXDOSE")));
            d.push(v, vec![*at]);
        }
        let first = doses.iter().min_by_key(|(e, _)| e.administered_on);
        let last = doses.iter().max_by_key(|(e, _)| e.administered_on);
        let (Some((f, _)), Some((l, last_at))) = (first, last) else {
            continue;
        };
        let all: Vec<Reference> = doses.iter().map(|(_, r)| *r).collect();
        let duration = f.administered_on.days_until(l.administered_on) + 1;
        for (code, value) in [
            ("NDOSE", doses.len() as i64),
            ("TRTDURD", i64::from(duration)),
        ] {
            let mut v = head(s, sub);
            v.extend([
                txt(code),
                txt(param("ADEX", code)),
                Value::Decimal(value.to_string()),
                date(f.administered_on),
            ]);
            v.extend(src(index, *last_at, ("EX", "EXSTDTC")));
            let mut sources = vec![*last_at];
            sources.extend(all.iter().copied());
            d.push(v, dedup(sources));
        }
    }
    d
}

/// PARAMCD and PARAM of a BDS dataset.
fn bds_param(dataset: &'static str) -> [Column; 2] {
    let cl: &'static str = match dataset {
        "ADEX" => "ADEX.PARAMCD",
        "ADRS" => "ADRS.PARAMCD",
        "ADTR" => "ADTR.PARAMCD",
        _ => "ADTTE.PARAMCD",
    };
    [
        c("PARAMCD", "Parameter Code", T::Text, O::Assigned)
            .key(3)
            .codelist(cl)
            .comment("Sponsor-defined parameter codes; see the codelist."),
        c("PARAM", "Parameter", T::Text, O::Assigned),
    ]
}

/// The date of a patient's scan record.
fn scan_date(sub: &Subject, r: &Reference) -> Option<Date> {
    let rec = sub.record(r)?;
    (rec.event_type == ct_::RESPONSE_ASSESSED)
        .then(|| {
            decode::<ResponseAssessed>(&rec.payload)
                .ok()
                .map(|a| a.assessed_on)
        })
        .flatten()
}

/// ADRS: the response computed from the measurements at each follow-up scan, and per treated
/// patient the confirmed best overall response, objective response and clinical benefit.
fn adrs(s: &Study, index: &Index) -> Dataset {
    let mut cols = ids();
    cols.extend(bds_param("ADRS"));
    cols.extend([
        c("AVALC", "Analysis Value (C)", T::Text, O::Derived).comment(
            "A response (ONCRSR: CR, PR, SD, PD, NE) for OVRLRESP and BOR; Y or N for OBJRESP \
             and CLINBEN.",
        ),
        c("AVAL", "Analysis Value", T::Integer, O::Derived)
            .comment("Responses ranked 1 CR, 2 PR, 3 SD, 4 PD, 5 NE; flags 1 Y, 0 N."),
        c("ADT", "Analysis Date", T::Date, O::Derived).comment(
            "The scan's date; for BOR, OBJRESP and CLINBEN the first scan of the evidence.",
        ),
        c("RSEVAL", "Evaluator", T::Text, O::Assigned).comment(
            "COMPUTED: RECIST 1.1 applied by tl-clinical to the recorded measurements (the \
             investigator's own response is SDTM RS).",
        ),
    ]);
    cols.extend(provenance());
    let mut d = Dataset::new(
        "ADRS",
        "Response Analysis Dataset",
        Standard::Adam,
        "BASIC DATA STRUCTURE",
        "One record per subject per parameter per analysis date",
        cols,
    );
    for sub in &s.subjects {
        overall_rows(s, index, sub, &mut d);
        let Some(o) = &sub.facts.outcome else {
            continue;
        };
        let (code, rank) = ct::response(o.best.value);
        let yes = |b: bool| (txt(if b { "Y" } else { "N" }), int(i64::from(b)));
        let rows = [
            ("BOR", (txt(code), int(rank)), &o.best.refs),
            ("OBJRESP", yes(o.objective), &o.best.refs),
            ("CLINBEN", yes(o.benefit.value), &o.benefit.refs),
        ];
        let base_at = baseline(sub).map(|(_, b)| b.at);
        for (p, (avalc, aval), refs) in rows {
            let refs = if refs.is_empty() { &o.best.refs } else { refs };
            let Some(primary) = refs.last().copied() else {
                continue;
            };
            let first_scan = refs
                .iter()
                .filter(|r| Some(**r) != base_at)
                .find_map(|r| scan_date(sub, r));
            let mut v = head(s, sub);
            v.extend([
                txt(p),
                txt(param("ADRS", p)),
                avalc,
                aval,
                opt_date(first_scan),
            ]);
            v.push(txt("COMPUTED"));
            v.extend(src(index, primary, ("EX", "EXSTDTC")));
            d.push(v, refs.clone());
        }
    }
    d
}

/// ADRS OVRLRESP rows: RECIST 1.1 at each follow-up scan in date order (tl-clinical).
fn overall_rows(s: &Study, index: &Index, sub: &Subject, d: &mut Dataset) {
    let Some((b, brec)) = baseline(sub) else {
        return;
    };
    let mut follow_ups: Vec<_> = scans(sub)
        .into_iter()
        .filter(|(a, _)| !a.baseline)
        .collect();
    follow_ups.sort_by_key(|(a, _)| a.assessed_on);
    let targets: Vec<_> = b.targets.iter().map(convert::target).collect();
    let assessed: Vec<_> = follow_ups
        .iter()
        .map(|(a, _)| convert::assessment(a))
        .collect();
    let responses =
        tl_clinical::overall_responses(tl_clinical::target_sum_mm10(&targets), &assessed);
    for (resp, (a, r)) in responses.into_iter().zip(&follow_ups) {
        let (code, rank) = ct::response(resp);
        let mut v = head(s, sub);
        v.extend([
            txt("OVRLRESP"),
            txt(param("ADRS", "OVRLRESP")),
            txt(code),
            int(rank),
            date(a.assessed_on),
            txt("COMPUTED"),
        ]);
        let p = match index.tr_sum.get(&r.at) {
            Some(seq) => [
                txt("TR"),
                txt("TRSTRESN"),
                int(*seq),
                txt(reference_text(&r.at)),
            ],
            None => src(index, r.at, ("RS", "RSDTC")),
        };
        v.extend(p);
        d.push(v, vec![r.at, brec.at]);
    }
}

/// A signed change in tenths of a millimetre as exact millimetres.
fn signed_mm(delta: i64) -> Value {
    let sign = if delta < 0 { "-" } else { "" };
    let Value::Decimal(m) = mm(delta.unsigned_abs()) else {
        return Value::Null;
    };
    Value::Decimal(format!("{sign}{m}"))
}

/// Percent change, rounded half away from zero to one decimal.
fn pchg(value: u64, base: u64) -> Value {
    if base == 0 {
        return Value::Null;
    }
    let num = 1000 * (i128::from(value) - i128::from(base));
    let b = i128::from(base);
    let tenths = if num >= 0 {
        (2 * num + b) / (2 * b)
    } else {
        -((-2 * num + b) / (2 * b))
    };
    let sign = if tenths < 0 { "-" } else { "" };
    let t = tenths.unsigned_abs();
    Value::Decimal(format!("{sign}{}.{}", t / 10, t % 10))
}

/// ADTR: the sum of target-lesion diameters at every scan, with change from baseline (the
/// waterfall and spider plots' data).
fn adtr(s: &Study, index: &Index) -> Dataset {
    let mut cols = ids();
    cols.extend(bds_param("ADTR"));
    cols.extend([
        c("AVAL", "Analysis Value", T::Decimal, O::Derived),
        c("BASE", "Baseline Value", T::Decimal, O::Derived),
        c("CHG", "Change from Baseline", T::Decimal, O::Derived),
        c(
            "PCHG",
            "Percent Change from Baseline",
            T::Decimal,
            O::Derived,
        )
        .comment("100 x CHG / BASE, rounded half away from zero to 0.1."),
        c("ABLFL", "Baseline Record Flag", T::Text, O::Derived).codelist("NY"),
        c("ADT", "Analysis Date", T::Date, O::Derived),
    ]);
    cols.extend(provenance());
    let mut d = Dataset::new(
        "ADTR",
        "Tumor Results Analysis Dataset",
        Standard::Adam,
        "BASIC DATA STRUCTURE",
        "One record per subject per parameter per analysis date",
        cols,
    );
    for sub in &s.subjects {
        let Some((b, brec)) = baseline(sub) else {
            continue;
        };
        let base: u64 = b.targets.iter().map(|t| u64::from(t.diameter_mm10)).sum();
        let mut all = scans(sub);
        all.sort_by_key(|(a, r)| (r.at != brec.at, a.assessed_on));
        for (a, r) in all {
            let is_base = r.at == brec.at;
            if a.targets.is_empty() || (a.baseline && !is_base) {
                continue;
            }
            let sum: u64 = a.targets.iter().map(|t| u64::from(t.diameter_mm10)).sum();
            let mut v = head(s, sub);
            v.extend([
                txt("SUMDIAM"),
                txt(param("ADTR", "SUMDIAM")),
                mm(sum),
                mm(base),
                signed_mm(sum as i64 - base as i64),
                pchg(sum, base),
                if is_base { txt("Y") } else { Value::Null },
                date(a.assessed_on),
            ]);
            let p = match index.tr_sum.get(&r.at) {
                Some(seq) => [
                    txt("TR"),
                    txt("TRSTRESN"),
                    int(*seq),
                    txt(reference_text(&r.at)),
                ],
                None => src(index, r.at, ("TR", "TRSTRESN")),
            };
            v.extend(p);
            d.push(v, dedup(vec![r.at, brec.at]));
        }
    }
    d
}

/// ADTTE: PFS (the protocol's primary convention), OS and DoR from the first dose (DoR: from
/// the response's onset).
fn adtte(s: &Study, index: &Index) -> Dataset {
    let mut cols = ids();
    cols.extend(bds_param("ADTTE"));
    cols.extend([
        c("AVAL", "Analysis Value", T::Integer, O::Derived).comment(
            "Days from STARTDT to ADT (ADT - STARTDT, as the dossier's Kaplan-Meier figures \
             count them; add 1 for an inclusive count).",
        ),
        c(
            "STARTDT",
            "Time-to-Event Origin Date for Subject",
            T::Date,
            O::Derived,
        )
        .comment("PFS and OS: the first dose. DOR: the first scan of the confirmed response."),
        c("ADT", "Analysis Date", T::Date, O::Derived)
            .comment("The date of the event, or of the censoring."),
        c("CNSR", "Censor", T::Integer, O::Derived).comment(
            "0 event; 1 censored at a record (last adequate assessment, or last known alive); \
             2 censored at the first dose (nothing after it). The opposite of lifelines' event \
             flag.",
        ),
        c(
            "EVNTDESC",
            "Event or Censoring Description",
            T::Text,
            O::Derived,
        ),
        c("CNSDTDSC", "Censor Date Description", T::Text, O::Derived),
    ]);
    cols.extend(provenance());
    let mut d = Dataset::new(
        "ADTTE",
        "Time-to-Event Analysis Dataset",
        Standard::Adam,
        "BASIC DATA STRUCTURE",
        "One record per subject per parameter",
        cols,
    );
    for sub in &s.subjects {
        let Some(o) = &sub.facts.outcome else {
            continue;
        };
        let dor_start = o
            .duration_of_response
            .as_ref()
            .and_then(|x| x.refs.first())
            .and_then(|r| scan_date(sub, r));
        let rows = [
            ("PFS", Some((&o.pfs, o.first_dose))),
            ("OS", Some((&o.os, o.first_dose))),
            ("DOR", o.duration_of_response.as_ref().zip(dor_start)),
        ];
        for (p, x) in rows {
            let Some((obs, start)) = x else { continue };
            tte_row(s, index, sub, &mut d, p, obs, start);
        }
    }
    d
}

/// One ADTTE row.
fn tte_row(
    s: &Study,
    index: &Index,
    sub: &Subject,
    d: &mut Dataset,
    p: &str,
    obs: &Supported<Observation, Reference>,
    start: Date,
) {
    let Some(origin) = obs.refs.first().copied() else {
        return;
    };
    let end = obs.refs.get(1).copied();
    let kind = end.and_then(|r| sub.record(&r)).map(|r| r.event_type);
    let (cnsr, evnt, cnsd) = describe(p, obs.value.event, kind);
    let mut v = head(s, sub);
    v.extend([
        txt(p),
        txt(param("ADTTE", p)),
        int(obs.value.time_days),
        date(start),
        date(Date(start.0 + obs.value.time_days as i32)),
        int(cnsr),
        txt(evnt),
        cnsd.map_or(Value::Null, txt),
    ]);
    v.extend(src(index, end.unwrap_or(origin), ("EX", "EXSTDTC")));
    d.push(v, obs.refs.clone());
}

/// CNSR, EVNTDESC and CNSDTDSC of an observation ending at a record of type `kind`.
fn describe(p: &str, event: bool, kind: Option<u16>) -> (i64, String, Option<&'static str>) {
    if event {
        let what = match kind {
            Some(ct_::RESPONSE_ASSESSED) => "PROGRESSIVE DISEASE (RECIST 1.1)",
            Some(ct_::TREATMENT_ENDED) => "CLINICAL PROGRESSION (END OF TREATMENT)",
            _ => "DEATH",
        };
        return (0, what.to_string(), None);
    }
    let (cnsr, at): (i64, &'static str) = match (p, kind) {
        (_, None) => (2, "FIRST DOSE"),
        ("OS", Some(ct_::SURVIVAL_STATUS_RECORDED)) => (1, "LAST KNOWN ALIVE (SURVIVAL FOLLOW-UP)"),
        ("OS", Some(ct_::DOSE_ADMINISTERED)) => (1, "LAST KNOWN ALIVE (DOSE)"),
        ("OS", Some(ct_::RESPONSE_ASSESSED)) => (1, "LAST KNOWN ALIVE (TUMOUR ASSESSMENT)"),
        ("OS", Some(_)) => (1, "LAST KNOWN ALIVE (END OF TREATMENT)"),
        (_, Some(_)) => (1, "LAST ADEQUATE TUMOUR ASSESSMENT"),
    };
    (cnsr, format!("CENSORED AT {at}"), Some(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(v: Value) -> String {
        match v {
            Value::Decimal(s) => s,
            other => panic!("not a decimal: {other:?}"),
        }
    }

    #[test]
    fn given_sums_when_percent_change_is_taken_then_it_rounds_half_away_from_zero() {
        // 35.1 mm -> 56.1 mm: +59.829... % -> 59.8
        assert_eq!(dec(pchg(561, 351)), "59.8");
        // 40 mm -> 28 mm: exactly -30 %
        assert_eq!(dec(pchg(280, 400)), "-30.0");
        // 0.05 % steps: 2000 -> 2001 is +0.05 %, rounds away from zero to 0.1; and back
        assert_eq!(dec(pchg(2001, 2000)), "0.1");
        assert_eq!(dec(pchg(1999, 2000)), "-0.1");
        assert_eq!(dec(pchg(0, 351)), "-100.0");
        assert_eq!(pchg(10, 0), Value::Null);
    }

    #[test]
    fn given_changes_when_written_then_signed_exact_millimetres() {
        assert_eq!(dec(signed_mm(-153)), "-15.3");
        assert_eq!(dec(signed_mm(210)), "21.0");
        assert_eq!(dec(signed_mm(0)), "0.0");
    }

    #[test]
    fn given_partial_dates_when_their_last_day_is_taken_then_month_ends_and_leap_years_hold() {
        let d = |y, m, d| Date::from_ymd(y, m, d);
        assert_eq!(latest(&PartialDate::Year(2023)), d(2023, 12, 31));
        assert_eq!(latest(&PartialDate::YearMonth(2024, 2)), d(2024, 2, 29));
        assert_eq!(latest(&PartialDate::YearMonth(2023, 12)), d(2023, 12, 31));
        let full = d(2023, 5, 6).unwrap();
        assert_eq!(latest(&PartialDate::Full(full)), Some(full));
    }
}
