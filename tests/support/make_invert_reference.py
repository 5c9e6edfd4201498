#!/usr/bin/env python3
"""Reference values for the INVERT rank statistics (core/labeling/mann_whitney.h).

Writes tests/data/invert/mann_whitney.json: a few fixed samples WITH ties and, for each, the
average ranks (scipy.stats.rankdata), the ROC AUC (sklearn.metrics.roc_auc_score) and the
Mann-Whitney U statistic and p-values of positives against negatives
(scipy.stats.mannwhitneyu(pos, neg, alternative=..., use_continuity=True, method="asymptotic")).

The committed file is the fixture; rerun only to change the cases:
    /usr/bin/python3 tests/support/make_invert_reference.py [OUT.json]
Scores are multiples of 1/8, exact in float32, so C++ reads the same numbers.
"""
import json
import os
import sys

import numpy as np
import scipy
import sklearn
from scipy.stats import mannwhitneyu, rankdata
from sklearn.metrics import roc_auc_score


def eighths(x):
    """Rounds to multiples of 1/8: exact in float32 and short in JSON, and it makes ties."""
    return np.round(np.asarray(x) * 8) / 8


def case(name, scores, labels):
    scores = np.asarray(scores, dtype=np.float32)
    labels = np.asarray(labels, dtype=bool)
    pos, neg = scores[labels].astype(np.float64), scores[~labels].astype(np.float64)
    out = {
        "name": name,
        "scores": [float(v) for v in scores],
        "labels": [int(v) for v in labels],
        "ranks": [float(r) for r in rankdata(scores.astype(np.float64))],
        "auc": float(roc_auc_score(labels, scores)),
    }
    for alternative in ("two-sided", "greater", "less"):
        r = mannwhitneyu(pos, neg, alternative=alternative, use_continuity=True,
                         method="asymptotic")
        out["u1"] = float(r.statistic)
        out["p_" + alternative.replace("-", "_")] = float(r.pvalue)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data", "invert",
                                                             "mann_whitney.json")
    rng = np.random.default_rng(20231)
    cases = []
    # Moderate overlap, values rounded to eighths: ties within and across the groups.
    labels = rng.random(60) < 0.4
    cases.append(case("rounded_normal", eighths(rng.normal(labels * 0.6, 1.0)), labels))
    # Heavy ties: five distinct values only.
    labels = rng.random(120) < 0.25
    cases.append(case("five_levels", np.clip(rng.integers(0, 4, 120) + labels, 0, 4), labels))
    # Strong separation (a tiny p-value, as INVERT reports) with ties at a ReLU's zero.
    labels = rng.random(200) < 0.3
    cases.append(case("relu_separated",
                      np.maximum(0, eighths(rng.normal(labels * 2.5 - 0.5, 1.0))), labels))
    # Few positives; the positives score lower than the negatives.
    labels = np.zeros(30, dtype=bool)
    labels[[3, 11, 17, 25]] = True
    cases.append(case("few_low_positives", eighths(rng.normal(labels * -1.5, 1.0)), labels))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    doc = {"generator": "tests/support/make_invert_reference.py",
           "scipy": scipy.__version__, "sklearn": sklearn.__version__,
           "p_values": "scipy.stats.mannwhitneyu(positives, negatives, use_continuity=True, "
                       "method='asymptotic')",
           "cases": cases}
    with open(path, "w") as f:  # one case per line: small, and diffs stay readable
        head = json.dumps({k: v for k, v in doc.items() if k != "cases"})[:-1]
        f.write(head + ', "cases": [\n')
        f.write(",\n".join(json.dumps(c) for c in cases))
        f.write("\n]}\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
