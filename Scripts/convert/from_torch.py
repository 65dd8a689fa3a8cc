#!/usr/bin/env python3
"""IQ-MPC and TD-MPC2 PyTorch checkpoints -> an iqmpc weights file (docs/gpu-training.md).

    from_torch.py --checkpoint X.pt --out W.safetensors [--discount G | --episode-length L]
                  [--simnorm-dim 8] [--log-std-min -10 --log-std-max 2] [--entropy-coef A]
                  [--vmin -10 --vmax 10] [--calibration C.yaml --bin .build/release]

Reads `torch.save({"model": state_dict})` files (or a bare state dict) from
- IQ-MPC (`_Qs_original.params.0..9`: the critic stacked over its heads, scalar outputs),
- TD-MPC2 single-task, in its three on-disk layouts: `prerelease` (separate Linear and
  LayerNorm modules, one module list per Q head), `release2023` (`_Qs.params.0..9` stacked),
  `current` (`_Qs.params.{layer}.{field}` stacked, plus `_detach_Qs_params`, `_target_Qs_params`,
  `__batch_size`/`__device` entries and data-less meta copies of the Q module).
Every dimension comes from the tensor shapes. Target critics are not deployed and are skipped.
What the runtime cannot represent (task embeddings, pixel encoders, termination heads) is
refused naming the key. The pickle is opened with `weights_only=True`: a file that needs
anything beyond tensors and plain containers is refused rather than executed.

Exit status 0 on success; 1 with one line on stderr naming the key otherwise, and then no
output file is left behind.
"""
import argparse
import hashlib
import math
import os
import re
import subprocess
import sys
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iqmpc_weights import ConversionError, write  # noqa: E402

FIELDS = ["weight", "bias", "ln.weight", "ln.bias"]
EXACT_UPCAST = {"torch.float32", "torch.float16", "torch.bfloat16"}


def load_state_dict(path):
    import torch

    if not os.path.isfile(path):
        raise ConversionError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise ConversionError(f"{path}: damaged zip archive ({e})")
        if bad is not None:
            raise ConversionError(f"{path}: zip member {bad!r} is corrupt (truncated file?)")
    else:
        with open(path, "rb") as f:
            head = f.read(4)
        if head[:2] != b"\x80\x02" and not head.startswith(b"PK"):
            raise ConversionError(f"{path}: not a PyTorch checkpoint (neither a zip archive nor a legacy pickle; truncated?)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types; all mean "cannot read this file"
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConversionError(f"{path}: cannot load as a state dict with weights_only=True ({msg})")
    if isinstance(obj, dict) and "model" in obj:
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj:
        raise ConversionError(f"{path}: holds a {type(obj).__name__}, not a state dict (expected {{'model': state_dict}})")
    for k in obj:
        if not isinstance(k, str):
            raise ConversionError(f"{path}: key {k!r} is not a string: not a state dict")
    return obj


def is_tensor(v):
    import torch
    return isinstance(v, torch.Tensor)


def to_array(key, v):
    """A float tensor as a float32 numpy array; refuses meta tensors, unsupported dtypes, non-finite values."""
    if not is_tensor(v):
        raise ConversionError(f"key {key!r}: expected a tensor, found {type(v).__name__}")
    if v.is_meta:
        raise ConversionError(f"key {key!r}: a meta tensor without data")
    if str(v.dtype) not in EXACT_UPCAST:
        raise ConversionError(f"key {key!r}: dtype {str(v.dtype).replace('torch.', '')} is not supported "
                              "(float32, float16 and bfloat16 convert exactly; cast others with .float() first)")
    a = v.detach().to("cpu").float().numpy().astype(np.float32)
    if not np.all(np.isfinite(a)):
        bad = int(np.argmin(np.isfinite(a).ravel()))
        raise ConversionError(f"key {key!r}: non-finite value {a.ravel()[bad]} at flat index {bad}")
    return a


class Consumer:
    """The state dict plus which keys have been used, so leftovers are reported."""

    def __init__(self, sd):
        self.sd = sd
        self.used = set()

    def get(self, key):
        self.used.add(key)
        return to_array(key, self.sd[key])

    def children(self, prefix):
        """Numeric child indices directly under `prefix.`."""
        out = set()
        for k in self.sd:
            if k.startswith(prefix + "."):
                head = k[len(prefix) + 1:].split(".", 1)[0]
                if head.isdigit():
                    out.add(int(head))
        return sorted(out)


def parse_mlp(c, prefix):
    """Layers of one MLP stored either as NormedLinear modules (`{i}.weight`, `{i}.ln.weight`) or
    as separate modules (`{i}.weight` 2-D Linear, `{j}.weight` 1-D LayerNorm after it). Returns a
    list of dicts with weight, bias and optional ln_weight/ln_bias, plus the key of each."""
    layers = []
    for i in c.children(prefix):
        wkey = f"{prefix}.{i}.weight"
        if wkey not in c.sd:
            continue  # an activation or dropout module has no parameters
        w = c.get(wkey)
        bkey = f"{prefix}.{i}.bias"
        if bkey not in c.sd:
            raise ConversionError(f"key {bkey!r} missing (every Linear and LayerNorm has a bias)")
        b = c.get(bkey)
        if w.ndim == 2:
            layer = {"weight": w, "bias": b, "key": f"{prefix}.{i}"}
            if f"{prefix}.{i}.ln.weight" in c.sd:
                layer["ln_weight"] = c.get(f"{prefix}.{i}.ln.weight")
                layer["ln_bias"] = c.get(f"{prefix}.{i}.ln.bias") if f"{prefix}.{i}.ln.bias" in c.sd else None
                if layer["ln_bias"] is None:
                    raise ConversionError(f"key {prefix}.{i}.ln.bias missing")
            layers.append(layer)
        elif w.ndim == 1:
            if not layers or "ln_weight" in layers[-1]:
                raise ConversionError(f"key {wkey!r}: a LayerNorm that follows no Linear")
            layers[-1]["ln_weight"], layers[-1]["ln_bias"] = w, b
        else:
            raise ConversionError(f"key {wkey!r}: {w.ndim}-D weight (only Linear and LayerNorm layers are supported; convolutional encoders are not)")
    if not layers:
        raise ConversionError(f"no layers under {prefix!r}")
    return layers


def split_stacked(c, prefix, style):
    """An ensemble stored stacked over heads -> one list of layers per head.
    style 'flat': `prefix.N` with N -> layer N // 4, field N % 4 (functorch parameter order);
    style 'nested': `prefix.{layer}.{field}`."""
    per_layer = {}
    if style == "flat":
        for n in c.children(prefix):
            key = f"{prefix}.{n}"
            if key not in c.sd:
                raise ConversionError(f"key {key!r}: expected a stacked tensor")
            per_layer.setdefault(n // 4, {})[FIELDS[n % 4]] = (key, c.get(key))
    else:
        for i in c.children(prefix):
            for f in FIELDS:
                key = f"{prefix}.{i}.{f}"
                if key in c.sd:
                    per_layer.setdefault(i, {})[f] = (key, c.get(key))
    if not per_layer:
        raise ConversionError(f"no stacked Q parameters under {prefix!r}")
    heads = None
    for i in sorted(per_layer):
        for f, (key, a) in per_layer[i].items():
            if heads is None:
                heads = a.shape[0]
            if a.shape[0] != heads:
                raise ConversionError(f"key {key!r}: stacked over {a.shape[0]} heads, earlier tensors over {heads}")
    out = []
    for k in range(heads):
        layers = []
        for i in sorted(per_layer):
            d = per_layer[i]
            for f in ("weight", "bias"):
                if f not in d:
                    raise ConversionError(f"stacked Q layer {i} under {prefix!r} has no {f}")
            layer = {"weight": d["weight"][1][k], "bias": d["bias"][1][k], "key": d["weight"][0]}
            if "ln.weight" in d:
                if "ln.bias" not in d:
                    raise ConversionError(f"stacked Q layer {i} under {prefix!r} has ln.weight without ln.bias")
                layer["ln_weight"], layer["ln_bias"] = d["ln.weight"][1][k], d["ln.bias"][1][k]
            layers.append(layer)
        out.append(layers)
    return out


REFUSED = [
    (re.compile(r"^_task_emb\."), "a multi-task model (task embedding): only single-task checkpoints can be deployed"),
    (re.compile(r"^_action_masks$"), "a multi-task model (action masks): only single-task checkpoints can be deployed"),
    (re.compile(r"^_encoder\.(?!state\.)"), "an encoder for non-state observations (pixels): only state encoders are supported"),
    (re.compile(r"^_termination\."), "an episodic termination head: the runtime has no termination prediction"),
]

IGNORED = [
    re.compile(r"^_target_Qs(\.|_params\.)"),       # target critic: training only
    re.compile(r"^_detach_Qs_params\."),            # same storage as _Qs.params (current TD-MPC2)
    re.compile(r"^_detach_Qs\."),
    re.compile(r"\.__batch_size$"), re.compile(r"\.__device$"),
]


def detect(sd):
    for k in sd:
        for pattern, why in REFUSED:
            if pattern.search(k):
                raise ConversionError(f"key {k!r}: {why}")
    if any(k.startswith("_Qs_original.params.") for k in sd):
        return "iqmpc", "iqmpc", ("_Qs_original.params", "flat")
    if any(re.match(r"^_Qs\.params\.\d+\.(weight|bias|ln\.)", k) for k in sd):
        return "tdmpc2", "current", ("_Qs.params", "nested")
    if any(re.match(r"^_Qs\.params\.\d+$", k) for k in sd):
        return "tdmpc2", "release2023", ("_Qs.params", "flat")
    if any(re.match(r"^_Qs\.\d+\.\d+\.weight$", k) for k in sd):
        return "tdmpc2", "prerelease", ("_Qs", "modules")
    raise ConversionError("no Q ensemble found (expected _Qs_original.params.* for IQ-MPC or _Qs.* for TD-MPC2)")


def check_dims(name, layers, dims, norms):
    if len(layers) != len(dims) - 1:
        raise ConversionError(f"{name}: {len(layers)} layers (at {layers[-1]['key']}), the runtime needs {len(dims) - 1}")
    for i, (l, norm) in enumerate(zip(layers, norms)):
        want = (dims[i + 1], dims[i])
        if l["weight"].shape != want:
            raise ConversionError(f"key {l['key']}.weight: shape {list(l['weight'].shape)}, expected {list(want)} from the other tensors")
        if l["bias"].shape != (dims[i + 1],):
            raise ConversionError(f"key {l['key']}.bias: shape {list(l['bias'].shape)}, expected [{dims[i + 1]}]")
        if norm != ("ln_weight" in l):
            raise ConversionError(f"key {l['key']}: {'expected' if norm else 'unexpected'} LayerNorm after this layer")
        if norm and (l["ln_weight"].shape != (dims[i + 1],) or l["ln_bias"].shape != (dims[i + 1],)):
            raise ConversionError(f"key {l['key']}: LayerNorm shape differs from the layer's output [{dims[i + 1]}]")


def convert(sd, args):
    kind, layout_name, (q_prefix, q_style) = detect(sd)
    c = Consumer(sd)
    enc = parse_mlp(c, "_encoder.state")
    dyn = parse_mlp(c, "_dynamics")
    pi = parse_mlp(c, "_pi")
    if q_style == "modules":
        heads = [parse_mlp(c, f"{q_prefix}.{k}") for k in c.children(q_prefix)]
    else:
        heads = split_stacked(c, q_prefix, q_style)
    reward = parse_mlp(c, "_reward") if any(k.startswith("_reward.") for k in sd) else None
    if kind == "iqmpc" and reward is not None:
        raise ConversionError("key '_reward.0.weight': an IQ-MPC checkpoint (_Qs_original) with a reward head is not a layout this converter knows")
    if kind == "tdmpc2" and reward is None:
        raise ConversionError("key '_reward.0.weight' missing: a TD-MPC2 checkpoint needs its reward head")

    D = enc[0]["weight"].shape[1]
    L = enc[-1]["weight"].shape[0]
    hidden = [l["weight"].shape[0] for l in enc[:-1]]
    A = dyn[0]["weight"].shape[1] - L
    M = dyn[0]["weight"].shape[0]
    if A < 1:
        raise ConversionError(f"key _dynamics.0.weight: input width {dyn[0]['weight'].shape[1]} leaves no action dimensions after latent {L}")
    out_q = heads[0][-1]["weight"].shape[0] if heads and heads[0] else 1
    check_dims("_encoder.state", enc, [D] + hidden + [L], [True] * len(enc))
    check_dims("_dynamics", dyn, [L + A, M, M, L], [True, True, True])
    check_dims("_pi", pi, [L, M, M, 2 * A], [True, True, False])
    if kind == "iqmpc" and out_q != 1:
        raise ConversionError(f"key {heads[0][-1]['key']}: IQ-MPC Q heads output 1 value, this one {out_q}")
    for k, h in enumerate(heads):
        check_dims(f"{q_prefix} head {k}", h, [L + A, M, M, out_q], [True, True, False])
    if reward is not None:
        check_dims("_reward", reward, [L + A, M, M, out_q], [True, True, False])
    if len(heads) < 2:
        raise ConversionError(f"{q_prefix}: {len(heads)} Q head(s), the runtime needs at least 2")

    # log-std range: stored in current TD-MPC2 files (log_std_min, log_std_dif), flags override.
    lmin, lmax = args.log_std_min, args.log_std_max
    if "log_std_min" in sd and "log_std_dif" in sd:
        for key in ("log_std_min", "log_std_dif"):
            v = sd[key]
            if not is_tensor(v) or v.numel() != 1 or v.is_meta:
                raise ConversionError(f"key {key!r}: expected a scalar tensor")
            c.used.add(key)
        stored_min = float(sd["log_std_min"].item())
        stored_max = stored_min + float(sd["log_std_dif"].item())
        if not (math.isfinite(stored_min) and math.isfinite(stored_max)):
            raise ConversionError("key 'log_std_min'/'log_std_dif': non-finite")
        lmin = stored_min if lmin is None else lmin
        lmax = stored_max if lmax is None else lmax
    lmin = -10.0 if lmin is None else lmin
    lmax = 2.0 if lmax is None else lmax

    leftovers = [k for k in sd if k not in c.used and not any(p.search(k) for p in IGNORED)
                 and not (layout_name == "current" and k.startswith("_Qs.module."))]
    if leftovers:
        raise ConversionError(f"key {sorted(leftovers)[0]!r}: unexpected in a {layout_name} checkpoint ({len(leftovers)} such keys)")

    if args.discount is not None:
        discount = args.discount
    elif args.episode_length is not None:
        # TD-MPC2 / IQ-MPC heuristic: (T/5 - 1) / (T/5), clipped to [0.95, 0.995].
        frac = args.episode_length / 5
        discount = min(max((frac - 1) / frac, 0.95), 0.995)
    else:
        raise ConversionError("the discount is not stored in checkpoints: give --discount G or --episode-length L")

    cfg = {"model_kind": kind, "obs_dim": D, "act_dim": A, "latent_dim": L, "encoder_hidden": hidden,
           "mlp_dim": M, "num_q": len(heads), "simnorm_group": args.simnorm_dim, "log_std_min": lmin,
           "log_std_max": lmax, "discount": discount, "entropy_coef": args.entropy_coef}
    if L % args.simnorm_dim:
        raise ConversionError(f"--simnorm-dim {args.simnorm_dim} does not divide latent_dim {L}")
    if kind == "tdmpc2":
        cfg.update({"num_bins": out_q, "vmin": args.vmin, "vmax": args.vmax})

    tensors = {}

    def put(prefix, layers):
        for i, l in enumerate(layers):
            tensors[f"{prefix}.{i}.weight"] = l["weight"]
            tensors[f"{prefix}.{i}.bias"] = l["bias"]
            if "ln_weight" in l:
                tensors[f"{prefix}.{i}.ln.weight"] = l["ln_weight"]
                tensors[f"{prefix}.{i}.ln.bias"] = l["ln_bias"]

    put("encoder", enc)
    put("dynamics", dyn)
    put("policy", pi)
    for k, h in enumerate(heads):
        put(f"q.{k}", h)
    if reward is not None:
        put("reward", reward)
    return cfg, tensors, layout_name


def calibration_metadata(args, tmp_out):
    """Stamps the calibration's mapping with the Swift tool, so the hash is the one the runtime checks."""
    exe = os.path.join(args.bin, "iqmpc-train")
    r = subprocess.run([exe, "stamp-calibration", "--weights", tmp_out, "--calibration", args.calibration],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise ConversionError(f"--calibration: {r.stderr.strip() or r.stdout.strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--discount", type=float)
    g.add_argument("--episode-length", type=int)
    ap.add_argument("--simnorm-dim", type=int, default=8)
    ap.add_argument("--log-std-min", type=float, default=None, help="default: stored value, else -10")
    ap.add_argument("--log-std-max", type=float, default=None, help="default: stored value, else 2")
    ap.add_argument("--entropy-coef", type=float, default=1e-4)
    ap.add_argument("--vmin", type=float, default=-10.0, help="TD-MPC2 two-hot range (symlog space)")
    ap.add_argument("--vmax", type=float, default=10.0)
    ap.add_argument("--calibration", help="robot calibration YAML whose mapping the weights are stamped with")
    ap.add_argument("--bin", default=".build/release", help="folder with iqmpc-train (for --calibration)")
    args = ap.parse_args()
    try:
        with open(args.checkpoint, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        sd = load_state_dict(args.checkpoint)
        cfg, tensors, layout_name = convert(sd, args)
        md = {"source_sha256": digest, "source_layout": layout_name, "source_file": os.path.basename(args.checkpoint),
              "converter": "Scripts/convert/from_torch.py",
              "q_dropout": "off (deterministic; the reference IQ-MPC keeps it on while planning)"}
        if args.calibration:
            # Written beside the destination first; renamed only after the stamp succeeded.
            tmp = args.out + ".unstamped"
            try:
                write(tmp, cfg, tensors, md)
                calibration_metadata(args, tmp)
                os.replace(tmp, args.out)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        else:
            write(args.out, cfg, tensors, md)
    except ConversionError as e:
        print(f"from_torch: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        print(f"from_torch: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"from_torch: {cfg['model_kind']} ({layout_name}) obs {cfg['obs_dim']} act {cfg['act_dim']} latent "
          f"{cfg['latent_dim']} mlp {cfg['mlp_dim']} heads {cfg['num_q']} -> {args.out}")


if __name__ == "__main__":
    main()
