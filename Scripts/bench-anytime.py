#!/usr/bin/env python3
"""What the anytime planner achieves with a model size in a control budget on this computer
(docs/gpu-training.md): for each rate and thread count, the MPPI iterations of 512 samples
that fit, the samples that fit with all 6 iterations, and how far those plans' actions are
from the full 512 × 6 plan.

    Scripts/bench-anytime.py [--bin .build/release] [--preset paper] [--obs-dim 24 --act-dim 6]
                             [--rates 20,50,100] [--threads 1,2] [--steps 30] [--weights W]

Timing comes from `iqmpc-runtime bench` (median plan time at 1 and 6 iterations gives the
set-up and per-iteration cost; iterations that fit = ⌊(budget − set-up) / iteration⌋, which is
the rule the anytime planner applies; with none, its answer is the policy prior's mean action,
read with `iqmpc-runtime eval`). Agreement comes from `iqmpc-runtime plan` on a fixed
sequence of 40 observations: the mean |Δa| over steps and action dimensions (actions in
[−1, 1]) between a plan and the full plan, beside the same figure for two full plans that differ
only in their seed (the planner's own sampling spread). Plans are bit-identical for any thread
count, so agreement is measured once per (samples, iterations). Each timing line carries the
1-minute load average read just before it. Random weights unless --weights is given: agreement
on a trained model will differ.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

GRID = (256, 128, 64, 32, 16, 8)


def load():
    return float(open("/proc/loadavg").read().split()[0])


def bench(args, w, samples, iterations, threads):
    r = subprocess.run([os.path.join(args.bin, "iqmpc-runtime"), "bench", "--weights", w, "--samples", str(samples),
                        "--iterations", str(iterations), "--threads", str(threads), "--steps", str(args.steps), "--json"],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def plan(args, w, obs, samples, iterations, seed=5):
    r = subprocess.run([os.path.join(args.bin, "iqmpc-runtime"), "plan", "--weights", w, "--obs=" + obs,
                        "--steps", "40", "--samples", str(samples), "--iterations", str(iterations),
                        "--seed", str(seed), "--json"], capture_output=True, text=True, check=True)
    return np.asarray(json.loads(r.stdout)["actions"], dtype=np.float64)


def prior(args, w, obs, D):
    """The anytime planner's fallback when no iteration fits: the policy prior's mean action."""
    vals = obs.split(",")
    out = []
    for k in range(40):
        r = subprocess.run([os.path.join(args.bin, "iqmpc-runtime"), "eval", "--weights", w, "--json",
                            "--obs=" + ",".join(vals[k * D:(k + 1) * D])], capture_output=True, text=True, check=True)
        out.append(json.loads(r.stdout)["policy_mean"])
    return np.asarray(out, dtype=np.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--obs-dim", type=int, default=24)
    ap.add_argument("--act-dim", type=int, default=6)
    ap.add_argument("--weights")
    ap.add_argument("--rates", default="20,50,100")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="iqmpc-anytime-")
    w = args.weights
    if w is None:
        w = os.path.join(tmp, "model.safetensors")
        subprocess.run([os.path.join(args.bin, "iqmpc-train"), "init", "--obs-dim", str(args.obs_dim), "--act-dim",
                        str(args.act_dim), "--preset", args.preset, "--seed", "1", "--nonzero-q", "--out", w],
                       check=True, capture_output=True)
    D = json.loads(subprocess.run([os.path.join(args.bin, "iqmpc-runtime"), "inspect", "--weights", w, "--json"],
                                  capture_output=True, text=True, check=True).stdout)["config"]["obs_dim"]
    rng = np.random.default_rng(2)
    obs = ",".join(f"{v:.4f}" for v in rng.uniform(-1, 1, 40 * D))
    rates = [int(r) for r in args.rates.split(",")]
    full = plan(args, w, obs, 512, 6)
    spread = np.mean(np.abs(plan(args, w, obs, 512, 6, seed=6) - full))
    print(f"model {w}: agreement scale, two full 512x6 plans with different seeds: mean |da| {spread:.3f}")
    agreement = {}

    def agree(n, i):
        if (n, i) not in agreement:
            actions = prior(args, w, obs, D) if n == 0 or i == 0 else plan(args, w, obs, n, i)
            agreement[(n, i)] = np.mean(np.abs(actions - full))
        return agreement[(n, i)]

    for t in [int(x) for x in args.threads.split(",")]:
        l0 = load()
        one, six = bench(args, w, 512, 1, t), bench(args, w, 512, 6, t)
        it_ms = (six["p50_us"] - one["p50_us"]) / 5 / 1000
        setup_ms = one["p50_us"] / 1000 - it_ms
        print(f"threads {t} (load {l0:.1f}): 512 samples: set-up {setup_ms:.2f} ms, iteration {it_ms:.2f} ms, "
              f"512x6 p50 {six['p50_us'] / 1000:.1f} ms p99 {six['p99_us'] / 1000:.1f} ms, "
              f"{six['allocations_per_step']:g} allocations per plan")
        fits = {}
        for n in GRID:
            l1 = load()
            b = bench(args, w, n, 6, t)
            fits[n] = (b["p50_us"] / 1000, b["p99_us"] / 1000, l1)
        for rate in rates:
            budget = 1000 / rate
            k = int(max(0, min(6, (budget - setup_ms) // it_ms))) if it_ms > 0 else 6
            if six["p50_us"] / 1000 <= budget:
                k = 6
            n_fit = 512 if six["p50_us"] / 1000 <= budget else next((n for n in GRID if fits[n][0] <= budget), 0)
            a_k = agree(512, k)
            a_n = agree(n_fit, 6)
            detail = f"p50 {fits[n_fit][0]:.1f} ms, load {fits[n_fit][2]:.1f}" if n_fit in fits else ""
            print(f"  {rate:>3} Hz ({budget:.0f} ms), threads {t}: 512 samples x {k} iterations"
                  f"{' (policy prior fallback)' if k == 0 else ''} (mean |da| vs 512x6: {a_k:.3f}); with 6 iterations "
                  f"{n_fit} samples fit{' (none: prior)' if n_fit == 0 else ''} ({detail}) (mean |da| vs 512x6: {a_n:.3f})")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
