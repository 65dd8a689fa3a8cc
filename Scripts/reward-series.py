#!/usr/bin/python3
"""Where the decoded reward agrees with the true one: Pearson correlations of an
`iqmpc-train reward-recovery --series F` CSV (source,episode,t,true_reward,decoded_reward
and, from files written since they exist, q,next_value),
split by source and by phase of the episode.

    reward-series.py F [--start 50] [--windows 1,5,25,100]
Phases: "start" = t < START (from rest: the true reward rises), "steady" = t >= START.
Prints, for all sources pooled and for each source: steps, per-step r over all / start /
steady steps, mean true and decoded reward per phase, and the slope of a least-squares fit
decoded ~ true (how much decoded reward one unit of true reward buys).

Then the timescale table (docs/reward-recovery.md §10): each episode is cut into consecutive
windows of k steps, and the decoded and true sums over each window are correlated, for each
k of --windows (k = 1 is the per-step figure; a window as long as the episode is the
per-episode one, within one source). Beside each r, the decoded sum's variance divided by k:
for step-to-step noise that does not telescope it stays level as k grows, for a term of the
form f(s_t) - f(s_t+1) (what an error in the value of a state adds to Q - gamma V) it falls
like 1/k, and for a reward that persists over the window it grows.

Last, when the CSV has the q and next_value columns (decoded = q - gamma * next_value), the
split of each step's decoded reward into an action term A_t = Q(z_t, a_t) - V(z_t) and a state
term S_t = V(z_t) - gamma * V(z_t+1), with V(z_t) the previous row's next_value (so the first
step of each episode is left out, and so are steps after a gap in t): the variance of each and
its Pearson r with the true reward, and the r of Q(z_t, a_t) itself. Over H planned steps the
S terms telescope (docs/algorithm.md §2.3), so only A and the first Q reach the planner.
Needs --gamma (the weights' discount).
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


def variance(v):
    m = mean(v)
    return sum((x - m) ** 2 for x in v) / (len(v) - 1) if len(v) > 1 else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("series")
    ap.add_argument("--start", type=int, default=50)
    ap.add_argument("--windows", default="1,2,5,10,25,50,100,250",
                    help="window lengths k, comma-separated")
    ap.add_argument("--gamma", type=float, default=None,
                    help="discount of the weights, for the action/state split")
    a = ap.parse_args()
    windows = [int(k) for k in a.windows.split(",")]
    if any(k < 1 for k in windows):
        ap.error("--windows: every k must be at least 1")
    rows = defaultdict(list)
    episodes = defaultdict(list)
    with open(a.series) as f:
        for r in csv.DictReader(f):
            x = (int(r["t"]), float(r["true_reward"]), float(r["decoded_reward"]),
                 float(r["q"]) if "q" in r else None, float(r["next_value"]) if "next_value" in r else None)
            rows[r["source"]].append(x)
            episodes[(r["source"], r["episode"])].append(x)
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

    print()
    print("k-step sums: Pearson r (decoded sum's variance / k)")
    print(f"{'source':40s} " + " ".join(f"{'k=' + str(k):>16s}" for k in windows))
    for name in ["all"] + sorted(rows):
        eps = [sorted(v) for (src, _), v in episodes.items() if name in ("all", src)]
        cells = []
        for k in windows:
            ts, ds = [], []
            for v in eps:
                for i in range(0, len(v) - k + 1, k):
                    ts.append(sum(x[1] for x in v[i:i + k]))
                    ds.append(sum(x[2] for x in v[i:i + k]))
            cells.append(f"{pearson(ts, ds):7.3f} ({variance(ds) / k:6.2f})")
        print(f"{name[-40:]:40s} " + " ".join(f"{c:>16s}" for c in cells))

    if a.gamma is None or any(x[3] is None for v in rows.values() for x in v):
        print("\n(action/state split: needs --gamma and a CSV with q and next_value columns)")
        return
    print()
    print("decoded = A + S, A = Q(z_t,a_t) - V(z_t), S = V(z_t) - gamma V(z_t+1)")
    print(f"{'source':40s} {'steps':>6s} {'var dec':>8s} {'var A':>8s} {'var S':>8s} "
          f"{'r(dec)':>7s} {'r(A)':>7s} {'r(S)':>7s} {'r(Q)':>7s} {'mean A':>7s}")
    for name in ["all"] + sorted(rows):
        T, D, A, S, Q = [], [], [], [], []
        for (src, _), v in episodes.items():
            if name not in ("all", src):
                continue
            v = sorted(v)
            for prev, cur in zip(v, v[1:]):
                if cur[0] != prev[0] + 1:
                    continue
                t, tr, d, q, vn = cur
                T.append(tr); D.append(d); Q.append(q)
                A.append(q - prev[4]); S.append(prev[4] - a.gamma * vn)
        print(f"{name[-40:]:40s} {len(T):6d} {variance(D):8.2f} {variance(A):8.2f} {variance(S):8.2f} "
              f"{pearson(D, T):7.3f} {pearson(A, T):7.3f} {pearson(S, T):7.3f} {pearson(Q, T):7.3f} {mean(A):7.2f}")


if __name__ == "__main__":
    main()
