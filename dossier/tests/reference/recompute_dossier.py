"""Independent recomputation of a dossier's interval figures with lifelines and scipy.

Reads a JSON file {"patients": [...], "groups": {"id": [patient pseudonyms]}} (the dossier's
per-patient rows and each group's members) and prints, for every group:

* PFS, OS and DoR: lifelines' KaplanMeierFitter median (`median_survival_time_`), the median's
  95 % CI (`lifelines.utils.median_survival_times(confidence_interval_)`: each bound the first
  time its log(-log) Greenwood band is <= 0.5, Brookmeyer-Crowley), and the survival with its
  band at 6, 12 and 24 months (days floor(m x 30.4375), read at the last step at or before);
  the exact rational median (first time S <= 1/2) and whether S = 1/2 exactly there;
* clinical benefit and objective response among the evaluable and the treated: two-sided exact
  95 % Clopper-Pearson intervals from scipy.stats.beta quantiles.

Not reached is null. Nothing here imports trial-ledger code.
"""

from fractions import Fraction

import json
import math
import sys

from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from scipy.stats import beta

LANDMARKS = [6, 12, 24]


def day(v):
    return None if v is None or math.isinf(v) or math.isnan(v) else int(round(v))


def exact_median(rows):
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


def km(rows):
    if not rows:
        return None
    k = KaplanMeierFitter().fit([t for t, _ in rows], [1 if e else 0 for _, e in rows])
    ci = median_survival_times(k.confidence_interval_)
    exact, half = exact_median(rows)
    last = max(t for t, _ in rows)
    landmarks = []
    for m in LANDMARKS:
        d = math.floor(m * 30.4375)
        if last < d:
            landmarks.append(None)
            continue
        s = float(k.survival_function_.loc[:d].iloc[-1, 0])
        band = k.confidence_interval_.loc[:d].iloc[-1]
        landmarks.append([s, float(band.iloc[0]), float(band.iloc[1])])
    return {
        "median": day(k.median_survival_time_),
        "exact": exact,
        "exactly_half": half,
        "ci": [day(ci.iloc[0, 0]), day(ci.iloc[0, 1])],
        "landmarks": landmarks,
    }


def cp(x, n):
    if n == 0:
        return None
    lo = 0.0 if x == 0 else beta.ppf(0.025, x, n - x + 1)
    hi = 1.0 if x == n else beta.ppf(0.975, x + 1, n - x)
    return [x, n, lo, hi]


def figures(ps):
    ev = [p for p in ps if p["evaluable"]]
    cb = sum(1 for p in ev if p["benefit"])
    orr = sum(1 for p in ev if p["objective"])
    return {
        "pfs": km([(p["pfs_days"], p["pfs_event"]) for p in ps]),
        "os": km([(p["os_days"], p["os_event"]) for p in ps]),
        "dor": km([(p["dor_days"], p["dor_event"]) for p in ps if p["dor_days"] is not None]),
        "cbr_evaluable": cp(cb, len(ev)),
        "cbr_treated": cp(cb, len(ps)),
        "orr_evaluable": cp(orr, len(ev)),
        "orr_treated": cp(orr, len(ps)),
    }


def main(path):
    with open(path) as f:
        data = json.load(f)
    by_name = {p["patient"]: p for p in data["patients"]}
    out = {g: figures([by_name[n] for n in names]) for g, names in data["groups"].items()}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
