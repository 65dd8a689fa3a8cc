#!/usr/bin/env python3
"""Converter tests with PyTorch (run by the Swift suite's ConverterTests, or by hand):

    test_convert.py --bin .build/debug [--sizes small,paper] [--tol 1e-5]

1. Parity: for IQ-MPC and each TD-MPC2 layout (prerelease, release2023, current), small and
   paper size, a module tree from torch_models.py with random weights (Q output layers
   included) is saved with torch.save, converted by from_torch.py and evaluated by
   `iqmpc-runtime eval --json`; latent, policy mean and log-std, every Q head and (TD-MPC2)
   the decoded reward must agree with PyTorch's forward pass: max|swift − torch| ≤ tol · max|torch|
   (for TD-MPC2's two-hot decoded values ≤ tol · max(max|torch|, 1): see the comment in parity()).
2. Round trip: `iqmpc-train init` → to_torch.py → strict load_state_dict into the IQ-MPC module
   tree → from_torch.py gives back bit-identical tensors and the same content hash.
3. Bad input: each malformed checkpoint exits 1 with a message naming the problem, and leaves
   no output file.
Prints one line per check and a final "N passed, N failed"; exit status 0 only if none failed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_models as tm  # noqa: E402
from iqmpc_weights import read  # noqa: E402

SIZES = {"small": dict(L=128, M=256, E=(256,)), "paper": dict(L=512, M=512, E=(256,))}
results = {"passed": 0, "failed": 0}


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    return ok


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def convert(ckpt, out, extra=()):
    return run([sys.executable, os.path.join(HERE, "from_torch.py"), "--checkpoint", ckpt, "--out", out,
                "--discount", "0.99", *extra])


def rel(x, y, floor=1e-30):
    """Normwise relative error max|x − y| / max(max|y|, floor)."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        return float("inf")
    return float(np.max(np.abs(x - y)) / max(np.max(np.abs(y)), floor))


def parity(bin_dir, tmp, sizes, tol):
    rng = np.random.default_rng(3)
    for size in sizes:
        for kind, layout in [("iqmpc", "iqmpc"), ("tdmpc2", "prerelease"), ("tdmpc2", "release2023"), ("tdmpc2", "current")]:
            D, A = (24, 6) if size == "small" else (67, 21)
            world = tm.World(kind, layout, D, A, **SIZES[size]).randomise(seed=len(layout) + D).eval()
            ckpt = os.path.join(tmp, f"{layout}-{size}.pt")
            torch.save({"model": world.state_dict_for_file()}, ckpt)
            out = os.path.join(tmp, f"{layout}-{size}.safetensors")
            r = convert(ckpt, out)
            if not check(r.returncode == 0, f"{layout} {size}: from_torch converts ({r.stderr.strip()})"):
                continue
            md = json.loads(run([os.path.join(bin_dir, "iqmpc-runtime"), "inspect", "--weights", out, "--json"]).stdout)
            check(md["model_kind"] == kind and md["metadata"]["source_layout"] == layout,
                  f"{layout} {size}: inspect shows kind {md['model_kind']}, layout {md['metadata'].get('source_layout')}")
            for probe in range(2):
                obs = rng.uniform(-2, 2, D).astype(np.float32)
                act = rng.uniform(-1, 1, A).astype(np.float32) if probe else None
                cmd = [os.path.join(bin_dir, "iqmpc-runtime"), "eval", "--weights", out, "--json",
                       "--obs=" + ",".join(repr(float(v)) for v in obs)]
                if act is not None:
                    cmd.append("--action=" + ",".join(repr(float(v)) for v in act))
                r = run(cmd)
                if not check(r.returncode == 0, f"{layout} {size} probe {probe}: eval runs ({r.stderr.strip()})"):
                    continue
                sw = json.loads(r.stdout)
                with torch.no_grad():
                    z = world.encode(torch.from_numpy(obs)[None])
                    mean, log_std = world.policy(z)
                    a = mean if act is None else torch.from_numpy(act)[None]
                    ref = {"latent": z, "policy_mean": mean, "policy_log_std": log_std, "q": world.q_all(z, a)}
                    if kind == "tdmpc2":
                        ref["reward"] = world.reward(z, a)
                for key, value in ref.items():
                    # A two-hot value is a softmax-weighted mean of bins spanning ±10 (symlog), so
                    # float32 resolves it to ~1e-6 absolute whatever its size: relative to
                    # max(|value|, 1) there, i.e. relative above 1 and absolute below.
                    two_hot = kind == "tdmpc2" and key in ("q", "reward")
                    e = rel(sw.get(key, []), value.numpy(), 1.0 if two_hot else 1e-30)
                    check(e <= tol, f"{layout} {size} probe {probe} {key}: rel err {e:.2e}{' (floor 1)' if two_hot else ''}")
                if kind == "iqmpc":
                    check("reward" not in sw, f"{layout} {size} probe {probe}: no reward for IQ-MPC")
            if kind == "tdmpc2" and size == "small":
                plan_checks(bin_dir, out, D, layout)


def plan_checks(bin_dir, weights, D, layout):
    """Planning with the converted TD-MPC2 model: same actions on 1 and 2 threads, and the
    benchmark's heap-allocation count per plan call is zero on both."""
    obs = ",".join(f"{0.1 * (i % 7) - 0.3:.3f}" for i in range(D))
    plans = [run([os.path.join(bin_dir, "iqmpc-runtime"), "plan", "--weights", weights, "--obs=" + obs, "--steps", "4",
                  "--samples", "96", "--threads", str(t), "--seed", "5", "--json"]).stdout for t in (1, 2)]
    check(plans[0] == plans[1] and '"planner"' in plans[0], f"{layout}: plan on 1 and 2 threads gives the same actions")
    for t in (1, 2):
        # Total allocations in the benchmark's timed window for two lengths: equal totals mean
        # no plan call allocates (a constant would be the window's own bookkeeping).
        totals = []
        for steps in (20, 60):
            r = run([os.path.join(bin_dir, "iqmpc-runtime"), "bench", "--weights", weights, "--steps", str(steps),
                     "--samples", "96", "--threads", str(t), "--json"])
            totals.append(round(json.loads(r.stdout)["allocations_per_step"] * steps) if r.returncode == 0 else None)
        per_plan = (totals[1] - totals[0]) / 40 if None not in totals else None
        check(per_plan == 0, f"{layout}: {per_plan if per_plan is None else format(per_plan, 'g')} heap allocations per "
              f"plan call on {t} thread(s) (window totals {totals} over 20 and 60 plans)")


def round_trip(bin_dir, tmp):
    for preset, (D, A) in (("tiny", (5, 2)), ("small", (24, 6))):
        w = os.path.join(tmp, f"swift-{preset}.safetensors")
        r = run([os.path.join(bin_dir, "iqmpc-train"), "init", "--obs-dim", str(D), "--act-dim", str(A),
                 "--preset", preset, "--seed", "9", "--nonzero-q", "--out", w])
        if not check(r.returncode == 0, f"round trip {preset}: init ({r.stderr.strip()})"):
            continue
        pt = os.path.join(tmp, f"swift-{preset}.pt")
        r = run([sys.executable, os.path.join(HERE, "to_torch.py"), "--weights", w, "--out", pt])
        if not check(r.returncode == 0, f"round trip {preset}: to_torch ({r.stderr.strip()})"):
            continue
        cfg, tensors, _ = read(w)
        world = tm.World("iqmpc", "iqmpc", D, A, L=cfg["latent_dim"], M=cfg["mlp_dim"], E=tuple(cfg["encoder_hidden"]),
                         K=cfg["num_q"])
        try:
            missing = world.load_state_dict(torch.load(pt, weights_only=True)["model"], strict=True)
            strict = not missing.missing_keys and not missing.unexpected_keys
        except RuntimeError as e:
            print(e)
            strict = False
        check(strict, f"round trip {preset}: the reference key layout loads with strict=True")
        back = os.path.join(tmp, f"back-{preset}.safetensors")
        r = convert(pt, back)  # the discount is not in checkpoints; 0.99 is what init wrote
        if not check(r.returncode == 0, f"round trip {preset}: from_torch ({r.stderr.strip()})"):
            continue
        cfg2, tensors2, _ = read(back)
        same = tensors.keys() == tensors2.keys() and all(
            np.array_equal(tensors[k].view(np.uint32), tensors2[k].view(np.uint32)) for k in tensors)
        check(same, f"round trip {preset}: every tensor bit-identical")
        check(cfg == cfg2, f"round trip {preset}: same config")
        h = [json.loads(run([os.path.join(bin_dir, "iqmpc-runtime"), "inspect", "--weights", p, "--json"]).stdout)["content_hash"]
             for p in (w, back)]
        check(h[0] == h[1], f"round trip {preset}: content hash {h[0][:12]}… kept")


def bad_inputs(tmp):
    world = tm.World("tdmpc2", "current", 5, 2).randomise(seed=1)
    good = world.state_dict_for_file()
    iq = tm.World("iqmpc", "iqmpc", 5, 2).randomise(seed=2).state_dict()

    def saved(name, obj):
        p = os.path.join(tmp, name)
        torch.save(obj, p)
        return p

    def edited(base, **changes):
        d = dict(base)
        for k, v in changes.items():
            k = k.replace("__", ".")
            if v is None:
                d.pop(k)
            else:
                d[k] = v
        return {"model": d}

    full = saved("good.pt", {"model": good})
    raw = open(full, "rb").read()
    cases = []
    p = os.path.join(tmp, "truncated.pt")
    open(p, "wb").write(raw[: len(raw) // 2])
    cases.append(("truncated zip", p, "truncated"))
    p = os.path.join(tmp, "garbage.pt")
    open(p, "wb").write(b"not a checkpoint at all" * 10)
    cases.append(("not a checkpoint", p, "not a PyTorch checkpoint"))
    p = os.path.join(tmp, "renamed-root.pt")
    with zipfile.ZipFile(full) as src, zipfile.ZipFile(p, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename.endswith("/data.pkl"):
                body = body[: len(body) - 3]  # a broken pickle inside a valid zip
            dst.writestr(item, body)
    cases.append(("pickle cut inside a valid zip", p, "cannot load"))
    cases.append(("a list, not a state dict", saved("list.pt", [1, 2, 3]), "not a state dict"))
    cases.append(("pickled object needing code", saved("obj.pt", {"model": {"x": zipfile.ZipInfo("a")}}), "weights_only"))
    cases.append(("missing key", saved("missing.pt", edited(good, _pi__1__ln__bias=None)), "_pi.1.ln.bias"))
    cases.append(("extra key", saved("extra.pt", edited(good, _surprise__weight=torch.zeros(3))), "_surprise.weight"))
    cases.append(("inconsistent shape", saved("shape.pt", edited(good, _pi__1__weight=torch.zeros(128, 127))), "_pi.1.weight"))
    bad = good["_dynamics.2.bias"].clone(); bad[3] = float("nan")
    cases.append(("non-finite", saved("nan.pt", edited(good, _dynamics__2__bias=bad)), "_dynamics.2.bias"))
    cases.append(("float64", saved("f64.pt", edited(good, _encoder__state__0__bias=good["_encoder.state.0.bias"].double())),
                  "_encoder.state.0.bias"))
    cases.append(("int tensor", saved("int.pt", edited(iq, **{"_Qs_original__params__3": torch.zeros(5, 128, dtype=torch.int32)})),
                  "_Qs_original.params.3"))
    cases.append(("multi-task", saved("mt.pt", edited(good, _task_emb__weight=torch.zeros(3, 4))), "_task_emb.weight"))
    cases.append(("pixel encoder", saved("rgb.pt", edited(good, _encoder__rgb__0__weight=torch.zeros(3, 3, 3, 3))), "_encoder.rgb.0.weight"))
    cases.append(("termination head", saved("term.pt", edited(good, _termination__0__weight=torch.zeros(4, 64))), "_termination.0.weight"))
    cases.append(("stacked heads disagree", saved("heads.pt", edited(good, _Qs__params__1__bias=torch.zeros(4, 128))), "_Qs.params.1.bias"))
    for what, path, needle in cases:
        out = os.path.join(tmp, "bad-out.safetensors")
        r = convert(path, out)
        ok = r.returncode == 1 and needle in r.stderr and not os.path.exists(out) and \
            not any(f.startswith(".iqmpc-convert-") for f in os.listdir(tmp))
        check(ok, f"bad input, {what}: exit {r.returncode}, {r.stderr.strip()[:150]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--sizes", default="small,paper")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        bad_inputs(tmp)
        round_trip(args.bin, tmp)
        parity(args.bin, tmp, args.sizes.split(","), args.tol)
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(0 if results["failed"] == 0 else 1)


if __name__ == "__main__":
    main()
