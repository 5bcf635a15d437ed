//! `index.html`: the self-contained report. Every plot is inline SVG; there is no script,
//! stylesheet, font or image from outside the file, so it reads offline and prints as is. The
//! numbers are the ones in `dossier.json`, formatted here; `verify-dossier` regenerates the
//! file and compares it byte for byte.

use crate::figures::{Group, PatientRow};
use crate::km::{KmSummary, DAYS_PER_MONTH};
use crate::plots;
use crate::Dossier;
use std::fmt::Write;
use tl_clinical::ProportionInterval;

const STYLE: &str = "body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em;color:#111}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:2px 6px;text-align:right;font-size:90%}th{background:#eee}td:first-child,th:first-child{text-align:left}h2{border-bottom:2px solid #0072B2;margin-top:2em}.note{font-size:90%;color:#333}svg{display:block;margin:.5em 0;max-width:100%;height:auto}@media print{h2{page-break-before:always}svg{page-break-inside:avoid}}";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct_ci(r: &Option<ProportionInterval>) -> String {
    match r {
        Some(r) => format!(
            "{}/{} = {:.1} % (95 % CI {:.1}-{:.1})",
            r.successes,
            r.trials,
            100.0 * r.estimate,
            100.0 * r.lower,
            100.0 * r.upper
        ),
        None => "not estimable (no patients)".into(),
    }
}

fn months(d: Option<u32>) -> String {
    d.map_or("NR".into(), |d| {
        format!("{:.1}", f64::from(d) / DAYS_PER_MONTH)
    })
}

fn km_row(name: &str, k: &KmSummary) -> String {
    let mut landmarks = String::new();
    for l in &k.landmarks {
        match l {
            Some(l) => {
                let _ = write!(
                    landmarks,
                    "<td>{:.1} % ({:.1}-{:.1})</td>",
                    100.0 * l.survival,
                    100.0 * l.lower,
                    100.0 * l.upper
                );
            }
            None => landmarks.push_str("<td>not reached by follow-up</td>"),
        }
    }
    format!(
        "<tr><td>{name}</td><td>{}/{}</td><td>{}</td><td>{}-{}</td>{landmarks}</tr>",
        k.events,
        k.n,
        months(k.median_days),
        months(k.median_ci_lower_days),
        months(k.median_ci_upper_days)
    )
}

fn group_section(out: &mut String, g: &Group, rows: &[&PatientRow]) {
    let _ = write!(out, "<h2 id=\"{}\">{}</h2>", esc(&g.id), esc(&g.label));
    let _ = write!(
        out,
        "<h3>Response</h3><table><tr><th>measure</th><th>among the evaluable ({})</th><th>among all treated ({})</th></tr><tr><td>clinical benefit</td><td>{}</td><td>{}</td></tr><tr><td>objective response</td><td>{}</td><td>{}</td></tr></table>",
        g.evaluable,
        g.treated,
        pct_ci(&g.cbr_evaluable),
        pct_ci(&g.cbr_treated),
        pct_ci(&g.orr_evaluable),
        pct_ci(&g.orr_treated)
    );
    let b = g.bor;
    let _ = write!(
        out,
        "<table><tr><th>best overall response</th><th>CR</th><th>PR</th><th>SD</th><th>PD</th><th>NE</th></tr><tr><td>patients</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        b.cr, b.pr, b.sd, b.pd, b.ne
    );
    if let Some(d) = &g.design {
        let _ = write!(
            out,
            "<h3>Design and stage decisions</h3><p>Two-stage design: {} patients, expand at {} benefit(s); {} patients, positive at {} benefits; cap {}. Status: {}.</p><table><tr><th>#</th><th>status</th><th>enrolled</th><th>evaluable</th><th>benefits</th><th>not evaluable</th><th>record</th></tr>",
            d.stage1_size, d.stage1_threshold, d.stage2_size, d.stage2_threshold, d.expansion_cap, d.status
        );
        for (i, s) in d.decisions.iter().enumerate() {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                i + 1,
                s.status,
                s.enrolled,
                s.evaluable,
                s.benefits,
                s.not_evaluable,
                &s.record[..s.record.len().min(32)]
            );
        }
        out.push_str("</table>");
    }
    if let Some(e) = &g.esmo_mcbs {
        let _ = write!(
            out,
            "<h3>ESMO-MCBS v1.1 form 3</h3><p>Preliminary grade <b>{}</b>{}. ORR {}; DoR {} ({}); median PFS {}; grade &gt;= 3 treatment-related AEs {}.</p><p class=\"note\">{}</p><p class=\"note\">PASKWIL (NVMO): its criteria for single-arm studies are not stated here, as no public source states them precisely enough to apply.</p>",
            e.grade.map_or("none".into(), |g| g.to_string()),
            if e.criteria_met.is_empty() { String::new() } else { format!(" ({})", esc(&e.criteria_met.join("; "))) },
            e.orr_percent.map_or("n/a".into(), |o| format!("{o:.1} %")),
            e.dor_months.map_or("n/a".into(), |d| format!("{d:.1} months")),
            e.dor_basis,
            e.pfs_months.map_or("NR".into(), |p| format!("{p:.1} months")),
            e.grade3plus_related_percent.map_or("n/a".into(), |p| format!("{p:.1} %")),
            esc(e.source)
        );
    }
    let _ = write!(
        out,
        "<h3>Durability</h3><p>Responders with DoR of at least 6 months: {}/{}; at least 12 months: {}/{}.</p>",
        g.dor_at_least_6_months.count,
        g.dor_at_least_6_months.of,
        g.dor_at_least_12_months.count,
        g.dor_at_least_12_months.of
    );
    out.push_str(&plots::kaplan_meier(
        &format!("Duration of response: {}", g.label),
        &g.dor,
    ));
    out.push_str(&plots::swimmer(&format!("Swimmer: {}", g.label), rows));
    let _ = write!(
        out,
        "<h3>Time to event (descriptive, no comparator)</h3><table><tr><th>endpoint</th><th>events/N</th><th>median, months</th><th>95 % CI</th><th>6 months</th><th>12 months</th><th>24 months</th></tr>{}{}{}</table><p>Median follow-up (reverse Kaplan-Meier): {} months.</p>",
        km_row("DoR", &g.dor),
        km_row("PFS", &g.pfs),
        km_row("OS", &g.os),
        months(g.median_follow_up_days)
    );
    out.push_str(&plots::kaplan_meier(&format!("PFS: {}", g.label), &g.pfs));
    out.push_str(&plots::kaplan_meier(&format!("OS: {}", g.label), &g.os));
    out.push_str(&plots::waterfall(&format!("Waterfall: {}", g.label), rows));
    out.push_str(&plots::spider(&format!("Spider: {}", g.label), rows));
    let s = g.safety;
    let e = g.exposure;
    let _ = write!(
        out,
        "<h3>Safety and exposure</h3><table><tr><th>adverse events</th><th>patients with any</th><th>grade &gt;= 3</th><th>serious</th><th>patients with grade &gt;= 3 treatment-related</th><th>deaths</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table><p>Exposure: {} doses; median {} days from the first to the last dose (longest {}); {} ended treatment, {} on treatment at the cut-off.</p><p>Investigator/RECIST disagreements: {} scans. Exceptional responders: {}.</p>",
        s.events,
        s.patients_any,
        s.grade3plus_events,
        s.serious_events,
        s.patients_grade3plus_related,
        s.deaths,
        e.doses,
        e.median_treatment_days.map_or("n/a".into(), |d| d.to_string()),
        e.max_treatment_days.map_or("n/a".into(), |d| d.to_string()),
        e.ended,
        e.ongoing,
        g.disagreements,
        if g.exceptional_responders.is_empty() { "none".into() } else { esc(&g.exceptional_responders.join(", ")) }
    );
}

/// The report of a dossier.
pub fn render(d: &Dossier) -> String {
    let f = &d.figures;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Dossier: trial {}</title><style>{STYLE}</style></head><body><h1>Reimbursement dossier: trial {}</h1><p>Clinical data cut-off {}; evidence cut: the latest signed checkpoint of each of {} partitions (registry position {}). Cohorts: {}.</p><h2>Conventions</h2><ul>",
        esc(&d.trial),
        esc(&d.trial),
        f.clinical_cutoff,
        d.evidence_cut.len(),
        d.registry_position,
        esc(&f.cohorts.join(", "))
    );
    let c = &f.conventions;
    let _ = write!(
        out,
        "<li>Protocol version {} ({}); clinical benefit: confirmed CR/PR, or SD at day {} or later (landmark day {} less a {}-day window); PFS: {}; DoR from the first PR/CR scan of the confirmed response: {}.</li>",
        c.protocol_version.map_or("none".into(), |v| v.to_string()),
        c.protocol_record.as_deref().map_or("none", |r| &r[..r.len().min(32)]),
        c.benefit_landmark_day.saturating_sub(c.benefit_window_days),
        c.benefit_landmark_day,
        c.benefit_window_days,
        esc(&c.pfs_convention),
        if c.dor_from_first_response { "yes" } else { "no (format 1: from the first scan of the best response)" }
    );
    for s in &c.statements {
        let _ = write!(out, "<li>{}</li>", esc(s));
    }
    out.push_str("</ul>");
    let forest_groups: Vec<&Group> = f.groups.iter().filter(|g| g.id != "trial").collect();
    out.push_str(&plots::forest(
        "Clinical benefit by cohort and tumour type",
        &forest_groups,
    ));
    for g in &f.groups {
        // A patient is in one cohort, so the group's pseudonyms pick its rows.
        let members: std::collections::BTreeSet<&str> =
            g.patients.iter().map(String::as_str).collect();
        let rows: Vec<&PatientRow> = f
            .patients
            .iter()
            .filter(|p| members.contains(p.patient.as_str()))
            .collect();
        group_section(&mut out, g, &rows);
    }
    out.push_str("<h2>Investigator/RECIST disagreements</h2><table><tr><th>patient</th><th>date</th><th>investigator</th><th>RECIST 1.1 computed</th><th>record</th></tr>");
    for p in &f.patients {
        for (date, rep, comp, rec) in &p.disagreements {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{date}</td><td>{rep}</td><td>{comp}</td><td>{}</td></tr>",
                esc(&p.patient),
                &rec[..rec.len().min(32)]
            );
        }
    }
    out.push_str("</table><h2>Exceptional responders and their evidence</h2><table><tr><th>patient</th><th>cohort</th><th>best</th><th>PFS days</th><th>records</th></tr>");
    for p in f.patients.iter().filter(|p| p.exceptional) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.patient),
            esc(&p.cohort),
            p.best_response,
            p.pfs_days,
            p.evidence
                .iter()
                .map(|r| &r[..r.len().min(24)])
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    out.push_str("</table><p class=\"note\">Every figure is recomputed from the signed records in evidence/ by <code>trial-ledger verify-dossier</code>.</p></body></html>\n");
    out
}
