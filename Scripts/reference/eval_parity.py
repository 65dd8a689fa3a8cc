#!/usr/bin/python3
"""End-to-end parity: `iqmpc-train init` -> `iqmpc-runtime eval --json` vs forward.py (numpy).

    eval_parity.py --bin .build/debug [--presets tiny,small,paper] [--tol 1e-5]
Exit status 0 only if, for every preset and probe, every output vector satisfies
max|swift - ref| <= tol * max|ref| (normwise relative error). Prints one line per check.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--presets", default="tiny,small,paper")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for preset, (d, a) in zip(args.presets.split(","), [(5, 2), (24, 6), (67, 21)] * 3):
            w = os.path.join(tmp, preset + ".safetensors")
            subprocess.run([os.path.join(args.bin, "iqmpc-train"), "init", "--obs-dim", str(d), "--act-dim", str(a),
                            "--preset", preset, "--seed", "5", "--nonzero-q", "--out", w], check=True, capture_output=True)
            for probe in range(2):
                obs = ",".join(f"{v:.6f}" for v in rng.uniform(-2, 2, d))
                extra = [] if probe == 0 else ["--action=" + ",".join(f"{v:.6f}" for v in rng.uniform(-1, 1, a))]
                sw = json.loads(subprocess.run([os.path.join(args.bin, "iqmpc-runtime"), "eval", "--weights", w,
                                                "--obs=" + obs, "--json"] + extra, check=True, capture_output=True).stdout)
                ref = json.loads(subprocess.run([sys.executable, os.path.join(HERE, "forward.py"), "--weights", w,
                                                 "--obs=" + obs] + extra, check=True, capture_output=True).stdout)
                for key in ("latent", "policy_mean", "policy_log_std", "q"):
                    x, y = np.asarray(sw[key]), np.asarray(ref[key])
                    err = np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-30)
                    good = x.shape == y.shape and err <= args.tol
                    ok &= bool(good)
                    print(f"{'ok  ' if good else 'FAIL'} {preset} probe {probe} {key}: rel err {err:.2e}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
