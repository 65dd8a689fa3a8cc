#!/usr/bin/python3
"""Writes a random iqmpc.weights safetensors file with numpy only, the way an external
exporter would: independent of the Swift writer (tensor order shuffled, no header padding,
extra metadata), so tests can check that the Swift loader accepts third-party files.

    write_random.py --out W --obs-dim D --act-dim A [--latent 64 --enc 128 --mlp 128 --num-q 5 --group 8 --seed 0]
"""
import argparse
import json
import struct

import numpy as np


def layers(cfg):
    D, A, L, M = cfg["obs_dim"], cfg["act_dim"], cfg["latent_dim"], cfg["mlp_dim"]
    out = []

    def mlp(name, dims, last_norm):
        for i in range(len(dims) - 1):
            norm = last_norm if i == len(dims) - 2 else True
            out.append((f"{name}.{i}", dims[i], dims[i + 1], norm))

    mlp("encoder", [D] + cfg["encoder_hidden"] + [L], True)
    mlp("dynamics", [L + A, M, M, L], True)
    mlp("policy", [L, M, M, 2 * A], False)
    for k in range(cfg["num_q"]):
        mlp(f"q.{k}", [L + A, M, M, 1], False)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--obs-dim", type=int, required=True)
    ap.add_argument("--act-dim", type=int, required=True)
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--enc", type=int, default=128)
    ap.add_argument("--mlp", type=int, default=128)
    ap.add_argument("--num-q", type=int, default=5)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cfg = {"obs_dim": a.obs_dim, "act_dim": a.act_dim, "latent_dim": a.latent, "encoder_hidden": [a.enc],
           "mlp_dim": a.mlp, "num_q": a.num_q, "simnorm_group": a.group, "log_std_min": -10.0,
           "log_std_max": 2.0, "discount": 0.99, "entropy_coef": 1e-4}
    rng = np.random.default_rng(a.seed)
    tensors = {}
    for name, i, o, norm in layers(cfg):
        tensors[name + ".weight"] = rng.normal(0, 1 / np.sqrt(i), (o, i)).astype("<f4")
        tensors[name + ".bias"] = rng.normal(0, 0.1, (o,)).astype("<f4")
        if norm:
            tensors[name + ".ln.weight"] = (1 + rng.normal(0, 0.1, (o,))).astype("<f4")
            tensors[name + ".ln.bias"] = rng.normal(0, 0.1, (o,)).astype("<f4")
    names = list(tensors)
    rng.shuffle(names)
    header = {"__metadata__": {"format": "iqmpc.weights", "format_version": "1",
                               "config": json.dumps(cfg), "exporter": "numpy write_random.py"}}
    offset, blobs = 0, []
    for n in names:
        b = tensors[n].tobytes()
        header[n] = {"dtype": "F32", "shape": list(tensors[n].shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode("utf-8")
    with open(a.out, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main()
