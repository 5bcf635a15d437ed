"""Independent recomputation of a dossier's figures with lifelines and scipy.

Reads the JSON of `view dossier --json` (tl_projections::report::DossierReport) and recomputes,
from the per-patient rows alone, for the trial and every cohort:

* Kaplan-Meier median PFS (primary convention), OS and duration of response, in days, with
  lifelines' KaplanMeierFitter;
* clinical benefit and objective response among the evaluable and among the treated, with
  two-sided exact 95 % Clopper-Pearson intervals from scipy.stats.beta quantiles.

Prints one JSON object: {"trial": {...}, "cohorts": {"C-...": {...}}}. Medians that are not
reached are null. Nothing here imports trial-ledger code.

Each median is given three ways: lifelines' (`lifelines`), the first time at which the exact
(rational) Kaplan-Meier estimate is <= 1/2 (`exact`, trial-ledger's definition), and whether
the estimate equals 1/2 exactly there (`exactly_half`).

Conventions where S(t) is exactly 1/2: trial-ledger reports that time (its median test allows
1e-12 for rounding). lifelines compares its floating-point estimate, which for a product such
as 4/8 after (7/8)(6/7)(5/6)(4/5) can land a few ulps above 0.5, with 0.5 and then reports the
next event time (a cohort of 8 with events on days 21, 30, 35, 42 and 54: trial-ledger 42,
lifelines 54). R's survfit takes the midpoint of the two (48).
"""

from fractions import Fraction

import json
import math
import sys

from lifelines import KaplanMeierFitter
from scipy.stats import beta


def km_median_days(rows):
    if not rows:
        return None
    times = [t for t, _ in rows]
    events = [1 if e else 0 for _, e in rows]
    m = KaplanMeierFitter().fit(times, events).median_survival_time_
    return None if math.isinf(m) else int(round(m))


def exact_median(rows):
    """The first time the exact Kaplan-Meier estimate is <= 1/2, and whether it is exactly 1/2."""
    s = Fraction(1)
    at_risk = len(rows)
    for t in sorted({t for t, _ in rows}):
        d = sum(1 for u, e in rows if u == t and e)
        c = sum(1 for u, e in rows if u == t and not e)
        if d:
            s *= Fraction(at_risk - d, at_risk)
            if s <= Fraction(1, 2):
                return t, s == Fraction(1, 2)
        at_risk -= d + c
    return None, False


def median(rows):
    exact, half = exact_median(rows)
    return {"lifelines": km_median_days(rows), "exact": exact, "exactly_half": half}


def clopper_pearson(x, n):
    if n == 0:
        return None
    lo = 0.0 if x == 0 else beta.ppf(0.025, x, n - x + 1)
    hi = 1.0 if x == n else beta.ppf(0.975, x + 1, n - x)
    return [100.0 * lo, 100.0 * hi]


def figures(patients):
    evaluable = [p for p in patients if p["evaluable"]]
    benefit = sum(1 for p in evaluable if p["benefit"])
    objective = sum(1 for p in evaluable if p["best_response"] in ("CR", "PR"))
    return {
        "treated": len(patients),
        "evaluable": len(evaluable),
        "median_pfs_days": median([(p["pfs_days"], p["pfs_event"]) for p in patients]),
        "median_os_days": median([(p["os_days"], p["os_event"]) for p in patients]),
        "median_dor_days": median(
            [(p["dor_days"], p["dor_event"]) for p in patients if p["dor_days"] is not None]
        ),
        "clinical_benefit_evaluable": [benefit, len(evaluable), clopper_pearson(benefit, len(evaluable))],
        "clinical_benefit_treated": [benefit, len(patients), clopper_pearson(benefit, len(patients))],
        "objective_response_evaluable": [objective, len(evaluable), clopper_pearson(objective, len(evaluable))],
        "objective_response_treated": [objective, len(patients), clopper_pearson(objective, len(patients))],
    }


def main(path):
    with open(path) as f:
        dossier = json.load(f)
    patients = dossier["patients"]
    by_cohort = {}
    for p in patients:
        by_cohort.setdefault(p["cohort"], []).append(p)
    out = {
        "trial": figures(patients),
        "cohorts": {c["cohort"]: figures(by_cohort.get(c["cohort"], [])) for c in dossier["cohorts"]},
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
