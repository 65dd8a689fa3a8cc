#!/usr/bin/python3
"""Independent float64 reference for the planner's trajectory value (reward-decoded, as in
docs/algorithm.md §2.3), written from the equations with the networks of forward.py.
Every policy sample is at eps = 0 (the squashed mean and its log-probability) and every Q call
uses the given pair of heads: min of the pair for q_t and V_{t+1}, mean at the terminal. With
--prior-anchor k each step also loses k/A * sum_d (a_t,d - tanh mu(z_t)_d)^2 (the planner's
prior anchor), discounted like the reward.

    score.py --weights W --obs o1,... --actions a00,a01,...  --heads i,j [--prior-anchor k]
prints {"value", "rewards", "log_pi", "terminal", "q", "next_v", "terminal_q", "anchor"} as JSON.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forward import mlp, read_safetensors  # noqa: E402


def score(meta, t, obs, actions, heads, kappa=0.0):
    cfg = json.loads(meta["config"])
    A, g = cfg["act_dim"], cfg["simnorm_group"]
    lmin, lmax = cfg["log_std_min"], cfg["log_std_max"]
    gamma, alpha = cfg["discount"], cfg["entropy_coef"]
    i, j = heads

    def pi_mean(z):
        """Squashed mean tanh(mu) and its log-probability (eps = 0)."""
        out = mlp(t, "policy", z[None, :], None, g)[0]
        mu, s = out[:A], out[A:]
        log_std = lmin + 0.5 * (lmax - lmin) * (np.tanh(s) + 1.0)
        a = np.tanh(mu)
        lp = float((-log_std - 0.5 * np.log(2 * np.pi)).sum() - np.log(np.maximum(0.0, 1 - a * a) + 1e-6).sum())
        return a, lp

    def q(k, z, a):
        return float(mlp(t, f"q.{k}", np.concatenate([z, a])[None, :], None, g)[0, 0])

    z = mlp(t, "encoder", obs[None, :], "simnorm", g)[0]
    H = len(actions)
    G, disc = 0.0, 1.0
    rewards, log_pi, qs, next_v, anchor = [], [], [], [], []
    for step in range(H):
        a = actions[step]
        q_t = min(q(i, z, a), q(j, z, a))
        mean, ell = pi_mean(z)
        anc = kappa / A * float(((a - mean) ** 2).sum())
        z_next = mlp(t, "dynamics", np.concatenate([z, a])[None, :], "simnorm", g)[0]
        a_next, ell_next = pi_mean(z_next)
        v = min(q(i, z_next, a_next), q(j, z_next, a_next)) - alpha * ell_next
        r = q_t - gamma * v
        G += disc * (r - alpha * ell - anc)
        disc *= gamma
        rewards.append(r); log_pi.append(ell); qs.append(q_t); next_v.append(v); anchor.append(anc)
        z = z_next
    a_H, ell_H = pi_mean(z)
    q_term = 0.5 * (q(i, z, a_H) + q(j, z, a_H))
    terminal = q_term - alpha * ell_H
    log_pi.append(ell_H)
    return dict(value=G + disc * terminal, rewards=rewards, log_pi=log_pi, terminal=terminal,
                q=qs, next_v=next_v, terminal_q=q_term, anchor=anchor)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--obs", required=True)
    ap.add_argument("--actions", required=True)
    ap.add_argument("--heads", default="0,1")
    ap.add_argument("--prior-anchor", type=float, default=0.0)
    args = ap.parse_args()
    meta, t = read_safetensors(args.weights)
    cfg = json.loads(meta["config"])
    obs = np.asarray([float(v) for v in args.obs.split(",")])
    flat = np.asarray([float(v) for v in args.actions.split(",")])
    A = cfg["act_dim"]
    if flat.size % A or obs.size != cfg["obs_dim"]:
        raise SystemExit("--obs needs obs_dim values and --actions H x act_dim")
    heads = tuple(int(v) for v in args.heads.split(","))
    json.dump(score(meta, t, obs, flat.reshape(-1, A), heads, args.prior_anchor), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
