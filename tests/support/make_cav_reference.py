#!/usr/bin/env python3
"""Reference values for CAV training and TCAV's t-test (core/tcav/cav.h, t_test.h).

Writes tests/data/cav/reference.json:
  logistic: fixed problems with sklearn.linear_model.LogisticRegression(C=...) solutions, solved
            with solver="newton-cg" to a tight tolerance (its objective agrees with a float64
            Newton solution to ~1e-14); one with D < n and one with D > n (where Directrix
            solves in the row space of X).
  t_tests:  samples shaped like TCAV scores, with scipy.stats.ttest_ind (Student and Welch) and
            scipy.stats.ttest_1samp statistics and two-sided p-values.
  t_sf:     two-sided p = 2 * scipy.stats.t.sf(|t|, df) for a grid of t and (fractional) df.
  betainc:  scipy.special.betainc(a, b, x) values.

The committed file is the fixture; rerun only to change the cases:
    /usr/bin/python3 tests/support/make_cav_reference.py [OUT.json]
Inputs are multiples of 1/64, exact in float32, so C++ reads the same numbers.
"""
import json
import os
import sys
import warnings

import numpy as np
import scipy
import sklearn
from scipy import special, stats
from sklearn.linear_model import LogisticRegression


def grid(x):
    return np.round(np.asarray(x) * 64) / 64


def logistic_case(name, rng, n, d, c):
    scale = rng.uniform(0.5, 3.0, d)
    x = grid(rng.normal(size=(n, d)) * scale)
    y = (x[:, :3].sum(1) + rng.normal(size=n) * 2 > 0.25).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # newton-cg may warn at tol=1e-14 after converging
        m = LogisticRegression(C=c, solver="newton-cg", tol=1e-14, max_iter=10000).fit(x, y)
    return {"name": name, "c": c, "x": x.tolist(), "y": y.tolist(),
            "coef": m.coef_[0].tolist(), "intercept": float(m.intercept_[0])}


def t_case(name, a, b, mu):
    a, b = np.asarray(a, float), np.asarray(b, float)
    student = stats.ttest_ind(a, b)
    welch = stats.ttest_ind(a, b, equal_var=False)
    one = stats.ttest_1samp(b, mu)
    return {"name": name, "a": a.tolist(), "b": b.tolist(), "mu": mu,
            "student_t": float(student.statistic), "student_p": float(student.pvalue),
            "welch_t": float(welch.statistic), "welch_p": float(welch.pvalue),
            "one_sample_t": float(one.statistic), "one_sample_p": float(one.pvalue)}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data", "cav",
                                                             "reference.json")
    rng = np.random.default_rng(2018)
    logistic = [logistic_case("more_rows", rng, 60, 6, 1.0),
                logistic_case("more_columns", rng, 24, 40, 0.5)]
    scores = lambda n, p: grid(np.clip(rng.normal(p, 0.15, n), 0, 1))
    t_tests = [t_case("concept_above", scores(10, 0.8), scores(10, 0.5), 0.8),
               t_case("unequal_sizes", scores(5, 0.55), scores(12, 0.5), 0.3),
               t_case("unequal_spread", grid(rng.uniform(0.45, 0.55, 8)),
                      grid(rng.uniform(0, 1, 8)), 0.9)]
    t_sf = [{"t": t, "df": df, "p": float(2 * stats.t.sf(abs(t), df))}
            for t in (0.0, 0.05, 1.0, -2.5, 4.0, 12.0) for df in (1.0, 2.5, 9.0, 38.0)]
    betainc = [{"a": a, "b": b, "x": x, "value": float(special.betainc(a, b, x))}
               for a, b, x in ((0.5, 0.5, 0.3), (2.0, 3.0, 0.9), (15.0, 0.5, 0.2),
                               (0.5, 40.0, 0.01), (30.0, 30.0, 0.55), (1.0, 1.0, 0.25))]
    doc = {"generator": "tests/support/make_cav_reference.py", "scipy": scipy.__version__,
           "sklearn": sklearn.__version__, "logistic": logistic, "t_tests": t_tests,
           "t_sf": t_sf, "betainc": betainc}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:  # one case per line: small, and diffs stay readable
        f.write("{\n" + ",\n".join(json.dumps(k) + ": " + json.dumps(v) for k, v in doc.items())
                + "\n}\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
