//! The standard oncology plots as hand-written SVG: waterfall, swimmer, spider, Kaplan-Meier
//! (with censor ticks and a numbers-at-risk table) and forest.
//!
//! Rendering is deterministic: every coordinate is printed with two decimals from values of
//! the figures, in the figures' order, so the same figures give byte-identical files
//! (`verify-dossier` regenerates and compares them). No fonts, images or links are referenced:
//! text uses the generic `sans-serif` family.

use crate::figures::{Group, PatientRow};
use crate::km::{KmSummary, DAYS_PER_MONTH};
use std::fmt::Write;

const W: f64 = 720.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;

/// Colour of a best overall response (colour-blind safe Okabe-Ito palette).
fn colour(best: &str) -> &'static str {
    match best {
        "CR" => "#009E73",
        "PR" => "#56B4E9",
        "SD" => "#E69F00",
        "PD" => "#D55E00",
        _ => "#999999",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn open(out: &mut String, h: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W:.0} {h:.0}" width="{W:.0}" height="{h:.0}" font-family="sans-serif" font-size="11" role="img" aria-label="{t}"><title>{t}</title><rect width="100%" height="100%" fill="white"/><text x="{x:.2}" y="16" font-size="13" font-weight="bold">{t}</text>"#,
        t = esc(title),
        x = LEFT
    );
}

fn legend(out: &mut String, y: f64) {
    for (i, r) in ["CR", "PR", "SD", "PD", "NE"].iter().enumerate() {
        let x = LEFT + 60.0 * i as f64;
        let _ = write!(
            out,
            r#"<rect x="{x:.2}" y="{y:.2}" width="10" height="10" fill="{}"/><text x="{:.2}" y="{:.2}">{r}</text>"#,
            colour(r),
            x + 14.0,
            y + 9.0
        );
    }
}

/// Waterfall: each patient's best % change of the target-lesion sum, sorted from the largest
/// growth to the deepest shrinkage, coloured by best response, with lines at -30 % and +20 %.
pub fn waterfall(title: &str, rows: &[&PatientRow]) -> String {
    let mut bars: Vec<(i64, &PatientRow)> = rows
        .iter()
        .filter_map(|p| p.best_target_change_permille.map(|c| (c, *p)))
        .collect();
    bars.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.patient.cmp(&b.1.patient)));
    let (h, top, plot_h) = (320.0, 30.0, 240.0);
    let mut out = String::new();
    open(&mut out, h, title);
    // y from +100 % (top) to -100 % (bottom); values above 100 % are clipped at the top.
    let y = |permille: i64| top + plot_h * (1000.0 - permille.clamp(-1000, 1000) as f64) / 2000.0;
    for (v, label, dash) in [(200, "+20 %", "4 3"), (0, "0", ""), (-300, "-30 %", "4 3")] {
        let yy = y(v);
        let _ = write!(
            out,
            r#"<line x1="{LEFT:.2}" x2="{:.2}" y1="{yy:.2}" y2="{yy:.2}" stroke="black" stroke-width="0.8" stroke-dasharray="{dash}"/><text x="{:.2}" y="{:.2}" text-anchor="end">{label}</text>"#,
            W - RIGHT,
            LEFT - 4.0,
            yy + 4.0,
        );
    }
    let n = bars.len().max(1) as f64;
    let bw = (W - LEFT - RIGHT) / n;
    for (i, (c, p)) in bars.iter().enumerate() {
        let (y0, y1) = (y(0), y(*c));
        let _ = write!(
            out,
            r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{}"><title>{} {} {:.1} %</title></rect>"#,
            LEFT + bw * i as f64 + bw * 0.1,
            y0.min(y1),
            bw * 0.8,
            (y1 - y0).abs(),
            colour(p.best_response),
            esc(&p.patient),
            p.best_response,
            *c as f64 / 10.0
        );
    }
    let _ = write!(
        out,
        r#"<text x="{LEFT:.2}" y="{:.2}">best % change of the target-lesion sum from baseline; {} patients with a measured follow-up scan</text>"#,
        top + plot_h + 18.0,
        bars.len()
    );
    legend(&mut out, top + plot_h + 28.0);
    out.push_str("</svg>");
    out
}

/// Swimmer: time on treatment per patient (a bar to the last dose, or to the PFS end), with
/// response onset (triangle), progression (cross) and ongoing treatment (arrow).
pub fn swimmer(title: &str, rows: &[&PatientRow]) -> String {
    let mut lanes: Vec<&&PatientRow> = rows.iter().collect();
    lanes.sort_by(|a, b| b.pfs_days.cmp(&a.pfs_days).then(a.patient.cmp(&b.patient)));
    let lane_h = 12.0;
    let top = 30.0;
    let h = top + lane_h * lanes.len() as f64 + 50.0;
    let max_days = lanes
        .iter()
        .map(|p| p.pfs_days.max(p.treatment_days))
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = (W - LEFT - RIGHT - 20.0) / f64::from(max_days);
    let mut out = String::new();
    open(&mut out, h, title);
    for (i, p) in lanes.iter().enumerate() {
        let y = top + lane_h * i as f64;
        let end = p.treatment_days.max(p.pfs_days);
        let _ = write!(
            out,
            r#"<rect x="{LEFT:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{}"><title>{} {} {} days</title></rect>"#,
            y + 2.0,
            f64::from(end) * scale,
            lane_h - 4.0,
            colour(p.best_response),
            esc(&p.patient),
            p.best_response,
            end
        );
        if let Some(on) = p.response_onset_days {
            let x = LEFT + f64::from(on) * scale;
            let _ = write!(
                out,
                r#"<path d="M{:.2} {:.2} L{:.2} {:.2} L{:.2} {:.2} Z" fill="black"/>"#,
                x - 3.0,
                y + lane_h - 2.0,
                x + 3.0,
                y + lane_h - 2.0,
                x,
                y + 2.0
            );
        }
        let xe = LEFT + f64::from(end) * scale;
        if p.pfs_event {
            let _ = write!(
                out,
                r#"<path d="M{:.2} {:.2} L{:.2} {:.2} M{:.2} {:.2} L{:.2} {:.2}" stroke="black" stroke-width="1.5"/>"#,
                xe + 2.0,
                y + 2.0,
                xe + 8.0,
                y + lane_h - 2.0,
                xe + 8.0,
                y + 2.0,
                xe + 2.0,
                y + lane_h - 2.0
            );
        } else if !p.treatment_ended {
            let _ = write!(
                out,
                r#"<path d="M{:.2} {:.2} L{:.2} {:.2} L{:.2} {:.2} Z" fill="black"/>"#,
                xe + 2.0,
                y + 2.0,
                xe + 9.0,
                y + lane_h / 2.0,
                xe + 2.0,
                y + lane_h - 2.0
            );
        }
    }
    let yb = top + lane_h * lanes.len() as f64 + 14.0;
    axis_months(&mut out, yb - 10.0, max_days, scale);
    let _ = write!(
        out,
        r#"<text x="{LEFT:.2}" y="{:.2}">months from the first dose; triangle: response onset, cross: progression or death, arrow: on treatment at the cut-off</text>"#,
        yb + 18.0
    );
    legend(&mut out, yb + 24.0);
    out.push_str("</svg>");
    out
}

fn axis_months(out: &mut String, y: f64, max_days: u32, scale: f64) {
    let months = (f64::from(max_days) / DAYS_PER_MONTH).ceil() as u32;
    let step = if months > 36 {
        12
    } else if months > 12 {
        6
    } else {
        3
    };
    let mut m = 0;
    while f64::from(m) * DAYS_PER_MONTH <= f64::from(max_days) {
        let x = LEFT + f64::from(m) * DAYS_PER_MONTH * scale;
        let _ = write!(
            out,
            r#"<line x1="{x:.2}" x2="{x:.2}" y1="{y:.2}" y2="{:.2}" stroke="black"/><text x="{x:.2}" y="{:.2}" text-anchor="middle">{m}</text>"#,
            y + 4.0,
            y + 14.0
        );
        m += step;
    }
}

/// Spider: each patient's % change of the target-lesion sum over time.
pub fn spider(title: &str, rows: &[&PatientRow]) -> String {
    let (top, plot_h) = (30.0, 240.0);
    let h = 330.0;
    let max_days = rows
        .iter()
        .flat_map(|p| p.target_change_permille.iter().map(|c| c.0))
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = (W - LEFT - RIGHT) / f64::from(max_days);
    let y = |permille: i64| top + plot_h * (1000.0 - permille.clamp(-1000, 1000) as f64) / 2000.0;
    let mut out = String::new();
    open(&mut out, h, title);
    for (v, label) in [(200, "+20 %"), (0, "0"), (-300, "-30 %")] {
        let yy = y(v);
        let _ = write!(
            out,
            r##"<line x1="{LEFT:.2}" x2="{:.2}" y1="{yy:.2}" y2="{yy:.2}" stroke="#888" stroke-dasharray="4 3"/><text x="{:.2}" y="{:.2}" text-anchor="end">{label}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            yy + 4.0,
        );
    }
    for p in rows {
        if p.target_change_permille.is_empty() {
            continue;
        }
        let mut d = format!("M{LEFT:.2} {:.2}", y(0));
        for (day, c) in &p.target_change_permille {
            let _ = write!(d, " L{:.2} {:.2}", LEFT + f64::from(*day) * scale, y(*c));
        }
        let _ = write!(
            out,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.2"><title>{}</title></path>"#,
            colour(p.best_response),
            esc(&p.patient)
        );
    }
    axis_months(&mut out, top + plot_h + 4.0, max_days, scale);
    let _ = write!(
        out,
        r#"<text x="{LEFT:.2}" y="{:.2}">% change of the target-lesion sum from baseline over months from the first dose</text>"#,
        top + plot_h + 34.0
    );
    legend(&mut out, top + plot_h + 42.0);
    out.push_str("</svg>");
    out
}

/// Kaplan-Meier: the step curve with its band, censor ticks, and the numbers at risk every
/// 3 months under the axis (every 6, 9, ... months when 3 would crowd the labels).
pub fn kaplan_meier(title: &str, k: &KmSummary) -> String {
    let (top, plot_h) = (30.0, 220.0);
    let h = top + plot_h + 70.0;
    let max_days = k.steps.last().map_or(1, |s| s.time_days).max(1);
    let scale = (W - LEFT - RIGHT) / f64::from(max_days);
    let x = |d: u32| LEFT + f64::from(d) * scale;
    let y = |s: f64| top + plot_h * (1.0 - s);
    let mut out = String::new();
    open(&mut out, h, title);
    for s in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let yy = y(s);
        let _ = write!(
            out,
            r##"<line x1="{LEFT:.2}" x2="{:.2}" y1="{yy:.2}" y2="{yy:.2}" stroke="#ddd"/><text x="{:.2}" y="{:.2}" text-anchor="end">{:.0} %</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            yy + 4.0,
            s * 100.0,
        );
    }
    let mut curve = format!("M{:.2} {:.2}", x(0), y(1.0));
    let mut band_hi = format!("M{:.2} {:.2}", x(0), y(1.0));
    let mut band_lo = Vec::new();
    let (mut prev_s, mut prev_lo) = (1.0, 1.0);
    for s in &k.steps {
        let _ = write!(
            curve,
            " L{:.2} {:.2} L{:.2} {:.2}",
            x(s.time_days),
            y(prev_s),
            x(s.time_days),
            y(s.survival)
        );
        let _ = write!(band_hi, " L{:.2} {:.2}", x(s.time_days), y(s.upper));
        band_lo.push((s.time_days, prev_lo, s.lower));
        prev_s = s.survival;
        prev_lo = s.lower;
    }
    for (t, before, after) in band_lo.iter().rev() {
        let _ = write!(
            band_hi,
            " L{:.2} {:.2} L{:.2} {:.2}",
            x(*t),
            y(*after),
            x(*t),
            y(*before)
        );
    }
    let _ = write!(
        out,
        r##"<path d="{band_hi} Z" fill="#56B4E9" fill-opacity="0.2" stroke="none"/><path d="{curve}" fill="none" stroke="#0072B2" stroke-width="1.6"/>"##
    );
    for s in k.steps.iter().filter(|s| s.censored > 0) {
        let _ = write!(
            out,
            r##"<line x1="{xx:.2}" x2="{xx:.2}" y1="{:.2}" y2="{:.2}" stroke="#0072B2"/>"##,
            y(s.survival) - 4.0,
            y(s.survival) + 4.0,
            xx = x(s.time_days)
        );
    }
    let base = top + plot_h;
    let _ = write!(out, r#"<text x="4" y="{:.2}">at risk</text>"#, base + 34.0);
    // Labels every `stride`-th point, so that neighbouring numbers keep ~24 px apart on a long
    // follow-up (every 3 months over 9 years would overlap).
    let spacing = match k.at_risk.as_slice() {
        [a, b, ..] => (x(b.day) - x(a.day)).max(1.0),
        _ => 24.0,
    };
    let stride = (24.0 / spacing).ceil().max(1.0) as usize;
    for a in k.at_risk.iter().step_by(stride) {
        let _ = write!(
            out,
            r#"<line x1="{xx:.2}" x2="{xx:.2}" y1="{base:.2}" y2="{:.2}" stroke="black"/><text x="{xx:.2}" y="{:.2}" text-anchor="middle">{}</text><text x="{xx:.2}" y="{:.2}" text-anchor="middle">{}</text>"#,
            base + 4.0,
            base + 16.0,
            a.months,
            base + 34.0,
            a.at_risk,
            xx = x(a.day)
        );
    }
    let median = match k.median_days {
        Some(d) => format!("{:.1} months", f64::from(d) / DAYS_PER_MONTH),
        None => "NR".to_string(),
    };
    let _ = write!(
        out,
        r#"<text x="{LEFT:.2}" y="{:.2}">months; {} events / {} patients; median {median}; band: pointwise 95 % log(-log); ticks: censored</text>"#,
        base + 54.0,
        k.events,
        k.n
    );
    out.push_str("</svg>");
    out
}

/// Forest: clinical benefit among the evaluable with its exact 95 % interval, one row per group.
pub fn forest(title: &str, groups: &[&Group]) -> String {
    let row_h = 20.0;
    let top = 34.0;
    let label_w = 260.0;
    let h = top + row_h * groups.len() as f64 + 40.0;
    let x0 = LEFT + label_w;
    // Room on the right for "84/130 64.6 % (55.8-72.8)" at the plot's font size.
    let pw = W - x0 - RIGHT - 170.0;
    let x = |f: f64| x0 + pw * f;
    let mut out = String::new();
    open(&mut out, h, title);
    for (i, g) in groups.iter().enumerate() {
        let y = top + row_h * i as f64 + row_h / 2.0;
        let _ = write!(
            out,
            r#"<text x="4" y="{:.2}">{}</text>"#,
            y + 4.0,
            esc(&g.label)
        );
        let Some(r) = g.cbr_evaluable else {
            let _ = write!(
                out,
                r#"<text x="{:.2}" y="{:.2}">not evaluable</text>"#,
                x0,
                y + 4.0
            );
            continue;
        };
        let _ = write!(
            out,
            r#"<line x1="{:.2}" x2="{:.2}" y1="{y:.2}" y2="{y:.2}" stroke="black"/><rect x="{:.2}" y="{:.2}" width="6" height="6" fill="black"/><text x="{:.2}" y="{:.2}">{}/{} {:.1} % ({:.1}-{:.1})</text>"#,
            x(r.lower),
            x(r.upper),
            x(r.estimate) - 3.0,
            y - 3.0,
            x(1.0) + 6.0,
            y + 4.0,
            r.successes,
            r.trials,
            100.0 * r.estimate,
            100.0 * r.lower,
            100.0 * r.upper
        );
    }
    let yb = top + row_h * groups.len() as f64;
    for f in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = write!(
            out,
            r##"<line x1="{xx:.2}" x2="{xx:.2}" y1="{:.2}" y2="{yb:.2}" stroke="#ddd"/><text x="{xx:.2}" y="{:.2}" text-anchor="middle">{:.0} %</text>"##,
            top,
            yb + 14.0,
            f * 100.0,
            xx = x(f)
        );
    }
    let _ = write!(
        out,
        r#"<text x="4" y="{:.2}">clinical benefit rate among the evaluable, exact 95 % CI (Clopper-Pearson)</text>"#,
        yb + 32.0
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::km::summarise;
    use tl_clinical::Observation;

    #[test]
    fn given_the_same_curve_twice_when_rendered_then_byte_identical_and_self_contained() {
        let obs: Vec<Observation> = [(30, true), (60, false), (90, true), (400, false)]
            .into_iter()
            .map(Observation::from)
            .collect();
        let k = summarise(&obs);
        let a = kaplan_meier("PFS", &k);
        let b = kaplan_meier("PFS", &summarise(&obs));
        assert_eq!(a, b);
        // one censor tick per censoring time, an at-risk row, and no link outside the file
        assert_eq!(a.matches(r##"stroke="#0072B2"/>"##).count(), 2);
        assert!(a.contains(">at risk<"));
        assert!(!a.contains("href"));
        assert_eq!(a.matches("http").count(), 1, "only the SVG namespace");
    }
}
