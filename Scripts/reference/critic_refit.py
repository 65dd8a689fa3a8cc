#!/usr/bin/env python3
"""Is the critic's Bellman residual on its own training data a capacity floor? (docs/reward-recovery.md §15)

    critic_refit.py --weights W --checkpoint CK [--steps 25000] [--lr 1e-3] [--width N] [--last 5] [--seed 0]

Reads a trained model (W, the run's weights) and the run's checkpoint (CK: its replay buffer,
in the network's units, and its target Q heads) and prints, on the buffer's transitions:
1. the residual of the decoding `iqmpc-train reward-recovery` uses, r̂ = Q(z, a) − γ·V(z')
   (mean over the heads, V at the policy's mean action), with the online heads and with the
   checkpoint's Polyak-averaged target heads: equal residuals mean the residual is not the
   optimiser's step-to-step noise;
2. the same residual after fitting a fresh Q of the same shape (two hidden layers of the
   preset's width, LayerNorm + Mish) by plain least squares to the fixed targets γ·V(z') on the
   trained encoder's latents: if that fit gets well below the trained critic's residual, the
   residual is not what the network can represent (`--width` tries a wider one).
Variances are over all transitions and over the last `--last` episodes (the freshest data).
Needs numpy and torch (the project's optional venv, Scripts/reference/setup-venv.sh); the
networks are read with the float64 reference of Scripts/reference/forward.py.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forward as F  # noqa: E402


def checkpoint(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = json.loads(header.pop("__metadata__")["iqmpc.checkpoint.header"])

    def tensor(name):
        b, e = header[name]["data_offsets"]
        return np.frombuffer(blob[8 + n + b:8 + n + e], dtype="<f4").astype(np.float64).reshape(header[name]["shape"])
    return meta["episodeRows"], tensor


def target_heads(t, flat, num_q):
    """The checkpoint's target_q: the Q heads' parameters in the weights file's order
    (per head and layer: weight row-major, bias, LayerNorm weight, LayerNorm bias)."""
    out, off = dict(t), 0
    for k in range(num_q):
        i = 0
        while f"q.{k}.{i}.weight" in t:
            for s in (".weight", ".bias", ".ln.weight", ".ln.bias"):
                name = f"q.{k}.{i}{s}"
                if name in t:
                    out[name] = flat[off:off + t[name].size].reshape(t[name].shape)
                    off += t[name].size
            i += 1
    if off != flat.size:
        raise SystemExit(f"target_q holds {flat.size} values, the weights' Q heads {off}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--steps", type=int, default=25000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--width", type=int, default=0, help="hidden width of the refitted Q (default: the preset's)")
    ap.add_argument("--last", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("critic_refit: skipped (no torch; Scripts/reference/setup-venv.sh makes the venv)")
        return
    meta, t = F.read_safetensors(args.weights)
    cfg = json.loads(meta["config"])
    A, g, K, gamma = cfg["act_dim"], cfg["simnorm_group"], cfg["num_q"], cfg["discount"]
    rows, tensor = checkpoint(args.checkpoint)
    obs, act = tensor("replay.obs"), tensor("replay.act")
    if obs.shape[1] != cfg["obs_dim"] or act.shape[1] != A:
        raise SystemExit("the checkpoint's buffer does not fit the weights' dimensions")
    tq = target_heads(t, tensor("target_q"), K)

    def q_mean(tab, z, a):
        za = np.concatenate([z, a], -1)
        return np.mean([F.mlp(tab, f"q.{k}", za, None, g)[:, 0] for k in range(K)], axis=0)

    X, Y, res_on, res_tg, fresh = [], [], [], [], []
    start = 0
    for e, n in enumerate(rows):
        o, a = obs[start:start + n], act[start + 1:start + n]
        start += n
        if n < 2:
            continue
        z = F.mlp(t, "encoder", o, "simnorm", g)
        mean = np.tanh(F.mlp(t, "policy", z[1:], None, g)[:, :A])
        y = gamma * q_mean(t, z[1:], mean)
        res_on.append(q_mean(t, z[:-1], a) - y)
        res_tg.append(q_mean(tq, z[:-1], a) - gamma * q_mean(tq, z[1:], mean))
        X.append(np.concatenate([z[:-1], a], -1))
        Y.append(y)
        fresh += [e >= len(rows) - args.last] * (n - 1)
    fresh = np.array(fresh)
    res_on, res_tg, X, Y = (np.concatenate(v) for v in (res_on, res_tg, X, Y))

    def line(name, r):
        print(f"{name:44s} residual variance: all {r.var():8.2f}   last {args.last} episodes {r[fresh].var():8.2f}")
    print(f"{len(Y)} transitions in {len(rows)} episodes; targets gamma*V(z'): variance {Y.var():.1f}")
    line("trained critic, online heads", res_on)
    line("trained critic, target heads", res_tg)

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    width = args.width or cfg["mlp_dim"]
    net = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], width), torch.nn.LayerNorm(width), torch.nn.Mish(),
        torch.nn.Linear(width, width), torch.nn.LayerNorm(width), torch.nn.Mish(), torch.nn.Linear(width, 1))
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    Xt, Yt = torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32)
    offset = Yt.mean()
    gen = torch.Generator().manual_seed(args.seed)
    for _ in range(args.steps):
        ix = torch.randint(0, len(Yt), (512,), generator=gen)
        loss = ((net(Xt[ix])[:, 0] + offset - Yt[ix]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        fit = (net(Xt)[:, 0] + offset - Yt).numpy().astype(np.float64)
    line(f"fresh Q refitted (width {width}, {args.steps} steps, lr {args.lr:g})", fit)


if __name__ == "__main__":
    main()
