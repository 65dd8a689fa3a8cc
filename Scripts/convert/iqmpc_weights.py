"""Reading and writing the iqmpc weights file (docs/weights-format.md) with numpy alone.

Shared by the converters in this folder. Writing is atomic: the bytes go to a temporary file
in the destination's folder, which is renamed over the destination only when complete, so a
failed conversion never leaves a file the runtime could load.
"""
import json
import os
import struct
import tempfile

import numpy as np

FORMAT = "iqmpc.weights"
FORMAT_VERSION = "1"


class ConversionError(Exception):
    """A checkpoint or weights file that cannot be converted; the message names the key."""


def num(x):
    """Config numbers as the Swift writer prints them: integral values without a fraction."""
    x = float(x)
    return int(x) if x == int(x) and abs(x) < 1e15 else x


def config_json(cfg):
    """The config object in the field order of docs/weights-format.md (two-hot fields for TD-MPC2)."""
    keys = ["obs_dim", "act_dim", "latent_dim", "encoder_hidden", "mlp_dim", "num_q", "simnorm_group",
            "log_std_min", "log_std_max", "discount", "entropy_coef"]
    if cfg.get("model_kind") == "tdmpc2":
        keys += ["num_bins", "vmin", "vmax"]
    out = {}
    for k in keys:
        v = cfg[k]
        out[k] = [int(e) for e in v] if k == "encoder_hidden" else (int(v) if k.endswith(("_dim", "num_q", "group", "bins")) else num(v))
    return json.dumps(out, separators=(",", ":"))


def layout(cfg):
    """Tensor names and shapes in file order (docs/weights-format.md), as (name, shape) pairs."""
    D, A, L, M, K = cfg["obs_dim"], cfg["act_dim"], cfg["latent_dim"], cfg["mlp_dim"], cfg["num_q"]
    tdmpc2 = cfg.get("model_kind") == "tdmpc2"
    out_q = cfg["num_bins"] if tdmpc2 else 1

    def mlp(prefix, dims, last_norm):
        t = []
        for i in range(len(dims) - 1):
            t.append((f"{prefix}.{i}.weight", (dims[i + 1], dims[i])))
            t.append((f"{prefix}.{i}.bias", (dims[i + 1],)))
            if i < len(dims) - 2 or last_norm:
                t.append((f"{prefix}.{i}.ln.weight", (dims[i + 1],)))
                t.append((f"{prefix}.{i}.ln.bias", (dims[i + 1],)))
        return t

    t = mlp("encoder", [D] + list(cfg["encoder_hidden"]) + [L], True)
    t += mlp("dynamics", [L + A, M, M, L], True)
    t += mlp("policy", [L, M, M, 2 * A], False)
    for k in range(K):
        t += mlp(f"q.{k}", [L + A, M, M, out_q], False)
    if tdmpc2:
        t += mlp("reward", [L + A, M, M, cfg["num_bins"]], False)
    return t


def write(path, cfg, tensors, metadata):
    """Writes `tensors` (name -> float32 array) in layout order; checks names, shapes, finiteness."""
    specs = layout(cfg)
    names = {n for n, _ in specs}
    extra = sorted(set(tensors) - names)
    if extra:
        raise ConversionError(f"tensor {extra[0]!r} is not part of the model (extra)")
    for name, shape in specs:
        if name not in tensors:
            raise ConversionError(f"tensor {name!r} missing")
        a = tensors[name]
        if tuple(a.shape) != tuple(shape):
            raise ConversionError(f"tensor {name!r} has shape {list(a.shape)}, the model needs {list(shape)}")
        if a.dtype != np.float32:
            raise ConversionError(f"tensor {name!r} is {a.dtype}, not float32")
        if not np.all(np.isfinite(a)):
            raise ConversionError(f"tensor {name!r} has a non-finite value at flat index {int(np.argmin(np.isfinite(a).ravel()))}")
    md = dict(metadata)
    md.update({"format": FORMAT, "format_version": FORMAT_VERSION, "config": config_json(cfg),
               "model_kind": cfg.get("model_kind", "iqmpc")})
    for k, v in md.items():
        if not isinstance(v, str):
            raise ConversionError(f"metadata {k!r} is not a string")
    header = {"__metadata__": md}
    offset = 0
    for name, shape in specs:
        n = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".iqmpc-convert-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for name, _ in specs:
                f.write(np.ascontiguousarray(tensors[name], dtype="<f4").tobytes())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read(path):
    """Returns (config dict with model_kind, tensors name -> float32 array, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ConversionError(f"{path}: {len(raw)} bytes, too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ConversionError(f"{path}: header length {n} runs past the end of the file (truncated?)")
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as e:
        raise ConversionError(f"{path}: header is not JSON ({e})")
    md = header.pop("__metadata__", {})
    if md.get("format") != FORMAT:
        raise ConversionError(f"{path}: __metadata__ format is {md.get('format')!r}, expected {FORMAT!r}")
    cfg = json.loads(md["config"])
    cfg["model_kind"] = md.get("model_kind", "iqmpc")
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        if e.get("dtype") != "F32":
            raise ConversionError(f"tensor {name!r}: dtype {e.get('dtype')} is not F32")
        b, end = e["data_offsets"]
        if end > len(data):
            raise ConversionError(f"tensor {name!r}: data runs past the end of the file (truncated?)")
        tensors[name] = np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"]).astype(np.float32)
    return cfg, tensors, md
