#!/usr/bin/python3
"""Independent float64 reference for the IQ-MPC world model (docs/algorithm.md §1).

Written from docs/algorithm.md and docs/weights-format.md, not from the Swift code,
so that parity tests compare two separate implementations. Needs only numpy.

Single row (same JSON as `iqmpc-runtime eval --json`):
    forward.py --weights W --obs v1,v2,... [--action a1,...]
Batch (used by the Swift parity tests):
    forward.py --weights W --batch in.json     # {"obs": [[..]], "actions": [[..]]|null, "noise": [[..]]|null}
prints {"rows": [{latent, policy_mean, policy_log_std, policy_action, log_prob, q, next_latent}, ...]}.
"""
import argparse
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    tensors = {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            raise SystemExit(f"{name}: unsupported dtype {e['dtype']}")
        b, end = e["data_offsets"]
        arr = np.frombuffer(data[b:end], dtype="<f4").astype(np.float64)
        tensors[name] = arr.reshape(e["shape"])
    return meta, tensors


def layer_norm(x, g, b, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def softplus(x):
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def mish(x):
    return x * np.tanh(softplus(x))


def simnorm(x, g):
    shp = x.shape
    y = x.reshape(shp[:-1] + (shp[-1] // g, g))
    y = np.exp(y - y.max(axis=-1, keepdims=True))
    y = y / y.sum(axis=-1, keepdims=True)
    return y.reshape(shp)


def mlp(t, prefix, x, final, group):
    """Applies layers prefix.0, prefix.1, ... until a weight is missing.
    Hidden layers: Linear, LayerNorm, Mish. Last: Linear, then LN+SimNorm if final == 'simnorm'."""
    n = 0
    while f"{prefix}.{n}.weight" in t:
        n += 1
    for i in range(n):
        p = f"{prefix}.{i}"
        x = x @ t[p + ".weight"].T + t[p + ".bias"]
        last = i == n - 1
        if last and final is None:
            continue
        x = layer_norm(x, t[p + ".ln.weight"], t[p + ".ln.bias"])
        x = simnorm(x, group) if (last and final == "simnorm") else mish(x)
    return x


def forward(meta, t, obs, actions=None, noise=None):
    cfg = json.loads(meta["config"])
    A, g = cfg["act_dim"], cfg["simnorm_group"]
    lmin, lmax = cfg["log_std_min"], cfg["log_std_max"]
    z = mlp(t, "encoder", obs, "simnorm", g)
    out = mlp(t, "policy", z, None, g)
    mu_raw, s = out[:, :A], out[:, A:]
    log_std = lmin + 0.5 * (lmax - lmin) * (np.tanh(s) + 1.0)
    eps = np.zeros_like(mu_raw) if noise is None else noise
    u = mu_raw + eps * np.exp(log_std)
    act = np.tanh(u)
    # Correct per-dimension Gaussian log-density (docs/algorithm.md §1.4, §6 D1), minus tanh correction.
    log_prob = (-0.5 * eps ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(axis=-1)
    log_prob -= np.log(np.maximum(0.0, 1.0 - act ** 2) + 1e-6).sum(axis=-1)
    mean = np.tanh(mu_raw)
    a = mean if actions is None else actions
    za = np.concatenate([z, a], axis=-1)
    qs = np.stack([mlp(t, f"q.{k}", za, None, g)[:, 0] for k in range(cfg["num_q"])], axis=-1)
    nxt = mlp(t, "dynamics", za, "simnorm", g)
    return dict(latent=z, policy_mean=mean, policy_log_std=log_std, policy_action=act,
                log_prob=log_prob, q=qs, next_latent=nxt)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--obs")
    ap.add_argument("--action")
    ap.add_argument("--batch")
    args = ap.parse_args()
    meta, t = read_safetensors(args.weights)
    if meta.get("format") != "iqmpc.weights":
        raise SystemExit("not an iqmpc.weights file")
    if args.batch:
        with open(args.batch) as f:
            inp = json.load(f)
        obs = np.asarray(inp["obs"], dtype=np.float64)
        acts = None if inp.get("actions") is None else np.asarray(inp["actions"], dtype=np.float64)
        noise = None if inp.get("noise") is None else np.asarray(inp["noise"], dtype=np.float64)
        r = forward(meta, t, obs, acts, noise)
        rows = [{k: (v[i].tolist()) for k, v in r.items()} for i in range(obs.shape[0])]
        json.dump({"rows": rows}, sys.stdout)
    else:
        obs = np.asarray([[float(v) for v in args.obs.split(",")]])
        acts = None if args.action is None else np.asarray([[float(v) for v in args.action.split(",")]])
        r = forward(meta, t, obs, acts)
        json.dump({"latent": r["latent"][0].tolist(), "policy_mean": r["policy_mean"][0].tolist(),
                   "policy_log_std": r["policy_log_std"][0].tolist(), "q": r["q"][0].tolist()}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
