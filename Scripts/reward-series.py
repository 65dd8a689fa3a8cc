#!/usr/bin/python3
"""Where the decoded reward agrees with the true one: Pearson correlations of an
`iqmpc-train reward-recovery --series F` CSV (source,episode,t,true_reward,decoded_reward),
split by source and by phase of the episode.

    reward-series.py F [--start 50]
Phases: "start" = t < START (from rest: the true reward rises), "steady" = t >= START.
Prints, for all sources pooled and for each source: steps, per-step r over all / start /
steady steps, mean true and decoded reward per phase, and the slope of a least-squares fit
decoded ~ true (how much decoded reward one unit of true reward buys).
"""
import argparse
import csv
import math
from collections import defaultdict


def pearson(x, y):
    n = len(x)
    if n < 3:
        return float("nan")
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def slope(x, y):
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sxx if sxx > 0 else float("nan")


def mean(v):
    return sum(v) / len(v) if v else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("series")
    ap.add_argument("--start", type=int, default=50)
    a = ap.parse_args()
    rows = defaultdict(list)
    with open(a.series) as f:
        for r in csv.DictReader(f):
            rows[r["source"]].append((int(r["t"]), float(r["true_reward"]), float(r["decoded_reward"])))
    groups = [("all", [x for v in rows.values() for x in v])] + sorted(rows.items())
    print(f"{'source':40s} {'steps':>6s} {'r all':>7s} {'r start':>8s} {'r steady':>9s} "
          f"{'true s/st':>12s} {'decoded s/st':>14s} {'slope':>7s}")
    for name, v in groups:
        s = [x for x in v if x[0] < a.start]
        st = [x for x in v if x[0] >= a.start]
        tr = lambda w: [x[1] for x in w]
        de = lambda w: [x[2] for x in w]
        print(f"{name[-40:]:40s} {len(v):6d} {pearson(tr(v), de(v)):7.3f} {pearson(tr(s), de(s)):8.3f} "
              f"{pearson(tr(st), de(st)):9.3f} {mean(tr(s)):5.2f}/{mean(tr(st)):5.2f} "
              f"{mean(de(s)):6.2f}/{mean(de(st)):6.2f} {slope(tr(v), de(v)):7.3f}")


if __name__ == "__main__":
    main()
