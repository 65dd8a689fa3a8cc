#!/usr/bin/env python3
"""An iqmpc weights file (IQ-MPC, e.g. trained on a CPU by `iqmpc-train`) -> a checkpoint the
reference IQ-MPC code loads with strict key matching, so training can continue on GPUs.

    to_torch.py --weights W.safetensors --out X.pt

Writes `torch.save({"model": state_dict})` with the reference's keys: `_encoder.state.{i}.*`,
`_dynamics.{i}.*`, `_pi.{i}.*` (weight, bias, ln.weight, ln.bias), the critic stacked over
its heads as `_Qs_original.params.0..9` (index n = layer n // 4, field n % 4), and the target
critic `_target_Qs.params.0..9` initialised as a copy of it (the weights file holds no target).
The reference sets the discount, log-std range and entropy coefficient from its own config:
use the values `iqmpc-runtime inspect` prints for this file. Only IQ-MPC files convert (the
Swift trainer trains IQ-MPC; a TD-MPC2 file is refused).
Exit status 1 with a message on bad input; no output file is left behind.
"""
import argparse
import io
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iqmpc_weights import ConversionError, read  # noqa: E402

FIELDS = ["weight", "bias", "ln.weight", "ln.bias"]


def state_dict(cfg, tensors):
    import torch

    if cfg["model_kind"] != "iqmpc":
        raise ConversionError(f"model_kind {cfg['model_kind']!r}: only IQ-MPC weights convert to the IQ-MPC reference layout")
    sd = {}

    def copy(src, dst, n):
        for i in range(n):
            for f in FIELDS:
                k = f"{src}.{i}.{f}"
                if k in tensors:
                    sd[f"{dst}.{i}.{f}"] = torch.from_numpy(np.array(tensors[k], dtype=np.float32))

    copy("encoder", "_encoder.state", len(cfg["encoder_hidden"]) + 1)
    copy("dynamics", "_dynamics", 3)
    copy("policy", "_pi", 3)
    stacked = []
    for i in range(3):
        for f in FIELDS[: 4 if i < 2 else 2]:
            stacked.append(torch.from_numpy(np.stack([tensors[f"q.{k}.{i}.{f}"] for k in range(cfg["num_q"])]).astype(np.float32)))
    for n, t in enumerate(stacked):
        sd[f"_Qs_original.params.{n}"] = t
        sd[f"_target_Qs.params.{n}"] = t.clone()
    return sd


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import torch

    tmp = None
    try:
        cfg, tensors, _ = read(args.weights)
        sd = state_dict(cfg, tensors)
        buf = io.BytesIO()  # saved in memory: the archive's root folder is then "archive"
        torch.save({"model": sd}, buf)
        fd, tmp = tempfile.mkstemp(prefix=".iqmpc-convert-", dir=os.path.dirname(os.path.abspath(args.out)))
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
        os.replace(tmp, args.out)
        tmp = None
    except (ConversionError, OSError, KeyError, ValueError) as e:
        print(f"to_torch: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    print(f"to_torch: {len(sd)} tensors -> {args.out} (discount {cfg['discount']}, log_std "
          f"[{cfg['log_std_min']}, {cfg['log_std_max']}], entropy_coef {cfg['entropy_coef']}: set these in the reference config)")


if __name__ == "__main__":
    main()
